"""``localize`` with one offset for a whole batch (no daylight-saving change inside it) gives
exactly what the per-row zone lookup gives, and notes the same folds and gaps, on batches
around and across the changes of several zones."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from trailguard.traffic.parsers import _common

HOUR = 3_600_000_000
ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Africa/Casablanca", "Pacific/Chatham"]  # fmt: skip


def _reference(naive: np.ndarray, tz: str) -> tuple[np.ndarray, int]:
    ts = pa.array(naive, pa.timestamp("us"))
    early = pc.assume_timezone(ts, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(ts, timezone=tz, ambiguous="latest", nonexistent="latest")
    e = np.asarray(early.cast(pa.int64()).to_numpy(zero_copy_only=False))
    la = np.asarray(late.cast(pa.int64()).to_numpy(zero_copy_only=False))
    return e, int(np.count_nonzero(e != la))


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
