"""Verifiable documents (request PDFs, hash certificates): who issued them, whether the key
is known, whether they are unchanged; forged and altered documents fail with the reason.
Imports of packages on another node: received/verified events, nothing half-imported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from evidence_kit import app, flat, flip_byte, package, runner
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select

from helpers import make_node
from trailguard.app import create_app
from trailguard.core.clock import FixedClock
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.evidence.certificate import issue_certificate
from trailguard.evidence.documents import attach_statement, verify_document
from trailguard.evidence.orm import EvidenceCustodyRow, EvidenceItemRow, EvidencePackageRow
from trailguard.evidence.service import (
    custody_events,
    export_public_keys,
    import_package,
    keys_from_file,
    node_signer,
    verify_item_chain,
)
from trailguard.node import Node
from trailguard.requests.documents import render_pdf
from trailguard.requests.domain import parse_request

from req_payloads import payload  # isort: skip  (tests/requests, put on the path by conftest)


@pytest.fixture
def us(tmp_path: Path, database_url_factory: object, clock: FixedClock) -> Iterator[Node]:
    node = make_node(
        tmp_path,
        database_url_factory(),  # type: ignore[operator]
        node_id="us-poc",
        country="US",
        timezone="America/New_York",
        clock=clock,
    )
    try:
        yield node
    finally:
        node.close()


def _linked(a: Node, b: Node) -> None:
    from network_kit import link

    link(a, b)
    link(b, a)


def _request_pdf(node: Node) -> bytes:
    return render_pdf(parse_request(payload("preservation")), node=node, actor="user:alice")


def _verify_cli(path: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["verify-document", str(path), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def test_request_pdf_verifies(nl: Node, us: Node, tmp_path: Path) -> None:
    _linked(nl, us)
    pdf = tmp_path / "request.pdf"
    pdf.write_bytes(_request_pdf(nl))
    text = PdfReader(io.BytesIO(pdf.read_bytes())).pages[-1].extract_text()
    assert "Issued by" in text and "nl-poc" in text  # the visible block
    code, verdict = _verify_cli(pdf, "--data-dir", str(us.paths.data_dir))
    assert code == 0, verdict
    assert verdict["issuer_node"] == "nl-poc" and verdict["key_known"] is True
    assert verdict["content_unchanged"] is True and verdict["reasons"] == []
    key = tmp_path / "nl.pub"
    key.write_text(json.dumps(export_public_keys(nl)))
    code, verdict = _verify_cli(pdf, "--public-key", str(key))
    assert code == 0
    human = runner.invoke(app, ["verify-document", str(pdf), "--public-key", str(key)])
    assert "issued by" in flat(human.stdout) and "content unchanged" in flat(human.stdout)


def test_altered_document_fails(nl: Node, tmp_path: Path) -> None:
    data = bytearray(_request_pdf(nl))
    data[len(data) // 3] ^= 0x01
    pdf = tmp_path / "altered.pdf"
    pdf.write_bytes(bytes(data))
    code, verdict = _verify_cli(pdf, "--data-dir", str(nl.paths.data_dir))
    assert code == 1
    assert verdict["key_known"] is True and verdict["content_unchanged"] is False
    assert verdict["reasons"] == ["the content was altered after it was issued (digest differs)"]


def test_forged_document_fails(nl: Node, us: Node, tmp_path: Path) -> None:
    """A forger (here: a node nobody linked) writes a block claiming nl-poc issued it."""
    _linked(nl, us)
    genuine = _request_pdf(nl)
    start = genuine.rfind(b"\n%TRAILGUARD-VERIFICATION-BEGIN\n")
    from trailguard.evidence.documents import VerificationBlock

    forger = make_node(tmp_path, f"sqlite:///{tmp_path / 'forger.db'}", node_id="forger")
    try:
        signer = node_signer(forger)
        from datetime import UTC, datetime

        block = VerificationBlock(
            "nl-poc", "NL node", signer.key_id, "x", "request", "t", datetime.now(UTC), "0", "u"
        )
        forged = attach_statement(genuine[:start], block, signer.sign)
    finally:
        forger.close()
    pdf = tmp_path / "forged.pdf"
    pdf.write_bytes(forged)
    code, verdict = _verify_cli(pdf, "--data-dir", str(us.paths.data_dir))
    assert code == 1
    assert verdict["key_known"] is False
    assert verdict["reasons"][0].startswith(f"key {signer.key_id} of nl-poc is not known")
    # the genuine key id with a signature that does not match: forged or altered block
    tampered = bytearray(genuine)
    line = tampered.rfind(b"%TRAILGUARD-VERIFICATION-END") - 20
    tampered[line] = ord("A") if tampered[line] != ord("A") else ord("B")
    pdf.write_bytes(bytes(tampered))
    code, verdict = _verify_cli(pdf, "--data-dir", str(us.paths.data_dir))
    assert code == 1 and not verdict["ok"]
    # no block at all
    pdf.write_bytes(genuine[:start])
    code, verdict = _verify_cli(pdf, "--data-dir", str(us.paths.data_dir))
    assert code == 1 and verdict["reasons"][0].startswith("no verification block")


def test_public_page(nl: Node, tmp_path: Path) -> None:
    client = TestClient(create_app(nl))
    data = _request_pdf(nl)
    answer = client.post("/verify-document", files={"file": ("request.pdf", data)})
    assert answer.status_code == 200
    assert "Verified: request.pdf" in answer.text and "known to this node" in answer.text
    altered = bytearray(data)
    altered[100] ^= 1
    answer = client.post("/verify-document", files={"file": ("x.pdf", bytes(altered))})
    assert "Not verified: x.pdf" in answer.text and "altered after it was issued" in answer.text
    verdict = verify_document(data, keys_from_file(_key(nl, tmp_path)).check)
    document_id = verdict.statement["document_id"]
    page = client.get(f"/verify-document?id={document_id}")
    assert f"This node issued document {document_id}" in page.text
    page = client.get("/verify-document?id=00000000-0000-4000-8000-000000000000")
    assert "never issued a document" in page.text


def _key(node: Node, tmp_path: Path) -> Path:
    key = tmp_path / f"{node.config.node_id}.pub"
    key.write_text(json.dumps(export_public_keys(node)))
    return key


def test_hash_certificate(nl: Node, files: list[Path], tmp_path: Path) -> None:
    result = package(nl, files, tmp_path / "bag")
    pdf = issue_certificate(nl, result.path, actor="user:alice")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for item_id in result.item_ids:
        assert item_id in text
    with nl.db.session() as session:
        sha = session.get(EvidenceItemRow, result.item_ids[0]).sha256  # type: ignore[union-attr]
    assert sha in text and "packaged" in text
    verdict = verify_document(pdf, keys_from_file(_key(nl, tmp_path)).check)
    assert verdict.ok, verdict.reasons
    flip_byte(next((result.path / "data" / result.item_ids[0]).iterdir()))
    with pytest.raises(ValidationFailed, match="does not verify"):
        issue_certificate(nl, result.path, actor="user:alice")


# --- import on another node ----------------------------------------------------------------


def _count(node: Node, model: object) -> int:
    with node.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def test_import_adds_received_and_verified(
    nl: Node, us: Node, files: list[Path], tmp_path: Path
) -> None:
    _linked(nl, us)
    result = package(nl, files, tmp_path / "bag", recipient="us-poc")
    import_package(us, result.path, user="bob")
    with us.db.session() as session:
        for item_id in result.item_ids:
            events = custody_events(session, item_id)
            assert [e.action.value for e in events] == [
                "acquired",
                "sealed",
                "packaged",
                "received",
                "verified",
            ]
            assert {e.node_id for e in events} == {"nl-poc", "us-poc"}
            assert verify_item_chain(session, us, item_id) is None
    with pytest.raises(Conflict, match="already imported"):
        import_package(us, result.path, user="bob")


def test_import_refuses_other_recipient_and_altered(
    nl: Node, us: Node, files: list[Path], tmp_path: Path
) -> None:
    _linked(nl, us)
    for_br = package(nl, files, tmp_path / "bag-br", recipient="nl-poc")
    with pytest.raises(ValidationFailed, match="is for nl-poc, not for us-poc"):
        import_package(us, for_br.path, user="bob")
    altered = package(nl, files, tmp_path / "bag-us", recipient="us-poc")
    flip_byte(next((altered.path / "data" / altered.item_ids[1]).iterdir()), 3)
    with pytest.raises(ValidationFailed) as refused:
        import_package(us, altered.path, user="bob")
    assert altered.item_ids[1] in str(refused.value)
    for model in (EvidenceItemRow, EvidenceCustodyRow, EvidencePackageRow):
        assert _count(us, model) == 0
    store = us.paths.data_dir / "evidence"
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_handling_codes_bind_onward_sharing(
    nl: Node, us: Node, files: list[Path], tmp_path: Path
) -> None:
    from trailguard.evidence.domain import LegalBasis
    from trailguard.evidence.service import create_package

    _linked(nl, us)
    sent = create_package(
        nl,
        out=tmp_path / "h2",
        reference="NL-PR-2026-0042",
        basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
        user="alice",
        files=files[:1],
        recipient="us-poc",
        handling_code="H2",
    )
    import_package(us, sent.path, user="bob")
    basis = LegalBasis.parse("mla: US-MLA-7")
    with pytest.raises(ValidationFailed, match="not shared onward without that node's permission"):
        create_package(
            us,
            out=tmp_path / "onward",
            reference="US-1",
            basis=basis,
            user="bob",
            item_ids=sent.item_ids,
        )
    assert not (tmp_path / "onward").exists()
    back = create_package(
        us,
        out=tmp_path / "back",
        reference="US-1",
        basis=basis,
        user="bob",
        item_ids=sent.item_ids,
        recipient="nl-poc",
    )
    assert back.path.is_dir()  # returning it to its origin is allowed


def test_request_rendered_without_a_node_is_an_unsigned_draft(tmp_path: Path) -> None:
    # issue 14 point 5: no issued document lacks the verification block; a PDF rendered
    # without a node says, visibly and to verify-document, that it is an unsigned draft
    pdf = tmp_path / "draft.pdf"
    pdf.write_bytes(render_pdf(parse_request(payload("preservation"))))
    text = flat(PdfReader(io.BytesIO(pdf.read_bytes())).pages[-1].extract_text())
    assert "UNSIGNED DRAFT" in text and "no node issued or signed it" in text
    code, verdict = _verify_cli(pdf)
    assert code == 1 and verdict["ok"] is False
    assert verdict["issuer_node"] is None and verdict["key_known"] is False
    assert len(verdict["reasons"]) == 1 and "an unsigned draft" in verdict["reasons"][0]


def test_requests_render_cli_issues_signed_or_marks_draft(nl: Node, tmp_path: Path) -> None:
    body = tmp_path / "request.json"
    body.write_text(json.dumps(payload("preservation")), encoding="utf-8")
    draft = tmp_path / "draft.pdf"
    result = runner.invoke(app, ["requests", "render", str(body), "--out", str(draft)])
    assert result.exit_code == 0, result.output
    assert "unsigned draft" in flat(result.stdout)
    assert "an unsigned draft" in _verify_cli(draft)[1]["reasons"][0]
    signed = tmp_path / "signed.pdf"
    result = runner.invoke(
        app,
        [
            "requests",
            "render",
            str(body),
            "--out",
            str(signed),
            "--data-dir",
            str(nl.paths.data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    code, verdict = _verify_cli(signed, "--data-dir", str(nl.paths.data_dir))
    assert code == 0, verdict
    assert verdict["issuer_node"] == "nl-poc" and verdict["content_unchanged"] is True
    # a draft mark added to a signed document does not make it verify, nor pass as a draft
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(signed.read_bytes() + b"\n%TRAILGUARD-UNSIGNED-DRAFT\n")
    code, verdict = _verify_cli(forged, "--data-dir", str(nl.paths.data_dir))
    assert code == 1 and "bytes were added after the verification block" in verdict["reasons"]
