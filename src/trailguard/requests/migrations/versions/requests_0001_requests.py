"""requests: cooperation requests, their transitions and reminders

Revision ID: requests_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "requests_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("requests",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "requests_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("reference", sa.String(500), nullable=False),
        sa.Column("requesting_party", sa.String(2), nullable=False),
        sa.Column("requested_party", sa.String(2), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("origin_node", sa.String(63), nullable=False),
        sa.Column("counterpart_node", sa.String(63), nullable=True),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("override_justification", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("preserved_at", UTCDateTime(), nullable=True),
        sa.Column("mla_received_at", UTCDateTime(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=True),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("extensions", sa.Text(), nullable=False),
        sa.Column("retention_days", sa.Text(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("handling_code", sa.String(2), nullable=False),
        sa.Column("onward_sharing_permitted", sa.Boolean(), nullable=False),
        sa.Column("nearest_deadline_at", UTCDateTime(), nullable=True),
        sa.Column("nearest_deadline_kind", sa.String(40), nullable=True),
        sa.Column("hold_id", sa.String(200), nullable=True),
        sa.Column("hold_digest", sa.String(128), nullable=True),
        sa.Column("preserved_summary", sa.Text(), nullable=True),
        sa.Column("refusal_ground", sa.String(60), nullable=True),
        sa.Column("refusal_article", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["requests_requests.id"],
            name=op.f("fk_requests_requests_parent_id_requests_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_requests")),
    )
    for column in ("kind", "state", "reference", "direction", "parent_id", "nearest_deadline_at"):
        op.create_index(
            op.f(f"ix_requests_requests_{column}"), "requests_requests", [column], unique=False
        )
    op.create_table(
        "requests_transitions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(40), nullable=True),
        sa.Column("to_state", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_node", sa.String(63), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_requests.id"],
            name=op.f("fk_requests_transitions_request_id_requests_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_transitions")),
    )
    op.create_index(
        "ix_requests_transitions_request_at", "requests_transitions", ["request_id", "seq"]
    )
    op.create_table(
        "requests_reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("deadline_kind", sa.String(40), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("remind_at", UTCDateTime(), nullable=False),
        sa.Column("lead_seconds", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("emailed_at", UTCDateTime(), nullable=True),
        sa.Column("dismissed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests_requests.id"],
            name=op.f("fk_requests_reminders_request_id_requests_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests_reminders")),
        sa.UniqueConstraint(
            "request_id",
            "deadline_kind",
            "due_at",
            "lead_seconds",
            name="uq_requests_reminders_request_id",
        ),
    )
    op.create_index(op.f("ix_requests_reminders_request_id"), "requests_reminders", ["request_id"])


def downgrade() -> None:
    op.drop_table("requests_reminders")
    op.drop_index("ix_requests_transitions_request_at", table_name="requests_transitions")
    op.drop_table("requests_transitions")
    for column in ("kind", "state", "reference", "direction", "parent_id", "nearest_deadline_at"):
        op.drop_index(op.f(f"ix_requests_requests_{column}"), table_name="requests_requests")
    op.drop_table("requests_requests")
