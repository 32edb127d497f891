"""Reading requests and their clocks (lists, one request, its document, reminders)."""

from __future__ import annotations

from sqlalchemy import select

from trailguard.core.errors import ValidationFailed
from trailguard.node import Node
from trailguard.requests.clocks import z
from trailguard.requests.domain.lifecycle import (
    RequestState,
)
from trailguard.requests.orm import RequestRow
from trailguard.requests.reminders import ReminderView
from trailguard.requests.reminders import open_reminders as _open_reminders
from trailguard.requests.reminders import scan_deadlines as _scan_deadlines
from trailguard.requests.service.records import RequestView, _row, _view

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
