"""Time comes from the injectable clock everywhere: a node made and opened under a test clock
never reads the wall clock, so tests pass whatever today's date is (a watch order fixed in
November 2026 was once compared with the wall clock and failed from 28 November on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from trailguard.bootstrap import initialise_node
from trailguard.core.clock import FixedClock, SystemClock, default_clock, set_default_clock
from trailguard.core.config import NodeRole
from trailguard.network.identity import load_identity
from trailguard.registry import open_node

PAST = datetime(2019, 3, 31, 1, 30, 0, 125000, tzinfo=UTC)


def test_init_dates_the_first_keys_by_the_given_clock(tmp_path: Path) -> None:
    clock = FixedClock(PAST)
    initialise_node(tmp_path / "n", name="NL node", country="NL", roles=[NodeRole.POC],
                    admin_password="correct horse battery staple", clock=clock)  # fmt: skip
    node = open_node(tmp_path / "n", clock=clock)
    try:
        identity = load_identity(node.paths)
        # keys valid from the clock's instant: a message signed at that instant verifies
        assert identity.created_at == PAST
        assert identity.current.valid_from == PAST
    finally:
        node.close()


def test_a_node_opened_without_a_clock_takes_the_installed_default(tmp_path: Path) -> None:
    clock = FixedClock(PAST)
    previous = set_default_clock(clock)
    try:
        initialise_node(tmp_path / "n", name="NL node", country="NL", roles=[NodeRole.POC],
                        admin_password="correct horse battery staple")  # fmt: skip
        node = open_node(tmp_path / "n")
        try:
            assert node.clock.now() == PAST
            assert load_identity(node.paths).current.valid_from == PAST
            clock.advance(timedelta(hours=1))
            assert node.clock.now() == PAST + timedelta(hours=1)
        finally:
            node.close()
    finally:
        assert set_default_clock(previous) is clock


def test_set_default_clock_none_restores_the_system_clock() -> None:
    previous = set_default_clock(FixedClock(PAST))
    try:
        set_default_clock(None)
        assert isinstance(default_clock(), SystemClock)
        assert abs(default_clock().now() - datetime.now(UTC)) < timedelta(minutes=5)
    finally:
        set_default_clock(previous)
