"""Database plumbing shared by every capability: one declarative Base, one engine per node.

Each capability keeps its tables in its own ``orm.py`` and its schema history in its own
Alembic branch (``<capability>/migrations/``, ``branch_labels = ("<capability>",)``), so the
capabilities can grow without editing each other's files. ``migrate`` upgrades all heads.
Which capabilities a database holds is the caller's choice (``Database(url, capabilities)``,
the list comes from ``trailguard.registry``); the kernel's own table is always there.
SQLite is the embedded default; PostgreSQL is the production engine; the tests run on both.
"""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from trailguard.core.capability import CORE, Capability, migration_folders, orm_modules

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC with microseconds, returned timezone-aware.

    SQLite has no zone-aware type and PostgreSQL converts on the session's zone; storing naive
    UTC on both and re-attaching UTC on the way out gives the same answer on each engine.
    Naive input is refused: the caller must know which zone its time was in.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _with_core(capabilities: Sequence[Capability]) -> list[Capability]:
    return [CORE, *(cap for cap in capabilities if cap.name != CORE.name)]


def load_all_models(capabilities: Sequence[Capability]) -> None:
    """Import the ORM module of each capability given (and the kernel's) so that
    ``Base.metadata`` is complete."""
    for module in orm_modules(_with_core(capabilities)):
        importlib.import_module(module)


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def sqlite_write_lock(url: str) -> threading.RLock:
    """The one in-process lock for writers to this SQLite database (shared by every engine
    on the same file). SQLite allows a single writer; a second one waits in SQLite's busy
    handler, which sleeps in steps of up to 100 ms. Writers in this process queue on this
    lock instead, in order, with no sleeping: it is taken at a transaction's first write
    and released when the transaction ends. Writers in other processes (a CLI beside a
    running server) still meet the busy handler."""
    database = make_url(url).database or ""
    key = str(Path(database).resolve()) if database and database != ":memory:" else url
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


class _SerialisedWriter(sqlite3.Connection):
    """A SQLite connection that holds its database's write lock from its transaction's first
    write until the commit or rollback has finished."""

    tg_lock: threading.RLock | None = None
    tg_held = False

    def tg_take(self) -> None:
        if not self.tg_held and self.tg_lock is not None:
            self.tg_lock.acquire()
            self.tg_held = True

    def tg_release(self) -> None:
        if self.tg_held and self.tg_lock is not None:
            self.tg_held = False
            self.tg_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.tg_release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.tg_release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.tg_release()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": _SerialisedWriter},
            **kwargs,
        )
        write_lock = sqlite_write_lock(url)

        @event.listens_for(engine, "before_cursor_execute")
        def _queue_writers(
            conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
        ) -> None:
            if statement.lstrip()[:6].upper() in _WRITE_VERBS:
                raw = conn.connection.dbapi_connection
                if isinstance(raw, _SerialisedWriter):
                    raw.tg_take()

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            if isinstance(dbapi_connection, _SerialisedWriter):
                dbapi_connection.tg_lock = write_lock
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def version_locations(capabilities: Sequence[Capability]) -> list[str]:
    return [str(folder) for folder in migration_folders(_with_core(capabilities))]


def alembic_config(engine: Engine, capabilities: Sequence[Capability]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    config.set_main_option("version_locations", " ".join(version_locations(capabilities)))
    config.set_main_option("path_separator", "space")
    config.attributes["engine"] = engine
    config.attributes["capabilities"] = _with_core(capabilities)
    return config


def migrate(engine: Engine, capabilities: Sequence[Capability]) -> None:
    """Bring the schema of every capability given to its newest revision."""
    command.upgrade(alembic_config(engine, capabilities), "heads")


_JOINED: ContextVar[dict[int, Session]] = ContextVar("trailguard_joined_sessions", default={})  # noqa: B039


class Database:
    """A node's database: an engine and a session factory with one unit of work per call."""

    def __init__(
        self, url: str, capabilities: Sequence[Capability] = (), **engine_kwargs: Any
    ) -> None:
        self.url = url
        self.capabilities = tuple(_with_core(capabilities))
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine, self.capabilities)

    @property
    def write_lock(self) -> threading.RLock | None:
        """SQLite's in-process writer lock (see ``sqlite_write_lock``); None on PostgreSQL."""
        return sqlite_write_lock(self.url) if self.url.startswith("sqlite") else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back whole if it raises.
        Inside ``joined(session)`` it is that caller's transaction instead (see there)."""
        outer = _JOINED.get().get(id(self))
        if outer is not None:
            yield outer  # the caller's transaction commits or rolls back the whole
            return
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def joined(self, session: Session) -> Iterator[Session]:
        """Every ``session()`` opened in this block (in this thread or task) is ``session``:
        code that opens its own unit of work (another capability's service) then writes in
        the caller's transaction, so a listener's effects commit or roll back with the change
        that triggered it (SQLite cannot take a second writer while one is open)."""
        joined = dict(_JOINED.get())
        joined[id(self)] = session
        token = _JOINED.set(joined)
        try:
            yield session
        finally:
            _JOINED.reset(token)

    def dispose(self) -> None:
        self.engine.dispose()
