"""Answers move the trace. Pushed: ``on_request_transition`` follows every transition of a
request (the requests capability publishes it in the transaction that stores it, local or
received over the exchange) and moves the hop that waits for it in that same transaction:
under way, preserved (ended at the subscriber when the preserved data identifies them),
refused (a dead end), or, for an Art. 30 disclosure answering the hop's request, a new hop
decided at once (its preservation request drafted). Each answer is recorded once under its
key, so the same answer twice moves nothing twice. ``sync_trace`` reads the same states and
disclosures again: a repair tool for answers that arrived before the trace existed or while
the listener was not installed. ``record_answer`` takes an answer that came another way."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import trailguard.requests as requests_face
from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.investigations import parse_instant
from trailguard.node import Node
from trailguard.trace.domain.hops import SUBSCRIBER_KINDS, HopState, TraceState
from trailguard.trace.orm import AnswerRow, HopRow, TraceRow
from trailguard.trace.service.common import (
    OPEN_STATES,
    PRESERVED,
    REFUSED,
    UNDECIDED,
    UNDER_WAY,
    answers_principal,
    end,
    hop_row,
    hops_of,
    member_of_trace,
    new_hop,
    refresh_trace_clock,
    trace_row,
)
from trailguard.trace.service.decide import decide
from trailguard.trace.service.views import TraceView, get_trace

ANSWER_KINDS = ("preserved", "refused", "no_data", "next_hop", "subscriber")
DISCLOSURE_KIND = "expedited_disclosure"


# --- pushed: a request's transition moves its hop in the same transaction -----------------


def on_request_transition(session: Session, node: Node, data: dict[str, Any]) -> None:
    """Listener of ``requests.transition`` (declared in ``capability.py``). Never raises: what
    cannot be applied is rolled back to a savepoint and recorded in the audit log with its
    reason (the request's own change is kept; ``sync`` can apply it later)."""
    request_id = str(data.get("request_id") or "")
    if not any(capability.name == "trace" for capability in node.db.capabilities):
        return  # a database without the trace's tables (a node built with fewer capabilities)
    with node.db.joined(session):
        try:
            with session.begin_nested():
                _apply_transition(node, request_id, str(data.get("to") or ""))
        except Exception as exc:  # a listener never rejects the change it follows
            record(
                session,
                actor=f"node:{node.config.node_id}",
                action="trace.answer_not_applied",
                subject=f"request:{request_id}",
                details={"to": data.get("to"), "error": f"{type(exc).__name__}: {exc}"[:500]},
                at=node.clock.now(),
            )


def _apply_transition(node: Node, request_id: str, state: str) -> None:
    """A hop's own request moved, or an Art. 30 disclosure arrived; anything else costs one
    indexed query and moves nothing."""
    with node.db.session() as session:
        waiting = [
            (h.trace_id, h.id)
            for h in session.execute(select(HopRow).where(HopRow.request_id == request_id))
            .scalars()
            .all()
        ]
    if waiting:
        view = requests_face.get_request(node, request_id)
        if view.direction == "outbound":
            for trace_id, hop_id in waiting:
                _request_state(node, trace_id, hop_id, view)
    elif state == "received":
        view = requests_face.get_request(node, request_id)
        if view.direction == "inbound" and view.kind.value == DISCLOSURE_KIND:
            _disclosure_arrived(node, view)


def _request_state(node: Node, trace_id: str, hop_id: str, view: Any) -> None:
    """One hop's request changed state: under way, preserved or refused."""
    state = view.state.value
    actor = answers_principal()
    if state in UNDER_WAY:
        _set_under_way(node, hop_id)
    elif state in PRESERVED:
        details = {
            "hold_id": view.hold_id,
            "digest": view.hold_digest,
            "summary": view.preserved_summary,
        }
        answer(node, actor, trace_id, hop_id, f"request:{view.id}:preserved", "preserved", details)
    elif state in REFUSED:
        details = {"ground": view.refusal_ground, "article": view.refusal_article}
        answer(node, actor, trace_id, hop_id, f"request:{view.id}:refused", "refused", details)


def _disclosure_arrived(node: Node, view: Any) -> None:
    """An Art. 30 disclosure arrived: the hop whose request it answers (``in_response_to``,
    from the node that request went to) advances. One that answers no waiting hop is
    recorded as unmatched, a clear state, never an error that would refuse the message."""
    body = view.request.model_dump(mode="json")
    reference = body.get("in_response_to")
    with node.db.session() as session:
        hops = [
            (h.trace_id, h.id)
            for h in session.execute(
                select(HopRow).where(
                    HopRow.request_reference == reference,
                    HopRow.recipient_node == view.counterpart_node,
                )
            ).scalars()
        ]
        if not hops:
            record(
                session,
                actor=f"node:{node.config.node_id}",
                action="trace.answer_unmatched",
                subject=f"request:{view.id}",
                details={
                    "in_response_to": reference,
                    "from": view.counterpart_node,
                    "reason": "no hop of any trace here waits for that reference from that node",
                },
                at=node.clock.now(),
            )
            return
    for trace_id, hop_id in hops:
        answer(
            node,
            answers_principal(),
            trace_id,
            hop_id,
            f"disclosure:{view.id}",
            "next_hop",
            next_from_disclosure(view.id, body),
        )


def follow_request(node: Node, trace_id: str, hop_id: str, request_id: str) -> None:
    """Apply the current state of a hop's request (an adopted request answered before the
    trace existed): the same keys as the listener's, so nothing moves twice."""
    _request_state(node, trace_id, hop_id, requests_face.get_request(node, request_id))


def _set_under_way(node: Node, hop_id: str) -> None:
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        if hop is not None and hop.state == HopState.DRAFTED.value:
            hop.state = HopState.SENT.value
            hop.next_action = "await the acknowledgement and the preservation"


def next_from_disclosure(disclosure_id: str, body: dict[str, Any]) -> dict[str, Any]:
    path = body.get("path") or []
    if not path:
        raise ValidationFailed("the disclosure names no path", ["path"])
    step = path[0]
    source = step["source"]
    return {
        "ip": source["ip"],
        "port": source.get("port"),
        "at": source.get("timestamp"),
        "protocol": source.get("protocol"),
        "dst_ip": (step.get("destination") or {}).get("ip"),
        "dst_port": (step.get("destination") or {}).get("port"),
        "provider": body.get("provider_in_other_state"),
        "disclosure": disclosure_id,
        "reference": body.get("reference"),
        "notice": body.get("third_country_notice"),
        "traffic_data": body.get("traffic_data"),
    }


# --- recording an answer once -------------------------------------------------------------------


def record_answer(
    node: Node,
    principal: Principal,
    trace_id: str,
    hop_id: str,
    kind: str,
    details: dict[str, Any],
    *,
    key: str,
) -> TraceView:
    """An answer that came another way (a call, a letter): recorded once under its key."""
    if kind not in ANSWER_KINDS:
        raise ValidationFailed(f"answer kind must be one of {', '.join(ANSWER_KINDS)}", ["kind"])
    if not key or not key.strip():
        raise ValidationFailed("an answer needs a key (the message or letter it came in)", ["key"])
    member_of_trace(node, principal, trace_id)
    outcome = answer(node, principal, trace_id, hop_id, f"manual:{key.strip()}", kind, details)
    if outcome == "seen":
        raise Conflict(f"this answer ({key.strip()}) was recorded already for this hop")
    if outcome == "closed":
        raise Conflict("the hop is closed: it takes no more answers")
    return get_trace(node, principal, trace_id)


def answer(
    node: Node,
    principal: Principal,
    trace_id: str,
    hop_id: str,
    key: str,
    kind: str,
    details: dict[str, Any],
) -> str:
    """Record one answer and move the hop; a next hop is decided at once (in the caller's
    transaction when joined). Answers ``"applied"``, ``"seen"`` (this key was recorded:
    nothing moves twice) or ``"closed"`` (the hop takes no more answers)."""
    now = node.clock.now()
    try:
        with node.db.session() as session:
            trace = trace_row(session, trace_id)
            hop = hop_row(session, trace, hop_id)
            seen = session.execute(
                select(AnswerRow.id).where(AnswerRow.hop_id == hop.id, AnswerRow.key == key)
            ).first()
            if seen:
                return "seen"
            # a line identified (its subscriber's records preserved) may still have relayed
            # the connection: an Art. 30 disclosure of where it came from moves the trail on
            relayed = kind == "next_hop" and hop.state == HopState.SUBSCRIBER.value
            if hop.state not in OPEN_STATES and not relayed:
                return "closed"
            session.add(
                AnswerRow(
                    hop_id=hop.id,
                    key=key,
                    kind=kind,
                    details=json.dumps(details, default=str),
                    recorded_by=principal.actor,
                    recorded_at=now,
                )
            )
            next_hop = _move(session, trace, hop, kind, details, now)
            hop.updated_at = now
            trace.updated_at = now
            refresh_trace_clock(session, trace)
            record(
                session,
                actor=principal.actor,
                action="trace.answer_recorded",
                subject=f"trace:{trace.id}",
                details={"hop": hop.seq, "kind": kind, "key": key},
                at=now,
            )
            session.flush()
    except IntegrityError:
        return "seen"  # the same answer recorded at the same moment by another worker
    if next_hop is not None:
        decide(node, principal, trace_id, next_hop)
    return "applied"


def _move(
    session: Session,
    trace: TraceRow,
    hop: HopRow,
    kind: str,
    details: dict[str, Any],
    now: datetime,
) -> str | None:
    """The hop's new state for one answer; the id of the next hop when it advances."""
    if kind == "preserved":
        hop.hold_id = details.get("hold_id")
        hop.hold_digest = details.get("digest")
        kinds = set(json.loads(hop.data_kinds))
        if kinds & SUBSCRIBER_KINDS:
            hop.state = HopState.SUBSCRIBER.value
            hop.subscriber = details.get("summary") or "identified by the preserved records"
            hop.next_action = (
                "the data that identifies the subscriber is preserved: "
                "ask for it by mutual legal assistance (Art. 31)"
            )
            trace.state = TraceState.SUBSCRIBER.value
        else:
            hop.state = HopState.PRESERVED.value
            hop.next_action = "await the Art. 30 disclosure of where the connection came from"
    elif kind == "refused":
        end(session, trace, hop, "refusal", now)
    elif kind == "no_data":
        end(session, trace, hop, "no_data", now)
    elif kind == "subscriber":
        hop.state = HopState.SUBSCRIBER.value
        hop.subscriber = str(details.get("note") or "identified by the custodian")
        trace.state = TraceState.SUBSCRIBER.value
        hop.next_action = "ask for the subscriber's data by mutual legal assistance"
    elif kind == "next_hop":
        return _advance(session, trace, hop, details, now)
    return None


def _advance(
    session: Session, trace: TraceRow, hop: HopRow, details: dict[str, Any], now: datetime
) -> str:
    ip = details.get("ip")
    if not ip:
        raise ValidationFailed("the answer names no address for the next hop", ["ip"])
    at_value = details.get("at")
    at, zone = parse_instant(at_value, "at") if at_value else (None, None)
    port = details.get("port")
    came_from = f"{ip}" + (f":{port}" if port else "")
    if hop.state == HopState.SUBSCRIBER.value:
        # the subscriber's line relayed it: the line stays named, the trail goes on
        hop.next_action = f"advanced: the line ({hop.subscriber}) relayed the connection from "
        hop.next_action += came_from
        trace.state = TraceState.OPEN.value
    else:
        hop.next_action = f"advanced: the connection came from {came_from}"
    hop.state = HopState.ADVANCED.value
    seq = max(h.seq for h in hops_of(session, trace.id)) + 1
    new = new_hop(
        session,
        trace,
        seq=seq,
        ip=str(ip),
        port=int(port) if port is not None else None,
        at=at,
        source_zone=zone,
        tolerance_s=float(details.get("tolerance_s") or 2.0),
        protocol=details.get("protocol"),
        dst=(details.get("dst_ip"), details.get("dst_port")),
        source={
            "kind": "disclosure" if details.get("disclosure") else "answer",
            "disclosure": details.get("disclosure"),
            "reference": details.get("reference"),
            "notice": details.get("notice"),
            "traffic_data": details.get("traffic_data"),
            "previous_hold": hop.hold_id,
        },
        now=now,
    )
    return new.id


# --- the repair tool ----------------------------------------------------------------------------


def sync_trace(node: Node, principal: Principal, trace_id: str) -> TraceView:
    """Read the states of the hops' requests and any Art. 30 disclosure that answers them
    again, and decide any hop left undecided: what the listener did already is recorded under
    the same keys, so this moves only what it missed."""
    member_of_trace(node, principal, trace_id)
    with node.db.session() as session:
        hops = hops_of(session, trace_id)
        pending = [
            (h.id, h.request_id, h.request_reference, h.recipient_node)
            for h in hops
            if h.request_id and h.state in OPEN_STATES
        ]
        undecided = [
            h.id for h in hops if h.state == HopState.OPEN.value and h.next_action == UNDECIDED
        ]
    for hop_id in undecided:
        decide(node, principal, trace_id, hop_id)
    if not pending:
        return get_trace(node, principal, trace_id)
    disclosures = [
        view
        for view in requests_face.list_requests(node, direction="inbound")
        if view.kind.value == DISCLOSURE_KIND
    ]
    for hop_id, request_id, reference, recipient in pending:
        try:
            view = requests_face.get_request(node, request_id)
        except NotFound:
            continue
        _request_state(node, trace_id, hop_id, view)
        for disclosure in disclosures:
            body = disclosure.request.model_dump(mode="json")
            if body.get("in_response_to") != reference:
                continue
            if disclosure.counterpart_node != recipient:
                continue
            answer(
                node,
                principal,
                trace_id,
                hop_id,
                f"disclosure:{disclosure.id}",
                "next_hop",
                next_from_disclosure(disclosure.id, body),
            )
    return get_trace(node, principal, trace_id)
