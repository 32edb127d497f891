from __future__ import annotations

from datetime import timedelta

from parser_testkit import FIXTURES, parse, samples_dir, utc


def test_tsv_fixture() -> None:
    p = parse("zeek-conn", FIXTURES / "zeek_conn.log")
    assert len(p.rows) == 3 and p.bad == []
    assert p.skipped == 9  # header and footer lines
    first = p.by_line(9)
    assert first["kind"] == "flow" and first["session_id"] == "Ca1b2c3d4e5f6g7h8"
    assert first["start"] == utc(2026, 11, 17, 8, 14, 7, 250000)
    assert first["end"] - first["start"] == timedelta(seconds=120)
    assert (first["public_ip"], first["public_port"]) == ("203.0.113.10", 40001)
    assert (first["dst_ip"], first["dst_port"]) == ("198.51.100.80", 443)
    assert first["bytes"] == 10200 and first["packets"] == 18
    unset = p.by_line(10)
    assert unset["public_ip"] == "2001:db8:20::7"
    assert unset["end"] is None and unset["bytes"] is None and unset["packets"] == 1
    assert p.by_line(11)["end"] - p.by_line(11)["start"] == timedelta(milliseconds=500)


def test_json_fixture_with_epoch_and_iso_times() -> None:
    p = parse("zeek-conn", FIXTURES / "zeek_conn.json")
    assert len(p.rows) == 2 and p.bad == []
    assert p.by_line(1)["start"] == utc(2026, 11, 17, 8, 14, 7, 250000)
    second = p.by_line(2)
    assert second["start"] == utc(2026, 11, 17, 8, 15, 0, 1)
    assert second["public_ip"] == "2001:db8:20::7" and second["protocol"] == "udp"


def test_real_sample_zeek_teredo() -> None:
    p = parse("zeek-conn", samples_dir() / "zeek" / "conn.log")
    assert len(p.rows) == 21 and p.bad == []
    protos = [r["protocol"] for r in p.rows]
    assert (protos.count("tcp"), protos.count("udp"), protos.count("icmp")) == (10, 8, 3)
    v6 = [r for r in p.rows if ":" in r["public_ip"]]
    assert len(v6) == 4
    assert {r["public_ip"] for r in v6} >= {"2001:0:4137:9e50:8000:f12a:b9c8:2815"}
    starts = [r["start"].timestamp() for r in p.rows]
    assert min(starts) >= 1210953046 and max(starts) < 1210953077
    assert starts != sorted(starts)  # not in ts order in the file, kept as written
