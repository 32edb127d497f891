"""The exercise's service: sessions on the trainee's node (opened with the scenario, concluded
by the trainee, scored against the answer key), the trainee's requests read through the
requests face, the debrief (timeline against the key) and its PDF. Every change is audited.

Only a training node (``NodeConfig.exercise`` set) holds sessions: on a real node every call
answers that it is not an exercise node.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from trailguard.accounts import Principal, Role, get_user, principal_of
from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.exercise.debrief_pdf import render_debrief
from trailguard.exercise.domain.scenario import Scenario
from trailguard.exercise.domain.scoring import (
    END_KINDS,
    Conclusion,
    Point,
    Score,
    SentRequest,
    match_request,
    score,
)
from trailguard.exercise.orm import ExerciseSessionRow
from trailguard.investigations import (
    CASE_ROLES,
    create_investigation,
    list_investigations,
    observe_headers,
    observe_log_lines,
)
from trailguard.node import Node
from trailguard.requests import get_request, list_requests

TRAINEE_ROLES = (Role.INVESTIGATOR, Role.DUTY_OFFICER)
TRAINER_ROLES = (Role.ADMIN,)
VIEW_ROLES = TRAINEE_ROLES + TRAINER_ROLES
# the other side's answers shown on the debrief's timeline
ANSWER_STATES = frozenset(
    {
        "received",
        "acknowledged",
        "preserved",
        "partially_preserved",
        "refused",
        "cannot_ensure_availability",
    }
)


@dataclass(frozen=True)
class SessionView:
    id: str
    seed: int
    difficulty: str
    network: str
    trainee: str
    state: str
    starts_at: datetime
    created_at: datetime
    scenario: Scenario
    conclusion: Conclusion | None
    score: Score | None
    scored_at: datetime | None

    def summary_json(self) -> dict[str, Any]:
        """What anyone allowed to see the session may see (no answer key)."""
        return {
            "id": self.id,
            "seed": self.seed,
            "difficulty": self.difficulty,
            "network": self.network,
            "trainee": self.trainee,
            "state": self.state,
            "starts_at": _z(self.starts_at),
            "created_at": _z(self.created_at),
            "total": self.score.total if self.score else None,
            "axes": dict(self.score.axes) if self.score else None,
            "scored_at": _z(self.scored_at) if self.scored_at else None,
        }


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str  # trainee | key
    hop: int | None
    text: str


def require_exercise_node(node: Node) -> None:
    if not node.config.is_exercise:
        raise NotFound(
            f"{node.config.node_id} is not an exercise node: exercises run only on nodes made "
            "by `trailguard exercise start` (their own network and data directory)"
        )


def _require(principal: Principal, roles: tuple[Role, ...], what: str) -> None:
    if not principal.has_any(*roles):
        needed = ", ".join(role.value for role in roles)
        raise PermissionDenied(f"{what} needs one of the roles: {needed}")


def is_trainer(principal: Principal) -> bool:
    return principal.has_any(*TRAINER_ROLES)


def open_case(node: Node, scenario: Scenario, *, trainee: str, session_id: str) -> str:
    """The investigation the trainee starts from, as at work: opened in the trainee's name
    with the victim's evidence read into observations by the investigations capability (the
    log through the traffic parsers, in the victim's zone where the log has none; the mail's
    Received: chain). Answers the investigation's id."""
    require_exercise_node(node)
    with node.db.session() as session:
        principal = principal_of(get_user(session, trainee))
    case = create_investigation(
        node,
        principal,
        {
            "reference": case_reference_of(scenario.seed, session_id),
            "title": f"EXERCISE: {scenario.victim}, {scenario.offence}",
            "conduct": [scenario.conduct],
            "handling_code": "H2",
            "tlp": "TLP:AMBER",
            "description": scenario.evidence.title,
        },
    )
    evidence = scenario.evidence
    if evidence.kind == "mail_headers":
        observe_headers(
            node, principal, case.id, evidence.text.encode("utf-8"), label=evidence.title
        )
    else:
        observe_log_lines(
            node, principal, case.id, evidence.text, tz=evidence.zone, label=evidence.title
        )
    return case.id


def case_reference_of(seed: int, session_id: str) -> str:
    """The reference of the investigation ``open_case`` opens for a session."""
    return f"EX-{seed}-{session_id[:8]}".upper()


def session_case(node: Node, principal: Principal, view: SessionView) -> str | None:
    """The id of the investigation opened for the session (the briefing links to it), when
    the person is on it; None when the session was opened without one."""
    if not principal.has_any(*CASE_ROLES):
        return None
    reference = case_reference_of(view.seed, view.id)
    found = [c for c in list_investigations(node, principal) if c.reference == reference]
    return found[0].id if found else None


def open_session(node: Node, scenario: Scenario, *, trainee: str, actor: str) -> str:
    """Record a new session (called by ``exercise start`` and the selftest)."""
    require_exercise_node(node)
    assert node.config.exercise is not None
    if node.config.exercise.network != scenario.network:
        raise Conflict(
            f"the node belongs to {node.config.exercise.network}, the scenario to "
            f"{scenario.network}"
        )
    now = node.clock.now()
    session_id = str(uuid.uuid4())
    with node.db.session() as session:
        session.add(
            ExerciseSessionRow(
                id=session_id,
                seed=scenario.seed,
                difficulty=scenario.difficulty.value,
                network=scenario.network,
                trainee=trainee,
                scenario=scenario.model_dump_json(),
                state="running",
                starts_at=scenario.starts_at,
                created_at=now,
                created_by=actor,
            )
        )
        record(
            session,
            actor=actor,
            action="exercise.session_opened",
            subject=f"exercise:{session_id}",
            details={
                "seed": scenario.seed,
                "difficulty": scenario.difficulty.value,
                "trainee": trainee,
                "network": scenario.network,
            },
            at=now,
        )
    return session_id


def _row(session: Any, session_id: str) -> ExerciseSessionRow:
    try:
        uuid.UUID(str(session_id))
    except ValueError:
        raise NotFound(f"no exercise session {session_id!r}") from None
    row = session.get(ExerciseSessionRow, str(session_id))
    if row is None:
        raise NotFound(f"no exercise session {session_id!r}")
    return row


def _view(row: ExerciseSessionRow) -> SessionView:
    conclusion = None
    if row.conclusion:
        data = json.loads(row.conclusion)
        conclusion = Conclusion(
            end=data["end"],
            subscriber=data.get("subscriber", ""),
            country=data.get("country", ""),
            at=datetime.fromisoformat(data["at"]) if data.get("at") else None,
        )
    return SessionView(
        id=row.id,
        seed=row.seed,
        difficulty=row.difficulty,
        network=row.network,
        trainee=row.trainee,
        state=row.state,
        starts_at=row.starts_at,
        created_at=row.created_at,
        scenario=Scenario.model_validate_json(row.scenario),
        conclusion=conclusion,
        score=_score_of(row.score),
        scored_at=row.scored_at,
    )


def _score_of(text: str | None) -> Score | None:
    if not text:
        return None
    data = json.loads(text)
    points = tuple(Point(**point) for point in data["points"])
    return Score(points=points, axes=data["axes"], total=data["total"])


def _check_access(principal: Principal, row: ExerciseSessionRow) -> None:
    _require(principal, VIEW_ROLES, "an exercise session")
    if row.trainee != principal.username and not is_trainer(principal):
        raise PermissionDenied(f"session {row.id} is {row.trainee}'s; only a trainer may open it")


def get_session(node: Node, principal: Principal, session_id: str) -> SessionView:
    require_exercise_node(node)
    with node.db.session() as session:
        row = _row(session, session_id)
        _check_access(principal, row)
        return _view(row)


def list_sessions(node: Node, principal: Principal) -> list[SessionView]:
    """A trainer sees every session (newest first); a trainee their own."""
    require_exercise_node(node)
    _require(principal, VIEW_ROLES, "exercise sessions")
    with node.db.session() as session:
        query = select(ExerciseSessionRow).order_by(ExerciseSessionRow.created_at.desc())
        if not is_trainer(principal):
            query = query.where(ExerciseSessionRow.trainee == principal.username)
        return [_view(row) for row in session.scalars(query).all()]


def conclude(
    node: Node,
    principal: Principal,
    session_id: str,
    *,
    end: str,
    subscriber: str = "",
    country: str = "",
) -> SessionView:
    """The trainee says where the trail ended (subscriber, dead end, refusal, non-Party)."""
    require_exercise_node(node)
    if end not in END_KINDS:
        raise ValidationFailed(
            f"the end must be one of {', '.join(END_KINDS)}, not {end!r}", [f"end: {end!r}"]
        )
    subscriber = (subscriber or "").strip()
    country = (country or "").strip().upper()
    if len(subscriber) > 200 or len(country) > 2:
        raise ValidationFailed("subscriber (200 characters) or country (2 letters) too long")
    if end == "subscriber" and not subscriber:
        raise ValidationFailed("name the subscriber the trail ended at", ["subscriber: missing"])
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, session_id)
        _check_access(principal, row)
        if row.trainee != principal.username:
            raise PermissionDenied("only the trainee concludes their own session")
        if row.state != "running":
            raise Conflict(f"session {row.id} is {row.state}; it was concluded already")
        row.conclusion = json.dumps(
            {"end": end, "subscriber": subscriber, "country": country, "at": now.isoformat()}
        )
        row.concluded_at = now
        row.state = "concluded"
        record(
            session,
            actor=principal.actor,
            action="exercise.concluded",
            subject=f"exercise:{row.id}",
            details={"end": end, "subscriber": subscriber, "country": country},
            at=now,
        )
        return _view(row)


def trainee_requests(
    node: Node, trainee: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[SentRequest]:
    """The requests the trainee drafted on this node, or sent when another drafted them (the
    trace drafts the next hop's request when an Art. 30 disclosure arrives, in nobody's
    name), from ``since``, before ``until``, with the moment each was sent."""
    actor = f"user:{trainee}"
    found = []
    for brief in list_requests(node, direction="outbound"):
        if since is not None and brief.created_at < since:
            continue
        if until is not None and brief.created_at > until:
            continue
        view = get_request(node, brief.id)
        sent = next((t for t in view.transitions if t.to_state == "sent"), None)
        if brief.created_by != actor and (sent is None or sent.actor != actor):
            continue
        sent_at = sent.at if sent is not None else None
        answers = tuple(
            (t.at, t.to_state)
            for t in view.transitions
            if t.actor_node != node.config.node_id and t.to_state in ANSWER_STATES
        )
        found.append(
            SentRequest(
                id=view.id,
                kind=view.kind.value,
                reference=view.reference,
                recipient=view.counterpart_node,
                requested_party=view.requested_party,
                drafted_at=view.created_at,
                sent_at=sent_at,
                body=view.request.model_dump(mode="json"),
                legal_basis=view.legal_basis is not None,
                overridden=view.override_justification is not None,
                answers=answers,
            )
        )
    return sorted(found, key=lambda r: (r.drafted_at, r.reference))


def _session_requests(node: Node, view: SessionView) -> list[SentRequest]:
    """The trainee's requests of this session: drafted after it opened and, once concluded,
    before the conclusion."""
    until = view.conclusion.at if view.conclusion is not None else None
    return trainee_requests(node, view.trainee, since=view.created_at, until=until)


def score_session(node: Node, principal: Principal, session_id: str) -> SessionView:
    """Score the session against its answer key: the trainee after concluding, a trainer at
    any time (a running session is scored as it stands)."""
    require_exercise_node(node)
    with node.db.session() as session:
        row = _row(session, session_id)
        _check_access(principal, row)
        if row.state == "running" and not is_trainer(principal):
            raise Conflict("conclude the session (where did the trail end?) before scoring it")
        view = _view(row)
    result = score(view.scenario, _session_requests(node, view), view.conclusion)
    now = node.clock.now()
    with node.db.session() as session:
        row = _row(session, session_id)
        row.score = json.dumps(result.to_json())
        row.total = result.total
        row.scored_at = now
        row.state = "scored"
        record(
            session,
            actor=principal.actor,
            action="exercise.scored",
            subject=f"exercise:{row.id}",
            details={"total": result.total, "axes": result.axes},
            at=now,
        )
        return _view(row)


def timeline(node: Node, view: SessionView) -> list[TimelineEntry]:
    """The trainee's actions against the answer key's moments, in time order."""
    scenario = view.scenario
    entries = [
        TimelineEntry(
            scenario.starts_at,
            "key",
            None,
            "the trainee's shift starts: the victim's evidence arrives",
        ),
    ]
    requests = _session_requests(node, view)
    for hop in scenario.hops:
        entries.append(
            TimelineEntry(
                hop.at, "key", hop.index, f"hop {hop.index}: {hop.ip}:{hop.port} at {hop.provider}"
            )
        )
        if hop.expects_request:
            entries.append(
                TimelineEntry(
                    hop.preserve_by,
                    "key",
                    hop.index,
                    f"latest moment with margin for {hop.country}",
                )
            )
            entries.append(
                TimelineEntry(
                    hop.dies_at,
                    "key",
                    hop.index,
                    f"{hop.provider}'s {hop.data_kind} records deleted",
                )
            )
            matched = match_request(hop, requests)
            if matched is not None and matched.sent_at is not None:
                entries.append(
                    TimelineEntry(
                        matched.sent_at,
                        "trainee",
                        hop.index,
                        f"sent {matched.kind} {matched.reference} to {matched.recipient}",
                    )
                )
    for request in requests:
        for at, state in request.answers:
            entries.append(
                TimelineEntry(
                    at, "counterpart", None, f"{request.recipient}: {request.reference} {state}"
                )
            )
        entries.append(
            TimelineEntry(
                request.drafted_at,
                "trainee",
                None,
                f"drafted {request.kind} {request.reference} for {request.requested_party}",
            )
        )
    if view.conclusion is not None and view.conclusion.at is not None:
        entries.append(
            TimelineEntry(
                view.conclusion.at,
                "trainee",
                None,
                f"concluded: {view.conclusion.end} {view.conclusion.subscriber}".strip(),
            )
        )
    return sorted(entries, key=lambda e: e.at)


def debrief(
    node: Node, principal: Principal, session_id: str
) -> tuple[SessionView, list[TimelineEntry]]:
    view = get_session(node, principal, session_id)
    if view.score is None:
        raise Conflict(f"session {view.id} is not scored yet: score it first")
    return view, timeline(node, view)


def debrief_pdf(node: Node, principal: Principal, session_id: str) -> bytes:
    view, entries = debrief(node, principal, session_id)
    return render_debrief(node, view, entries, actor=principal.actor)


def briefing(view: SessionView) -> dict[str, Any]:
    """What the trainee is told at the start: the story and the victim's evidence only."""
    scenario = view.scenario
    return {
        "victim": scenario.victim,
        "offence": scenario.offence,
        "facts": scenario.facts,
        "emergency": scenario.emergency,
        "handling_reason": scenario.handling_reason,
        "evidence": scenario.evidence,
        "trainee_country": scenario.trainee_country,
        "starts_at": scenario.starts_at,
        "as_of": scenario.as_of,
    }


def _z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def all_sessions(node: Node) -> list[SessionView]:
    """Every session, newest first, for the node's operator (``exercise status``)."""
    require_exercise_node(node)
    with node.db.session() as session:
        query = select(ExerciseSessionRow).order_by(ExerciseSessionRow.created_at.desc())
        return [_view(row) for row in session.scalars(query).all()]
