"""trace: Art. 30 disclosures sent by a custodian and received by its point of contact

Revision ID: trace_0002
Revises: trace_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "trace_0002"
down_revision: str | Sequence[str] | None = "trace_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trace_disclosures",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("counterpart", sa.String(63), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("drafted_request_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_disclosures")),
        sa.UniqueConstraint("request_id", "side", name=op.f("uq_trace_disclosures_request_id")),
    )
    op.create_index(op.f("ix_trace_disclosures_request_id"), "trace_disclosures", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trace_disclosures_request_id"), table_name="trace_disclosures")
    op.drop_table("trace_disclosures")
