"""exercise: pages. ``/exercise`` lists the trainee's sessions; ``/exercise/sessions/{id}`` is
the briefing (the story and the victim's evidence; the trainee then works in the normal
pages) with the form that concludes it; ``.../debrief`` the score with every point's article
and the timeline against the answer key (``debrief.pdf`` the same as a signed PDF);
``/exercise/trainer`` the trainer's list of sessions and scores over time."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trailguard.accounts import Principal
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.exercise import service
from trailguard.exercise.domain.scoring import AXES, AXIS_TITLES, END_KINDS
from trailguard.node import Node
from trailguard.web.dashboard import DashboardItem
from trailguard.web.deps import get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)
Viewer = Depends(require_roles(*service.VIEW_ROLES))
Trainer = Depends(require_roles(*service.TRAINER_ROLES))
END_LABELS = {
    "subscriber": "a subscriber (name the account)",
    "dead_end": "a dead end (no subscriber behind the last provider)",
    "refuse": "a refusal (the requested Party refused)",
    "non_party": "a non-Party (no 24/7 channel: police-to-police or Interpol)",
}


@router.get("/exercise", response_class=HTMLResponse)
def sessions_page(request: Request, principal: Principal = Viewer) -> HTMLResponse:
    node = get_node(request)
    sessions = service.list_sessions(node, principal)
    return render(
        request,
        "exercise/list.html",
        {"sessions": sessions, "trainer": service.is_trainer(principal), "now": node.clock.now()},
    )


@router.get("/exercise/trainer", response_class=HTMLResponse)
def trainer_page(request: Request, principal: Principal = Trainer) -> HTMLResponse:
    node = get_node(request)
    sessions = service.list_sessions(node, principal)
    return render(
        request,
        "exercise/trainer.html",
        {"sessions": sessions, "axes": AXES, "titles": AXIS_TITLES},
    )


@router.get("/exercise/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: str, principal: Principal = Viewer) -> HTMLResponse:
    node = get_node(request)
    view = service.get_session(node, principal, session_id)
    return _session(request, principal, view, problems=[], status_code=200)


def _session(
    request: Request,
    principal: Principal,
    view: service.SessionView,
    *,
    problems: list[str],
    status_code: int,
) -> HTMLResponse:
    node = get_node(request)
    return render(
        request,
        "exercise/session.html",
        {
            "session": view,
            "brief": service.briefing(view),
            "ends": [(end, END_LABELS[end]) for end in END_KINDS],
            "problems": problems,
            "now": node.clock.now(),
            "case_id": service.session_case(node, principal, view),
        },
        status_code=status_code,
    )


@router.post("/exercise/sessions/{session_id}/conclude", response_class=HTMLResponse)
def conclude(
    request: Request,
    session_id: str,
    end: str = Form(""),
    subscriber: str = Form(""),
    country: str = Form(""),
    principal: Principal = Viewer,
) -> Response:
    node = get_node(request)
    try:
        service.conclude(
            node, principal, session_id, end=end, subscriber=subscriber, country=country
        )
    except (ValidationFailed, Conflict) as exc:
        view = service.get_session(node, principal, session_id)
        problems = [str(exc), *getattr(exc, "problems", [])]
        return _session(request, principal, view, problems=problems, status_code=422)
    service.score_session(node, principal, session_id)
    return RedirectResponse(f"/exercise/sessions/{session_id}/debrief", status_code=303)


@router.post("/exercise/sessions/{session_id}/score", response_class=HTMLResponse)
def rescore(request: Request, session_id: str, principal: Principal = Trainer) -> Response:
    service.score_session(get_node(request), principal, session_id)
    return RedirectResponse(f"/exercise/sessions/{session_id}/debrief", status_code=303)


@router.get("/exercise/sessions/{session_id}/debrief", response_class=HTMLResponse)
def debrief_page(request: Request, session_id: str, principal: Principal = Viewer) -> HTMLResponse:
    node = get_node(request)
    view, entries = service.debrief(node, principal, session_id)
    return render(
        request,
        "exercise/debrief.html",
        {
            "session": view,
            "score": view.score,
            "entries": entries,
            "axes": AXES,
            "titles": AXIS_TITLES,
            "scenario": view.scenario,
            "trainer": service.is_trainer(principal),
        },
    )


@router.get("/exercise/sessions/{session_id}/debrief.pdf")
def debrief_pdf(request: Request, session_id: str, principal: Principal = Viewer) -> Response:
    pdf = service.debrief_pdf(get_node(request), principal, session_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="exercise-debrief-{session_id}.pdf"'},
    )


def dashboard_items(node: Node, principal: Principal, now: datetime) -> list[DashboardItem]:
    """On an exercise node, the person's running sessions (the way into the briefing)."""
    if not node.config.is_exercise or not principal.has_any(*service.VIEW_ROLES):
        return []
    return [
        DashboardItem(
            kind="exercise",
            title=f"EXERCISE: {view.scenario.offence} (seed {view.seed}, {view.difficulty})",
            url=f"/exercise/sessions/{view.id}",
            state=view.state,
            deadline=None,
            deadline_label="",
            counterpart=view.trainee,
        )
        for view in service.list_sessions(node, principal)
        if view.state == "running"
    ]
