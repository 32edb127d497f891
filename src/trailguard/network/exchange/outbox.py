"""Sending: a message goes into the outbox in the caller's transaction (so a crash never loses
or invents one); the delivery worker takes it from there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.network import directory_service
from trailguard.network.envelope import (
    Envelope,
    canonical_json,
    seal,
)
from trailguard.network.identity import node_identity
from trailguard.network.orm import ExchangeMessageRow, OutboxRow
from trailguard.node import Node

# --- sending -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    recipient: str
    message_type: str
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def _outbox_message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        message_id=row.message_id,
        recipient=row.recipient,
        message_type=row.message_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
    )


def send_message(
    session: Session,
    node: Node,
    *,
    recipient: str,
    message_type: str,
    payload: dict[str, Any],
    actor: str,
    expires_in: timedelta | None = None,
    correlation_id: str | None = None,
) -> OutboxMessage:
    """Seal, sign and enqueue a message in the caller's transaction; the delivery worker
    sends it after commit. Unknown recipients fail here with ``NotFound``."""
    if recipient == node.config.node_id:
        raise ValidationFailed(f"{recipient!r} is this node; a node does not message itself")
    if not isinstance(payload, dict):
        raise ValidationFailed(f"payload must be a JSON object, not {type(payload).__name__}")
    entry = directory_service.get_entry(session, recipient)
    if entry.network != node.config.network_name:  # never queued (issue 17)
        raise ValidationFailed(
            f"{recipient!r} is a node of network {entry.network!r}, this node belongs to "
            f"{node.config.network_name!r}; live and exercise nodes never exchange messages"
        )
    # a well-formed request to an entry that cannot receive messages (a liaison officer or a
    # bureau added by hand): the directory's state, not the request, is in the way (409)
    key = entry.current_key()
    if key is None:
        raise Conflict(f"the directory has no current encryption key for {recipient!r}")
    if not entry.channels.endpoint:
        raise Conflict(f"the directory has no node endpoint for {recipient!r}")
    now = node.clock.now()
    envelope = seal(
        node_identity(node),
        sender=node.config.node_id,
        recipient=recipient,
        recipient_key=key,
        message_type=message_type,
        payload=payload,
        created_at=now,
        expires_in=expires_in,
        correlation_id=correlation_id,
        network=node.config.network_name,
    )
    body = envelope.to_bytes()
    if len(body) > node.config.max_envelope_bytes:
        raise ValidationFailed(
            f"the envelope is {len(body)} bytes, over the limit of "
            f"{node.config.max_envelope_bytes}; send large evidence as a package"
        )
    session.add(_message_row(envelope, "sent", payload, now))
    row = OutboxRow(
        message_id=envelope.message_id,
        recipient=recipient,
        message_type=message_type,
        envelope=body.decode("utf-8"),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        actor=actor[:200],
    )
    session.add(row)  # written with the audit entry at the caller's commit (or next query)
    record(
        session,
        actor=actor,
        action="exchange.sent",
        subject=f"message:{envelope.message_id}",
        details={
            "recipient": recipient,
            "type": message_type,
            "correlation_id": correlation_id,
            "envelope_sha256": envelope.digest,
        },
        at=now,
    )
    return _outbox_message(row)


def _message_row(
    envelope: Envelope, direction: str, payload: dict[str, Any], now: datetime
) -> ExchangeMessageRow:
    return ExchangeMessageRow(**_message_values(envelope, direction, payload, now))


def _message_values(
    envelope: Envelope, direction: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return dict(
        direction=direction,
        message_id=envelope.message_id,
        sender=envelope.sender,
        recipient=envelope.recipient,
        message_type=envelope.message_type,
        correlation_id=envelope.correlation_id,
        created_at=envelope.created_at,
        expires_at=envelope.expires_at,
        envelope_digest=envelope.digest,
        envelope=envelope.to_bytes().decode("utf-8"),
        payload=canonical_json(payload).decode("utf-8"),
        recorded_at=now,
        requires_ack=False,
        ack_due=None,
    )
