"""Audit tables: the entries, and one head row that serialises appends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class AuditEntryRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(300), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """A single row (id=1) holding the chain's newest sequence number and hash. Appends lock it
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers), so concurrent writers
    cannot fork the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    entry_hash: Mapped[str] = mapped_column(String(64))


_ID = BigInteger().with_variant(Integer, "sqlite")


class AuditSignedHeadRow(Base):
    """This node's heads, each signed with its Ed25519 key when a peer asked for it (or a
    verification checkpointed it). Kept, never changed: a later log must extend every one."""

    __tablename__ = "audit_signed_heads"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    seq: Mapped[int] = mapped_column(_ID, index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))


class AuditWitnessedHeadRow(Base):
    """A signed head of ``subject_node`` countersigned by ``witness_node``. Rows where this
    node is the witness are the heads it saw of its peers (it answers them to the peer's
    verification); rows where this node is the subject are the countersignatures of its own
    heads that its verification collected from peers."""

    __tablename__ = "audit_witnessed_heads"
    __table_args__ = (
        UniqueConstraint("subject_node", "witness_node", "seq", "entry_hash", "signed_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    subject_node: Mapped[str] = mapped_column(String(63), index=True)
    witness_node: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(_ID)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
    witnessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    witness_key_id: Mapped[str] = mapped_column(String(16))
    witness_signature: Mapped[str] = mapped_column(String(100))
