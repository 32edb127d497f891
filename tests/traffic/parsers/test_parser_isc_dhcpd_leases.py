from __future__ import annotations

from parser_testkit import FIXTURES, parse, samples_dir, utc


def test_fixture_leases() -> None:
    p = parse("isc-dhcpd-leases", FIXTURES / "dhcpd.leases")
    assert len(p.rows) == 2 and p.bad == []
    first = p.by_line(6)
    assert first["kind"] == "dhcp" and first["event"] == "lease"
    assert first["inside_ip"] == "192.0.2.50"
    assert first["start"] == utc(2026, 11, 17, 8) and first["end"] == utc(2026, 11, 17, 20)
    assert first["mac"] == "02:00:5e:10:00:01"
    assert first["subscriber"] == "laptop-ana"
    assert first["source_tz"] == "UTC"
    epoch = p.by_line(16)
    assert epoch["start"] == utc(2026, 11, 17, 8) and epoch["end"] is None  # ends never
    assert epoch["subscriber"].startswith("\\001")  # the uid as written


def test_real_samples() -> None:
    debian = parse("isc-dhcpd-leases", samples_dir() / "isc-dhcp-leases" / "debian7.leases")
    assert [r["inside_ip"] for r in debian.rows] == [
        "10.0.0.10", "10.0.0.15", "10.0.0.18", "10.0.0.21", "10.0.0.16",
    ]  # fmt: skip
    assert debian.bad == []
    assert debian.rows[0]["start"] == utc(2013, 12, 10, 12, 57, 4)
    assert debian.rows[0]["mac"] == "60:a4:4c:b5:6a:dd"
    pf = parse("isc-dhcpd-leases", samples_dir() / "isc-dhcp-leases" / "pfsense.leases")
    assert {(r["inside_ip"], r["mac"], r["subscriber"]) for r in pf.rows} == {
        ("10.0.10.72", "64:5a:04:6a:07:a2", "Satellite-C700"),
        ("10.0.0.36", "14:da:e9:04:c8:a3", "Gebruiker-PC"),
    }
    last = pf.by_line(15)  # no newline after the final "}"
    assert last["end"] == utc(2015, 7, 6, 8, 38, 46)
