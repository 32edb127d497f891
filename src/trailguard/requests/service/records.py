"""What every request service shares: the message types and roles, the views of a stored
request, and ``_transition`` (one audited state change, mirrored to the other node)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.errors import NotFound, PermissionDenied, ValidationFailed
from trailguard.core.events import publish
from trailguard.law import get_engine
from trailguard.network import (
    send_message,
)
from trailguard.node import Node
from trailguard.requests.clocks import clock_facts, refresh_nearest, z
from trailguard.requests.domain.common import LegalBasisRef, RequestBase, RequestKind
from trailguard.requests.domain.deadlines import (
    Deadline,
    deadlines_for,
    nearest_deadline,
    preservation_expiry,
)
from trailguard.requests.domain.lifecycle import (
    PRESERVING_KINDS,
    RequestState,
    allowed_next,
    check_transition,
)
from trailguard.requests.domain.types import parse_request
from trailguard.requests.events import TRANSITION_EVENT  # published by every transition (see there)
from trailguard.requests.orm import RequestRow, TransitionRow

log = logging.getLogger(__name__)

SUBMIT = "request.submit"
TRANSITION = "request.transition"

DRAFTERS = (Role.INVESTIGATOR, Role.DUTY_OFFICER)
APPROVERS = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
OVERRIDERS = (Role.CENTRAL_AUTHORITY, Role.ADMIN)
REQUESTING_SIDE = (Role.INVESTIGATOR, Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
RECEIVING_SIDE = (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY, Role.PROVIDER_LIAISON)
EXECUTORS = (Role.PROVIDER_LIAISON, Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
MIN_JUSTIFICATION = 20


# --- views -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionView:
    id: str
    seq: int
    from_state: str | None
    to_state: str
    actor: str
    actor_node: str
    at: datetime
    reason: str
    details: dict[str, Any]
    message_id: str | None
    origin: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "actor_node": self.actor_node,
            "at": z(self.at),
            "reason": self.reason,
            "details": self.details,
            "message_id": self.message_id,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class RequestView:
    id: str
    kind: RequestKind
    state: RequestState
    reference: str
    requesting_party: str
    requested_party: str
    direction: str
    origin_node: str
    counterpart_node: str | None
    parent_id: str | None
    request: RequestBase
    legal_basis: dict[str, Any] | None
    override_justification: str | None
    created_by: str
    approved_by: str | None
    created_at: datetime
    updated_at: datetime
    deadlines: list[Deadline]
    nearest: Deadline | None
    expires_at: datetime | None
    hold_id: str | None
    hold_digest: str | None
    preserved_summary: str | None
    refusal_ground: str | None
    refusal_article: str | None
    allowed_next: list[str]
    transitions: list[TransitionView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "reference": self.reference,
            "requesting_party": self.requesting_party,
            "requested_party": self.requested_party,
            "direction": self.direction,
            "origin_node": self.origin_node,
            "counterpart_node": self.counterpart_node,
            "parent_id": self.parent_id,
            "body": self.request.model_dump(mode="json"),
            "legal_basis": self.legal_basis,
            "override_justification": self.override_justification,
            "created_by": self.created_by,
            "approved_by": self.approved_by,
            "created_at": z(self.created_at),
            "updated_at": z(self.updated_at),
            "deadlines": [_deadline_json(d) for d in self.deadlines],
            "nearest_deadline": _deadline_json(self.nearest) if self.nearest else None,
            "expires_at": z(self.expires_at) if self.expires_at else None,
            "hold_id": self.hold_id,
            "hold_digest": self.hold_digest,
            "preserved_summary": self.preserved_summary,
            "refusal_ground": self.refusal_ground,
            "refusal_article": self.refusal_article,
            "allowed_next": self.allowed_next,
            "transitions": [t.to_json() for t in self.transitions],
        }


def _deadline_json(deadline: Deadline) -> dict[str, Any]:
    return {
        "kind": deadline.kind.value,
        "due_at": z(deadline.due_at),
        "label": deadline.label,
        "citation": deadline.citation,
        "met": deadline.met,
    }


# --- helpers -----------------------------------------------------------------------------


def _require(principal: Principal, roles: Iterable[Role], what: str) -> None:
    wanted = tuple(roles)
    if not principal.has_any(*wanted):
        names = ", ".join(sorted(r.value for r in wanted))
        raise PermissionDenied(f"{what} needs one of the roles: {names}")


def _row(session: Session, request_id: str) -> RequestRow:
    row = session.get(RequestRow, request_id)
    if row is None:
        raise NotFound(f"no request {request_id!r} on this node")
    return row


def _body(row: RequestRow) -> RequestBase:
    return parse_request(json.loads(row.body))


def _expiry(row: RequestRow) -> datetime | None:
    start = row.preserved_at
    if RequestKind(row.kind) is RequestKind.EPOC_PR and start is None:
        start = row.received_at
    if RequestKind(row.kind) not in PRESERVING_KINDS or start is None:
        return None
    return preservation_expiry(
        start,
        row.zone,
        kind=RequestKind(row.kind),
        period_days=row.period_days,
        extensions=json.loads(row.extensions),
        kept_pending_decision=row.mla_received_at is not None,
    )


def _view(session: Session, node: Node, row: RequestRow, *, timeline: bool = False) -> RequestView:
    deadlines = deadlines_for(clock_facts(row, node))
    transitions: list[TransitionView] = []
    if timeline:
        rows = session.scalars(
            select(TransitionRow)
            .where(TransitionRow.request_id == row.id)
            .order_by(TransitionRow.seq)
        ).all()
        transitions = [
            TransitionView(
                id=t.id,
                seq=t.seq,
                from_state=t.from_state,
                to_state=t.to_state,
                actor=t.actor,
                actor_node=t.actor_node,
                at=t.at,
                reason=t.reason,
                details=json.loads(t.details),
                message_id=t.message_id,
                origin=t.origin,
            )
            for t in rows
        ]
    kind = RequestKind(row.kind)
    state = RequestState(row.state)
    return RequestView(
        id=row.id,
        kind=kind,
        state=state,
        reference=row.reference,
        requesting_party=row.requesting_party,
        requested_party=row.requested_party,
        direction=row.direction,
        origin_node=row.origin_node,
        counterpart_node=row.counterpart_node,
        parent_id=row.parent_id,
        request=_body(row),
        legal_basis=json.loads(row.legal_basis) if row.legal_basis else None,
        override_justification=row.override_justification,
        created_by=row.created_by,
        approved_by=row.approved_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deadlines=deadlines,
        nearest=nearest_deadline(deadlines),
        expires_at=_expiry(row),
        hold_id=row.hold_id,
        hold_digest=row.hold_digest,
        preserved_summary=row.preserved_summary,
        refusal_ground=row.refusal_ground,
        refusal_article=row.refusal_article,
        allowed_next=sorted(s.value for s in allowed_next(kind, state)),
        transitions=transitions,
    )


def lookup_legal_basis(
    kind: RequestKind, requesting: str, requested: str, as_of: date, emergency: bool
) -> LegalBasisRef | None:
    """Ask the legal engine (``trailguard.law``); None when it finds no basis."""
    try:
        basis = get_engine().legal_basis(kind.value, requesting, requested, as_of, emergency)
    except (ImportError, ValidationFailed) as exc:
        log.warning("legal engine gave no answer: %s", exc)
        return None
    if basis is None:
        return None
    return LegalBasisRef(
        instrument=basis.instrument,
        articles=list(basis.articles),
        summary=basis.summary,
        citations=list(basis.citations),
        verified=basis.verified,
    )


def _earliest_observation(request: RequestBase) -> datetime | None:
    instants: list[datetime] = []
    for name in ("data_to_preserve", "identifiers"):
        for item in getattr(request, name, []) or []:
            for attr in ("timestamp", "start"):
                value = getattr(item, attr, None)
                if isinstance(value, datetime):
                    instants.append(value)
    return min(instants) if instants else None


def _next_seq(session: Session, request_id: str) -> int:
    current = session.scalar(
        select(func.max(TransitionRow.seq)).where(TransitionRow.request_id == request_id)
    )
    return int(current or 0) + 1


def _apply_effects(
    row: RequestRow, target: RequestState, at: datetime, details: dict[str, Any]
) -> None:
    """What a transition changes besides the state (the same on both nodes)."""
    if target is RequestState.SENT:
        row.sent_at = row.sent_at or at
    elif target is RequestState.RECEIVED:
        row.received_at = row.received_at or at
    elif target is RequestState.ACKNOWLEDGED:
        row.acknowledged_at = row.acknowledged_at or at
    elif target in (RequestState.PRESERVED, RequestState.PARTIALLY_PRESERVED):
        row.preserved_at = row.preserved_at or at
        row.hold_id = details.get("hold_id") or row.hold_id
        row.hold_digest = details.get("digest") or row.hold_digest
        row.preserved_summary = details.get("preserved") or row.preserved_summary
        if details.get("zone"):
            row.zone = str(details["zone"])
        if details.get("period_days"):
            row.period_days = int(details["period_days"])
    elif target is RequestState.EXTENDED:
        extensions = json.loads(row.extensions)
        extensions.append(int(details["extension_days"]))
        row.extensions = json.dumps(extensions)
    elif target is RequestState.SUPERSEDED_BY_MLA:
        row.mla_received_at = row.mla_received_at or at
    elif target is RequestState.REFUSED:
        row.refusal_ground = details.get("ground")
        row.refusal_article = details.get("article")


def _transition(
    session: Session,
    node: Node,
    row: RequestRow,
    target: RequestState,
    *,
    actor: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
    notify: bool = True,
    transition_id: str | None = None,
    at: datetime | None = None,
    actor_node: str | None = None,
    origin: str = "local",
    message_id: str | None = None,
) -> TransitionRow:
    kind = RequestKind(row.kind)
    current = RequestState(row.state)
    check_transition(kind, current, target)
    now = at or node.clock.now()
    details = details or {}
    _apply_effects(row, target, now, details)
    row.state = target.value
    row.updated_at = node.clock.now()
    refresh_nearest(row, node)
    transition = TransitionRow(
        id=transition_id or str(uuid.uuid4()),
        request_id=row.id,
        seq=_next_seq(session, row.id),
        from_state=current.value,
        to_state=target.value,
        actor=actor[:200],
        actor_node=actor_node or node.config.node_id,
        at=now,
        reason=reason,
        details=json.dumps(details, sort_keys=True),
        message_id=message_id,
        origin=origin,
    )
    session.add(transition)
    session.flush()
    if notify and row.counterpart_node and target is not RequestState.SENT:
        sent = send_message(
            session,
            node,
            recipient=row.counterpart_node,
            message_type=TRANSITION,
            payload={
                "request_id": row.id,
                "transition_id": transition.id,
                "from_state": current.value,
                "to_state": target.value,
                "at": z(now),
                "actor": actor,
                "reason": reason,
                "details": details,
            },
            actor=actor,
            correlation_id=row.id,
        )
        transition.message_id = sent.message_id
    record(
        session,
        actor=actor if origin == "local" else f"node:{actor_node}",
        action=f"request.{target.value}",
        subject=f"request:{row.id}",
        details={
            "from": current.value,
            "to": target.value,
            "transition_id": transition.id,
            "reason": reason,
            "origin": origin,
            "message_id": transition.message_id,
            **{k: v for k, v in details.items() if isinstance(v, str | int | float | bool)},
        },
        at=node.clock.now(),
    )
    publish(
        TRANSITION_EVENT,
        session,
        node,
        {"request_id": row.id, "from": current.value, "to": target.value, "origin": origin},
    )
    return transition
