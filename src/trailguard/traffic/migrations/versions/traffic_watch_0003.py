"""traffic_watch: the law engine's real-time collection answer stored with each watch order

Revision ID: traffic_watch_0003
Revises: traffic_detnat_0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "traffic_watch_0003"
down_revision: str | Sequence[str] | None = "traffic_detnat_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("traffic_watch_orders") as batch:
        batch.add_column(sa.Column("law_decision", sa.String(20), nullable=True))
        batch.add_column(sa.Column("law_answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("traffic_watch_orders") as batch:
        batch.drop_column("law_answer")
        batch.drop_column("law_decision")
