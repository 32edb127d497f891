"""Drafting a request, its four-eyes approval, and the legal basis (pre-filled or overridden)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.errors import Conflict, PermissionDenied, ValidationFailed
from trailguard.network import find_entry
from trailguard.node import Node
from trailguard.requests.clocks import refresh_nearest
from trailguard.requests.domain.common import LegalBasisRef
from trailguard.requests.domain.deadlines import (
    MIN_PRESERVATION_DAYS,
    check_preservation_period,
)
from trailguard.requests.domain.lifecycle import (
    ENDED_STATES,
    RequestState,
)
from trailguard.requests.domain.types import parse_request
from trailguard.requests.orm import RequestRow, TransitionRow
from trailguard.requests.service.records import (
    APPROVERS,
    DRAFTERS,
    MIN_JUSTIFICATION,
    OVERRIDERS,
    RequestView,
    _earliest_observation,
    _require,
    _row,
    _transition,
    _view,
    lookup_legal_basis,
)

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
        _require_known_recipient(session, recipient)
        _refuse_live_duplicate(session, node, request.reference)
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


def _require_known_recipient(session: Session, recipient: str | None) -> None:
    """A draft names only a recipient node the directory knows (issue 11: never store an
    arbitrary text that a page later shows)."""
    if recipient and find_entry(session, recipient) is None:
        raise ValidationFailed(
            f"recipient {recipient!r} is not in this node's directory",
            [f"recipient: unknown node {recipient!r}"],
        )


def _refuse_live_duplicate(
    session: Session, node: Node, reference: str, *, other_than: str | None = None
) -> None:
    """One live request per reference of this node: a second draft under the reference of a
    request that is still live (a trace hop's ``<case>-H<n>``, a reference typed twice) is
    refused, naming the request that holds it. A request that ended (refused, expired,
    closed) leaves its reference free for a new request."""
    query = select(RequestRow).where(
        RequestRow.reference == reference,
        RequestRow.direction == "outbound",
        RequestRow.origin_node == node.config.node_id,
        RequestRow.state.not_in([s.value for s in ENDED_STATES]),
    )
    if other_than is not None:
        query = query.where(RequestRow.id != other_than)
    existing = session.execute(query.order_by(RequestRow.created_at).limit(1)).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            f"request {existing.reference} already exists and is {existing.state} "
            f"(id {existing.id}): open it instead of drafting it again, or give a second "
            "request its own reference"
        )


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
        if request.reference != row.reference:
            _refuse_live_duplicate(session, node, request.reference, other_than=row.id)
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
            _require_known_recipient(session, recipient)
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


def approval_standing(view: RequestView, principal: Principal | None) -> tuple[bool, str | None]:
    """Whether ``principal`` may approve the request now, and if not why (for the page, so a
    person is offered only what the four-eyes rule will accept): the same rules as
    ``approve_request``, read without a transaction."""
    if view.state is not RequestState.DRAFT or "approved" not in view.allowed_next:
        return False, None
    if principal is None or not principal.has_any(*APPROVERS):
        return False, "Awaiting approval by a duty officer or central authority (four eyes)."
    if view.created_by == principal.actor:
        return False, (
            "You drafted this request: another duty officer or central authority must approve "
            "it (four eyes)."
        )
    return True, None


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
