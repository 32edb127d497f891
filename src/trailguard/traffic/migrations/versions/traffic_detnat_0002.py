"""traffic_detnat: deterministic NAT (RFC 7422) configuration history

Revision ID: traffic_detnat_0002
Revises: traffic_watch_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "traffic_detnat_0002"
down_revision: str | Sequence[str] | None = "traffic_watch_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "traffic_detnat_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("plan", sa.String(63), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("inside_prefix", sa.String(64), nullable=False),
        sa.Column("outside_pool", sa.Text(), nullable=False),
        sa.Column("ports_per_subscriber", sa.Integer(), nullable=False),
        sa.Column("first_port", sa.Integer(), nullable=False),
        sa.Column("last_port", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("exclude_boundary", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_detnat_versions")),
        sa.UniqueConstraint(
            "provider", "plan", "valid_from", name=op.f("uq_traffic_detnat_versions_provider")
        ),
    )
    op.create_index(
        op.f("ix_traffic_detnat_versions_provider"), "traffic_detnat_versions", ["provider"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_traffic_detnat_versions_provider"), "traffic_detnat_versions")
    op.drop_table("traffic_detnat_versions")
