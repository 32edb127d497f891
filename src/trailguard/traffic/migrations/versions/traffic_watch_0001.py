"""traffic_watch: live watch orders, authorised requesters, hits reported and received

Revision ID: traffic_watch_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "traffic_watch_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("traffic_watch",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "traffic_watch_requesters",
        sa.Column("node_id", sa.String(63), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_traffic_watch_requesters")),
    )
    op.create_table(
        "traffic_watch_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("requester", sa.String(63), nullable=False),
        sa.Column("order_ref", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("requested_by", sa.String(300), nullable=False),
        sa.Column("legal_reference", sa.Text(), nullable=False),
        sa.Column("case_reference", sa.String(200), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_hit_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_watch_orders")),
        sa.UniqueConstraint(
            "requester", "order_ref", name=op.f("uq_traffic_watch_orders_requester")
        ),
    )
    op.create_index(
        op.f("ix_traffic_watch_orders_requester"), "traffic_watch_orders", ["requester"]
    )
    op.create_index(op.f("ix_traffic_watch_orders_state"), "traffic_watch_orders", ["state"])
    op.create_table(
        "traffic_watch_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("arrived_at", UTCDateTime(), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["traffic_watch_orders.id"],
            name=op.f("fk_traffic_watch_hits_order_id_traffic_watch_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_watch_hits")),
    )
    op.create_index(op.f("ix_traffic_watch_hits_order_id"), "traffic_watch_hits", ["order_id"])
    op.create_table(
        "traffic_watch_received",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(63), nullable=False),
        sa.Column("order_ref", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("hit", sa.Text(), nullable=False),
        sa.Column("arrived_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_watch_received")),
    )
    op.create_index(op.f("ix_traffic_watch_received_sender"), "traffic_watch_received", ["sender"])
    op.create_index(
        op.f("ix_traffic_watch_received_order_ref"), "traffic_watch_received", ["order_ref"]
    )


def downgrade() -> None:
    op.drop_table("traffic_watch_received")
    op.drop_table("traffic_watch_hits")
    op.drop_table("traffic_watch_orders")
    op.drop_table("traffic_watch_requesters")
