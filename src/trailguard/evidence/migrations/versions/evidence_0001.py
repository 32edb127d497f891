"""evidence: items, custody events, packages, transfers and issued documents

Revision ID: evidence_0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "evidence_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("evidence",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("investigation", sa.String(200), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sha512", sa.String(128), nullable=False),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("sha1", sa.String(40), nullable=True),
        sa.Column("acquisition", sa.Text(), nullable=False),
        sa.Column("handling_code", sa.String(2), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("origin_node", sa.String(63), nullable=False),
        sa.Column("package_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
    )
    op.create_index(op.f("ix_evidence_items_reference"), "evidence_items", ["reference"])
    op.create_index(op.f("ix_evidence_items_sha256"), "evidence_items", ["sha256"])
    op.create_table(
        "evidence_custody_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("node_id", sa.String(63), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("event_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_custody_events")),
        sa.UniqueConstraint("item_id", "seq", name="uq_evidence_custody_item_seq"),
    )
    op.create_index(
        op.f("ix_evidence_custody_events_item_id"), "evidence_custody_events", ["item_id"]
    )
    op.create_table(
        "evidence_packages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("issuer_node", sa.String(63), nullable=False),
        sa.Column("recipient_node", sa.String(63), nullable=True),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("item_ids", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_packages")),
    )
    op.create_index(op.f("ix_evidence_packages_reference"), "evidence_packages", ["reference"])
    op.create_table(
        "evidence_transfers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("package_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("peer_node", sa.String(63), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("archive_sha256", sa.String(64), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("archive_path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_transfers")),
    )
    op.create_index(op.f("ix_evidence_transfers_package_id"), "evidence_transfers", ["package_id"])
    op.create_table(
        "evidence_documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_documents")),
    )


def downgrade() -> None:
    op.drop_table("evidence_documents")
    op.drop_table("evidence_transfers")
    op.drop_table("evidence_packages")
    op.drop_table("evidence_custody_events")
    op.drop_table("evidence_items")
