"""network: directory, outbox, exchanged messages and receipts, escalations, notifications

Revision ID: network_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "network_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("network",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "network_directory_entries",
        sa.Column("node_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("organisation", sa.String(300), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("is_self", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_network_directory_entries")),
    )
    op.create_index(
        op.f("ix_network_directory_entries_country"), "network_directory_entries", ["country"]
    )
    op.create_table(
        "network_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(63), nullable=False),
        sa.Column("message_type", sa.String(100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_network_outbox_message_id")),
    )
    op.create_index("ix_network_outbox_state_next", "network_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "exchange_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("sender", sa.String(63), nullable=False),
        sa.Column("recipient", sa.String(63), nullable=False),
        sa.Column("message_type", sa.String(100), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("envelope_digest", sa.String(64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("requires_ack", sa.Boolean(), nullable=False),
        sa.Column("ack_due", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_messages")),
        sa.UniqueConstraint("direction", "message_id", name=op.f("uq_exchange_messages_direction")),
    )
    op.create_index(op.f("ix_exchange_messages_message_id"), "exchange_messages", ["message_id"])
    op.create_index(
        op.f("ix_exchange_messages_correlation_id"), "exchange_messages", ["correlation_id"]
    )
    op.create_table(
        "exchange_receipts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("issuer", sa.String(63), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_receipts")),
        sa.UniqueConstraint(
            "message_id", "stage", "issuer", name=op.f("uq_exchange_receipts_message_id")
        ),
    )
    op.create_index(op.f("ix_exchange_receipts_message_id"), "exchange_receipts", ["message_id"])
    op.create_table(
        "network_escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("escalated_at", UTCDateTime(), nullable=False),
        sa.Column("ack_due", UTCDateTime(), nullable=False),
        sa.Column("contact_person", sa.String(200), nullable=True),
        sa.Column("contact_email", sa.String(300), nullable=True),
        sa.Column("contact_phone", sa.String(40), nullable=True),
        sa.Column("channels", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_escalations")),
    )
    op.create_index(
        op.f("ix_network_escalations_message_id"), "network_escalations", ["message_id"]
    )
    op.create_table(
        "network_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("audience", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_notifications")),
    )
    op.create_index(
        op.f("ix_network_notifications_created_at"), "network_notifications", ["created_at"]
    )


def downgrade() -> None:
    op.drop_table("network_notifications")
    op.drop_table("network_escalations")
    op.drop_table("exchange_receipts")
    op.drop_table("exchange_messages")
    op.drop_table("network_outbox")
    op.drop_table("network_directory_entries")
