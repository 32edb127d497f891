"""Shared fixtures.

``database_url`` is parametrised over the engines: every test that uses it (or ``db``) runs on
SQLite, and on PostgreSQL when TRAILGUARD_TEST_POSTGRES_URL is set. Each PostgreSQL test gets
its own schema, dropped afterwards. In CI (CI=true) a missing or unreachable PostgreSQL is a
failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trailguard.core.db import Database
from trailguard.registry import CAPABILITIES

_TRAVELLER = pytest.StashKey[object]()

# Browser fixtures (browser, page, screenshots) are shared by every folder's browser tests:
# one Playwright instance per session.
pytest_plugins = ["browser_support", "law_data_kit"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("TRAILGUARD_TEST_POSTGRES_URL")
from samples_kit import SAMPLES, samples_dir  # noqa: E402,F401  (re-exported)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-ahead",
        default=os.environ.get("TRAILGUARD_TEST_CLOCK_AHEAD_DAYS"),
        help="run with the wall clock moved this many days ahead (ticking), so that a test "
        "which reads today's date instead of the injectable clock fails now, not next year",
    )


def pytest_configure(config: pytest.Config) -> None:
    days = config.getoption("--clock-ahead")
    if days:
        import time_machine

        target = datetime.now(UTC) + timedelta(days=int(days))
        traveller = time_machine.travel(target, tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.getoption("--clock-ahead")
    return f"wall clock moved {days} days ahead: {datetime.now(UTC).isoformat()}" if days else None


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    from trailguard.core.db import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at TRAILGUARD_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _require_postgres() -> str:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI needs TRAILGUARD_TEST_POSTGRES_URL (PostgreSQL) and it is not set")
        pytest.skip("TRAILGUARD_TEST_POSTGRES_URL not set")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database engine under test: "sqlite" or "postgresql"."""
    if request.param == "postgresql":
        _require_postgres()
    return str(request.param)


@pytest.fixture
def database_url_factory(backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make as many independent databases as a test needs (one per node), on ``backend``."""
    cleanups: list[Iterator[str]] = []
    counter = iter(range(1_000_000))

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'node-{next(counter)}.db'}"
        generator = _postgres_schema_url(_require_postgres())
        cleanups.append(generator)
        return next(generator)

    yield make
    for generator in cleanups:
        for _ in generator:  # runs the generator's cleanup (drops the schema)
            pass


@pytest.fixture
def database_url(database_url_factory: Callable[[], str]) -> str:
    return database_url_factory()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, CAPABILITIES)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
