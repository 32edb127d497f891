"""investigations: investigations, members, observations, links

Revision ID: investigations_0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "investigations_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("investigations",)
depends_on: str | Sequence[str] | None = "core_0001"

_CASES = "investigations_investigations"


def upgrade() -> None:
    op.create_table(
        _CASES,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("conduct", sa.Text(), nullable=False),
        sa.Column("handling_code", sa.String(2), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations_investigations")),
        sa.UniqueConstraint("reference", name=op.f("uq_investigations_investigations_reference")),
    )
    op.create_index(op.f("ix_investigations_investigations_status"), _CASES, ["status"])
    op.create_table(
        "investigations_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            [f"{_CASES}.id"],
            name=op.f("fk_investigations_members_investigation_id_investigations_investigations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations_members")),
        sa.UniqueConstraint(
            "investigation_id", "username", name=op.f("uq_investigations_members_investigation_id")
        ),
    )
    op.create_index(
        op.f("ix_investigations_members_investigation_id"),
        "investigations_members",
        ["investigation_id"],
    )
    op.create_index(
        op.f("ix_investigations_members_username"), "investigations_members", ["username"]
    )
    op.create_table(
        "investigations_observations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source_label", sa.String(300), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=True),
        sa.Column("source_zone", sa.String(64), nullable=True),
        sa.Column("tolerance_s", sa.Float(), nullable=False),
        sa.Column("protocol", sa.String(10), nullable=True),
        sa.Column("direction", sa.String(10), nullable=True),
        sa.Column("seen", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            [f"{_CASES}.id"],
            name=op.f(
                "fk_investigations_observations_investigation_id_investigations_investigations"
            ),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations_observations")),
    )
    op.create_index(
        op.f("ix_investigations_observations_investigation_id"),
        "investigations_observations",
        ["investigation_id"],
    )
    op.create_index(
        op.f("ix_investigations_observations_ip"), "investigations_observations", ["ip"]
    )
    op.create_table(
        "investigations_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("target_kind", sa.String(20), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.String(200), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            [f"{_CASES}.id"],
            name=op.f("fk_investigations_links_investigation_id_investigations_investigations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations_links")),
        sa.UniqueConstraint(
            "investigation_id",
            "target_kind",
            "target_id",
            name=op.f("uq_investigations_links_investigation_id"),
        ),
    )
    op.create_index(
        op.f("ix_investigations_links_investigation_id"),
        "investigations_links",
        ["investigation_id"],
    )
    op.create_index(
        op.f("ix_investigations_links_target_id"), "investigations_links", ["target_id"]
    )


def downgrade() -> None:
    op.drop_table("investigations_links")
    op.drop_table("investigations_observations")
    op.drop_table("investigations_members")
    op.drop_table(_CASES)
