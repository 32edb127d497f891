"""The directory: rosters across time zones, search, prefix lookup, bad entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from trailguard.core.errors import ValidationFailed
from trailguard.network.directory import DirectoryEntry, EntryKind, lookup_prefix, search


def _entry(
    node_id: str,
    country: str,
    zone: str,
    roster: list[dict[str, Any]],
    languages: list[str] | None = None,
    **extra: Any,
) -> DirectoryEntry:
    return DirectoryEntry.from_json(
        {
            "node_id": node_id,
            "kind": extra.pop("kind", "poc"),
            "country": country,
            "organisation": f"{country} point of contact",
            "languages": languages or ["en"],
            "timezone": zone,
            "roster": roster,
            **extra,
        }
    )


OFFICE_HOURS = {"weekdays": [0, 1, 2, 3, 4], "start_time": "09:00", "end_time": "17:00"}
NIGHTS = {"weekdays": list(range(7)), "start_time": "22:00", "end_time": "06:00"}

NL = _entry(
    "nl-poc",
    "NL",
    "Europe/Amsterdam",
    [
        {"person": "Anna", "role": "primary", **OFFICE_HOURS},
        {"person": "Bram", "role": "primary", **NIGHTS},
        {
            "person": "Carla",
            "role": "backup",
            "weekdays": list(range(7)),
            "start_time": "00:00",
            "end_time": "23:59",
            "phone": "+31 70 000 0002",
        },
    ],
    languages=["nl", "en"],
)
US = _entry(
    "us-poc",
    "US",
    "America/New_York",
    [
        {"person": "Dana", "role": "primary", **OFFICE_HOURS},
    ],
)
BR = _entry(
    "br-poc",
    "BR",
    "America/Sao_Paulo",
    [
        {
            "person": "Enzo",
            "role": "primary",
            "start": "2026-11-20T00:00:00-03:00",
            "end": "2026-11-21T00:00:00-03:00",
        },
    ],
    languages=["pt", "en"],
)
HOST = _entry(
    "nl-polderhost",
    "NL",
    "Europe/Amsterdam",
    [],
    kind="provider",
    prefixes=["198.51.100.0/24", "198.51.100.0/25", "2001:db8:100::/48"],
)
RIO = _entry(
    "br-riolitoral",
    "BR",
    "America/Sao_Paulo",
    [],
    kind="provider",
    prefixes=["203.0.113.0/24", "100.64.0.0/10", "2001:db8::/32"],
)


def test_weekly_shifts_follow_each_entry_zone() -> None:
    # Friday 2026-11-20 08:14:07Z is 09:14 in Amsterdam and 03:14 in New York
    at = datetime(2026, 11, 20, 8, 14, 7, tzinfo=UTC)
    assert NL.on_duty(at).primary is not None and NL.on_duty(at).primary.person == "Anna"
    assert US.on_duty(at).primary is None  # 03:14 in New York: nobody
    # 14:30Z is 09:30 in New York
    assert US.on_duty(datetime(2026, 11, 20, 14, 30, tzinfo=UTC)).contact.person == "Dana"


def test_overnight_shift_belongs_to_the_day_it_starts() -> None:
    # Sunday 23:30 and Monday 05:30 in Amsterdam (UTC+1 in November)
    assert NL.on_duty(datetime(2026, 11, 22, 22, 30, tzinfo=UTC)).primary.person == "Bram"
    assert NL.on_duty(datetime(2026, 11, 23, 4, 30, tzinfo=UTC)).primary.person == "Bram"
    # Monday 06:30 local: between night and office hours, only the backup
    duty = NL.on_duty(datetime(2026, 11, 23, 5, 30, tzinfo=UTC))
    assert duty.primary is None and duty.contact is not None and duty.contact.person == "Carla"


def test_weekend_has_no_office_hours() -> None:
    saturday_noon = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    assert NL.on_duty(saturday_noon).primary is None
    assert US.on_duty(saturday_noon).contact is None


def test_fixed_shift_uses_absolute_instants() -> None:
    assert BR.on_duty(datetime(2026, 11, 20, 3, 0, tzinfo=UTC)).primary.person == "Enzo"
    assert BR.on_duty(datetime(2026, 11, 21, 3, 0, tzinfo=UTC)).primary is None


def test_search_answers_who_can_help_in_a_country_now_in_a_language() -> None:
    entries = [NL, US, BR, HOST, RIO]
    at = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # Saturday 03:00 Amsterdam, night shift
    hits = search(entries, at=at, country="NL", language="en")
    assert [hit.entry.node_id for hit in hits] == ["nl-poc", "nl-polderhost"]
    assert hits[0].available and hits[0].on_duty.primary.person == "Bram"
    assert hits[0].local_time.hour == 3
    assert search(entries, at=at, country="NL", language="pt") == []
    portuguese = search(entries, at=at, language="pt")
    assert [h.entry.node_id for h in portuguese] == ["br-poc"]
    assert portuguese[0].on_duty.primary.person == "Enzo"  # Friday 23:00 in Sao Paulo
    providers = search(entries, at=at, kind=EntryKind.PROVIDER)
    assert {h.entry.node_id for h in providers} == {"nl-polderhost", "br-riolitoral"}
    with pytest.raises(ValidationFailed, match="'Netherlands'"):
        search(entries, at=at, country="Netherlands")
    with pytest.raises(ValidationFailed, match="language"):
        search(entries, at=at, language="english")


@pytest.mark.parametrize(
    ("address", "expected", "prefix"),
    [
        ("198.51.100.23", "nl-polderhost", "198.51.100.0/25"),
        ("198.51.100.200", "nl-polderhost", "198.51.100.0/24"),
        ("203.0.113.77", "br-riolitoral", "203.0.113.0/24"),
        ("100.64.12.7", "br-riolitoral", "100.64.0.0/10"),
        ("2001:db8:100::1", "nl-polderhost", "2001:db8:100::/48"),
        ("2001:db8:ffff::1", "br-riolitoral", "2001:db8::/32"),
    ],
)
def test_longest_prefix_match(address: str, expected: str, prefix: str) -> None:
    found = lookup_prefix([NL, HOST, RIO], address)
    assert found is not None
    assert (found[0].node_id, str(found[1])) == (expected, prefix)


def test_prefix_lookup_misses_and_bad_addresses() -> None:
    assert lookup_prefix([HOST, RIO], "192.0.2.1") is None
    with pytest.raises(ValidationFailed, match=r"'198\.51\.100\.300'"):
        lookup_prefix([HOST], "198.51.100.300")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"node_id": "NL POC"}, "node_id"),
        ({"kind": "embassy"}, "kind 'embassy'"),
        ({"country": "nl"}, "country 'nl'"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"languages": ["english"]}, "languages"),
        ({"prefixes": ["198.51.100.1/24"]}, "198.51.100.1/24"),
        ({"prefixes": ["not-a-net"]}, "not-a-net"),
        ({"keys": "AAAA"}, "keys must be a list"),
        ({"keys": [{"key_id": "x"}]}, "lacks 'signing_key'"),
        ({"channels": {"endpoint": "ftp://x"}}, "ftp://x"),
        ({"channels": {"phone": "0031 70"}}, "0031 70"),
        ({"roster": [{"person": "X", "start_time": "25:00", "end_time": "06:00"}]}, "25:00"),
        (
            {
                "roster": [
                    {"person": "X", "role": "chief", "start_time": "01:00", "end_time": "06:00"}
                ]
            },
            "chief",
        ),
        (
            {
                "roster": [
                    {"person": "X", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T09:00:00Z"}
                ]
            },
            "not after start",
        ),
        (
            {
                "roster": [
                    {"person": "X", "weekdays": [7], "start_time": "01:00", "end_time": "06:00"}
                ]
            },
            "weekdays",
        ),
        (
            {
                "keys": [
                    {
                        "key_id": "00",
                        "signing_key": "AAAA",
                        "encryption_key": "AAAA",
                        "valid_from": "2026-01-01T00:00:00Z",
                    }
                ]
            },
            "32 bytes",
        ),
    ],
)
def test_bad_entries_name_the_bad_value(change: dict[str, Any], needle: str) -> None:
    raw = {**NL.to_json(), **change}
    with pytest.raises(ValidationFailed) as caught:
        DirectoryEntry.from_json(raw)
    assert needle in " ".join([str(caught.value), *caught.value.problems])


def test_entries_round_trip_through_json() -> None:
    for entry in (NL, US, BR, HOST, RIO):
        assert DirectoryEntry.from_json(entry.to_json()) == entry
