"""Issue 18: web access logs in the layouts real servers write (nginx ``$host`` first, Apache
``%v`` variants, ``$time_iso8601``), zone offsets of either sign. Sources are cited in
``trailguard/traffic/parsers/web_access.py``."""

from __future__ import annotations

from pathlib import Path

from parser_testkit import parse, utc

LINES = [
    # 1 nginx: log_format vhosts '$host $remote_addr - $remote_user [$time_local] ...'
    'www.example.org 203.0.113.10 - - [17/Nov/2026:03:14:07 -0500] "GET / HTTP/1.1" 200 612'
    ' "-" "curl/8.5.0"',
    # 2 the same, an IPv6 client, a user, a positive half-hour offset
    'api.example.net 2001:db8:20::7 - bob [17/Nov/2026:13:44:07 +0530] "POST /v1 HTTP/2.0"'
    ' 201 0 "-" "-"',
    # 3 $host is an address (a request by address)
    '192.0.2.80 198.51.100.4 - - [17/Nov/2026:08:14:07 +0000] "GET /x HTTP/1.1" 404 10',
    # 4 Debian vhost_combined: %v:%p %h ...
    'www.example.org:80 198.51.100.7 - - [17/Nov/2026:09:14:07 +0100] "GET / HTTP/1.1" 200 45'
    ' "-" "Mozilla/5.0"',
    # 5 openSUSE vhost_common: %v %h ...
    'www.example.org 198.51.100.6 - - [17/Nov/2026:08:14:07 +0000] "GET / HTTP/1.1" 200 45',
    # 6 a bracketed IPv6 virtual host with its port
    '[2001:db8::80]:8443 198.51.100.5 - - [17/Nov/2026:08:14:07 -0330] "GET / HTTP/1.1" 200 1',
    # 7 nginx combined with $time_iso8601
    '198.51.100.8 - - [2026-11-17T05:14:07-03:00] "GET / HTTP/1.1" 200 45 "-" "-"',
    # 8 plain combined, negative offset
    '203.0.113.11 - - [16/Nov/2026:23:14:07 -0900] "GET / HTTP/1.1" 200 45 "-" "-"',
    # 9 Apache's comonvhost example (%v %l %u %t): no client address at all
    'www.example.org - - [17/Nov/2026:08:14:07 +0000] "GET / HTTP/1.1" 200 45',
]


def test_virtual_host_layouts_and_offsets_of_either_sign(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    p = parse("web-access", path)
    assert [b.line_no for b in p.bad] == [9]
    assert "host name" in p.bad[0].reason
    first = p.by_line(1)
    assert first["public_ip"] == "203.0.113.10" and first["device"] == "www.example.org"
    assert first["start"] == utc(2026, 11, 17, 8, 14, 7) and first["source_tz"] == "-05:00"
    assert first["dst_ip"] is None and first["dst_port"] is None and first["event"] == "GET"
    second = p.by_line(2)
    assert second["public_ip"] == "2001:db8:20::7" and second["subscriber"] == "bob"
    assert second["start"] == utc(2026, 11, 17, 8, 14, 7) and second["source_tz"] == "+05:30"
    assert p.by_line(3)["dst_ip"] == "192.0.2.80" and p.by_line(3)["public_ip"] == "198.51.100.4"
    debian = p.by_line(4)
    assert debian["device"] == "www.example.org" and debian["dst_port"] == 80
    assert debian["start"] == utc(2026, 11, 17, 8, 14, 7)
    assert p.by_line(5)["public_ip"] == "198.51.100.6"
    v6 = p.by_line(6)
    assert v6["dst_ip"] == "2001:db8::80" and v6["dst_port"] == 8443
    assert v6["start"] == utc(2026, 11, 17, 11, 44, 7) and v6["source_tz"] == "-03:30"
    iso = p.by_line(7)
    assert iso["start"] == utc(2026, 11, 17, 8, 14, 7) and iso["source_tz"] == "-03:00"
    assert p.by_line(8)["start"] == utc(2026, 11, 17, 8, 14, 7)


PORT_LINES = [
    # 1 Apache "%h %{remote}p %l %u %t ..." (the client's port, RFC 6302), IPv4
    '198.51.100.30 30002 - admin [16/Nov/2026:11:17:13 +0900] "POST /admin/login HTTP/1.1" 302 0'
    ' "-" "python-requests/2.31"',
    # 2 the same with an IPv6 client
    '2001:db8::7 61000 - - [16/Nov/2026:11:17:13 +0900] "GET / HTTP/1.1" 200 1 "-" "-"',
    # 3 a port out of range
    '198.51.100.31 70000 - - [16/Nov/2026:11:17:13 +0900] "GET / HTTP/1.1" 200 1',
    # 4 an address as the virtual host, then the client: still read as before
    '192.0.2.80 198.51.100.7 - - [16/Nov/2026:11:17:13 +0900] "GET / HTTP/1.1" 200 1',
]


def test_the_clients_port_after_its_address(tmp_path: Path) -> None:
    """Apache's %{remote}p after %h: the port that tells apart the customers sharing one
    carrier-grade NAT address; only a line that logs it has a public_port."""
    path = tmp_path / "access.log"
    path.write_text("\n".join(PORT_LINES) + "\n", encoding="utf-8")
    p = parse("web-access", path)
    assert [b.line_no for b in p.bad] == [3] and "client port out of range" in p.bad[0].reason
    first = p.by_line(1)
    assert first["public_ip"] == "198.51.100.30" and first["public_port"] == 30002
    assert first["subscriber"] == "admin" and first["device"] is None
    assert first["start"] == utc(2026, 11, 16, 2, 17, 13) and first["source_tz"] == "+09:00"
    assert p.by_line(2)["public_ip"] == "2001:db8::7" and p.by_line(2)["public_port"] == 61000
    vhost = p.by_line(4)
    assert vhost["public_ip"] == "198.51.100.7" and vhost["public_port"] is None
    assert vhost["dst_ip"] == "192.0.2.80"
