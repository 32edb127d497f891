"""Tables of the investigations capability: investigations, the people on them, their
observations and their links to requests and holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class InvestigationRow(Base):
    __tablename__ = "investigations_investigations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    conduct: Mapped[str] = mapped_column(Text)  # JSON list of conduct ids
    handling_code: Mapped[str] = mapped_column(String(2))
    tlp: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberRow(Base):
    __tablename__ = "investigations_members"
    __table_args__ = (UniqueConstraint("investigation_id", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    investigation_id: Mapped[str] = mapped_column(
        ForeignKey("investigations_investigations.id"), index=True
    )
    username: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(10))  # lead / member
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObservationRow(Base):
    __tablename__ = "investigations_observations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    investigation_id: Mapped[str] = mapped_column(
        ForeignKey("investigations_investigations.id"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    source_label: Mapped[str] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True, index=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tolerance_s: Mapped[float] = mapped_column(Float)
    protocol: Mapped[str | None] = mapped_column(String(10), nullable=True)
    direction: Mapped[str | None] = mapped_column(String(10), nullable=True)
    seen: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    flags: Mapped[str] = mapped_column(Text)  # JSON list
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LinkRow(Base):
    __tablename__ = "investigations_links"
    __table_args__ = (UniqueConstraint("investigation_id", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    investigation_id: Mapped[str] = mapped_column(
        ForeignKey("investigations_investigations.id"), index=True
    )
    target_kind: Mapped[str] = mapped_column(String(20))  # request / hold
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    note: Mapped[str] = mapped_column(Text)
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
