"""The bad inputs of issue 5, for every format: truncated file, wrong format named, impossible
dates, ports over 65535, invalid addresses, wrong encoding, empty file, cut-short gzip."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from parser_testkit import FIXTURES, parse

from trailguard.traffic.model import FormatError, ParseOptions
from trailguard.traffic.parsers import get_parser

CSV_MAP = {
    "kind": "=nat",
    "start": "time",
    "inside_ip": "src",
    "inside_port": "sport",
    "public_ip": "xlate_ip",
    "public_port": "xlate_port",
}
OPTIONS: dict[str, dict[str, Any]] = {
    "cisco-asa": {"tz": "UTC"},
    "juniper-srx": {"tz": "UTC", "year": 2026},
    "zeek-conn": {},
    "isc-dhcpd-leases": {},
    "freeradius-detail": {},
    "web-access": {},
    "csv": {"column_map": CSV_MAP},
}
GOOD = {
    "cisco-asa": FIXTURES / "asa_nat.log",
    "juniper-srx": FIXTURES / "srx_flow.log",
    "zeek-conn": FIXTURES / "zeek_conn.log",
    "isc-dhcpd-leases": FIXTURES / "dhcpd.leases",
    "freeradius-detail": FIXTURES / "radius.detail",
    "web-access": FIXTURES / "access.log",
    "csv": FIXTURES / "nat.csv",
}
ASA = (
    "Nov 17 2026 08:14:07 fw %ASA-6-305011: Built dynamic TCP translation from"
    " inside:{ip}/{port} to outside:203.0.113.1/40000\n"
)
SRX = (
    '<14>1 {ts} srx RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40 source-address="{ip}"'
    ' source-port="{port}" destination-address="198.51.100.1" destination-port="443"'
    ' nat-source-address="203.0.113.1" nat-source-port="40000" protocol-id="6"]\n'
)
ZEEK_HEAD = (FIXTURES / "zeek_conn.log").read_text().split("1794903247")[0]
ZEEK = (
    "{ts}\tCx\t{ip}\t{port}\t198.51.100.1\t443\ttcp\t-\t1.0\t1\t1\tSF\t-\t-\t0\t-"
    "\t1\t1\t1\t1\t(empty)\n"
)
LEASE = (
    "lease {ip} {{\n  starts 2 {date};\n  ends 2 2026/11/17 20:00:00;\n"
    "  hardware ethernet 02:00:5e:00:00:01;\n}}\n"
)
DETAIL = (
    'Tue Nov 17 08:14:07 2026\n\tAcct-Status-Type = Start\n\tUser-Name = "u{port}"\n'
    '\tFramed-IP-Address = {ip}\n\tEvent-Timestamp = "{date}"\n\n'
)
ACCESS = '{ip} - - [{date} +0000] "GET / HTTP/1.1" 200 1\n'
CSV_HEAD = "time,src,sport,xlate_ip,xlate_port\n"
CSV = "{ts},{ip},{port},203.0.113.1,40000\n"


def good_line(fmt: str, ip: str = "100.64.0.1", port: str = "1000", bad_date: bool = False) -> str:
    """One record line (or block) of ``fmt``, optionally with an impossible date."""
    ts = "2026-02-30T08:14:07Z" if bad_date else "2026-11-17T08:14:07Z"
    if fmt == "cisco-asa":
        line = ASA.format(ip=ip, port=port)
        return line.replace("Nov 17", "Feb 30") if bad_date else line
    if fmt == "juniper-srx":
        return SRX.format(ts=ts, ip=ip, port=port)
    if fmt == "zeek-conn":
        return ZEEK.format(ts="99999999999999" if bad_date else "1794903247.5", ip=ip, port=port)
    if fmt == "isc-dhcpd-leases":
        day = "2026/02/30" if bad_date else "2026/11/17"
        return LEASE.format(ip=ip, date=f"{day} 08:00:00")
    if fmt == "freeradius-detail":
        date = "Feb 30 2026 08:14:07 UTC" if bad_date else "Nov 17 2026 08:14:07 UTC"
        return DETAIL.format(ip=ip, port=port, date=date)
    if fmt == "web-access":
        day = "30/Feb/2026" if bad_date else "17/Nov/2026"
        return ACCESS.format(ip=ip, date=f"{day}:08:14:07")
    return CSV.format(ts=ts, ip=ip, port=port)


def header(fmt: str) -> str:
    return {"zeek-conn": ZEEK_HEAD, "csv": CSV_HEAD}.get(fmt, "")


FORMATS = list(OPTIONS)


def run(fmt: str, path: Path):
    return parse(fmt, path, **OPTIONS[fmt])


@pytest.mark.parametrize("fmt", FORMATS)
def test_good_line_parses(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "ok"
    f.write_text(header(fmt) + good_line(fmt) + good_line(fmt, ip="2001:db8::1", port="2"))
    p = run(fmt, f)
    assert len(p.rows) == 2 and p.bad == []
    assert {r["inside_ip"] or r["public_ip"] for r in p.rows} >= {"2001:db8::1"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_impossible_date_is_a_bad_line(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "dates"
    f.write_text(header(fmt) + good_line(fmt) + good_line(fmt, bad_date=True))
    p = run(fmt, f)
    assert len(p.rows) == 1
    assert len(p.bad) == 1
    assert any(w in p.bad[0].reason for w in ("impossible", "unreadable"))


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in ("isc-dhcpd-leases", "web-access")])
def test_port_over_65535_is_a_bad_line_naming_it(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "ports"
    f.write_text(header(fmt) + good_line(fmt) + good_line(fmt, port="70000"))
    p = run(fmt, f)
    if fmt == "freeradius-detail":  # the port is only in the user name there: no port field
        assert len(p.rows) == 2
        return
    assert len(p.rows) == 1 and len(p.bad) == 1
    assert "70000" in p.bad[0].reason and "65535" in p.bad[0].reason


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("address", ["100.64.0.256", "2001:db8::g", "010.1.1.1"])
def test_invalid_address_is_a_bad_line_naming_it(fmt: str, address: str, tmp_path: Path) -> None:
    f = tmp_path / "addr"
    f.write_text(header(fmt) + good_line(fmt) + good_line(fmt, ip=address))
    p = run(fmt, f)
    assert len(p.rows) == 1, p.rows
    assert len(p.bad) == 1
    reason = p.bad[0].reason
    assert address in reason or address in p.bad[0].text


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file_keeps_the_complete_records(fmt: str, tmp_path: Path) -> None:
    whole = header(fmt) + good_line(fmt) + good_line(fmt, ip="100.64.0.2")
    f = tmp_path / "cut"
    f.write_text(whole[: len(whole) - 12])
    p = run(fmt, f)
    assert [r["inside_ip"] or r["public_ip"] for r in p.rows] == ["100.64.0.1"]
    assert len(p.bad) == 1  # the cut record is reported, not dropped silently


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_format_named_is_refused(fmt: str) -> None:
    other = GOOD["web-access"] if fmt != "web-access" else GOOD["cisco-asa"]
    with pytest.raises(FormatError):
        run(fmt, other)


@pytest.mark.parametrize("fmt", FORMATS)
def test_utf16_file_is_refused(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "utf16"
    f.write_bytes((header(fmt) + good_line(fmt)).encode("utf-16"))
    with pytest.raises(FormatError, match="UTF-16"):
        run(fmt, f)


@pytest.mark.parametrize("fmt", FORMATS)
def test_latin1_line_is_a_bad_line(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "latin1"
    text = header(fmt) + good_line(fmt) + "caf\xe9 line written by something else\n"
    f.write_bytes(text.encode("latin-1"))
    p = run(fmt, f)
    assert len(p.rows) == 1
    assert any("UTF-8" in b.reason for b in p.bad)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_yields_nothing(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "empty"
    f.write_bytes(b"")
    p = run(fmt, f)
    assert p.rows == [] and p.bad == [] and p.lines_read == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_gzip_is_read_and_cut_short_gzip_is_refused_before_any_batch(
    fmt: str, tmp_path: Path
) -> None:
    data = (header(fmt) + good_line(fmt) * 200).encode()
    whole = tmp_path / "ok.gz"
    whole.write_bytes(gzip.compress(data))
    assert len(run(fmt, whole).rows) == 200
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole.read_bytes()[:-30])
    batches = get_parser(fmt).parse(cut, ParseOptions(**OPTIONS[fmt], batch_lines=10))
    with pytest.raises(FormatError, match="gzip"):
        next(batches)


@pytest.mark.parametrize("fmt", FORMATS)
def test_batches_respect_batch_lines_and_number_lines_across_them(fmt: str, tmp_path: Path) -> None:
    f = tmp_path / "many"
    f.write_text(header(fmt) + "".join(good_line(fmt, port=str(i)) for i in range(1, 51)))
    batches = list(get_parser(fmt).parse(f, ParseOptions(**OPTIONS[fmt], batch_lines=7)))
    assert len(batches) > 1
    assert all(b.lines_read <= 7 for b in batches)
    lines = [n for b in batches for n in b.table["source_line"].to_pylist()]
    assert len(lines) == 50 and lines == sorted(set(lines))


@pytest.mark.parametrize(
    ("duration", "bad"),
    [
        ("0:00:30", False),
        ("99999:59:59", False),  # 11 years back from 2026: still after 1970
        ("99999999:00:00", True),  # 11,415 years back
        ("999999999999999999999:00:00", True),  # more digits than 64 bits hold
    ],
)
def test_asa_duration_reaching_before_1970_is_a_bad_line(
    duration: str, bad: bool, tmp_path: Path
) -> None:
    """A 305012 teardown's start is its stamp minus its duration: one that would start before
    1970 is counted as a bad line with its number, never a crash of the ingest."""
    teardown = (
        "Nov 17 2026 08:14:07 fw %ASA-6-305012: Teardown dynamic TCP translation from"
        f" inside:100.64.0.1/1000 to outside:203.0.113.1/40000 duration {duration}\n"
    )
    f = tmp_path / "asa.log"
    f.write_text(good_line("cisco-asa") + teardown)
    p = run("cisco-asa", f)
    assert len(p.rows) == (1 if bad else 2)
    if bad:
        assert [(b.line_no, b.reason) for b in p.bad] == [
            (2, "start (stamp minus duration) before 1970-01-01")
        ]
    else:
        assert p.bad == []


def test_asa_teardown_before_1970_read_by_the_compiled_scanner_is_a_bad_line(
    tmp_path: Path,
) -> None:
    # 99,999 hours is within what the compiled scanner reads (the regex path takes longer
    # ones); from a 1975 stamp it reaches back to 1963
    line = (
        "Jan 01 1975 00:00:00 fw %ASA-6-305012: Teardown dynamic UDP translation from"
        " inside:100.64.0.2/53 to outside:203.0.113.2/4000 duration {d}\n"
    )
    f = tmp_path / "asa.log"
    f.write_text(line.format(d="99999:00:00") + line.format(d="1:00:00") + good_line("cisco-asa"))
    p = run("cisco-asa", f)
    assert [(b.line_no, b.reason) for b in p.bad] == [
        (1, "start (stamp minus duration) before 1970-01-01")
    ]
    assert sorted(r["source_line"] for r in p.rows) == [2, 3]
