"""Receipts carried as messages (a person's acknowledgement travels back signed), the ping
handler, and acknowledging a received message."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.network.envelope import (
    Receipt,
    Stage,
    issue_receipt,
)
from trailguard.network.exchange.accept import _store_receipt, write_serialised
from trailguard.network.exchange.delivery import _verified_receipts
from trailguard.network.exchange.handlers import RECEIPT_MESSAGE_TYPE, ReceivedMessage
from trailguard.network.exchange.outbox import send_message
from trailguard.network.identity import node_identity
from trailguard.network.orm import ExchangeMessageRow
from trailguard.node import Node

# --- receipts carried as messages (acknowledgements) -------------------------------------


def handle_receipt(session: Session, node: Node, message: ReceivedMessage) -> None:
    """A peer sends a receipt for one of our messages (e.g. acknowledged by a person)."""
    receipts, problems = _verified_receipts(
        session,
        message.sender,
        str(message.payload.get("receipt", {}).get("message_id", "")),
        message.payload.get("receipt"),
    )
    if problems or not receipts:
        raise ValidationFailed("the receipt cannot be accepted", problems or ["no receipt"])
    receipt = receipts[0]
    sent = session.execute(
        select(ExchangeMessageRow.id).where(
            ExchangeMessageRow.direction == "sent",
            ExchangeMessageRow.message_id == receipt.message_id,
            ExchangeMessageRow.recipient == message.sender,
        )
    ).first()
    if sent is None:
        raise ValidationFailed(
            f"receipt refers to message {receipt.message_id}, which this node never sent to "
            f"{message.sender!r}"
        )
    if _store_receipt(session, receipt, message.received_at):
        record(
            session,
            actor=f"node:{message.sender}",
            action=f"exchange.{receipt.stage.value}",
            subject=f"message:{receipt.message_id}",
            details={"at": isoformat_z(receipt.at), "detail": receipt.detail},
            at=message.received_at,
        )


def handle_ping(session: Session, node: Node, message: ReceivedMessage) -> None:
    text = message.payload.get("text", "")
    if not isinstance(text, str) or len(text) > 2000:
        raise ValidationFailed("a ping carries at most 2000 characters of text", ["text"])


def acknowledge(node: Node, message_id: str, *, actor: str, note: str | None = None) -> Receipt:
    """A person acknowledges a received message: the clock stops and a signed
    ``acknowledged`` receipt goes back to the sender as its own message."""
    now = node.clock.now()
    with write_serialised(node), node.db.session() as session:
        row = session.execute(
            select(ExchangeMessageRow).where(
                ExchangeMessageRow.direction == "received",
                ExchangeMessageRow.message_id == message_id,
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no received message {message_id!r}")
        if not row.requires_ack:
            raise ValidationFailed(
                f"message {message_id} ({row.message_type}) needs no acknowledgement"
            )
        if row.acknowledged_at is not None:
            raise Conflict(
                f"message {message_id} was already acknowledged by "
                f"{row.acknowledged_by} at {isoformat_z(row.acknowledged_at)}"
            )
        if note is not None and len(note) > 500:
            raise ValidationFailed(f"the note is {len(note)} characters; at most 500")
        row.acknowledged_at = now
        row.acknowledged_by = actor[:200]
        receipt = issue_receipt(
            node_identity(node),
            issuer=node.config.node_id,
            message_id=message_id,
            envelope_digest=row.envelope_digest,
            subject_sender=row.sender,
            stage=Stage.ACKNOWLEDGED,
            at=now,
            detail=note,
        )
        _store_receipt(session, receipt, now)
        record(
            session,
            actor=actor,
            action="exchange.acknowledged",
            subject=f"message:{message_id}",
            details={
                "sender": row.sender,
                "ack_due": isoformat_z(row.ack_due) if row.ack_due else None,
                "late": bool(row.ack_due and now >= row.ack_due),
            },
            at=now,
        )
        send_message(
            session,
            node,
            recipient=row.sender,
            message_type=RECEIPT_MESSAGE_TYPE,
            payload={"receipt": receipt.to_json()},
            actor=actor,
            correlation_id=message_id,
        )
    return receipt
