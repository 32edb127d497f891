"""``localize`` with one offset for a whole batch (no daylight-saving change inside it) gives
exactly what the per-row zone lookup gives, and notes the same folds and gaps, on batches
around and across the changes of several zones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from trailguard.traffic.parsers import _common

HOUR = 3_600_000_000
ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Africa/Casablanca", "Pacific/Chatham"]  # fmt: skip


def _reference(naive: np.ndarray, tz: str) -> tuple[np.ndarray, int]:
    """Python's own reading (zoneinfo, fold=0: the earlier instant of a repeated time, the
    offset before the change for a skipped one), and how many times fall in a change."""
    zone = ZoneInfo(tz)
    epoch = datetime(1970, 1, 1)
    out = np.empty(len(naive), dtype=np.int64)
    changes = 0
    for i, us in enumerate(naive.tolist()):
        local = epoch + timedelta(microseconds=us)
        off0 = local.replace(tzinfo=zone, fold=0).utcoffset()
        off1 = local.replace(tzinfo=zone, fold=1).utcoffset()
        assert off0 is not None and off1 is not None
        changes += off0 != off1
        out[i] = us - (off0 // timedelta(microseconds=1))
    return out, changes


def test_skipped_and_repeated_times_read_as_python_reads_them() -> None:
    # Europe/Amsterdam: 2026-03-29 02:00 -> 03:00 (skipped), 2026-10-25 03:00 -> 02:00 (repeated)
    def us(text: str) -> int:
        return int((datetime.fromisoformat(text) - datetime(1970, 1, 1)).total_seconds() * 1e6)

    naive = np.array(
        [us("2026-03-29T01:59:00"), us("2026-03-29T02:15:00"), us("2026-03-29T02:45:00"),
         us("2026-03-29T03:00:00"), us("2026-10-25T02:30:00"), us("2026-06-01T12:00:00")],
        dtype=np.int64,
    )  # fmt: skip
    notes: list[str] = []
    got = _common.localize(naive, "Europe/Amsterdam", notes)
    utc = [datetime(1970, 1, 1) + timedelta(microseconds=int(v)) for v in got]
    assert [t.isoformat() for t in utc] == [
        "2026-03-29T00:59:00",
        "2026-03-29T01:15:00",  # skipped: read at UTC+1, distinct and in order
        "2026-03-29T01:45:00",
        "2026-03-29T01:00:00",  # the first real time after the change (UTC+2)
        "2026-10-25T00:30:00",  # repeated: the earlier instant (still UTC+2)
        "2026-06-01T10:00:00",
    ]
    assert any("1 repeated times, and the 2 skipped times" in n for n in notes), notes


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("seed", range(6))
def test_same_instants_as_the_zone_lookup(tz: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # batches starting anywhere in 2024-2026, spanning a minute to six weeks
    base = (1_704_067_200 + int(rng.integers(0, 3 * 365 * 86400))) * 1_000_000
    span = int(rng.choice([60_000_000, 2 * HOUR, 30 * HOUR, 9 * 24 * HOUR, 42 * 24 * HOUR]))
    naive = base + rng.integers(0, span, 20_000)
    notes: list[str] = []
    got = _common.localize(naive, tz, notes)
    want, folds = _reference(naive, tz)
    assert (got == want).all()
    assert bool(folds) == any("daylight-saving" in n for n in notes)


@pytest.mark.parametrize(
    ("tz", "change"),
    [
        ("Europe/Amsterdam", "2026-03-29T01:00:00"),  # UTC instants of the changes
        ("Europe/Amsterdam", "2026-10-25T01:00:00"),
        ("America/New_York", "2026-03-08T07:00:00"),
        ("America/New_York", "2026-11-01T06:00:00"),
    ],
)
def test_batches_that_end_or_start_at_a_change(tz: str, change: str) -> None:
    """Local times just before, in and after a change: a batch that reaches across it by a
    microsecond is converted row by row, and one that stays on one side by one offset."""
    at = int(np.datetime64(change, "us").astype(np.int64))
    for lo, hi in [(-2 * HOUR, 2 * HOUR), (-2 * HOUR, -HOUR), (HOUR, 3 * HOUR), (-1, 1)]:
        utc = np.arange(at + lo, at + hi, 7_000_000, dtype=np.int64)
        offset = _reference(utc[:1], tz)[0][0] - utc[0]  # naive of the first instant
        naive = np.concatenate([utc - offset, utc + 3 * HOUR, utc - 3 * HOUR])
        for batch in (naive, naive[: len(utc)], naive[len(utc) :]):
            notes: list[str] = []
            got = _common.localize(batch, tz, notes)
            want, folds = _reference(batch, tz)
            assert (got == want).all()
            assert bool(folds) == bool(notes)


def test_one_offset_is_used_only_without_a_change() -> None:
    amsterdam = "Europe/Amsterdam"
    summer = np.array([1_782_000_000_000_000, 1_782_000_000_000_000 + 20 * HOUR])
    assert _common._constant_offset_us(summer, amsterdam) == 2 * HOUR
    winter = summer - 200 * 24 * HOUR
    assert _common._constant_offset_us(winter, amsterdam) == HOUR
    far = np.array([winter[0], summer[0]])
    assert _common._constant_offset_us(far, amsterdam) is None  # too long a span to check
    change = int(np.datetime64("2026-03-29T01:00:00", "us").astype(np.int64))
    across = np.array([change - 30 * HOUR, change + 30 * HOUR])
    assert _common._constant_offset_us(across, amsterdam) is None
