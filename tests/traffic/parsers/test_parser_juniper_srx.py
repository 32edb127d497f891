from __future__ import annotations

from datetime import timedelta

import pytest
from parser_testkit import FIXTURES, parse, samples_dir, utc

from trailguard.traffic.model import FormatError


def test_fixture_structured_and_plain_forms() -> None:
    p = parse("juniper-srx", FIXTURES / "srx_flow.log", tz="Europe/Amsterdam", year=2026)
    assert p.lines_read == 7
    assert sorted(r["source_line"] for r in p.rows) == [1, 2, 3, 6, 7]
    assert p.skipped == 2  # DENY and APPTRACK
    assert p.bad == []
    create = p.by_line(1)
    assert create["kind"] == "nat" and create["event"] == "create"
    assert create["start"] == utc(2026, 11, 17, 8, 14, 7, 250000)
    assert create["source_tz"] == "Z"
    assert (create["inside_ip"], create["inside_port"]) == ("100.64.2.7", 51000)
    assert (create["public_ip"], create["public_port"]) == ("203.0.113.20", 30001)
    assert (create["dst_ip"], create["dst_port"]) == ("198.51.100.80", 443)
    assert create["protocol"] == "tcp" and create["session_id"] == "7001"
    close = p.by_line(2)
    assert close["event"] == "teardown" and close["source_tz"] == "+01:00"
    assert close["end"] == utc(2026, 11, 17, 8, 15, 7, 250000)
    assert close["end"] - close["start"] == timedelta(seconds=60)
    assert close["bytes"] == 10200 and close["packets"] == 18


def test_no_translation_is_a_flow_and_quirks_are_tolerated() -> None:
    p = parse("juniper-srx", FIXTURES / "srx_flow.log", tz="UTC", year=2026)
    flow = p.by_line(3)  # _LS variant, curly quotes, text after "]"
    assert flow["kind"] == "flow"
    assert flow["public_ip"] == "2001:db8:20::7" and flow["inside_ip"] is None
    assert flow["protocol"] == "udp"


def test_plain_text_form_needs_year_and_zone() -> None:
    p = parse("juniper-srx", FIXTURES / "srx_flow.log", tz="Europe/Amsterdam", year=2026)
    plain = p.by_line(6)
    assert plain["kind"] == "nat" and plain["device"] == "srx-02"
    assert plain["start"] == utc(2026, 11, 17, 7, 30)
    assert (plain["inside_ip"], plain["public_ip"], plain["public_port"]) == (
        "100.64.3.7",
        "203.0.113.30",
        20001,
    )
    assert plain["source_tz"] == "Europe/Amsterdam"
    assert p.by_line(7)["event"] == "teardown"
    with pytest.raises(FormatError, match="--year"):
        parse("juniper-srx", FIXTURES / "srx_flow.log", tz="UTC")
    with pytest.raises(FormatError, match="--tz"):
        parse("juniper-srx", FIXTURES / "srx_flow.log", year=2026)


def test_real_sample_elastic_srx() -> None:
    path = samples_dir() / "elastic-integrations" / "test-flow.log"
    p = parse("juniper-srx", path)  # every session line there carries Z or an offset
    assert p.lines_read == 26
    assert p.bad == []
    assert len(p.rows) == 14
    assert p.skipped == 12
    nat = next(r for r in p.rows if r["inside_ip"] == "10.3.255.203")
    assert (nat["inside_port"], nat["public_ip"], nat["public_port"]) == (
        47776,
        "10.3.136.49",
        19162,
    )
    assert nat["kind"] == "nat" and nat["session_id"] == "5"
    plus8 = p.by_line(6)
    assert plus8["source_tz"] == "+08:00"
    assert plus8["start"] == utc(2010, 9, 30, 6, 55, 4, 323000)
    assert p.by_line(26)["session_id"] == "6093"  # the line ending in "]1002"
    mapped = {(r["inside_ip"], r["public_ip"]) for r in p.rows if r["kind"] == "nat"}
    assert ("10.1.1.100", "172.19.34.100") in mapped
