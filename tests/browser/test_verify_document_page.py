"""The public document verification page in Chromium: a genuine request PDF verifies, an
altered one is refused with the reason; the QR link shows what the node registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer
from helpers import make_node
from trailguard.evidence.documents import claimed_issuer
from trailguard.requests.documents import render_pdf
from trailguard.requests.domain import parse_request

pytestmark = pytest.mark.browser


def _document_id(pdf: bytes) -> str:
    import base64
    import json

    start = pdf.rfind(b"%TRAILGUARD-VERIFICATION-BEGIN")
    body = pdf[start:].split(b"\n")[1:-2]
    raw = json.loads(base64.b64decode(b"".join(line[1:] for line in body)))
    return str(raw["document_id"])


def test_verify_document_page(tmp_path: Path, page: Any, screenshots: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "requests"))
    from req_payloads import payload

    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    pdf = render_pdf(parse_request(payload("preservation")), node=node, actor="user:test")
    assert claimed_issuer(pdf) == "nl-poc"
    genuine, altered = tmp_path / "request.pdf", tmp_path / "altered.pdf"
    genuine.write_bytes(pdf)
    changed = bytearray(pdf)
    changed[len(changed) // 2] ^= 0x01
    altered.write_bytes(bytes(changed))
    with LiveServer(node) as server:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(server.url + "/verify-document")
            page.set_input_files("input[name=file]", str(genuine))
            page.click("button[type=submit]")
            verdict = page.inner_text("section[aria-label=Verdict]")
            assert "Verified: request.pdf" in verdict
            assert "known to this node's directory" in verdict
            page.screenshot(
                path=str(screenshots / f"verify-document-ok-{width}.png"), full_page=True
            )
            page.set_input_files("input[name=file]", str(altered))
            page.click("button[type=submit]")
            verdict = page.inner_text("section[aria-label=Verdict]")
            assert "Not verified: altered.pdf" in verdict
            assert "altered after it was issued" in verdict
            page.screenshot(
                path=str(screenshots / f"verify-document-altered-{width}.png"), full_page=True
            )
        page.goto(f"{server.url}/verify-document?id={_document_id(pdf)}")
        assert "This node issued document" in page.inner_text("main")
    node.close()
