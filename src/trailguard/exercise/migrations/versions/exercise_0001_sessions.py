"""exercise: sessions with their scenario, conclusion and score

Revision ID: exercise_0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trailguard.core.db import UTCDateTime

revision: str = "exercise_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("exercise",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "exercise_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("difficulty", sa.String(10), nullable=False),
        sa.Column("network", sa.String(80), nullable=False),
        sa.Column("trainee", sa.String(200), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("concluded_at", UTCDateTime(), nullable=True),
        sa.Column("score", sa.Text(), nullable=True),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("scored_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercise_sessions")),
    )
    op.create_index(op.f("ix_exercise_sessions_trainee"), "exercise_sessions", ["trainee"])
    op.create_index(op.f("ix_exercise_sessions_state"), "exercise_sessions", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_exercise_sessions_state"), table_name="exercise_sessions")
    op.drop_index(op.f("ix_exercise_sessions_trainee"), table_name="exercise_sessions")
    op.drop_table("exercise_sessions")
