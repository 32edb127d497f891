"""trace: traces, hops, answers, custodians

Revision ID: trace_0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "trace_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("trace",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "trace_traces",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("observation_id", sa.String(36), nullable=True),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("auto_send", sa.Boolean(), nullable=False),
        sa.Column("policy_set_by", sa.String(200), nullable=True),
        sa.Column("dies_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_traces")),
    )
    op.create_index(op.f("ix_trace_traces_investigation_id"), "trace_traces", ["investigation_id"])
    op.create_index(op.f("ix_trace_traces_state"), "trace_traces", ["state"])
    op.create_index(op.f("ix_trace_traces_dies_at"), "trace_traces", ["dies_at"])
    op.create_table(
        "trace_hops",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("trace_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=True),
        sa.Column("source_zone", sa.String(64), nullable=True),
        sa.Column("tolerance_s", sa.Float(), nullable=False),
        sa.Column("protocol", sa.String(10), nullable=True),
        sa.Column("dst_ip", sa.String(45), nullable=True),
        sa.Column("dst_port", sa.Integer(), nullable=True),
        sa.Column("attribution", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("recipient_node", sa.String(63), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("data_kinds", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=True),
        sa.Column("request_reference", sa.String(200), nullable=True),
        sa.Column("hold_id", sa.String(200), nullable=True),
        sa.Column("hold_digest", sa.String(128), nullable=True),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("subscriber", sa.Text(), nullable=True),
        sa.Column("dies_at", UTCDateTime(), nullable=True),
        sa.Column("next_action", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["trace_traces.id"], name=op.f("fk_trace_hops_trace_id_trace_traces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_hops")),
        sa.UniqueConstraint("trace_id", "seq", name=op.f("uq_trace_hops_trace_id")),
    )
    op.create_index(op.f("ix_trace_hops_trace_id"), "trace_hops", ["trace_id"])
    op.create_index(op.f("ix_trace_hops_state"), "trace_hops", ["state"])
    op.create_index(op.f("ix_trace_hops_request_id"), "trace_hops", ["request_id"])
    op.create_table(
        "trace_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hop_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hop_id"], ["trace_hops.id"], name=op.f("fk_trace_answers_hop_id_trace_hops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_answers")),
        sa.UniqueConstraint("hop_id", "key", name=op.f("uq_trace_answers_hop_id")),
    )
    op.create_index(op.f("ix_trace_answers_hop_id"), "trace_answers", ["hop_id"])
    op.create_table(
        "trace_custodians",
        sa.Column("node_id", sa.String(63), nullable=False),
        sa.Column("retention_days", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_trace_custodians")),
    )


def downgrade() -> None:
    op.drop_table("trace_custodians")
    op.drop_table("trace_answers")
    op.drop_table("trace_hops")
    op.drop_table("trace_traces")
