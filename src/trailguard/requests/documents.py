"""Rendered documents of a request: an HTML page and a PDF, printable and attachable to an
e-mail for a recipient outside the network. Both are built from one flat list of sections so
that they always carry the same fields: every non-empty field of the request appears.

PDF text: fpdf2's core fonts only cover Latin-1. A Unicode TrueType font (DejaVu Sans) is
embedded when one is found on the machine (``TRAILGUARD_PDF_FONT`` or the Debian path);
otherwise text outside Latin-1 is transliterated (accents dropped, other characters replaced
by their Unicode name in brackets) so nothing is lost silently.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from trailguard.core.exercise_marking import exercise_marking, mark_pdf
from trailguard.core.pdftext import latin1_safe
from trailguard.evidence import (
    UNSIGNED_DRAFT,
    draw_verification_block,
    mark_unsigned_draft,
    sign_pdf,
)
from trailguard.requests.domain.common import RequestBase, RequestKind
from trailguard.requests.domain.types import describe_identifier

if TYPE_CHECKING:
    from trailguard.node import Node

TITLES: dict[RequestKind, str] = {
    RequestKind.PRESERVATION: "Request for expedited preservation of stored computer data "
    "(Convention on Cybercrime, Art. 29)",
    RequestKind.EXPEDITED_DISCLOSURE: "Expedited disclosure of preserved traffic data "
    "(Convention on Cybercrime, Art. 30)",
    RequestKind.EMERGENCY_DISCLOSURE: "Emergency request for disclosure of stored computer data",
    RequestKind.SUBSCRIBER_INFO: "Order / request for subscriber information "
    "(Second Additional Protocol, Arts. 7-8)",
    RequestKind.EPOC: "European Production Order Certificate (EPOC), Regulation (EU) 2023/1543",
    RequestKind.EPOC_PR: "European Preservation Order Certificate (EPOC-PR), "
    "Regulation (EU) 2023/1543",
    RequestKind.MLA: "Request for mutual assistance regarding accessing of stored computer data "
    "(Convention on Cybercrime, Art. 31)",
    RequestKind.ART32_RECORD: "Record of trans-border access to stored computer data "
    "(Convention on Cybercrime, Art. 32)",
}

_IDENTIFIER_LISTS = {"data_to_preserve", "identifiers"}
_HEADER_FIELDS = ("kind", "reference", "date_issued", "confidentiality", "handling")

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@dataclass
class Row:
    label: str
    value: str


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class DocumentView:
    title: str
    reference: str
    kind: str
    sections: list[Section]
    confidentiality: str
    handling: str
    footer: str = ""


# Convention on Cybercrime (ETS 185) Arts. 2-11, titles as in the official English text
# (source: the ETS 185 text cited in requests/domain/types.py).
CONVENTION_OFFENCES: dict[int, str] = {
    2: "Illegal access",
    3: "Illegal interception",
    4: "Data interference",
    5: "System interference",
    6: "Misuse of devices",
    7: "Computer-related forgery",
    8: "Computer-related fraud",
    9: "Offences related to child pornography",
    10: "Offences related to infringements of copyright and related rights",
    11: "Attempt and aiding or abetting",
}


def _offence_articles(articles: list[int]) -> str:
    return "; ".join(
        f"Art. {a} ({CONVENTION_OFFENCES[a]})" if a in CONVENTION_OFFENCES else f"Art. {a}"
        for a in articles
    )


def _special_row(request: RequestBase, name: str, value: Any) -> Row | None:
    """Fields whose raw value reads wrong to a person: articles as bare numbers, and the
    request's "status" (new or extension, T-CY(2018)11 (3)) that is not its state."""
    if name == "offence_articles" and isinstance(value, list) and value:
        return Row("Convention offences (Arts. 2-11)", _offence_articles(value))
    if name == "status" and value in ("new", "extension"):
        previous = getattr(request, "previous_reference", "")
        text = "a new request" if value == "new" else f"extension of {previous}".strip()
        return Row("New request or extension", text)
    return None


def _humanise(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _flatten(prefix: str, value: Any, rows: list[Row]) -> None:
    if value is None or value == "" or value == [] or value == {}:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix} / {_humanise(key)}", item, rows)
    elif isinstance(value, list):
        for index, item in enumerate(value, start=1):
            _flatten(f"{prefix} {index}" if len(value) > 1 else prefix, item, rows)
    else:
        rows.append(Row(prefix, _scalar(value)))


def document_view(request: RequestBase, *, footer: str = "") -> DocumentView:
    """The request as titled sections of label/value rows (what both renderers print)."""
    data = request.model_dump(mode="json")
    elements: dict[str, str] = getattr(type(request), "ELEMENTS", {})
    parties = Section("Parties and authorities")
    body = Section("Elements of the request")
    concerned = Section("Data concerned")
    basis = Section("Legal basis")
    header = Section("Request")
    header.rows.append(Row("Kind", request.kind.value))
    header.rows.append(Row("Reference", request.reference))
    header.rows.append(Row("Date", request.date_issued.isoformat()))
    for name in request.__class__.model_fields:
        if name in _HEADER_FIELDS:
            continue
        value = data.get(name)
        label = elements.get(name) or _humanise(name)
        if name in _IDENTIFIER_LISTS:
            items = getattr(request, name)
            for index, item in enumerate(items, start=1):
                kind = getattr(item, "type", "identifier")
                concerned.rows.append(Row(f"{label} {index} ({kind})", describe_identifier(item)))
            continue
        if name == "legal_basis":
            _flatten("Legal basis", value, basis.rows)
            continue
        special = _special_row(request, name, value)
        if special is not None:
            body.rows.append(special)
            continue
        target = (
            parties
            if name
            in {
                "requesting_party",
                "requested_party",
                "requesting_authority",
                "requested_authority",
                "confirmation_contact",
            }
            else body
        )
        if isinstance(value, bool) or value not in (None, "", [], {}):
            _flatten(label, value, target.rows)
    if request.legal_basis is None:
        basis.rows.append(Row("Legal basis", "not recorded"))
    handling = request.handling
    handling_text = f"{handling.tlp.value} · handling code {handling.code.value}" + (
        " · onward sharing permitted by the sender"
        if handling.onward_sharing_permitted
        else " · no onward sharing without the sender's permission"
        if handling.onward_sharing_problem()
        else ""
    )
    if handling.conditions:
        handling_text += f" · conditions: {handling.conditions}"
    confidentiality = (
        request.confidentiality.instruction
        if request.confidentiality.do_not_notify_customer
        else "The customer may be notified."
    )
    header.rows.append(Row("Handling", handling_text))
    header.rows.append(Row("Onward sharing permitted", _scalar(handling.onward_sharing_permitted)))
    header.rows.append(Row("Confidentiality", confidentiality))
    header.rows.append(
        Row("Do not notify customer", _scalar(request.confidentiality.do_not_notify_customer))
    )
    sections = [s for s in (header, parties, body, concerned, basis) if s.rows]
    return DocumentView(
        title=TITLES[request.kind],
        reference=request.reference,
        kind=request.kind.value,
        sections=sections,
        confidentiality=confidentiality,
        handling=handling_text,
        footer=footer,
    )


_TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=select_autoescape(["html"]))


def render_html(request: RequestBase, *, footer: str = "", marking: str | None = None) -> str:
    """A standalone printable HTML document (no scripts, inline style); ``marking`` is an
    exercise node's EXERCISE marking (issue 17), shown above the document."""
    view = document_view(request, footer=footer)
    return _env.get_template("requests/document.html").render(doc=view, marking=marking)


def _font_path() -> tuple[Path, Path | None] | None:
    configured = os.environ.get("TRAILGUARD_PDF_FONT")
    if configured:
        path = Path(configured)
        return (path, None) if path.is_file() else None
    if DEJAVU.is_file():
        return DEJAVU, DEJAVU_BOLD if DEJAVU_BOLD.is_file() else None
    return None


@functools.cache
def _covered(font: Path) -> frozenset[int]:
    """The code points the font has glyphs for (others are named instead of vanishing)."""
    # fpdf2 and its fonts load only when a PDF is rendered
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(font), lazy=True).getBestCmap() or {}
    return frozenset(cmap)


def render_pdf(
    request: RequestBase,
    *,
    footer: str = "",
    unicode_font: bool = True,
    node: Node | None = None,
    actor: str = "system",
) -> bytes:
    """The same document as a PDF (A4). ``unicode_font=False`` forces the Latin-1 fallback.
    With ``node``, the PDF is issued by that node with a signed verification block
    (``trailguard verify-document``); without one it is marked, visibly and after its end,
    as an unsigned draft (``verify-document`` names it so)."""
    if node is None:
        return mark_unsigned_draft(_render_pdf(request, footer, unicode_font, UNSIGNED_DRAFT))
    marking = exercise_marking(node.config)  # EXERCISE on every page (issue 17)

    view = document_view(request, footer=footer)
    content = {
        "title": view.title,
        "reference": view.reference,
        "sections": [[s.title, [[r.label, r.value] for r in s.rows]] for s in view.sections],
    }
    return sign_pdf(
        node,
        kind="request",
        title=f"{view.title} {view.reference}",
        content=content,
        render=lambda block: _render_pdf(request, footer, unicode_font, block, marking),
        actor=actor,
    )


def _render_pdf(
    request: RequestBase, footer: str, unicode_font: bool, block: Any, marking: str | None = None
) -> bytes:
    # fpdf2 and its fonts load only when a PDF is rendered
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    view = document_view(request, footer=footer)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"{view.title} {view.reference}")
    mark_pdf(pdf, marking)
    fonts = _font_path() if unicode_font else None
    if fonts is not None:
        regular, bold = fonts
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold or regular))
        family = "body"
        covered = _covered(regular)

        def clean(text: str) -> str:
            return "".join(
                c if ord(c) in covered or c in "\n\t" else f"[{unicodedata.name(c, hex(ord(c)))}]"
                for c in text
            )

    else:
        family = "Helvetica"
        clean = latin1_safe
    pdf.add_page()
    pdf.set_font(family, "B", 13)
    pdf.multi_cell(0, 6, clean(view.title), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "B", 10)
    pdf.multi_cell(0, 5, clean(view.handling), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    for section in view.sections:
        pdf.set_font(family, "B", 11)
        pdf.multi_cell(0, 6, clean(section.title), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for row in section.rows:
            pdf.set_font(family, "B", 8)
            pdf.multi_cell(0, 4, clean(row.label), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(family, "", 9)
            pdf.multi_cell(0, 4.5, clean(row.value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
        pdf.ln(2)
    if view.footer:
        pdf.set_font(family, "", 7)
        pdf.multi_cell(0, 4, clean(view.footer), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if block is not None:
        draw_verification_block(pdf, block, family, clean)
    return bytes(pdf.output())


def pdf_filename(reference: str) -> str:
    """The file name to offer for a request's PDF: its reference with ASCII letters, digits,
    ``-`` and ``_`` kept and anything else ``_``, so that it is safe in a Content-Disposition
    header (HTTP headers are Latin-1, and a quote would end the name)."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "_" for c in reference)
    return f"{name}.pdf"
