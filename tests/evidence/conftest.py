"""Fixtures for the evidence tests: nodes on the engine under test, files to package."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import make_node
from trailguard.core.clock import FixedClock
from trailguard.node import Node

for _folder in ("network", "requests"):  # network_kit.link, req_payloads.payload
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / _folder))

START = datetime(2026, 11, 20, 13, 30, 0, 125000, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def nl(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[Node]:
    node = make_node(tmp_path, database_url, node_id="nl-poc", country="NL", clock=clock)
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    flows = folder / "polderhost-flows.csv"
    flows.write_text(
        "start,src,sport,dst,dport\n2026-11-20T08:14:07Z,203.0.113.77,51512,198.51.100.23,22\n",
        encoding="utf-8",
    )
    extract = folder / "bank log extract.log"
    extract.write_bytes(
        b'198.51.100.23 - - [20/Nov/2026:03:14:07 -0500] "POST /admin/login HTTP/1.1" 200 512\n'
    )
    return [flows, extract]
