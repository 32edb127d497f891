from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain import RequestKind, RequestState
from trailguard.requests.domain.deadlines import (
    ClockFacts,
    DeadlineKind,
    add_calendar_days,
    check_can_expire,
    check_extension,
    check_preservation_period,
    deadlines_for,
    due_reminders,
    epoc_due,
    missed,
    nearest_deadline,
    preservation_expiry,
    retention_deletion_at,
)

ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


@settings(max_examples=300, deadline=None)
@given(start=instants, zone=zones, days=st.integers(min_value=0, max_value=400))
def test_calendar_days_keep_local_date_and_time(start: datetime, zone: str, days: int) -> None:
    due = add_calendar_days(start, days, zone)
    tz = ZoneInfo(zone)
    local_start = start.astimezone(tz)
    local_due = due.astimezone(tz)
    assert local_due.date() - local_start.date() == timedelta(days=days)
    # wall-clock time kept, or moved forward by at most a DST gap (max 1 h in these zones)
    start_wall = local_start.replace(tzinfo=None)
    due_wall = local_due.replace(tzinfo=None) - timedelta(days=days)
    assert timedelta(0) <= due_wall - start_wall <= timedelta(hours=1)
    # elapsed time differs from N x 24 h only by the offset change
    offset_change = local_due.utcoffset() - local_start.utcoffset()  # type: ignore[operator]
    assert abs((due - start) - timedelta(days=days) + offset_change) <= timedelta(hours=1)
    assert due.tzinfo is UTC


@settings(max_examples=200, deadline=None)
@given(start=instants, zone=zones)
def test_emergency_epoc_is_eight_elapsed_hours_in_every_zone(start: datetime, zone: str) -> None:
    assert epoc_due(start, zone, emergency=True) - start == timedelta(hours=8)
    local = epoc_due(start, zone, emergency=False).astimezone(ZoneInfo(zone))
    assert local.date() - start.astimezone(ZoneInfo(zone)).date() == timedelta(days=10)


@settings(max_examples=200, deadline=None)
@given(start=instants, zone=zones, extra=st.lists(st.integers(60, 90), max_size=3))
def test_preservation_never_shorter_than_60_local_days(
    start: datetime, zone: str, extra: list[int]
) -> None:
    expiry = preservation_expiry(start, zone, extensions=extra)
    assert expiry is not None
    tz = ZoneInfo(zone)
    assert expiry.astimezone(tz).date() - start.astimezone(tz).date() == timedelta(
        days=60 + sum(extra)
    )
    # never marked expired a moment before its period
    with pytest.raises(ValidationFailed):
        check_can_expire(expiry, expiry - timedelta(microseconds=1))
    check_can_expire(expiry, expiry)


def test_dst_spring_forward_amsterdam() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST. Preserved 2026-01-28 12:00 local (11:00Z):
    start = datetime(2026, 1, 28, 11, 0, tzinfo=UTC)
    expiry = preservation_expiry(start, "Europe/Amsterdam")
    assert expiry == datetime(2026, 3, 29, 10, 0, tzinfo=UTC)  # 12:00 CEST
    assert expiry - start == timedelta(days=60) - timedelta(hours=1)


def test_wall_time_in_gap_moves_forward() -> None:
    # 2026-03-08 02:30 does not exist in New York (02:00 EST -> 03:00 EDT)
    start = datetime(2026, 3, 7, 7, 30, tzinfo=UTC)  # 02:30 EST
    due = add_calendar_days(start, 1, "America/New_York")
    local = due.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (3, 30)
    assert due - start == timedelta(hours=24)


def test_fall_back_ambiguous_takes_first() -> None:
    # 2026-11-01 01:30 occurs twice in New York; take the first (EDT, 05:30Z)
    start = datetime(2026, 10, 31, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert add_calendar_days(start, 1, "America/New_York") == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


def test_leap_years() -> None:
    # 2028 is a leap year: 60 days from 2028-01-15 is 2028-03-15 (Feb has 29 days)
    assert preservation_expiry(datetime(2028, 1, 15, 9, tzinfo=UTC), "UTC") == datetime(
        2028, 3, 15, 9, tzinfo=UTC
    )
    assert preservation_expiry(datetime(2027, 1, 15, 9, tzinfo=UTC), "UTC") == datetime(
        2027, 3, 16, 9, tzinfo=UTC
    )
    # a day added to 28 Feb lands on 29 Feb only in leap years
    assert add_calendar_days(datetime(2028, 2, 28, tzinfo=UTC), 1, "UTC").day == 29
    assert add_calendar_days(datetime(2100, 2, 28, tzinfo=UTC), 1, "UTC").month == 3


def test_scenario_retention_clock() -> None:
    # Polderhost keeps flow records 30 days: observed 2026-11-20 08:14:07Z -> 2026-12-20
    observed = datetime(2026, 11, 20, 8, 14, 7, tzinfo=UTC)
    deleted = retention_deletion_at(observed, 30, "Europe/Amsterdam")
    assert deleted.astimezone(ZoneInfo("Europe/Amsterdam")).date().isoformat() == "2026-12-20"
    with pytest.raises(ValueError):
        retention_deletion_at(observed, -1, "UTC")


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        add_calendar_days(datetime(2026, 1, 1), 1, "UTC")


def test_periods_and_extensions() -> None:
    with pytest.raises(ValidationFailed, match="shorter than the 60 days"):
        check_preservation_period(59)
    with pytest.raises(ValidationFailed, match="exceeds"):
        check_extension(RequestKind.PRESERVATION, 91, [])
    assert check_extension(RequestKind.PRESERVATION, 90, [90]) == 90
    assert check_extension(RequestKind.EPOC_PR, 30, []) == 30
    with pytest.raises(ValidationFailed, match="only once"):
        check_extension(RequestKind.EPOC_PR, 30, [30])
    with pytest.raises(ValidationFailed, match="not 31"):
        check_extension(RequestKind.EPOC_PR, 31, [])
    with pytest.raises(ValidationFailed, match="no preservation period"):
        check_extension(RequestKind.EPOC, 30, [])


def test_kept_pending_mla_does_not_expire() -> None:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    assert preservation_expiry(start, "UTC", kept_pending_decision=True) is None
    with pytest.raises(ValidationFailed, match=r"29\(7\)"):
        check_can_expire(None, start + timedelta(days=400))


def test_epoc_pr_60_plus_30() -> None:
    start = datetime(2026, 9, 1, 12, tzinfo=UTC)
    base = preservation_expiry(start, "UTC", kind=RequestKind.EPOC_PR)
    extended = preservation_expiry(start, "UTC", kind=RequestKind.EPOC_PR, extensions=[30])
    assert base == start + timedelta(days=60)
    assert extended == start + timedelta(days=90)


def test_request_clocks_and_nearest() -> None:
    sent = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    facts = ClockFacts(
        kind=RequestKind.PRESERVATION,
        state=RequestState.SENT,
        zone="Europe/Amsterdam",
        ack_minutes=30,
        sent_at=sent,
        observed_at=datetime(2026, 11, 20, 8, 14, 7, tzinfo=UTC),
        retention_days={"flow": 30},
    )
    deadlines = deadlines_for(facts)
    kinds = [d.kind for d in deadlines]
    assert kinds == [DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RETENTION_DELETION]
    nearest = nearest_deadline(deadlines)
    assert nearest is not None and nearest.due_at == sent + timedelta(minutes=30)
    # after acknowledgement and preservation the next clock is the retention, then the expiry
    later = ClockFacts(
        **{
            **facts.__dict__,
            "state": RequestState.PRESERVED,
            "acknowledged_at": sent,
            "preserved_at": sent + timedelta(hours=5),
        }
    )
    deadlines = deadlines_for(later)
    assert nearest_deadline(deadlines).kind is DeadlineKind.PRESERVATION_EXPIRY  # type: ignore[union-attr]
    assert all(d.met for d in deadlines if d.kind is not DeadlineKind.PRESERVATION_EXPIRY)
    # an MLA request arrived: no expiry any more, nothing pending
    kept = ClockFacts(**{**later.__dict__, "kept_pending_decision": True})
    assert nearest_deadline(deadlines_for(kept)) is None


def test_missed_deadlines_are_flagged_and_reminders_due() -> None:
    sent = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    facts = ClockFacts(
        kind=RequestKind.EPOC,
        state=RequestState.RECEIVED,
        emergency=True,
        sent_at=sent,
        received_at=sent,
    )
    deadlines = deadlines_for(facts)
    emergency = [d for d in deadlines if d.kind is DeadlineKind.EMERGENCY]
    assert emergency and emergency[0].due_at == sent + timedelta(hours=8)
    now = sent + timedelta(hours=7, minutes=30)
    reminders = due_reminders(deadlines, now)
    assert any(
        r.deadline.kind is DeadlineKind.EMERGENCY and r.lead == timedelta(hours=1)
        for r in reminders
    )
    assert [d.kind for d in missed(deadlines, now)] == [DeadlineKind.ACKNOWLEDGEMENT]
    assert emergency[0].status(now) == "due_soon"
    assert emergency[0].status(sent + timedelta(hours=9)) == "overdue"
