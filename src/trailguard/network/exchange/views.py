"""Reading the exchange: messages sent and received with their receipts, one message's
detail, counts for the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trailguard.core.clock import isoformat_z
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.network.exchange.accept import _receipts_of
from trailguard.network.orm import ExchangeMessageRow, OutboxRow

# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    message_id: str
    direction: str
    sender: str
    recipient: str
    message_type: str
    correlation_id: str | None
    created_at: datetime
    expires_at: datetime
    recorded_at: datetime
    requires_ack: bool
    ack_due: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    delivery_state: str | None
    attempts: int | None
    last_error: str | None
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            out[name] = isoformat_z(value) if isinstance(value, datetime) else value
        return out


def _view(row: ExchangeMessageRow, outbox: OutboxRow | None) -> MessageView:
    return MessageView(
        message_id=row.message_id,
        direction=row.direction,
        sender=row.sender,
        recipient=row.recipient,
        message_type=row.message_type,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        recorded_at=row.recorded_at,
        requires_ack=row.requires_ack,
        ack_due=row.ack_due,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        escalated_at=row.escalated_at,
        delivery_state=outbox.state if outbox else None,
        attempts=outbox.attempts if outbox else None,
        last_error=outbox.last_error if outbox else None,
        next_attempt_at=outbox.next_attempt_at if outbox else None,
    )


def list_messages(
    session: Session, *, direction: str, limit: int = 100, pending_ack_only: bool = False
) -> list[MessageView]:
    if direction not in ("sent", "received"):
        raise ValidationFailed(f"direction must be 'sent' or 'received', not {direction!r}")
    if not 1 <= limit <= 1000:
        raise ValidationFailed(f"limit must be between 1 and 1000, not {limit}")
    query = (
        select(ExchangeMessageRow, OutboxRow)
        .outerjoin(OutboxRow, OutboxRow.message_id == ExchangeMessageRow.message_id)
        .where(ExchangeMessageRow.direction == direction)
        .order_by(ExchangeMessageRow.id.desc())
        .limit(limit)
    )
    if pending_ack_only:
        query = query.where(
            ExchangeMessageRow.requires_ack.is_(True), ExchangeMessageRow.acknowledged_at.is_(None)
        )
    return [
        _view(message, outbox if direction == "sent" else None)
        for message, outbox in session.execute(query).all()
    ]


@dataclass(frozen=True)
class MessageDetail:
    message: MessageView
    payload: dict[str, Any]
    envelope: dict[str, Any]
    receipts: list[dict[str, Any]]


def message_detail(
    session: Session, message_id: str, *, direction: str | None = None
) -> MessageDetail:
    query = select(ExchangeMessageRow).where(ExchangeMessageRow.message_id == message_id)
    if direction:
        query = query.where(ExchangeMessageRow.direction == direction)
    row = session.execute(query.order_by(ExchangeMessageRow.id)).scalars().first()
    if row is None:
        raise NotFound(f"no message {message_id!r} on this node")
    outbox = None
    if row.direction == "sent":
        outbox = session.execute(
            select(OutboxRow).where(OutboxRow.message_id == message_id)
        ).scalar_one_or_none()
    return MessageDetail(
        message=_view(row, outbox),
        payload=json.loads(row.payload),
        envelope=json.loads(row.envelope),
        receipts=_receipts_of(session, message_id),
    )


def counts(session: Session) -> dict[str, int]:
    """Figures for the dashboard: pending outbox, unacknowledged inbox, failures."""
    pending = (
        session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")
        )
        or 0
    )
    failed = (
        session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.state.in_(("failed", "rejected")))
        )
        or 0
    )
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(ExchangeMessageRow)
            .where(
                ExchangeMessageRow.direction == "received",
                ExchangeMessageRow.requires_ack.is_(True),
                ExchangeMessageRow.acknowledged_at.is_(None),
            )
        )
        or 0
    )
    return {"outbox_pending": pending, "outbox_failed": failed, "awaiting_ack": waiting}
