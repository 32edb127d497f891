"""The demo replays its story on the scenario's clock: a shifted clock ticks in real time from
the scenario's start, and the demo installs it only while it runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from trailguard.core.clock import ShiftedClock, default_clock
from trailguard.demo import runner as demo_runner
from trailguard.demo.data import LOGIN_AT, SCENARIO_START


def test_a_shifted_clock_starts_at_its_instant_and_ticks() -> None:
    start = datetime(2026, 11, 20, 10, 14, 7, tzinfo=UTC)
    clock = ShiftedClock(start)
    first = clock.now()
    assert start <= first < start + timedelta(seconds=5)
    time.sleep(0.01)
    assert clock.now() > first  # it ticks (no duration is asserted)
    assert clock.now().tzinfo is not None


def test_the_demo_runs_on_the_scenario_clock_and_puts_the_default_back(monkeypatch) -> None:
    seen: list[datetime] = []

    def fake_run(**_kw: object) -> bool:
        seen.append(default_clock().now())
        return True

    monkeypatch.setattr(demo_runner, "_run", fake_run)
    before = default_clock()
    assert demo_runner.run_demo(check=True, data_dir=None, console=None)  # type: ignore[arg-type]
    (now,) = seen
    assert SCENARIO_START <= now < SCENARIO_START + timedelta(minutes=1)
    assert timedelta(hours=2) == SCENARIO_START - LOGIN_AT
    assert default_clock() is before
