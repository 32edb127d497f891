"""Tables of the live watch (Convention Art. 33, real-time collection of traffic data).

At a provider node: the requester nodes authorised to send watch orders, the standing orders
received, and every hit reported. At a requester node: the hits received for its orders.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class WatchRequesterRow(Base):
    """A node allowed to send watch orders to this (provider) node."""

    __tablename__ = "traffic_watch_requesters"

    node_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class WatchOrderRow(Base):
    """A standing order received over the exchange, active from ``start`` until ``end``."""

    __tablename__ = "traffic_watch_orders"
    __table_args__ = (UniqueConstraint("requester", "order_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requester: Mapped[str] = mapped_column(String(63), index=True)
    order_ref: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[str] = mapped_column(String(36))  # the exchange message that carried it
    requested_by: Mapped[str] = mapped_column(String(300))
    legal_reference: Mapped[str] = mapped_column(Text)
    case_reference: Mapped[str] = mapped_column(String(200), default="")
    criteria: Mapped[str] = mapped_column(Text)  # canonical JSON
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), index=True)  # active, expired, cancelled
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The law engine's answer on real-time collection (ETS 185 Art. 33, limited by the
    # provider country's Art. 14(3)/21 reservations) when the order was accepted: the
    # decision (accepted, conditional) and the answer's JSON. None for orders stored before.
    law_decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    law_answer: Mapped[str | None] = mapped_column(Text, nullable=True)


class WatchHitRow(Base):
    """One record that matched an order, as reported to the requester."""

    __tablename__ = "traffic_watch_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("traffic_watch_orders.id"), index=True)
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(100))  # syslog-udp:<peer>, ipfix:<peer>, file:..
    record: Mapped[str] = mapped_column(Text)  # the normalised record, canonical JSON
    raw: Mapped[str] = mapped_column(Text)  # the line (or hex of the export packet), capped
    sha256: Mapped[str] = mapped_column(String(64))  # digest of the full raw input
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class WatchReceivedRow(Base):
    """At the requester: a hit reported by a provider for one of this node's orders."""

    __tablename__ = "traffic_watch_received"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63), index=True)
    order_ref: Mapped[str] = mapped_column(String(100), index=True)
    message_id: Mapped[str] = mapped_column(String(36))
    hit: Mapped[str] = mapped_column(Text)  # the hit as reported, canonical JSON
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)  # at the provider
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
