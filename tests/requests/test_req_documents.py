from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from req_payloads import ALL, payload

from trailguard.requests.documents import latin1_safe, render_html, render_pdf
from trailguard.requests.domain import parse_request


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out += _leaves(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list):
        out = []
        for index, item in enumerate(value):
            out += _leaves(item, f"{path}[{index}]")
        return out
    return [(path, value)]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _expected(kind: str) -> list[tuple[str, str]]:
    request = parse_request(payload(kind))
    data = request.model_dump(mode="json")
    expected = []
    for path, value in _leaves(data):
        if value in (None, "") or path.endswith(".type") or path == "kind":
            continue
        if isinstance(value, bool):
            # a yes/no is only meaningful beside its label
            key = path.rsplit(".", 1)[-1]
            label = (
                getattr(type(request), "ELEMENTS", {}).get(key)
                or key.replace("_", " ").capitalize()
            )
            value = f"{label} {'yes' if value else 'no'}"
        expected.append((path, _norm(str(value))))
    return expected


@pytest.mark.parametrize("kind", sorted(ALL))
def test_pdf_contains_every_field(kind: str) -> None:
    request = parse_request(payload(kind))
    pdf = render_pdf(request, footer="generated for the test")
    text = _norm(" ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages))
    missing = [(path, value) for path, value in _expected(kind) if value not in text]
    assert not missing, missing
    assert "must not be told" in text  # the confidentiality instruction


@pytest.mark.parametrize("kind", sorted(ALL))
def test_html_contains_every_field_escaped(kind: str) -> None:
    request = parse_request(payload(kind))
    html = render_html(request)
    from html import unescape

    text = _norm(unescape(re.sub(r"<[^>]+>", " ", html)))
    missing = [(path, value) for path, value in _expected(kind) if value not in text]
    assert not missing, missing


def test_html_escapes_markup() -> None:
    request = parse_request(payload("preservation", summary_of_facts="<script>alert(1)</script>"))
    html = render_html(request)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_non_latin1_text_survives_both_ways() -> None:
    request = parse_request(payload("preservation", custodian="Łódź Hosting Sp. z o.o. 東京"))
    with_font = render_pdf(request)
    text = _norm(PdfReader(io.BytesIO(with_font)).pages[0].extract_text() or "")
    for page in PdfReader(io.BytesIO(with_font)).pages[1:]:
        text += " " + _norm(page.extract_text() or "")
    fallback = render_pdf(request, unicode_font=False)
    fallback_text = " ".join(
        _norm(page.extract_text() or "") for page in PdfReader(io.BytesIO(fallback)).pages
    )
    assert "Lódz Hosting" in fallback_text
    assert "CJK" in fallback_text  # the ideographs are named, not dropped
    from trailguard.requests.documents import _font_path

    if _font_path() is not None:
        assert "Łódź Hosting" in text
        assert "CJK" in text  # glyphs the font lacks are named, not dropped


def test_latin1_safe() -> None:
    assert latin1_safe("São Paulo – Łódź") == "São Paulo - Lódz"
    assert latin1_safe("☎") == "[BLACK TELEPHONE]"
