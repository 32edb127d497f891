"""Issue 17, point 3: every document an exercise node issues says EXERCISE on every page
(request PDFs, the printable request, the evidence hash certificate, and any PDF drawn with
``core.exercise_marking.mark_pdf``); a real node's documents say nothing of the kind."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from req_payloads import payload

from helpers import TEST_PASSWORD, make_node
from trailguard.bootstrap import initialise_node
from trailguard.core.config import ExerciseSettings, NodeRole
from trailguard.core.exercise_marking import exercise_marking, mark_pdf
from trailguard.evidence.certificate import render_certificate
from trailguard.node import Node
from trailguard.registry import open_node
from trailguard.requests.documents import render_html, render_pdf
from trailguard.requests.domain import parse_request

NETWORK = "exercise-seed-11-docs"
LONG_FOOTER = "\n".join(f"footer line {i} of a long annex" for i in range(160))


def _exercise_node(tmp_path: Path) -> Node:
    data_dir = tmp_path / "trainee"
    url = f"sqlite:///{tmp_path / 'trainee.db'}"
    initialise_node(
        data_dir,
        name="US 24/7 point of contact (training)",
        country="US",
        roles=[NodeRole.POC],
        node_id="us-poc",
        base_url="http://us-poc.test",
        admin_password=TEST_PASSWORD,
        database_url=url,
        exercise=ExerciseSettings(network=NETWORK, seed=11),
    )
    return open_node(data_dir, database_url=url)


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def test_an_exercise_nodes_request_pdf_says_exercise_on_every_page(tmp_path: Path) -> None:
    node = _exercise_node(tmp_path)
    try:
        pdf = render_pdf(
            parse_request(payload("preservation")),
            footer=LONG_FOOTER,
            node=node,
            actor="user:trainee",
        )
    finally:
        node.close()
    pages = _pages(pdf)
    assert len(pages) >= 3  # the long annex runs over several pages
    for number, text in enumerate(pages, 1):
        assert f"EXERCISE - training only, not real work (network {NETWORK})" in text, number
    title = PdfReader(io.BytesIO(pdf)).metadata.title  # type: ignore[union-attr]
    assert title is not None and title.startswith("EXERCISE")
    assert "footer line 159" in " ".join(pages)  # the marking hides no content


def test_a_real_nodes_request_pdf_does_not(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", node_id="us-poc")
    try:
        pdf = render_pdf(
            parse_request(payload("preservation")), footer=LONG_FOOTER, node=node, actor="u:a"
        )
    finally:
        node.close()
    assert not any("EXERCISE" in text for text in _pages(pdf))


def test_the_printable_request_is_marked(tmp_path: Path) -> None:
    node = _exercise_node(tmp_path)
    try:
        marking = exercise_marking(node.config)
    finally:
        node.close()
    request = parse_request(payload("preservation"))
    html = render_html(request, marking=marking)
    assert '<p class="exercise" role="note">EXERCISE - training only' in html
    assert "<title>EXERCISE · " in html
    assert "EXERCISE" not in render_html(request)


def _certificate_content() -> dict[str, object]:
    item = {
        "item_id": "item-1",
        "file_name": "access.log",
        "size": 2048,
        "sha256": "a" * 64,
        "sha512": "b" * 128,
        "acquired_by": "user:trainee",
        "node": "us-poc",
        "acquired_at": "2026-11-20T08:14:07.250000Z",
        "custody": [
            [seq, "acquired", "2026-11-20T08:14:07Z", "user:trainee", "us-poc", "c" * 64]
            for seq in range(1, 40)
        ],
    }
    return {
        "reference": "EX-2026-0001",
        "package_id": "pkg-1",
        "legal_basis": "Art. 29 (exercise)",
        "issuer": "us-poc",
        "key_id": "0123456789abcdef",
        "items": [item, {**item, "item_id": "item-2"}, {**item, "item_id": "item-3"}],
    }


def test_the_hash_certificate_is_marked_on_every_page() -> None:
    marking = f"EXERCISE - training only, not real work (network {NETWORK})"
    pages = _pages(render_certificate(_certificate_content(), None, marking))
    assert len(pages) >= 2
    assert all(marking in text for text in pages)
    assert not any(
        "EXERCISE" in text for text in _pages(render_certificate(_certificate_content(), None))
    )


def test_mark_pdf_is_for_a_fresh_document_and_nothing_on_a_real_node() -> None:
    from fpdf import FPDF

    plain = FPDF(format="A4")
    mark_pdf(plain, None)  # a real node: nothing changes
    plain.add_page()
    plain.set_font("Helvetica", "", 11)
    plain.cell(0, 10, "debrief")
    assert "EXERCISE" not in _pages(bytes(plain.output()))[0]
    late = FPDF(format="A4")
    late.add_page()
    with pytest.raises(ValueError, match="before the document's first page"):
        mark_pdf(late, "EXERCISE - x")
