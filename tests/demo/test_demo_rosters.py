"""The demo's points of contact publish rosters that cover every hour (issue 15: the
directory said "nobody on a primary shift" for the US and BR)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trailguard.demo.script import BR, NL, ROSTERS, US
from trailguard.network.directory import DirectoryEntry, EntryKind, Shift


def test_every_demo_point_of_contact_has_a_primary_at_every_hour() -> None:
    zones = {US: "America/New_York", NL: "Europe/Amsterdam", BR: "America/Sao_Paulo"}
    assert set(ROSTERS) == {US, NL, BR}
    for node_id, roster in ROSTERS.items():
        entry = DirectoryEntry(
            node_id=node_id,
            kind=EntryKind.POC,
            country=node_id[:2].upper(),
            organisation=node_id,
            timezone=zones[node_id],
            roster=tuple(Shift.from_json(shift, node_id) for shift in roster),
        )
        start = datetime(2026, 11, 16, tzinfo=UTC)
        for quarter in range(7 * 24 * 4):  # a whole week, every 15 minutes
            instant = start + timedelta(minutes=15 * quarter)
            duty = entry.on_duty(instant)
            assert duty.primary is not None, (node_id, instant)
            assert duty.backup is not None and duty.backup.person != duty.primary.person
