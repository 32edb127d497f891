"""Tables of the network capability: directory, outbox, messages, receipts, escalations.

Envelopes and receipts are stored verbatim (canonical JSON with their signatures) so that
either side can later prove what was sent, received and acknowledged when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class DirectoryEntryRow(Base):
    __tablename__ = "network_directory_entries"

    node_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    country: Mapped[str] = mapped_column(String(2), index=True)
    organisation: Mapped[str] = mapped_column(String(300))
    document: Mapped[str] = mapped_column(Text)  # the entry as canonical JSON
    is_self: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(100))  # self, manual, import:<publisher>
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message waiting to leave (or that left): written in the sender's transaction."""

    __tablename__ = "network_outbox"
    __table_args__ = (Index("ix_network_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    recipient: Mapped[str] = mapped_column(String(63))
    message_type: Mapped[str] = mapped_column(String(100))
    envelope: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))  # pending, delivered, rejected, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))


class ExchangeMessageRow(Base):
    """A sent or received envelope, verbatim, with its decrypted payload and its clock."""

    __tablename__ = "exchange_messages"
    __table_args__ = (UniqueConstraint("direction", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(10))  # sent, received
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    sender: Mapped[str] = mapped_column(String(63))
    recipient: Mapped[str] = mapped_column(String(63))
    message_type: Mapped[str] = mapped_column(String(100))
    correlation_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    envelope_digest: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requires_ack: Mapped[bool] = mapped_column(Boolean, default=False)
    ack_due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ExchangeReceiptRow(Base):
    """A signed receipt (issued by this node or received from a peer), verbatim."""

    __tablename__ = "exchange_receipts"
    __table_args__ = (UniqueConstraint("message_id", "stage", "issuer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(50), nullable=True)
    document: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationRow(Base):
    __tablename__ = "network_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    escalated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_due: Mapped[datetime] = mapped_column(UTCDateTime)
    contact_person: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    channels: Mapped[str] = mapped_column(String(100))  # in-app, email, email-failed
    detail: Mapped[str] = mapped_column(Text)


class NotificationRow(Base):
    """An in-app notice for the people of this node (shown on the exchange page)."""

    __tablename__ = "network_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    audience: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
