"""audit: signed heads (this node's) and witnessed heads (countersigned by peers)

Revision ID: audit_0002
Revises: audit_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "audit_0002"
down_revision: str | Sequence[str] | None = "audit_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_signed_heads",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("seq", _BIG, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_signed_heads")),
    )
    op.create_index(op.f("ix_audit_signed_heads_seq"), "audit_signed_heads", ["seq"])
    op.create_table(
        "audit_witnessed_heads",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("subject_node", sa.String(63), nullable=False),
        sa.Column("witness_node", sa.String(63), nullable=False),
        sa.Column("seq", _BIG, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("witnessed_at", UTCDateTime(), nullable=False),
        sa.Column("witness_key_id", sa.String(16), nullable=False),
        sa.Column("witness_signature", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_witnessed_heads")),
        sa.UniqueConstraint(
            "subject_node",
            "witness_node",
            "seq",
            "entry_hash",
            "signed_at",
            name=op.f("uq_audit_witnessed_heads_subject_node"),
        ),
    )
    op.create_index(
        op.f("ix_audit_witnessed_heads_subject_node"), "audit_witnessed_heads", ["subject_node"]
    )


def downgrade() -> None:
    op.drop_table("audit_witnessed_heads")
    op.drop_table("audit_signed_heads")
