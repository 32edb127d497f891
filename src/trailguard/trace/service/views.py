"""Reading traces: a hop as JSON, the trace view with each hop's request clock, the traces of
an investigation, the open traces by nearest death, the graph and its CASE/UCO form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import trailguard.requests as requests_face
from trailguard.accounts import Principal
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import NotFound
from trailguard.investigations import list_investigations
from trailguard.node import Node
from trailguard.trace.domain.case_uco import case_bundle
from trailguard.trace.domain.hops import DEAD_END_REASONS, HopState, TraceState, graph
from trailguard.trace.orm import HopRow, TraceRow
from trailguard.trace.service.common import (
    TRACE_ROLES,
    check_member,
    hops_of,
    loads,
    member_of_trace,
    trace_row,
)


def hop_json(row: HopRow) -> dict[str, Any]:
    attribution = loads(row.attribution) or {}
    return {
        "id": row.id,
        "seq": row.seq,
        "ip": row.ip,
        "port": row.port,
        "at": isoformat_z(row.at) if row.at else None,
        "source_zone": row.source_zone,
        "tolerance_s": row.tolerance_s,
        "protocol": row.protocol,
        "dst_ip": row.dst_ip,
        "dst_port": row.dst_port,
        "special": attribution.get("special"),
        "country": attribution.get("country"),
        "provider": attribution.get("provider"),
        "sources": attribution.get("sources", []),
        "state": row.state,
        "end_reason": row.end_reason,
        "end_reason_text": DEAD_END_REASONS.get(row.end_reason or "", None),
        "recipient_node": row.recipient_node,
        "channel": loads(row.channel),
        "checks": loads(row.checks) or [],
        "data_kinds": loads(row.data_kinds) or [],
        "request_id": row.request_id,
        "request_reference": row.request_reference,
        "hold_id": row.hold_id,
        "hold_digest": row.hold_digest,
        "candidates": loads(row.candidates) or [],
        "source": loads(row.source) or {},
        "subscriber": row.subscriber,
        "dies_at": isoformat_z(row.dies_at) if row.dies_at else None,
        "next_action": row.next_action,
        "confidence": _confidence(row),
    }


def _confidence(row: HopRow) -> str:
    if row.state in (HopState.SUBSCRIBER.value, HopState.LOOKED_UP.value):
        return "record"  # a custodian's own record
    if row.state == HopState.AMBIGUOUS.value:
        return "ambiguous"
    source = loads(row.source) or {}
    return "disclosed" if source.get("kind") == "disclosure" else "observed"


@dataclass
class TraceView:
    id: str
    investigation_id: str
    label: str
    state: str
    end_reason: str | None
    auto_send: bool
    dies_at: datetime | None
    target: dict[str, Any]
    created_by: str
    created_at: datetime
    hops: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "investigation_id": self.investigation_id,
            "label": self.label,
            "state": self.state,
            "end_reason": self.end_reason,
            "end_reason_text": DEAD_END_REASONS.get(self.end_reason or "", None),
            "auto_send": self.auto_send,
            "dies_at": isoformat_z(self.dies_at) if self.dies_at else None,
            "target": self.target,
            "created_by": self.created_by,
            "created_at": isoformat_z(self.created_at),
            "hops": self.hops,
        }


def view_of(session: Session, row: TraceRow) -> TraceView:
    return TraceView(
        id=row.id,
        investigation_id=row.investigation_id,
        label=row.label,
        state=row.state,
        end_reason=row.end_reason,
        auto_send=row.auto_send,
        dies_at=row.dies_at,
        target=loads(row.target) or {},
        created_by=row.created_by,
        created_at=row.created_at,
        hops=[hop_json(h) for h in hops_of(session, row.id)],
    )


def get_trace(node: Node, principal: Principal, trace_id: str) -> TraceView:
    member_of_trace(node, principal, trace_id)
    with node.db.session() as session:
        view = view_of(session, trace_row(session, trace_id))
    _request_clocks(node, view)
    return view


def _request_clocks(node: Node, view: TraceView) -> None:
    """Each hop's request: its state and the clock that runs on it (from the requests face)."""
    for hop in view.hops:
        hop["request_state"] = None
        hop["request_clock"] = None
        if not hop["request_id"]:
            continue
        try:
            request = requests_face.get_request(node, hop["request_id"])
        except NotFound:
            continue
        hop["request_state"] = request.state.value
        if request.nearest is not None:
            hop["request_clock"] = {
                "label": request.nearest.label,
                "due_at": isoformat_z(request.nearest.due_at),
                "citation": request.nearest.citation,
            }


def traces_of(node: Node, principal: Principal, investigation_id: str) -> list[TraceView]:
    case = check_member(node, principal, investigation_id)
    with node.db.session() as session:
        rows = session.execute(
            select(TraceRow)
            .where(TraceRow.investigation_id == case.id)
            .order_by(TraceRow.created_at)
        ).scalars()
        return [view_of(session, row) for row in rows]


def open_traces(node: Node, principal: Principal) -> list[TraceView]:
    """Every open trace of the investigations this person is on, nearest death first."""
    if not principal.has_any(*TRACE_ROLES):
        return []
    ids = [case.id for case in list_investigations(node, principal)]
    if not ids:
        return []
    with node.db.session() as session:
        rows = session.execute(
            select(TraceRow).where(
                TraceRow.investigation_id.in_(ids), TraceRow.state == TraceState.OPEN.value
            )
        ).scalars()
        views = [view_of(session, row) for row in rows]
    far = datetime.max.replace(tzinfo=node.clock.now().tzinfo)
    return sorted(views, key=lambda v: v.dies_at or far)


def graph_of(node: Node, principal: Principal, trace_id: str) -> dict[str, Any]:
    view = get_trace(node, principal, trace_id)
    data = view.to_json()
    return graph(data, data["hops"])


def case_of(node: Node, principal: Principal, trace_id: str) -> dict[str, Any]:
    """The trace as CASE/UCO JSON-LD (see ``domain.case_uco``)."""
    view = get_trace(node, principal, trace_id)
    data = view.to_json()
    case = check_member(node, principal, view.investigation_id)
    return case_bundle(
        graph(data, data["hops"]),
        {"id": case.id, "reference": case.reference, "title": case.title},
    )
