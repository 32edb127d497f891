"""The receiving node: the exchange handlers for ``request.submit`` and ``request.transition``
(declared in ``trailguard/requests/capability.py``), and mirroring transitions between a
request and its forwarded copies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.core.errors import ValidationFailed
from trailguard.node import Node
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.deadlines import (
    MIN_PRESERVATION_DAYS,
    check_extension,
    check_preservation_period,
)
from trailguard.requests.domain.lifecycle import (
    RequestState,
    allowed_next,
    check_refusal,
)
from trailguard.requests.domain.types import PreservationRequest, parse_request
from trailguard.requests.orm import RequestRow, TransitionRow
from trailguard.requests.service.records import _body, _transition

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
