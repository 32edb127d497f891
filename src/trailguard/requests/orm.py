"""Tables of the requests capability: the requests (typed body as JSON plus indexed columns),
their transitions (the timeline) and the reminders raised before each deadline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class RequestRow(Base):
    __tablename__ = "requests_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    state: Mapped[str] = mapped_column(String(40), index=True)
    reference: Mapped[str] = mapped_column(String(500), index=True)
    requesting_party: Mapped[str] = mapped_column(String(2))
    requested_party: Mapped[str] = mapped_column(String(2))
    direction: Mapped[str] = mapped_column(String(10), index=True)  # outbound / inbound
    origin_node: Mapped[str] = mapped_column(String(63))
    counterpart_node: Mapped[str | None] = mapped_column(String(63), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("requests_requests.id"), nullable=True, index=True
    )
    body: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text, nullable=True)
    override_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    override_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    preserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    mla_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    zone: Mapped[str] = mapped_column(String(64))
    period_days: Mapped[int] = mapped_column(Integer)
    extensions: Mapped[str] = mapped_column(Text)  # JSON list of days
    retention_days: Mapped[str] = mapped_column(Text)  # JSON {data kind: days}
    emergency: Mapped[bool] = mapped_column(Boolean)
    tlp: Mapped[str] = mapped_column(String(20))
    handling_code: Mapped[str] = mapped_column(String(2))
    onward_sharing_permitted: Mapped[bool] = mapped_column(Boolean)
    nearest_deadline_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, index=True
    )
    nearest_deadline_kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hold_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    preserved_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    refusal_ground: Mapped[str | None] = mapped_column(String(60), nullable=True)
    refusal_article: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TransitionRow(Base):
    __tablename__ = "requests_transitions"
    __table_args__ = (Index("ix_requests_transitions_request_at", "request_id", "seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the transition id
    request_id: Mapped[str] = mapped_column(ForeignKey("requests_requests.id"))
    seq: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(40), nullable=True)
    to_state: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    actor_node: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # JSON
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    origin: Mapped[str] = mapped_column(String(10))  # local / remote


class ReminderRow(Base):
    __tablename__ = "requests_reminders"
    __table_args__ = (
        UniqueConstraint(
            "request_id",
            "deadline_kind",
            "due_at",
            "lead_seconds",
            name="uq_requests_reminders_request_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests_requests.id"), index=True)
    deadline_kind: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lead_seconds: Mapped[int] = mapped_column(Integer)  # 0 = the deadline itself was missed
    missed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
