"""Tables of the evidence capability: items, their custody events, packages and transfers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class EvidenceItemRow(Base):
    __tablename__ = "evidence_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), index=True)
    investigation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    file_name: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sha512: Mapped[str] = mapped_column(String(128))
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sha1: Mapped[str | None] = mapped_column(String(40), nullable=True)
    acquisition: Mapped[str] = mapped_column(Text)
    handling_code: Mapped[str] = mapped_column(String(2))
    tlp: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    origin_node: Mapped[str] = mapped_column(String(63))
    package_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceCustodyRow(Base):
    __tablename__ = "evidence_custody_events"
    __table_args__ = (UniqueConstraint("item_id", "seq", name="uq_evidence_custody_item_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    node_id: Mapped[str] = mapped_column(String(63))
    user_name: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(Text)
    event_hash: Mapped[str] = mapped_column(String(64))


class EvidencePackageRow(Base):
    __tablename__ = "evidence_packages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # issued | received
    issuer_node: Mapped[str] = mapped_column(String(63))
    recipient_node: Mapped[str | None] = mapped_column(String(63), nullable=True)
    basis: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    item_ids: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceTransferRow(Base):
    __tablename__ = "evidence_transfers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    package_id: Mapped[str] = mapped_column(String(36), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # out | in
    peer_node: Mapped[str] = mapped_column(String(63))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    archive_sha256: Mapped[str] = mapped_column(String(64))
    sealed_key: Mapped[str] = mapped_column(Text)
    archive_path: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    problems: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceDocumentRow(Base):
    """Every document this node issued with a verification block (the public page looks
    documents up here by id)."""

    __tablename__ = "evidence_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    content_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(200))
