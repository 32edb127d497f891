"""Services for cooperation requests: drafting, approval, sending over the exchange, the
receiving node's handling, every transition (audited and sent to the other side), forwarding
by a 24/7 point of contact, and the clocks.

Every function takes a ``Node``, a ``Principal`` and plain values, so the CLI, the web pages,
the JSON API and the demo script all call the same code. Each call is one transaction: the
change, its audit entry and the outgoing message are committed together or not at all.

Message types on the exchange:
- ``request.submit``: a request (typed body, legal basis, ids) sent to the other node;
- ``request.transition``: one transition (id, from, to, who, when, why, details) of a request
  the other node also holds. Receivers apply both idempotently by request id / transition id.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.law import get_engine
from trailguard.network import (
    EntryKind,
    acknowledge,
    find_entry,
    list_entries,
    search,
    send_message,
)
from trailguard.node import Node
from trailguard.requests.clocks import clock_facts, refresh_nearest, z
from trailguard.requests.domain.common import LegalBasisRef, RequestBase, RequestKind
from trailguard.requests.domain.deadlines import (
    MIN_PRESERVATION_DAYS,
    Deadline,
    DeadlineKind,
    check_can_expire,
    check_extension,
    check_preservation_period,
    deadlines_for,
    nearest_deadline,
    preservation_expiry,
)
from trailguard.requests.domain.drafting import mla_draft_from_preservation
from trailguard.requests.domain.lifecycle import (
    PRESERVING_KINDS,
    RequestState,
    allowed_next,
    check_refusal,
    check_transition,
)
from trailguard.requests.domain.types import PreservationRequest, parse_request
from trailguard.requests.orm import RequestRow, TransitionRow
from trailguard.requests.reminders import ReminderView
from trailguard.requests.reminders import open_reminders as _open_reminders
from trailguard.requests.reminders import scan_deadlines as _scan_deadlines

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
    return transition


# --- drafting and approval ---------------------------------------------------------------


def draft_request(
    node: Node,
    principal: Principal,
    payload: dict[str, Any],
    *,
    recipient: str | None = None,
    retention_days: dict[str, int] | None = None,
    observed_at: datetime | None = None,
    period_days: int = MIN_PRESERVATION_DAYS,
    parent_id: str | None = None,
) -> RequestView:
    """Store a new draft. The payload is validated (every missing element named) and its
    legal basis pre-filled from the legal engine."""
    _require(principal, DRAFTERS, "drafting a request")
    request = parse_request(payload)
    check_preservation_period(period_days)
    for data_kind, days in (retention_days or {}).items():
        if not isinstance(days, int) or days < 0 or days > 36600:
            raise ValidationFailed(
                f"retention for {data_kind!r} must be a number of days (0-36600), not {days!r}",
                [f"retention_days.{data_kind}: {days!r}"],
            )
    if request.legal_basis is None:
        basis = lookup_legal_basis(
            request.kind,
            request.requesting_party,
            request.requested_party,
            request.date_issued,
            request.emergency,
        )
        if basis is not None:
            request = request.model_copy(update={"legal_basis": basis})
    now = node.clock.now()
    request_id = str(uuid.uuid4())
    with node.db.session() as session:
        if parent_id is not None:
            _row(session, parent_id)
        row = RequestRow(
            id=request_id,
            kind=request.kind.value,
            state=RequestState.DRAFT.value,
            reference=request.reference,
            requesting_party=request.requesting_party,
            requested_party=request.requested_party,
            direction="outbound",
            origin_node=node.config.node_id,
            counterpart_node=recipient,
            parent_id=parent_id,
            body=json.dumps(request.model_dump(mode="json"), sort_keys=True),
            legal_basis=(
                json.dumps(request.legal_basis.model_dump(mode="json"))
                if request.legal_basis
                else None
            ),
            created_by=principal.actor,
            created_at=now,
            updated_at=now,
            zone=node.config.timezone,
            period_days=period_days,
            extensions="[]",
            retention_days=json.dumps(retention_days or {}, sort_keys=True),
            observed_at=observed_at or _earliest_observation(request),
            emergency=request.emergency,
            tlp=request.handling.tlp.value,
            handling_code=request.handling.code.value,
            onward_sharing_permitted=request.handling.onward_sharing_permitted,
        )
        session.add(row)
        refresh_nearest(row, node)
        session.add(
            TransitionRow(
                id=str(uuid.uuid4()),
                request_id=row.id,
                seq=1,
                from_state=None,
                to_state=RequestState.DRAFT.value,
                actor=principal.actor,
                actor_node=node.config.node_id,
                at=now,
                reason="drafted",
                details="{}",
                origin="local",
            )
        )
        session.flush()
        record(
            session,
            actor=principal.actor,
            action="request.drafted",
            subject=f"request:{row.id}",
            details={
                "kind": row.kind,
                "reference": row.reference,
                "legal_basis": bool(row.legal_basis),
                "recipient": recipient,
            },
            at=now,
        )
        return _view(session, node, row, timeline=True)


def update_draft(
    node: Node,
    principal: Principal,
    request_id: str,
    payload: dict[str, Any],
    *,
    recipient: str | None = None,
) -> RequestView:
    """Replace the body of a draft (only a draft can change: an approved request is frozen)."""
    _require(principal, DRAFTERS, "editing a request")
    request = parse_request(payload)
    with node.db.session() as session:
        row = _row(session, request_id)
        if row.state != RequestState.DRAFT.value:
            raise Conflict(f"request {request_id} is '{row.state}'; only a draft can be edited")
        if request.kind.value != row.kind:
            raise ValidationFailed(
                f"the draft is a {row.kind} request; its kind cannot become {request.kind.value}"
            )
        if request.legal_basis is None and row.legal_basis:
            basis = LegalBasisRef.model_validate(json.loads(row.legal_basis))
            request = request.model_copy(update={"legal_basis": basis})
        row.body = json.dumps(request.model_dump(mode="json"), sort_keys=True)
        row.reference = request.reference
        row.requesting_party = request.requesting_party
        row.requested_party = request.requested_party
        row.emergency = request.emergency
        row.tlp = request.handling.tlp.value
        row.handling_code = request.handling.code.value
        row.onward_sharing_permitted = request.handling.onward_sharing_permitted
        if recipient is not None:
            row.counterpart_node = recipient
        row.updated_at = node.clock.now()
        refresh_nearest(row, node)
        record(
            session,
            actor=principal.actor,
            action="request.edited",
            subject=f"request:{row.id}",
            details={"reference": row.reference},
            at=node.clock.now(),
        )
        return _view(session, node, row, timeline=True)


def approve_request(node: Node, principal: Principal, request_id: str) -> RequestView:
    """Approval by a duty officer or central authority who did not draft it (four eyes)."""
    _require(principal, APPROVERS, "approving a request")
    with node.db.session() as session:
        row = _row(session, request_id)
        if row.created_by == principal.actor:
            raise PermissionDenied(
                f"{principal.username} drafted request {request_id}; another person must approve "
                "it (four-eyes principle)"
            )
        _transition(session, node, row, RequestState.APPROVED, actor=principal.actor, notify=False)
        row.approved_by = principal.actor
        return _view(session, node, row, timeline=True)


def override_legal_basis(
    node: Node, principal: Principal, request_id: str, justification: str
) -> RequestView:
    """Allow sending without a legal basis found by the engine: central authority or admin
    only, with a written justification that is audited."""
    _require(principal, OVERRIDERS, "overriding the missing legal basis")
    text = (justification or "").strip()
    if len(text) < MIN_JUSTIFICATION:
        raise ValidationFailed(
            f"the override needs a written justification of at least {MIN_JUSTIFICATION} "
            f"characters (got {len(text)})",
            ["justification: too short"],
        )
    with node.db.session() as session:
        row = _row(session, request_id)
        if row.state not in (RequestState.DRAFT.value, RequestState.APPROVED.value):
            raise Conflict(f"request {request_id} is '{row.state}'; it was already sent")
        row.override_justification = text
        row.override_by = principal.actor
        row.updated_at = node.clock.now()
        record(
            session,
            actor=principal.actor,
            action="request.legal_basis_overridden",
            subject=f"request:{row.id}",
            details={"justification": text},
            at=node.clock.now(),
        )
        return _view(session, node, row, timeline=True)


# --- routing and sending -----------------------------------------------------------------


def resolve_recipient(node: Node, requested_party: str, *, provider: str | None = None) -> str:
    """The node a request goes to: the named provider node, or the requested country's 24/7
    point of contact from the directory. Fails with a clear error before anything is sent."""
    with node.db.session() as session:
        if provider is not None:
            entry = find_entry(session, provider)
            if entry is None:
                raise NotFound(f"recipient {provider!r} is not in this node's directory")
            return entry.node_id
        hits = search(
            list_entries(session), at=node.clock.now(), country=requested_party, kind=EntryKind.POC
        )
    if not hits:
        raise NotFound(
            f"the directory has no 24/7 point of contact for {requested_party}; "
            "import the directory or name the recipient node"
        )
    return hits[0].entry.node_id


# Requests whose instrument lets the requesting authority address a provider in another
# Party directly: Second Protocol Art. 7 orders and the EU certificates (Reg. 2023/1543 Arts.
# 10-11). Everything else goes to the requested Party's 24/7 point of contact (Art. 35), which
# forwards it to the provider.
DIRECT_TO_PROVIDER = frozenset({RequestKind.SUBSCRIBER_INFO, RequestKind.EPOC, RequestKind.EPOC_PR})


def _check_recipient(
    session: Session, recipient: str | None, request: RequestBase | None = None
) -> str:
    if not recipient:
        raise ValidationFailed(
            "the request has no recipient node; choose one (the requested Party's 24/7 point of "
            "contact or a provider node)",
            ["recipient: missing"],
        )
    entry = find_entry(session, recipient)
    if entry is None:
        raise NotFound(f"recipient {recipient!r} is not in this node's directory; nothing was sent")
    if request is not None and entry.kind is EntryKind.PROVIDER:
        direct = request.kind in DIRECT_TO_PROVIDER and not (
            request.kind is RequestKind.SUBSCRIBER_INFO
            and getattr(request, "protocol_article", "") != "7"
        )
        if not direct:
            raise ValidationFailed(
                f"a {request.kind.value} request cannot go straight to the provider "
                f"{recipient!r}; send it to the requested Party's 24/7 point of contact, which "
                "forwards it (direct orders: Protocol Art. 7, EPOC, EPOC-PR)",
                ["recipient: a provider node"],
            )
    return recipient


def _submit_payload(row: RequestRow, transition: TransitionRow, node: Node) -> dict[str, Any]:
    return {
        "request_id": row.id,
        "transition_id": transition.id,
        "kind": row.kind,
        "body": json.loads(row.body),
        "legal_basis": json.loads(row.legal_basis) if row.legal_basis else None,
        "override_justification": row.override_justification,
        "origin_node": row.origin_node,
        "sent_at": z(transition.at),
        "sent_by": transition.actor,
        "period_days": row.period_days,
        "retention_days": json.loads(row.retention_days),
        "observed_at": z(row.observed_at) if row.observed_at else None,
        "forwarded_from": row.parent_id,
    }


def send_request(
    node: Node, principal: Principal, request_id: str, *, recipient: str | None = None
) -> RequestView:
    """Send an approved request to its recipient over the exchange."""
    _require(principal, REQUESTING_SIDE, "sending a request")

    with node.db.session() as session:
        row = _row(session, request_id)
        if recipient is not None:
            row.counterpart_node = recipient
        target = _check_recipient(session, row.counterpart_node, _body(row))
        if row.state != RequestState.APPROVED.value:
            check_transition(RequestKind(row.kind), RequestState(row.state), RequestState.SENT)
        if not row.legal_basis and not row.override_justification:
            raise ValidationFailed(
                f"request {request_id} has no legal basis from the legal engine; a central "
                "authority or admin must override with a written justification before it is sent",
                ["legal_basis: none found"],
            )
        transition = _transition(
            session, node, row, RequestState.SENT, actor=principal.actor, notify=False
        )
        sent = send_message(
            session,
            node,
            recipient=target,
            message_type=SUBMIT,
            payload=_submit_payload(row, transition, node),
            actor=principal.actor,
            correlation_id=row.id,
        )
        transition.message_id = sent.message_id
        return _view(session, node, row, timeline=True)


def forward_request(
    node: Node, principal: Principal, request_id: str, *, recipient: str
) -> RequestView:
    """A 24/7 point of contact forwards a received request to a provider node: a copy linked
    to the original, refused when the handling codes forbid onward sharing."""
    _require(principal, (Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY), "forwarding a request")

    with node.db.session() as session:
        original = _row(session, request_id)
        if original.direction != "inbound":
            raise ValidationFailed("only a received request can be forwarded")
        if original.state not in (
            RequestState.RECEIVED.value,
            RequestState.ACKNOWLEDGED.value,
            RequestState.IN_EXECUTION.value,
        ):
            raise Conflict(
                f"request {request_id} is '{original.state}'; forward it once received and "
                "before it is executed"
            )
        request = _body(original)
        problem = request.handling.onward_sharing_problem()
        if problem:
            raise PermissionDenied(f"forwarding refused: {problem}")
        _check_recipient(session, recipient)
        now = node.clock.now()
        copy = RequestRow(
            id=str(uuid.uuid4()),
            kind=original.kind,
            state=RequestState.APPROVED.value,
            reference=original.reference,
            requesting_party=original.requesting_party,
            requested_party=original.requested_party,
            direction="outbound",
            origin_node=original.origin_node,
            counterpart_node=recipient,
            parent_id=original.id,
            body=original.body,
            legal_basis=original.legal_basis,
            override_justification=original.override_justification,
            created_by=principal.actor,
            approved_by=principal.actor,
            created_at=now,
            updated_at=now,
            zone=original.zone,
            period_days=original.period_days,
            extensions=original.extensions,
            retention_days=original.retention_days,
            observed_at=original.observed_at,
            emergency=original.emergency,
            tlp=original.tlp,
            handling_code=original.handling_code,
            onward_sharing_permitted=original.onward_sharing_permitted,
        )
        session.add(copy)
        session.add(
            TransitionRow(
                id=str(uuid.uuid4()),
                request_id=copy.id,
                seq=1,
                from_state=None,
                to_state=RequestState.APPROVED.value,
                actor=principal.actor,
                actor_node=node.config.node_id,
                at=now,
                reason=f"forwarded copy of request {original.id}",
                details=json.dumps({"forwarded_from": original.id}),
                origin="local",
            )
        )
        session.flush()
        transition = _transition(
            session,
            node,
            copy,
            RequestState.SENT,
            actor=principal.actor,
            notify=False,
            reason=f"forwarded to {recipient}",
        )
        sent = send_message(
            session,
            node,
            recipient=recipient,
            message_type=SUBMIT,
            payload=_submit_payload(copy, transition, node),
            actor=principal.actor,
            correlation_id=copy.id,
        )
        transition.message_id = sent.message_id
        record(
            session,
            actor=principal.actor,
            action="request.forwarded",
            subject=f"request:{original.id}",
            details={"copy": copy.id, "recipient": recipient},
            at=now,
        )
        return _view(session, node, copy, timeline=True)


# --- the receiving node ------------------------------------------------------------------


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationFailed(f"{name} must be a non-empty string, not {value!r:.60}", [name])
    return value


def _instant(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{name} {value!r:.60} is not an ISO 8601 instant", [name]) from exc
    if parsed.tzinfo is None:
        raise ValidationFailed(f"{name} {value!r:.60} has no zone", [name])
    return parsed.astimezone(UTC)


def handle_submit(session: Session, node: Node, message: Any) -> None:
    """``request.submit``: store the request once (by id), as received, and tell the sender."""
    payload = message.payload
    request_id = _text(payload.get("request_id"), "request_id")
    try:
        uuid.UUID(request_id)
    except ValueError as exc:
        raise ValidationFailed(f"request_id {request_id!r} is not a UUID", ["request_id"]) from exc
    if session.get(RequestRow, request_id) is not None:
        return  # the same request arriving twice is stored once
    body = payload.get("body")
    if not isinstance(body, dict):
        raise ValidationFailed("request.submit needs a body object", ["body"])
    request = parse_request(body)
    sent_at = _instant(payload.get("sent_at"), "sent_at")
    transition_id = _text(payload.get("transition_id"), "transition_id")
    retention = payload.get("retention_days") or {}
    if not isinstance(retention, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and 0 <= v <= 36600 for k, v in retention.items()
    ):
        raise ValidationFailed("retention_days must map data kinds to days", ["retention_days"])
    period = payload.get("period_days") or MIN_PRESERVATION_DAYS
    if not isinstance(period, int):
        raise ValidationFailed("period_days must be a number of days", ["period_days"])
    check_preservation_period(period)
    observed = payload.get("observed_at")
    now = node.clock.now()
    legal_basis = payload.get("legal_basis")
    override = payload.get("override_justification")
    row = RequestRow(
        id=request_id,
        kind=request.kind.value,
        state=RequestState.SENT.value,
        reference=request.reference,
        requesting_party=request.requesting_party,
        requested_party=request.requested_party,
        direction="inbound",
        origin_node=_text(payload.get("origin_node"), "origin_node"),
        counterpart_node=message.sender,
        parent_id=None,
        body=json.dumps(request.model_dump(mode="json"), sort_keys=True),
        legal_basis=json.dumps(legal_basis) if isinstance(legal_basis, dict) else None,
        override_justification=str(override) if override else None,
        created_by=f"node:{message.sender}",
        approved_by=None,
        created_at=now,
        updated_at=now,
        sent_at=sent_at,
        zone=node.config.timezone,
        period_days=period,
        extensions="[]",
        retention_days=json.dumps(retention, sort_keys=True),
        observed_at=_instant(observed, "observed_at") if observed else None,
        emergency=request.emergency,
        tlp=request.handling.tlp.value,
        handling_code=request.handling.code.value,
        onward_sharing_permitted=request.handling.onward_sharing_permitted,
    )
    session.add(row)
    session.add(
        TransitionRow(
            id=transition_id,
            request_id=request_id,
            seq=1,
            from_state=RequestState.APPROVED.value,
            to_state=RequestState.SENT.value,
            actor=str(payload.get("sent_by") or message.sender)[:200],
            actor_node=message.sender,
            at=sent_at,
            reason="sent",
            details=json.dumps({"forwarded_from": payload.get("forwarded_from")}),
            message_id=message.message_id,
            origin="remote",
        )
    )
    session.flush()
    _transition(
        session,
        node,
        row,
        RequestState.RECEIVED,
        actor=f"node:{node.config.node_id}",
        reason=f"received from {message.sender}",
        details={"message_id": message.message_id},
    )


def handle_transition(session: Session, node: Node, message: Any) -> None:
    """``request.transition``: apply the other side's transition once (by transition id)."""
    payload = message.payload
    request_id = _text(payload.get("request_id"), "request_id")
    transition_id = _text(payload.get("transition_id"), "transition_id")
    if session.get(TransitionRow, transition_id) is not None:
        return  # already applied
    row = session.get(RequestRow, request_id)
    if row is None:
        raise ValidationFailed(
            f"no request {request_id!r} here to apply a transition to", ["request_id"]
        )
    if row.counterpart_node != message.sender:
        raise ValidationFailed(
            f"{message.sender!r} is not the other side of request {request_id}", ["sender"]
        )
    try:
        target = RequestState(str(payload.get("to_state")))
    except ValueError as exc:
        raise ValidationFailed(f"unknown state {payload.get('to_state')!r}", ["to_state"]) from exc
    details = payload.get("details") or {}
    if not isinstance(details, dict):
        raise ValidationFailed("details must be an object", ["details"])
    _check_remote_details(target, details)
    if target is RequestState.REFUSED:
        request = _body(row)
        check_refusal(
            RequestKind(row.kind),
            str(details.get("ground")),
            str(payload.get("reason") or ""),
            reservation_made=True,  # the reservation is the requested Party's to declare
            offence_articles=(
                request.offence_articles if isinstance(request, PreservationRequest) else []
            ),
        )
    if target is RequestState.EXTENDED:
        days = details.get("extension_days")
        if not isinstance(days, int):
            raise ValidationFailed("an extension needs extension_days", ["details.extension_days"])
        check_extension(RequestKind(row.kind), days, json.loads(row.extensions))
    _transition(
        session,
        node,
        row,
        target,
        actor=_text(payload.get("actor"), "actor"),
        reason=str(payload.get("reason") or "")[:2000],
        details=details,
        notify=False,
        transition_id=transition_id,
        at=_instant(payload.get("at"), "at"),
        actor_node=message.sender,
        origin="remote",
        message_id=message.message_id,
    )
    _propagate_to_original(session, node, row, target, details, payload)
    _propagate_to_copies(session, node, row, target, details, payload)


def _check_remote_details(target: RequestState, details: dict[str, Any]) -> None:
    """Details from the other node are input like any other: typed, bounded, or refused."""
    problems: list[str] = []
    for name, limit in (("hold_id", 200), ("preserved", 20_000), ("ground", 60), ("article", 200)):
        value = details.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            problems.append(f"details.{name}: must be text of at most {limit} characters")
    digest = details.get("digest")
    if digest is not None and (
        not isinstance(digest, str)
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        problems.append(f"details.digest: {digest!r:.80} is not a lower-case SHA-256 hex digest")
    zone = details.get("zone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"details.zone: unknown time zone {zone!r:.60}")
    period = details.get("period_days")
    if period is not None:
        if not isinstance(period, int):
            problems.append("details.period_days: must be a number of days")
        else:
            check_preservation_period(period)
    if target is RequestState.REFUSED and not isinstance(details.get("ground"), str):
        problems.append("details.ground: a refusal names its ground")
    if problems:
        raise ValidationFailed("the transition's details are invalid", problems)


_PROPAGATED = {
    RequestState.PRESERVED,
    RequestState.PARTIALLY_PRESERVED,
    RequestState.REFUSED,
    RequestState.CANNOT_ENSURE_AVAILABILITY,
    RequestState.DISCLOSED,
}


def _propagate_to_original(
    session: Session,
    node: Node,
    copy: RequestRow,
    target: RequestState,
    details: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    """The provider's answer on a forwarded copy answers the original request too: the 24/7
    point of contact passes it back to the requesting Party."""
    if copy.parent_id is None or target not in _PROPAGATED:
        return
    original = session.get(RequestRow, copy.parent_id)
    if original is None or original.direction != "inbound":
        return
    current = RequestState(original.state)
    kind = RequestKind(original.kind)
    if current is RequestState.RECEIVED:
        _transition(
            session,
            node,
            original,
            RequestState.ACKNOWLEDGED,
            actor=f"node:{node.config.node_id}",
            reason="forwarded and answered",
        )
        current = RequestState.ACKNOWLEDGED
    if current is RequestState.ACKNOWLEDGED and target is not RequestState.REFUSED:
        _transition(
            session,
            node,
            original,
            RequestState.IN_EXECUTION,
            actor=f"node:{node.config.node_id}",
            reason="executed by the custodian",
        )
    if target not in allowed_next(kind, RequestState(original.state)):
        return
    _transition(
        session,
        node,
        original,
        target,
        actor=str(payload.get("actor")),
        reason=f"{payload.get('reason') or ''} (by {copy.counterpart_node}, request {copy.id})",
        details={**details, "forwarded_copy": copy.id},
    )


_PASSED_DOWN = {
    RequestState.EXTENDED,
    RequestState.SUPERSEDED_BY_MLA,
    RequestState.IN_EXECUTION,
    RequestState.CLOSED,
}


def _propagate_to_copies(
    session: Session,
    node: Node,
    original: RequestRow,
    target: RequestState,
    details: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    """The requesting Party's decisions (an extension, the MLA request that keeps the data
    preserved, going ahead after an Art. 29(6) warning, closing) reach the custodian through
    the forwarded copies."""
    if original.direction != "inbound" or target not in _PASSED_DOWN:
        return
    copies = session.scalars(
        select(RequestRow).where(
            RequestRow.parent_id == original.id, RequestRow.direction == "outbound"
        )
    ).all()
    for copy in copies:
        if target not in allowed_next(RequestKind(copy.kind), RequestState(copy.state)):
            continue
        if target is RequestState.EXTENDED:
            check_extension(
                RequestKind(copy.kind), int(details["extension_days"]), json.loads(copy.extensions)
            )
        _transition(
            session,
            node,
            copy,
            target,
            actor=str(payload.get("actor")),
            reason=f"{payload.get('reason') or ''} (passed on from request {original.id})",
            details={**details, "original": original.id},
        )


# --- transitions by people ---------------------------------------------------------------


def _act(
    node: Node,
    principal: Principal,
    request_id: str,
    target: RequestState,
    roles: Iterable[Role],
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
    check: Any = None,
) -> RequestView:
    _require(principal, roles, f"moving a request to '{target.value}'")
    with node.db.session() as session:
        row = _row(session, request_id)
        if check is not None:
            check(row)
        _transition(
            session, node, row, target, actor=principal.actor, reason=reason, details=details
        )
        return _view(session, node, row, timeline=True)


def _inbound(row: RequestRow) -> None:
    if row.direction != "inbound":
        raise ValidationFailed(
            f"request {row.id} was sent by this node; the requested side answers it"
        )


def _outbound(row: RequestRow) -> None:
    if row.direction != "outbound":
        raise ValidationFailed(
            f"request {row.id} was received by this node; the requesting side decides this"
        )


def acknowledge_request(node: Node, principal: Principal, request_id: str) -> RequestView:
    """A person acknowledges a received request. Besides the ``acknowledged`` transition, the
    exchange's acknowledgement clock of the message that carried it stops and a signed
    ``acknowledged`` receipt goes back to the sender (``trailguard.network.acknowledge``)."""
    view = _act(
        node,
        principal,
        request_id,
        RequestState.ACKNOWLEDGED,
        RECEIVING_SIDE,
        reason="acknowledged",
        check=_inbound,
    )
    _acknowledge_message(node, principal, request_id)
    return view


def _acknowledge_message(node: Node, principal: Principal, request_id: str) -> None:
    with node.db.session() as session:
        message_id = session.scalar(
            select(TransitionRow.message_id).where(
                TransitionRow.request_id == request_id,
                TransitionRow.origin == "remote",
                TransitionRow.to_state == RequestState.SENT.value,
            )
        )
    if not message_id:
        return
    try:
        acknowledge(node, message_id, actor=principal.actor, note=f"request {request_id}")
    except (Conflict, NotFound, ValidationFailed) as exc:
        # already acknowledged on the exchange page, or carried without an ack clock
        log.info("exchange acknowledgement of %s skipped: %s", message_id, exc)


def start_execution(node: Node, principal: Principal, request_id: str) -> RequestView:
    return _act(
        node,
        principal,
        request_id,
        RequestState.IN_EXECUTION,
        EXECUTORS,
        reason="execution started",
        check=_inbound,
    )


def record_preservation(
    node: Node,
    principal: Principal,
    request_id: str,
    *,
    preserved: str,
    hold_id: str | None = None,
    digest: str | None = None,
    partial: bool = False,
    period_days: int = MIN_PRESERVATION_DAYS,
) -> RequestView:
    """The custodian records what it preserved and the digest of it (from the traffic store's
    hold): preserved, or partially preserved."""
    if not preserved.strip():
        raise ValidationFailed("say what was preserved", ["preserved: missing"])
    if digest is not None and (
        len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower())
    ):
        raise ValidationFailed(f"digest {digest!r} is not a SHA-256 hex digest", ["digest"])
    check_preservation_period(period_days)
    details: dict[str, Any] = {
        "preserved": preserved.strip(),
        "zone": node.config.timezone,
        "period_days": period_days,
    }
    if hold_id:
        details["hold_id"] = hold_id
    if digest:
        details["digest"] = digest.lower()
    target = RequestState.PARTIALLY_PRESERVED if partial else RequestState.PRESERVED
    return _act(
        node,
        principal,
        request_id,
        target,
        EXECUTORS,
        reason=preserved.strip(),
        details=details,
        check=_inbound,
    )


def refuse_request(
    node: Node,
    principal: Principal,
    request_id: str,
    *,
    ground: str,
    reasons: str,
    reservation_made: bool = False,
) -> RequestView:
    """Refuse only on a ground the instrument allows (Art. 29(4)-(5), 30(2), ...)."""
    _require(principal, RECEIVING_SIDE, "refusing a request")
    with node.db.session() as session:
        row = _row(session, request_id)
        _inbound(row)
        request = _body(row)
        articles = request.offence_articles if isinstance(request, PreservationRequest) else []
        refusal = check_refusal(
            RequestKind(row.kind),
            ground,
            reasons,
            reservation_made=reservation_made,
            offence_articles=articles,
        )
        _transition(
            session,
            node,
            row,
            RequestState.REFUSED,
            actor=principal.actor,
            reason=refusal.reasons,
            details={"ground": refusal.ground.value, "article": refusal.article},
        )
        return _view(session, node, row, timeline=True)


def warn_cannot_ensure_availability(
    node: Node, principal: Principal, request_id: str, *, reasons: str
) -> RequestView:
    """The Art. 29(6) warning: preservation will not ensure availability or would threaten
    confidentiality; the requesting Party decides whether to go ahead."""
    if not reasons.strip():
        raise ValidationFailed("the Art. 29(6) warning must say why", ["reasons: missing"])
    return _act(
        node,
        principal,
        request_id,
        RequestState.CANNOT_ENSURE_AVAILABILITY,
        EXECUTORS,
        reason=reasons.strip(),
        details={"article": "Convention Art. 29(6)"},
        check=_inbound,
    )


def proceed_despite_warning(node: Node, principal: Principal, request_id: str) -> RequestView:
    """The requesting Party decides execution should go ahead after an Art. 29(6) warning."""
    return _act(
        node,
        principal,
        request_id,
        RequestState.IN_EXECUTION,
        REQUESTING_SIDE,
        reason="requesting Party decided to proceed (Art. 29(6))",
        check=_outbound,
    )


def record_disclosure(
    node: Node,
    principal: Principal,
    request_id: str,
    *,
    summary: str,
    disclosure_request_id: str | None = None,
) -> RequestView:
    if not summary.strip():
        raise ValidationFailed("say what was disclosed", ["summary: missing"])
    details = {"disclosure_request_id": disclosure_request_id} if disclosure_request_id else {}
    return _act(
        node,
        principal,
        request_id,
        RequestState.DISCLOSED,
        EXECUTORS,
        reason=summary.strip(),
        details=details,
        check=_inbound,
    )


def extend_preservation(
    node: Node, principal: Principal, request_id: str, *, days: int
) -> RequestView:
    """Extend a preservation (T-CY "extension of previous request"; EPOC-PR Annex VI).
    Refused past the allowed period, or once the preservation has expired."""

    def check(row: RequestRow) -> None:
        _outbound(row)
        check_extension(RequestKind(row.kind), days, json.loads(row.extensions))
        expiry = _expiry(row)
        if expiry is not None and node.clock.now() >= expiry:
            raise ValidationFailed(
                f"the preservation expired at {z(expiry)}; send a new request instead",
                ["state: expired"],
            )

    return _act(
        node,
        principal,
        request_id,
        RequestState.EXTENDED,
        REQUESTING_SIDE,
        reason=f"extended by {days} days",
        details={"extension_days": days},
        check=check,
    )


def mark_superseded_by_mla(
    node: Node, principal: Principal, request_id: str, *, mla_request_id: str | None = None
) -> RequestView:
    """An MLA request for the preserved data has been sent/received: the data stays preserved
    pending the decision on it (Art. 29(7)); no expiry from now on."""
    details = {"mla_request_id": mla_request_id} if mla_request_id else {}
    return _act(
        node,
        principal,
        request_id,
        RequestState.SUPERSEDED_BY_MLA,
        (*REQUESTING_SIDE, Role.PROVIDER_LIAISON),
        reason="mutual assistance request submitted",
        details=details,
    )


def expire_request(node: Node, principal: Principal, request_id: str) -> RequestView:
    """Mark a preservation expired: refused before its period has run or while an MLA request
    keeps it."""

    def check(row: RequestRow) -> None:
        check_can_expire(_expiry(row), node.clock.now())

    return _act(
        node,
        principal,
        request_id,
        RequestState.EXPIRED,
        (*REQUESTING_SIDE, *EXECUTORS),
        reason="preservation period ended",
        check=check,
    )


def close_request(node: Node, principal: Principal, request_id: str, *, reason: str) -> RequestView:
    if not reason.strip():
        raise ValidationFailed("say why the request is closed", ["reason: missing"])
    return _act(
        node,
        principal,
        request_id,
        RequestState.CLOSED,
        (*REQUESTING_SIDE, *EXECUTORS),
        reason=reason.strip(),
    )


def draft_mla_from(
    node: Node,
    principal: Principal,
    preservation_id: str,
    overrides: dict[str, Any],
    *,
    recipient: str | None = None,
) -> RequestView:
    """Draft the Art. 31 request that follows a preservation, carrying its references."""
    with node.db.session() as session:
        row = _row(session, preservation_id)
        request = _body(row)
        counterpart = row.counterpart_node
    if not isinstance(request, PreservationRequest):
        raise ValidationFailed(
            f"request {preservation_id} is a {request.kind.value} request, not a preservation"
        )
    draft = mla_draft_from_preservation(
        request,
        date_issued=node.clock.now().date(),
        preservation_request_id=preservation_id,
        overrides=overrides,
    )
    return draft_request(
        node, principal, draft, recipient=recipient or counterpart, parent_id=preservation_id
    )


# --- reading -----------------------------------------------------------------------------


def get_request(node: Node, request_id: str) -> RequestView:
    with node.db.session() as session:
        return _view(session, node, _row(session, request_id), timeline=True)


def list_requests(
    node: Node, *, direction: str | None = None, include_closed: bool = True, limit: int = 500
) -> list[RequestView]:
    """Requests sorted by nearest deadline (overdue first; those without a clock last)."""
    if direction not in (None, "inbound", "outbound"):
        raise ValidationFailed(f"direction must be inbound or outbound, not {direction!r}")
    with node.db.session() as session:
        query = select(RequestRow)
        if direction:
            query = query.where(RequestRow.direction == direction)
        if not include_closed:
            query = query.where(RequestRow.state != RequestState.CLOSED.value)
        query = query.order_by(
            RequestRow.nearest_deadline_at.is_(None),
            RequestRow.nearest_deadline_at,
            RequestRow.reference,
        ).limit(limit)
        return [_view(session, node, row) for row in session.scalars(query).all()]


def document_of(node: Node, request_id: str) -> tuple[RequestView, str]:
    view = get_request(node, request_id)
    footer = (
        f"{view.kind.value} {view.reference} · request id {view.id} · state {view.state.value} "
        f"· node {node.config.node_id} · rendered {z(node.clock.now())}"
    )
    return view, footer


def scan_deadlines(node: Node) -> list[ReminderView]:
    """Raise due reminders and flag missed deadlines (see ``trailguard.requests.reminders``)."""
    return _scan_deadlines(node)


def open_reminders(node: Node, *, limit: int = 200) -> list[ReminderView]:
    """Reminders not dismissed, missed first (see ``trailguard.requests.reminders``)."""
    return _open_reminders(node, limit=limit)


__all__ = [
    "DeadlineKind",
    "RequestView",
    "TransitionView",
    "acknowledge_request",
    "approve_request",
    "close_request",
    "document_of",
    "draft_mla_from",
    "draft_request",
    "expire_request",
    "extend_preservation",
    "forward_request",
    "get_request",
    "list_requests",
    "mark_superseded_by_mla",
    "open_reminders",
    "override_legal_basis",
    "proceed_despite_warning",
    "record_disclosure",
    "record_preservation",
    "refuse_request",
    "resolve_recipient",
    "scan_deadlines",
    "send_request",
    "start_execution",
    "update_draft",
    "warn_cannot_ensure_availability",
]
