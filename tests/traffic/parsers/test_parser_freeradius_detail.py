from __future__ import annotations

from datetime import timedelta

import pytest
from parser_testkit import FIXTURES, parse, utc

from trailguard.traffic.model import FormatError


def test_fixture_start_interim_stop() -> None:
    p = parse("freeradius-detail", FIXTURES / "radius.detail")
    assert p.bad == []
    assert [r["event"] for r in p.rows] == ["start", "interim", "stop", "start"]
    start = p.by_line(1)
    assert start["kind"] == "radius"
    assert start["start"] == utc(2026, 11, 17, 8, 14, 7) and start["end"] is None
    assert start["inside_ip"] == "100.64.1.7" and start["subscriber"] == "ana@example.net"
    assert start["session_id"] == "4D2A0001" and start["mac"] == "02:00:5e:10:00:01"
    assert start["device"] == "192.0.2.1"
    interim = p.by_line(12)  # Timestamp minus Acct-Delay-Time, minus the session time
    assert interim["start"] == utc(2026, 11, 17, 8, 14, 7)
    stop = p.by_line(22)
    assert stop["end"] == utc(2026, 11, 17, 9, 14, 7)
    assert stop["end"] - stop["start"] == timedelta(hours=1)
    assert stop["bytes"] == 3000
    v6 = p.by_line(39)
    assert v6["inside_ip"] == "2001:db8:100:7::" and v6["device"] == "bng-02"
    assert p.skipped == 5  # the Accounting-On record (4 lines + its blank line)


def test_header_time_needs_zone(tmp_path) -> None:
    f = tmp_path / "detail"
    f.write_text(
        'Tue Nov 17 08:14:07 2026\n\tAcct-Status-Type = Start\n\tUser-Name = "ana"\n'
        "\tFramed-IP-Address = 100.64.1.7\n\n"
    )
    with pytest.raises(FormatError, match="--tz"):
        parse("freeradius-detail", f)
    p = parse("freeradius-detail", f, tz="Europe/Amsterdam")
    assert p.rows[0]["start"] == utc(2026, 11, 17, 7, 14, 7)
    assert p.rows[0]["source_tz"] == "Europe/Amsterdam"
