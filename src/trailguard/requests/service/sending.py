"""Routing a request to its recipient node and sending it over the exchange; forwarding by a
24/7 point of contact."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.network import (
    EntryKind,
    find_entry,
    list_entries,
    search,
    send_message,
)
from trailguard.node import Node
from trailguard.requests.clocks import z
from trailguard.requests.domain.common import RequestBase, RequestKind
from trailguard.requests.domain.four_eyes import send_refusal
from trailguard.requests.domain.lifecycle import (
    RequestState,
    check_transition,
)
from trailguard.requests.orm import RequestRow, TransitionRow
from trailguard.requests.service.records import (
    REQUESTING_SIDE,
    SUBMIT,
    RequestView,
    _body,
    _require,
    _row,
    _transition,
    _view,
)

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


def send_standing(view: RequestView, principal: Principal | None) -> tuple[bool, str | None]:
    """Whether ``principal`` may send the request now, and if not why (for the page, so a
    person is offered Send only when ``send_request`` will accept it on the four-eyes rule and
    the roles): the same rules, read without a transaction."""
    if view.direction != "outbound" or view.state is not RequestState.APPROVED:
        return False, None
    if principal is None or not principal.has_any(*REQUESTING_SIDE):
        return False, "Awaiting sending by an investigator, duty officer or central authority."
    refusal = send_refusal(view.created_by, view.approved_by, principal.actor)
    if refusal is not None:
        return False, f"You may not send it: {refusal}."
    return True, None


def send_request(
    node: Node, principal: Principal, request_id: str, *, recipient: str | None = None
) -> RequestView:
    """Send an approved request to its recipient over the exchange. When no person drafted
    it, the person who approved it may not send it too (four eyes, ``domain.four_eyes``)."""
    _require(principal, REQUESTING_SIDE, "sending a request")

    with node.db.session() as session:
        row = _row(session, request_id)
        refusal = send_refusal(row.created_by, row.approved_by, principal.actor)
        if refusal is not None:
            raise PermissionDenied(
                f"{principal.username} may not send request {row.reference}: {refusal}"
            )
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
