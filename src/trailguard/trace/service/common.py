"""What every part of the trace service shares: roles, the rows of a trace, access, a new
hop, a dead end, the trace's clock."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role
from trailguard.core.errors import NotFound, PermissionDenied
from trailguard.investigations import InvestigationView, require_member
from trailguard.node import Node
from trailguard.trace.domain.hops import DEAD_END_REASONS, HopState, TraceState
from trailguard.trace.orm import HopRow, TraceRow

TRACE_ROLES = (Role.INVESTIGATOR, Role.DUTY_OFFICER)
POLICY_ACTOR = "policy:auto-send"
ANSWERS_ACTOR = "trace:answers"
# Request states the trace reads as "on its way" and as answers.
UNDER_WAY = {"approved", "sent", "received", "acknowledged", "in_execution", "extended"}
PRESERVED = {"preserved", "partially_preserved"}
REFUSED = {"refused", "cannot_ensure_availability"}
OPEN_STATES = {
    HopState.OPEN.value,
    HopState.AMBIGUOUS.value,
    HopState.DRAFTED.value,
    HopState.SENT.value,
    HopState.PRESERVED.value,
}
TEMPLATE_FIELDS = (
    "requesting_authority",
    "confirmation_contact",
    "seeking_authority",
    "offence",
    "offence_articles",
    "summary_of_facts",
    "handling",  # the handling code and TLP every hop's request carries
    "emergency",  # a risk to people's safety: every hop's request marked urgent
)
UNDECIDED = "decide who holds the data"


def policy_principal() -> Principal:
    """The recorded auto-send policy: approves and sends what the trace drafted."""
    return Principal(
        user_id=0,
        username=POLICY_ACTOR,
        display_name="recorded auto-send policy",
        roles=frozenset({Role.DUTY_OFFICER}),
    )


def answers_principal() -> Principal:
    """Who decides a hop and drafts its request when an answer arrives over the exchange (no
    person is at the keyboard): it may draft, never approve (four eyes stay with people)."""
    return Principal(
        user_id=0,
        username=ANSWERS_ACTOR,
        display_name="trace: answer received",
        roles=frozenset({Role.INVESTIGATOR}),
    )


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def require_role(principal: Principal) -> None:
    if not principal.has_any(*TRACE_ROLES):
        raise PermissionDenied("traces need the investigator or duty_officer role")


def trace_row(session: Session, trace_id: str) -> TraceRow:
    row = session.get(TraceRow, trace_id)
    if row is None:
        raise NotFound(f"no trace {trace_id!r}")
    return row


def hop_row(session: Session, trace: TraceRow, hop_id: str) -> HopRow:
    hop = session.get(HopRow, hop_id)
    if hop is None or hop.trace_id != trace.id:
        raise NotFound(f"trace {trace.id} has no hop {hop_id!r}")
    return hop


def check_member(node: Node, principal: Principal, investigation_id: str) -> InvestigationView:
    require_role(principal)
    return require_member(node, principal, investigation_id)


def member_of_trace(node: Node, principal: Principal, trace_id: str) -> InvestigationView:
    """NotFound for an unknown trace, PermissionDenied for someone not on its case."""
    with node.db.session() as session:
        investigation_id = trace_row(session, trace_id).investigation_id
    return check_member(node, principal, investigation_id)


def hops_of(session: Session, trace_id: str) -> list[HopRow]:
    return list(
        session.execute(select(HopRow).where(HopRow.trace_id == trace_id).order_by(HopRow.seq))
        .scalars()
        .all()
    )


def new_hop(
    session: Session,
    trace: TraceRow,
    *,
    seq: int,
    ip: str,
    port: int | None,
    at: datetime | None,
    source_zone: str | None,
    tolerance_s: float,
    protocol: str | None,
    dst: tuple[str | None, int | None],
    source: dict[str, Any],
    now: datetime,
) -> HopRow:
    hop = HopRow(
        id=str(uuid.uuid4()),
        trace_id=trace.id,
        seq=seq,
        ip=ip,
        port=port,
        at=at,
        source_zone=source_zone,
        tolerance_s=tolerance_s,
        protocol=protocol,
        dst_ip=dst[0],
        dst_port=dst[1],
        attribution="{}",
        state=HopState.OPEN.value,
        checks="[]",
        data_kinds="[]",
        candidates="[]",
        source=json.dumps(source),
        next_action=UNDECIDED,
        created_at=now,
        updated_at=now,
    )
    session.add(hop)
    session.flush()
    return hop


def end(session: Session, trace: TraceRow, hop: HopRow, reason: str, now: datetime) -> None:
    hop.state = HopState.DEAD_END.value
    hop.end_reason = reason
    hop.next_action = f"dead end: {DEAD_END_REASONS[reason]}"
    trace.state = TraceState.DEAD_END.value
    trace.end_reason = reason
    trace.updated_at = now


def refresh_trace_clock(session: Session, trace: TraceRow) -> None:
    open_hops = [h for h in hops_of(session, trace.id) if h.state in OPEN_STATES and h.dies_at]
    trace.dies_at = min((h.dies_at for h in open_hops if h.dies_at), default=None)
