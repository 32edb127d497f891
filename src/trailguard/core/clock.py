"""Time for the whole node: always timezone-aware UTC, always injectable for tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and replayed scenarios."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now = self._now + delta

    def set(self, instant: datetime) -> None:
        self._now = ensure_utc(instant)


class ShiftedClock:
    """Real time, moved to start at ``start``: ticks at the wall clock's pace from there. A
    replayed scenario runs on it, so what it tells happens on its own dates whatever today is
    (its data keeps its retention periods and its law its dates)."""

    def __init__(self, start: datetime) -> None:
        self._start = ensure_utc(start)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


class ScaledClock:
    """A compressed clock for exercises: starts at ``start`` and runs ``rate`` simulated
    seconds per real second (``rate=1440``: one simulated day per real minute)."""

    def __init__(self, start: datetime, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"a clock's rate must be positive, not {rate!r}")
        self._start = ensure_utc(start)
        self._rate = float(rate)
        self._t0 = time.monotonic()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._rate)


_default: Clock = SystemClock()


def default_clock() -> Clock:
    """The clock a node opened without an explicit one uses (the system clock unless a test, a
    replayed scenario or an exercise installed another with ``set_default_clock``)."""
    return _default


def set_default_clock(clock: Clock | None) -> Clock:
    """Install ``clock`` as the process's default (None restores the system clock); returns
    the previous one so a caller can put it back."""
    global _default
    previous = _default
    _default = clock if clock is not None else SystemClock()
    return previous


def ensure_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; refuse naive ones instead of guessing their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no zone; give an offset or zone")
    return value.astimezone(UTC)


def isoformat_z(value: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z and microseconds kept when present."""
    text = ensure_utc(value).isoformat()
    return text.replace("+00:00", "Z")
