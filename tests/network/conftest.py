"""Fixtures for the network tests: two (or three) nodes with their own databases, linked by
their signed directories, talking through an in-process router of httpx requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from network_kit import Net, second_database_url

START = datetime(2026, 11, 20, 8, 14, 7, 250000, tzinfo=UTC)


@pytest.fixture
def other_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    yield from second_database_url(database_url, tmp_path)


@pytest.fixture
def third_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    yield from second_database_url(database_url, tmp_path, "third")


@pytest.fixture
def net(tmp_path: Path, database_url: str, other_database_url: str) -> Iterator[Net]:
    network = Net.build(tmp_path, database_url, other_database_url, start=START)
    try:
        yield network
    finally:
        network.close()
