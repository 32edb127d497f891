"""The Alembic branches build exactly the schema the models describe, on each engine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from trailguard.core.db import Base, Database, load_all_models
from trailguard.registry import CAPABILITIES


def test_migrations_match_models(db: Database) -> None:
    load_all_models(CAPABILITIES)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrate_is_idempotent(db: Database) -> None:
    db.migrate()  # a second upgrade finds nothing to do and changes nothing
    with db.session() as session:
        from trailguard.audit.service import verify

        assert verify(session).ok
