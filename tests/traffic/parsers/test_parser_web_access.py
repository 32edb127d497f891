from __future__ import annotations

from parser_testkit import FIXTURES, parse, samples_dir, utc


def test_fixture_formats() -> None:
    p = parse("web-access", FIXTURES / "access.log")
    assert len(p.rows) == 5
    assert [(b.line_no, b.reason.split(":")[0]) for b in p.bad] == [
        (6, "client is a host name, not an address (HostnameLookups?)")
    ]
    combined = p.by_line(1)
    assert combined["kind"] == "access" and combined["event"] == "GET"
    assert combined["start"] == utc(2026, 11, 17, 8, 14, 7)
    assert combined["source_tz"] == "+01:00"
    assert combined["public_ip"] == "203.0.113.10" and combined["public_port"] is None
    assert combined["bytes"] == 5120
    v6 = p.by_line(2)
    assert v6["public_ip"] == "2001:db8:20::7" and v6["subscriber"] == "ana"
    vhost = p.by_line(3)
    assert vhost["device"] == "www.example.org" and vhost["dst_port"] == 443
    assert vhost["dst_ip"] is None and vhost["start"] == utc(2026, 11, 17, 8, 14, 7)
    timeout = p.by_line(4)
    assert timeout["event"] == "request" and timeout["bytes"] is None
    assert timeout["start"] == utc(2026, 11, 17, 8, 14, 7)
    assert p.by_line(5)["event"] == "request"


def test_real_sample_elastic_apache() -> None:
    p = parse("web-access", samples_dir() / "elastic-integrations" / "test-access-basic.log")
    assert p.lines_read == 17
    assert len(p.rows) + len(p.bad) == 17
    assert sorted(b.line_no for b in p.bad) == [5, 7, 10, 12, 14]
    assert all("monitoring-server" in b.text for b in p.bad if b.line_no != 14)
    assert p.by_line(3)["event"] == "request"  # "-" 408
    assert p.by_line(13)["subscriber"] == "frank"
    assert p.by_line(13)["start"] == utc(2000, 10, 10, 20, 55, 36)
    assert p.by_line(16)["source_tz"] == "+05:30"
    assert p.by_line(15)["device"] == "127.0.1.1" and p.by_line(15)["dst_port"] == 80
    assert p.by_line(17)["start"] == utc(2024, 5, 22, 5, 21, 14)  # "\n" request, no newline
    v6 = {r["public_ip"] for r in p.rows if ":" in r["public_ip"]}
    assert v6 == {"::1", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"}
