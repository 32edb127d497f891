"""Issue 18: never name the wrong subscriber. Juniper port-block logs as the issue's trial had
them: interim (ACTIVE) lines between allocation and release, a release lost before midnight,
a block handed to another subscriber in the next file, overlapping periods, no end at all.

Each case is asked on the cold single path, the warm single path and a warm batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from trailguard.traffic.answers import LookupAnswer
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers.juniper_pba import format_line
from trailguard.traffic.query import lookup, lookup_many
from trailguard.traffic.store import TrafficStore
from trailguard.traffic.values import to_us

PUBLIC = "203.0.113.5"
A = "100.64.0.1"
B = "2001:db8:64::5"  # a NAT64 subscriber
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def at(hours: float, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hours)


def line(event: str, when: datetime, holder: str, allocated: datetime) -> str:
    return format_line(event, when, holder, PUBLIC, 1024, 1151, allocated)


def ingest(root: Path, *files: list[str]) -> None:
    store = TrafficStore(root)
    for n, lines in enumerate(files):
        path = root.parent / f"pba-{n}.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = store.ingest_file(
            path,
            provider="isp",
            format_name="juniper-pba",
            options=ParseOptions(tz="UTC", year=2026),
        )
        assert report.bad_line_count == 0


def answers(root: Path, when: datetime, port: int | None = 1100) -> list[LookupAnswer]:
    """The same look-up on the cold single, warm single and warm batch paths."""
    tol = timedelta(seconds=2)
    cold = lookup(TrafficStore(root), PUBLIC, port, when, tol)
    store = TrafficStore(root)
    store.engine().warm()
    warm = lookup(store, PUBLIC, port, when, tol)
    batch = lookup_many(store, [PUBLIC], [port], np.array([to_us(when)]), tol).answer(0)
    return [cold, warm, batch]


def named(answer: LookupAnswer) -> list[str]:
    return [m.inside_ip for m in answer.matches]


def test_interim_records_between_allocation_and_release_do_not_keep_the_block_open(
    tmp_path: Path,
) -> None:
    """An allocation, six ACTIVE lines every 30 minutes, the release: after the release the
    block is nobody's (before: the release was out of the 3-row window and the subscriber
    stayed named for the 24-hour horizon)."""
    alloc = at(10)
    lines = [line("ALLOC", alloc, A, alloc)]
    lines += [line("ACTIVE", alloc + timedelta(minutes=30 * k), A, alloc) for k in range(1, 7)]
    lines.append(line("RELEASE", at(13, 0) + timedelta(minutes=10), A, alloc))
    root = tmp_path / "traffic"
    ingest(root, lines)
    for answer in answers(root, at(14)):
        assert named(answer) == []
    for answer in answers(root, at(12)):
        assert named(answer) == [A]
        match = answer.matches[0]
        assert match.end == at(13) + timedelta(minutes=10)
        assert match.end_basis == "logged" and match.end_note is None
        assert answer.to_json()["ambiguous"] is False


def test_a_release_lost_before_midnight_ends_at_the_next_allocation_after_midnight(
    tmp_path: Path,
) -> None:
    """A's release is lost; the block goes to B ten minutes after midnight, in the next
    day's part and the next file. From then on only B is named; just before, A is named with
    'closed by re-allocation, release not logged'."""
    a_alloc = at(23, 0) + timedelta(minutes=59, seconds=30)
    b_alloc = at(0, 1) + timedelta(minutes=10)
    root = tmp_path / "traffic"
    ingest(root, [line("ALLOC", a_alloc, A, a_alloc)], [line("ALLOC", b_alloc, B, b_alloc)])
    for answer in answers(root, b_alloc + timedelta(minutes=10)):
        assert named(answer) == [B]
        assert answer.matches[0].end_basis == "horizon"
    for answer in answers(root, b_alloc - timedelta(minutes=5)):
        assert named(answer) == [A]
        match = answer.matches[0]
        assert match.end is None
        assert match.period_end == b_alloc - timedelta(microseconds=1)
        assert match.end_basis == "re-allocation"
        assert match.end_note == "closed by re-allocation, release not logged"
        body = match.to_json()
        assert body["end_basis"] == "re-allocation"
        assert body["period_end"] == "2026-11-21T00:09:59.999999Z"


def test_a_block_handed_to_another_subscriber_in_the_next_file_ends_the_first_period(
    tmp_path: Path,
) -> None:
    """A holds the block (allocation and interim lines, release lost); B's allocation is in
    the next, rotated file of the same day. After it only B is named."""
    a_alloc = at(8)
    first = [line("ALLOC", a_alloc, A, a_alloc)]
    first += [line("ACTIVE", a_alloc + timedelta(hours=k), A, a_alloc) for k in (1, 2, 3)]
    b_alloc = at(11, 0) + timedelta(minutes=30)
    second = [line("ALLOC", b_alloc, B, b_alloc), line("RELEASE", at(15), B, b_alloc)]
    root = tmp_path / "traffic"
    ingest(root, first, second)
    for answer in answers(root, at(12)):
        assert named(answer) == [B]
    for answer in answers(root, at(16)):
        assert named(answer) == []
    for answer in answers(root, at(11)):
        assert named(answer) == [A]
        assert answer.matches[0].period_end == b_alloc - timedelta(microseconds=1)


def test_overlapping_periods_name_every_candidate_and_say_the_data_is_ambiguous(
    tmp_path: Path,
) -> None:
    """Logged periods that overlap (B's allocation is logged before A's release: clocks or
    lost lines): both are named, covering the instant, and the answer says it is ambiguous."""
    a_alloc, b_alloc = at(9), at(10)
    lines = [
        line("ALLOC", a_alloc, A, a_alloc),
        line("RELEASE", at(11), A, a_alloc),
        line("ALLOC", b_alloc, B, b_alloc),
        line("RELEASE", at(12), B, b_alloc),
    ]
    root = tmp_path / "traffic"
    ingest(root, lines)
    for answer in answers(root, at(10.5)):
        assert sorted(named(answer)) == sorted([A, B])
        assert all(m.covers for m in answer.matches)
        body = answer.to_json()
        assert body["ambiguous"] is True
        assert "ambiguous" in body["ambiguity"]


def test_a_block_without_any_end_is_capped_by_the_horizon_and_the_answer_says_so(
    tmp_path: Path,
) -> None:
    alloc = at(6)
    root = tmp_path / "traffic"
    ingest(root, [line("ALLOC", alloc, A, alloc)])
    for answer in answers(root, at(8)):
        assert named(answer) == [A]
        body = answer.matches[0].to_json()
        assert body["end_basis"] == "horizon"
        assert "horizon" in body["end_note"]
        assert body["period_end"] == "2026-11-21T06:00:00Z"  # 24 h (config.toml default)
    for answer in answers(root, at(7, 1)):
        assert named(answer) == []


def test_active_lines_without_an_allocation_time_confirm_the_holder(tmp_path: Path) -> None:
    """ACTIVE lines whose allocation time is missing are dated by their stamp (event ``seen``):
    they confirm A's period, never end it as if the block had been handed on; the horizon runs
    from the last of them; B's allocation ends it."""
    alloc = at(10)
    no_hex = [
        line("ACTIVE", at(h), A, alloc).rsplit(" ", 1)[0] for h in (11, 12)
    ]  # the trailing 0x... value cut off
    b_alloc = at(13)
    root = tmp_path / "traffic"
    ingest(root, [line("ALLOC", alloc, A, alloc), *no_hex, line("ALLOC", b_alloc, B, b_alloc)])
    for answer in answers(root, at(11.5)):
        assert set(named(answer)) == {A}
        assert not answer.ambiguous and answer.to_json()["ambiguity"] is None
        assert all(m.period_end == b_alloc - timedelta(microseconds=1) for m in answer.matches)
    for answer in answers(root, at(13.5)):
        assert named(answer) == [B]
    alone = tmp_path / "alone"
    ingest(alone, [line("ALLOC", alloc, A, alloc), *no_hex])
    for answer in answers(alone, at(1, 1) + timedelta(minutes=30)):  # 25.5 h after the ALLOC
        assert set(named(answer)) == {A}
        assert answer.matches[0].end_basis == "horizon"
