"""Transitions made by people: acknowledge, execute, preserve, refuse, extend, disclose,
supersede by MLA, expire, close; each audited and sent to the other node."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from trailguard.accounts import Principal, Role
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.network import (
    acknowledge,
)
from trailguard.node import Node
from trailguard.requests.clocks import z
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.deadlines import (
    MIN_PRESERVATION_DAYS,
    check_can_expire,
    check_extension,
    check_preservation_period,
)
from trailguard.requests.domain.drafting import mla_draft_from_preservation
from trailguard.requests.domain.lifecycle import (
    RequestState,
    check_refusal,
)
from trailguard.requests.domain.types import PreservationRequest
from trailguard.requests.orm import RequestRow, TransitionRow
from trailguard.requests.service.drafting import draft_request
from trailguard.requests.service.records import (
    EXECUTORS,
    RECEIVING_SIDE,
    REQUESTING_SIDE,
    RequestView,
    _body,
    _expiry,
    _require,
    _row,
    _transition,
    _view,
)

log = logging.getLogger(__name__)

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
