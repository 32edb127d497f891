"""The debrief as a PDF (fpdf2, as the request and evidence documents): the score per axis,
every point with its explanation and article, and the trainee's timeline against the answer
key. Issued by the node with the signed verification block of ``trailguard.evidence``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trailguard.core.pdftext import latin1_safe
from trailguard.evidence import draw_verification_block, sign_pdf
from trailguard.exercise.domain.scoring import AXES, AXIS_TITLES
from trailguard.node import Node

if TYPE_CHECKING:
    from trailguard.exercise.service import SessionView, TimelineEntry

MARK = "EXERCISE - NOT A REAL CASE"


def debrief_content(view: SessionView, entries: Sequence[TimelineEntry]) -> dict[str, Any]:
    """What the PDF says, as plain data (its digest goes in the verification block)."""
    assert view.score is not None
    scenario = view.scenario
    return {
        "mark": MARK,
        "session": view.id,
        "seed": view.seed,
        "difficulty": view.difficulty,
        "network": view.network,
        "trainee": view.trainee,
        "total": view.score.total,
        "axes": {axis: view.score.axes.get(axis, 0.0) for axis in AXES},
        "points": [point.to_json() for point in view.score.points],
        "timeline": [[_z(e.at), e.who, e.hop, e.text] for e in entries],
        "end": scenario.end_summary,
    }


def render_debrief(
    node: Node, view: SessionView, entries: Sequence[TimelineEntry], *, actor: str
) -> bytes:
    content = debrief_content(view, entries)
    return sign_pdf(
        node,
        kind="exercise-debrief",
        title=f"EXERCISE debrief {view.id} (seed {view.seed}, {view.difficulty})",
        content=content,
        render=lambda block: _render(view, entries, block),
        actor=actor,
    )


def _render(view: SessionView, entries: Sequence[TimelineEntry], block: Any) -> bytes:
    # fpdf2 loads only when a PDF is rendered (as in requests.documents)
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    assert view.score is not None
    clean = latin1_safe
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"EXERCISE debrief {view.id}")
    family = "Helvetica"

    def line(text: str, size: float = 9, style: str = "", height: float = 4.5) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(0, height, clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.add_page()
    line(MARK, 14, "B", 7)
    line(f"Debrief of exercise session {view.id}", 12, "B", 6)
    scenario = view.scenario
    line(
        f"Trainee {view.trainee} - seed {view.seed}, {view.difficulty} - network {view.network} "
        f"- scenario date {scenario.as_of.isoformat()}"
    )
    line(f"{scenario.offence}: {scenario.facts}.")
    pdf.ln(2)
    line(f"Score {view.score.total:.1f} / 100", 12, "B", 6)
    for axis in AXES:
        line(f"{AXIS_TITLES[axis]}: {view.score.axes.get(axis, 0.0):.1f}", 10, "B", 5)
        for point in view.score.of(axis):
            hop = f"hop {point.hop}: " if point.hop is not None else ""
            line(f"{hop}{point.label} - {point.earned:g}/{point.possible:g}", 8, "B", 4)
            line(f"{point.explanation} [{point.article}]", 8, "", 4)
        pdf.ln(1)
    line("Timeline (UTC): the trainee against the answer key", 11, "B", 6)
    for entry in entries:
        who = {"trainee": "TRAINEE", "counterpart": "THEM"}.get(entry.who, "KEY")
        line(f"{_z(entry.at)}  {who:8}  {entry.text}", 8, "", 4)
    pdf.ln(2)
    line(f"How the trail ends: {scenario.end_summary}", 9, "B")
    line(MARK, 9, "B")
    if block is not None:
        draw_verification_block(pdf, block, family, clean)
    return bytes(pdf.output())


def _z(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")
