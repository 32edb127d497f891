"""The EXERCISE marking (issue 17): what a training node puts on everything it shows or issues,
so that nothing made in an exercise can be mistaken for real work.

One place for the words and their forms, used by every capability through this module:

- ``exercise_marking(config)``: the one-line marking of an exercise node ("EXERCISE -
  training only, not real work (network exercise-...)"), or None on a real node;
- ``mark_subject(config, subject)``: a subject shown to people (notification, e-mail,
  page title) that starts with "EXERCISE" on an exercise node, unchanged on a real one;
- ``mark_body(config, body)``: a message body whose first line is the marking;
- ``mark_pdf(pdf, marking)``: every page of an fpdf2 document, from its first, opens with
  a red band reading the marking and carries a diagonal EXERCISE watermark (for request
  PDFs, certificates and the exercise debrief alike).

Plain Python: no web or database imports; fpdf2 is only touched through the object passed in.
"""

from __future__ import annotations

from typing import Any

from trailguard.core.config import NodeConfig

EXERCISE_WORD = "EXERCISE"
NETWORK_HEADER = "X-Trailguard-Network"  # on every HTTP answer of a node: its network's name
_BAND_HEIGHT = 7.0  # mm, the band at the top of every page
_BAND_TOP = 3.0


def exercise_marking(config: NodeConfig) -> str | None:
    """The marking of an exercise node (ASCII only, so every PDF font can print it), or
    None for a real node."""
    if config.exercise is None:
        return None
    return f"{EXERCISE_WORD} - training only, not real work (network {config.exercise.network})"


def mark_subject(config: NodeConfig, subject: str) -> str:
    """``subject`` as people see it: "EXERCISE: ..." on an exercise node (once, however often
    it is marked), unchanged on a real node."""
    if config.exercise is None or subject.startswith(f"{EXERCISE_WORD}:"):
        return subject
    return f"{EXERCISE_WORD}: {subject}"


def mark_body(config: NodeConfig, body: str) -> str:
    """``body`` with the marking as its first line on an exercise node."""
    marking = exercise_marking(config)
    if marking is None or body.startswith(marking):
        return body
    return f"{marking}\n\n{body}"


def mark_pdf(pdf: Any, marking: str | None) -> None:
    """Mark every page of the fpdf2 document ``pdf`` (call it before the first ``add_page``):
    each page opens with a red band reading ``marking`` and carries a light diagonal
    EXERCISE watermark under its content; the document's title starts with EXERCISE too.
    Nothing happens when ``marking`` is None (a real node's documents)."""
    if marking is None:
        return
    if getattr(pdf, "page", 0):
        raise ValueError("mark_pdf must be called before the document's first page")
    title = getattr(pdf, "title", None) or ""
    if not title.startswith(EXERCISE_WORD):
        pdf.set_title(f"{EXERCISE_WORD} {title}".strip())
    own_header = pdf.header  # the document's own header (fpdf2's is empty), kept

    def header() -> None:
        _watermark(pdf)
        _band(pdf, marking)
        own_header()

    # fpdf2 calls ``self.header()`` on every new page (automatic page breaks included), then
    # restores the font, colours and line width the page's content was using
    pdf.header = header


def _watermark(pdf: Any) -> None:
    pdf.set_font("Helvetica", "B", 90)
    pdf.set_text_color(248, 215, 212)  # light red: under the content, never over it
    width = pdf.get_string_width(EXERCISE_WORD)
    centre_x, centre_y = pdf.w / 2, pdf.h / 2
    with pdf.rotation(angle=55, x=centre_x, y=centre_y):
        pdf.text(centre_x - width / 2, centre_y + 10, EXERCISE_WORD)


def _band(pdf: Any, marking: str) -> None:
    left = pdf.l_margin
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_fill_color(180, 35, 24)
    pdf.rect(left, _BAND_TOP, width, _BAND_HEIGHT, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_xy(left, _BAND_TOP)
    pdf.cell(width, _BAND_HEIGHT, marking, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(left, max(pdf.t_margin, _BAND_TOP + _BAND_HEIGHT + 3))
