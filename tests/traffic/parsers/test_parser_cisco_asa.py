from __future__ import annotations

from datetime import timedelta

import pyarrow.compute as pc
import pytest
from parser_testkit import FIXTURES, parse, samples_dir, utc

from trailguard.traffic.model import FormatError


def test_fixture_nat_records_and_line_accounting() -> None:
    p = parse("cisco-asa", FIXTURES / "asa_nat.log", tz="Europe/Amsterdam")
    assert p.lines_read == 10
    # lines 1, 3, 4, 6, 7, 8 are translations; 2 and 9 are other ASA messages; 5 is blank
    assert sorted(r["source_line"] for r in p.rows) == [1, 3, 4, 6, 7, 8]
    assert p.skipped == 3
    assert [(b.line_no, b.reason) for b in p.bad] == [(10, "not a Cisco ASA syslog line")]
    built = p.by_line(1)
    assert built["kind"] == "nat" and built["event"] == "create"
    assert built["start"] == utc(2026, 11, 17, 7, 14, 7)  # 08:14:07 CET
    assert built["end"] is None
    assert built["source_tz"] == "Europe/Amsterdam"
    assert (built["inside_ip"], built["inside_port"]) == ("100.64.1.7", 51234)
    assert (built["public_ip"], built["public_port"]) == ("203.0.113.10", 40001)
    assert built["protocol"] == "tcp" and built["device"] == "cgnat-01"
    tagged = p.by_line(3)
    assert tagged["device"] == "cgnat-01" and tagged["protocol"] == "udp"
    pri = p.by_line(4)  # <PRI>, fraction and colon after the stamp, no host
    assert pri["start"] == utc(2026, 11, 17, 7, 14, 9, 250000)
    assert pri["device"] is None and pri["protocol"] == "icmp"


def test_teardown_start_is_end_minus_duration() -> None:
    p = parse("cisco-asa", FIXTURES / "asa_nat.log", tz="+01:00")
    td = p.by_line(6)
    assert td["event"] == "teardown"
    assert td["end"] == utc(2026, 11, 17, 7, 16, 7)
    assert td["end"] - td["start"] == timedelta(minutes=2)
    hour = p.by_line(8)
    assert hour["end"] - hour["start"] == timedelta(hours=1)
    assert hour["source_tz"] == "+01:00"


def test_ipv6_and_user_are_read_by_the_full_grammar() -> None:
    p = parse("cisco-asa", FIXTURES / "asa_nat.log", tz="UTC")
    v6 = p.by_line(7)
    assert v6["inside_ip"] == "2001:db8:10::7" and v6["public_ip"] == "2001:db8:ffff::10"
    assert v6["inside_port"] == 40100


def test_clock_skew_is_subtracted() -> None:
    plain = parse("cisco-asa", FIXTURES / "asa_nat.log", tz="UTC").by_line(1)
    skewed = parse(
        "cisco-asa", FIXTURES / "asa_nat.log", tz="UTC", clock_skew=timedelta(seconds=30)
    ).by_line(1)
    assert plain["start"] - skewed["start"] == timedelta(seconds=30)


def test_missing_zone_is_refused_not_guessed() -> None:
    with pytest.raises(FormatError, match="--tz"):
        parse("cisco-asa", FIXTURES / "asa_nat.log")


def test_unknown_zone_names_the_value() -> None:
    with pytest.raises(FormatError, match="Mars/Olympus"):
        parse("cisco-asa", FIXTURES / "asa_nat.log", tz="Mars/Olympus")


def test_stamp_without_year_needs_year() -> None:
    with pytest.raises(FormatError, match="--year"):
        parse("cisco-asa", FIXTURES / "asa_noyear.log", tz="UTC")
    p = parse("cisco-asa", FIXTURES / "asa_noyear.log", tz="UTC", year=2026)
    assert p.by_line(1)["start"] == utc(2026, 11, 17, 8, 14, 7)
    assert any("2026" in n for n in p.notes)


def test_dst_fold_is_said_aloud(tmp_path) -> None:
    f = tmp_path / "fold.log"
    f.write_text(
        "Oct 25 2026 02:30:00 fw %ASA-6-305011: Built dynamic TCP translation from"
        " inside:100.64.0.1/1000 to outside:203.0.113.1/2000\n"
    )
    p = parse("cisco-asa", f, tz="Europe/Amsterdam")
    assert p.rows[0]["start"] == utc(2026, 10, 25, 0, 30)  # the earlier of the two
    assert any("daylight-saving" in n for n in p.notes)


def test_real_sample_elastic_asa() -> None:
    path = samples_dir() / "elastic-integrations" / "test-asa.log"
    p = parse("cisco-asa", path, tz="UTC")
    assert p.lines_read == 272
    assert len(p.rows) == 49 + 32 == 81
    assert p.bad == []
    assert p.skipped == 272 - 81
    events = pc.value_counts(p.table["event"]).to_pylist()
    assert {e["values"]: e["counts"] for e in events} == {"create": 49, "teardown": 32}
    assert set(p.table["public_ip"].to_pylist()) == {"100.66.98.44"}
    ports = set(p.table["public_port"].to_pylist())
    assert set(range(8256, 8311)) >= ports - {1188, 1189, 1190}
    assert {1188, 1189, 1190} <= ports
    first = p.by_line(1)
    assert (first["inside_ip"], first["inside_port"], first["public_port"]) == (
        "172.31.98.44",
        1772,
        8256,
    )
    assert first["start"] == utc(2018, 10, 10, 12, 34, 56)
    td = next(r for r in p.rows if r["event"] == "teardown" and r["public_port"] == 8267)
    assert td["end"] - td["start"] == timedelta(seconds=30)


def test_fast_path_and_full_grammar_agree(tmp_path, monkeypatch) -> None:
    from trailguard.traffic.parsers import cisco_asa
    from trailguard.traffic.synth import write_synthetic

    result = write_synthetic("cisco-asa", tmp_path / "s", 3000, seed=9)
    odd = tmp_path / "odd.log"
    odd.write_text(
        result.files["cisco-asa"].read_text()
        + "Nov  7 2026 08:14:07 fw %ASA-6-305011: Built dynamic TCP translation from"
        " inside:100.64.0.9/1 to outside:203.0.113.9/65535\n"
        "Nov 17 2026 08:14:07 fw %ASA-6-305011: Built dynamic TCP translation from"
        " inside:100.64.0.9/1 to outside:203.0.113.9/65536\n"
        "Nov 17 2026 08:14:07 fw %ASA-6-305012: Teardown static UDP translation from"
        " inside:100.64.0.9/1 to outside:203.0.113.9/2 duration 100:00:01\n"
        "Nov 17 2026 24:14:07 fw %ASA-6-305011: Built dynamic TCP translation from"
        " inside:100.64.0.9/1 to outside:203.0.113.9/3\n"
    )
    fast = parse("cisco-asa", odd, tz="Europe/Amsterdam")
    monkeypatch.setattr(cisco_asa, "USE_FAST_PATH", False)
    slow = parse("cisco-asa", odd, tz="Europe/Amsterdam")
    assert fast.table.sort_by("source_line").equals(slow.table.sort_by("source_line"))
    assert [(b.line_no, b.reason) for b in fast.bad] == [(b.line_no, b.reason) for b in slow.bad]
    assert len(fast.rows) == 3002 and len(fast.bad) == 2
    assert fast.by_line(3003)["end"] - fast.by_line(3003)["start"] == timedelta(
        hours=100, seconds=1
    )
