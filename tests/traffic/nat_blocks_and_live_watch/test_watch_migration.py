"""The traffic_watch migration builds exactly the tables the watch models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from trailguard.core.db import Base, Database
from trailguard.traffic.watch import orm

WATCH_TABLES = {
    orm.WatchRequesterRow.__tablename__,
    orm.WatchOrderRow.__tablename__,
    orm.WatchHitRow.__tablename__,
    orm.WatchReceivedRow.__tablename__,
}


def _tables(item: Any) -> set[str]:
    """Names of the tables a diff entry is about (entries may be nested lists)."""
    if isinstance(item, list):
        return set().union(*(_tables(i) for i in item))
    names = set()
    for part in item:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if isinstance(part, str):
            names.add(part)
        if table is not None and getattr(table, "name", None):
            names.add(table.name)
        if name and hasattr(part, "columns") and not hasattr(part, "table"):
            names.add(name)
    return names


def test_watch_migration_matches_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    mine = [d for d in diff if _tables(d) & WATCH_TABLES]
    assert mine == [], f"the watch models and traffic_watch_0001 differ: {mine}"
    from sqlalchemy import inspect

    assert set(inspect(db.engine).get_table_names()) >= WATCH_TABLES
