"""exercise: JSON API (``/api/exercise``): sessions, the conclusion, scoring and the debrief
(score, timeline and, once scored, the answer key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal
from trailguard.core.clock import isoformat_z
from trailguard.exercise import service
from trailguard.web.deps import get_node, require_roles

router = APIRouter(
    prefix="/exercise",
    tags=["exercise"],
    responses={404: {"description": "not an exercise node, or no such session"}},
)
Viewer = Depends(require_roles(*service.VIEW_ROLES))


class ConcludeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: str = Field(description="subscriber, dead_end, refuse or non_party")
    subscriber: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=2)


@router.get("/sessions", summary="Exercise sessions (a trainer sees all, a trainee their own)")
def sessions(request: Request, principal: Principal = Viewer) -> list[dict[str, Any]]:
    return [v.summary_json() for v in service.list_sessions(get_node(request), principal)]


@router.get("/sessions/{session_id}", summary="A session: its state and the trainee's briefing")
def session(request: Request, session_id: str, principal: Principal = Viewer) -> dict[str, Any]:
    view = service.get_session(get_node(request), principal, session_id)
    brief = service.briefing(view)
    return {
        **view.summary_json(),
        "briefing": {
            "victim": brief["victim"],
            "offence": brief["offence"],
            "facts": brief["facts"],
            "emergency": brief["emergency"],
            "handling_reason": brief["handling_reason"],
            "evidence": view.scenario.evidence.model_dump(mode="json"),
            "starts_at": isoformat_z(view.scenario.starts_at),
        },
    }


@router.post("/sessions/{session_id}/conclude", summary="Where the trail ended (then scored)")
def conclude(
    request: Request, session_id: str, data: ConcludeIn, principal: Principal = Viewer
) -> dict[str, Any]:
    node = get_node(request)
    service.conclude(
        node,
        principal,
        session_id,
        end=data.end,
        subscriber=data.subscriber,
        country=data.country,
    )
    return service.score_session(node, principal, session_id).summary_json()


@router.post("/sessions/{session_id}/score", summary="Score against the answer key")
def score(request: Request, session_id: str, principal: Principal = Viewer) -> dict[str, Any]:
    return service.score_session(get_node(request), principal, session_id).summary_json()


@router.get("/sessions/{session_id}/debrief", summary="Score, timeline and answer key")
def debrief(request: Request, session_id: str, principal: Principal = Viewer) -> dict[str, Any]:
    view, entries = service.debrief(get_node(request), principal, session_id)
    assert view.score is not None
    return {
        **view.summary_json(),
        "score": view.score.to_json(),
        "timeline": [
            {"at": isoformat_z(e.at), "who": e.who, "hop": e.hop, "text": e.text} for e in entries
        ],
        "answer_key": view.scenario.model_dump(mode="json"),
    }
