"""Tables of the trace capability: traces, their hops, the answers that moved them and the
custodians' declared retention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class TraceRow(Base):
    __tablename__ = "trace_traces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    investigation_id: Mapped[str] = mapped_column(String(36), index=True)
    observation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    label: Mapped[str] = mapped_column(String(300))
    target: Mapped[str] = mapped_column(Text)  # JSON: the victim's endpoint
    template: Mapped[str] = mapped_column(Text)  # JSON: the requesting side's request fields
    state: Mapped[str] = mapped_column(String(20), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    auto_send: Mapped[bool] = mapped_column(Boolean)
    policy_set_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dies_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HopRow(Base):
    __tablename__ = "trace_hops"
    __table_args__ = (UniqueConstraint("trace_id", "seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trace_id: Mapped[str] = mapped_column(ForeignKey("trace_traces.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tolerance_s: Mapped[float] = mapped_column(Float)
    protocol: Mapped[str | None] = mapped_column(String(10), nullable=True)
    dst_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    dst_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attribution: Mapped[str] = mapped_column(Text)  # JSON (trace attribute answer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recipient_node: Mapped[str | None] = mapped_column(String(63), nullable=True)
    channel: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    checks: Mapped[str] = mapped_column(Text)  # JSON list
    data_kinds: Mapped[str] = mapped_column(Text)  # JSON list
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    request_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hold_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    candidates: Mapped[str] = mapped_column(Text)  # JSON list
    source: Mapped[str] = mapped_column(Text)  # JSON: where this hop came from
    subscriber: Mapped[str | None] = mapped_column(Text, nullable=True)
    dies_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_action: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AnswerRow(Base):
    __tablename__ = "trace_answers"
    __table_args__ = (UniqueConstraint("hop_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hop_id: Mapped[str] = mapped_column(ForeignKey("trace_hops.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    details: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustodianRow(Base):
    __tablename__ = "trace_custodians"

    node_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    retention_days: Mapped[str] = mapped_column(Text)  # JSON {kind: days}
    source: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisclosureRow(Base):
    """An Art. 30 disclosure prepared from a custodian's own look-up: ``sent`` on the
    custodian's node (one per request it answers), ``received`` on the point of contact that
    forwarded the request (with the disclosure request it drafted for the requesting Party)."""

    __tablename__ = "trace_disclosures"
    __table_args__ = (UniqueConstraint("request_id", "side"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    side: Mapped[str] = mapped_column(String(10))  # sent | received
    counterpart: Mapped[str] = mapped_column(String(63))
    body: Mapped[str] = mapped_column(Text)  # JSON: the Art. 30 body
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    drafted_request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
