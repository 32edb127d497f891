"""Issue 6 parsers: Juniper PBA, Cisco IOS XR CGN, Kea leases, NetFlow v5/v9/IPFIX.

Fixtures are written from the vendor documents cited in each parser module, with documentation
addresses only (RFC 5737, RFC 3849, 100.64.0.0/10)."""

from __future__ import annotations

import gzip
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trailguard.traffic.model import RECORD_SCHEMA, FormatError, ParsedBatch, ParseOptions
from trailguard.traffic.parsers import cisco_xr_cgn, juniper_pba, kea_leases, netflow

FIX = Path(__file__).parent / "fixtures"


def parse_all(parser: Any, path: Path, options: ParseOptions) -> ParsedBatch:
    batches = list(parser.parse(path, options))
    assert batches
    for b in batches:
        assert b.table.schema.equals(RECORD_SCHEMA)
    import pyarrow as pa

    table = pa.concat_tables([b.table for b in batches])
    out = ParsedBatch(table, sum(b.lines_read for b in batches))
    for b in batches:
        out.bad_lines += b.bad_lines
        out.notes += b.notes
        out.skipped_lines += b.skipped_lines
    return out


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Juniper -----------------------------------------------------------------------------


def test_juniper_pba_alloc_active_release() -> None:
    batch = parse_all(
        juniper_pba.PARSER, FIX / "juniper_pba.log", ParseOptions(tz="Europe/Amsterdam", year=2026)
    )
    rows = batch.table.to_pylist()
    assert [r["event"] for r in rows] == [
        "create", "create", "interim", "create", "teardown", "create",
    ]  # fmt: skip
    assert all(r["kind"] == "port_block" for r in rows)
    first = rows[0]
    assert first["start"] == utc(2026, 11, 27, 9, 15, 2)  # 10:15:02 in Amsterdam (UTC+1)
    assert (first["public_ip"], first["public_port"], first["public_port_end"]) == (
        "203.0.113.5", 1024, 1151,
    )  # fmt: skip
    assert first["inside_ip"] == "100.64.1.2" and first["end"] is None
    # the interim "active" log dates the block from its allocation time (the hex value)
    assert rows[2]["start"] == first["start"] and rows[2]["end"] is None
    # NAT64: IPv6 inside address
    assert rows[3]["inside_ip"] == "2001:db8:100::17"
    # the release closes the block allocated at the hex time
    release = rows[4]
    assert release["start"] == first["start"]
    assert release["end"] == utc(2026, 11, 27, 10, 2, 40)
    assert release["session_id"] == first["session_id"]
    # RFC 5424 line with its own offset: no --tz needed for it, the offset kept
    assert rows[5]["start"] == utc(2026, 11, 27, 10, 3, 0, 250000)
    assert rows[5]["source_tz"] == "+01:00"
    assert batch.skipped_lines == 1  # the JSERVICES_NAT_RULE_MATCH line
    assert batch.bad_lines == []
    assert [r["source_line"] for r in rows] == [1, 2, 3, 4, 5, 7]


def test_juniper_pba_bad_lines_named() -> None:
    batch = parse_all(
        juniper_pba.PARSER, FIX / "juniper_pba_bad.log", ParseOptions(tz="UTC", year=2026)
    )
    assert batch.table.num_rows == 1
    reasons = {b.line_no: b.reason for b in batch.bad_lines}
    assert "70000" in reasons[2]
    assert "ends before it starts" in reasons[3]
    assert "100.64.1.300" in reasons[4]
    assert "impossible date" in reasons[5]
    assert "malformed" in reasons[6]


def test_juniper_pba_needs_tz_and_year(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="--tz"):
        list(juniper_pba.PARSER.parse(FIX / "juniper_pba.log", ParseOptions(year=2026)))
    with pytest.raises(FormatError, match="--year"):
        list(juniper_pba.PARSER.parse(FIX / "juniper_pba.log", ParseOptions(tz="UTC")))
    other = tmp_path / "asa.log"
    other.write_text("Nov 27 2026 10:00:00 fw %ASA-6-305011: Built dynamic TCP translation\n")
    with pytest.raises(FormatError, match="does not look like juniper-pba"):
        list(juniper_pba.PARSER.parse(other, ParseOptions(tz="UTC")))


def test_juniper_detect() -> None:
    head = (FIX / "juniper_pba.log").read_text().splitlines()
    assert juniper_pba.PARSER.detect(head) > 0.5
    assert juniper_pba.PARSER.detect(["%ASA-6-305011: Built"]) == 0.0


# --- Cisco IOS XR CGN ----------------------------------------------------------------------


def test_cisco_xr_cgn_blocks_and_sessions() -> None:
    batch = parse_all(cisco_xr_cgn.PARSER, FIX / "cisco_xr_cgn.log", ParseOptions(tz="UTC"))
    rows = batch.table.to_pylist()
    blocks = [r for r in rows if r["kind"] == "port_block"]
    sessions = [r for r in rows if r["kind"] == "nat"]
    # two messages in one datagram are two records from line 1
    got = [(b["inside_ip"], b["public_port"], b["public_port_end"], b["source_line"])
           for b in blocks[:2]]  # fmt: skip
    assert got == [("100.64.1.2", 1024, 1535, 1), ("100.64.1.3", 1536, 2047, 1)]
    assert blocks[0]["session_id"] == "vrf=vrf-cgn"
    # DS-Lite: the softwire's IPv6 address identifies the subscriber
    dslite = next(b for b in blocks if b["public_ip"] == "203.0.113.8")
    assert dslite["inside_ip"] == "2001:db8:b4::1"
    withdrawn = next(b for b in blocks if b["event"] == "teardown")
    assert withdrawn["end"] == utc(2026, 11, 27, 11, 2, 40)
    assert [s["protocol"] for s in sessions] == ["tcp", "udp", "tcp"]
    ad = sessions[1]
    assert (ad["inside_port"], ad["public_port"], ad["dst_ip"], ad["dst_port"]) == (
        53000, 40002, "192.0.2.53", 53,
    )  # fmt: skip
    assert sessions[2]["event"] == "teardown"
    assert batch.bad_lines == []
    assert batch.skipped_lines == 1  # the Portblockrunout-only datagram
    assert any("Portblockrunout" in n for n in batch.notes)


def test_cisco_xr_cgn_bad_messages() -> None:
    batch = parse_all(cisco_xr_cgn.PARSER, FIX / "cisco_xr_cgn_bad.log", ParseOptions(tz="UTC"))
    # line 1 keeps its good message and reports the bad one
    assert batch.table.num_rows == 1
    reasons = {b.line_no: b.reason for b in batch.bad_lines}
    assert set(reasons) == {1, 2, 3, 4, 5, 6}
    assert "70000" in reasons[1]
    assert "100.64.1.256" in reasons[2]
    assert "impossible date" in reasons[3]
    assert "11 fields" in reasons[4]
    assert "Mystery" in reasons[5]
    assert "not a Cisco CGN" in reasons[6]


def test_cisco_xr_cgn_requires_tz() -> None:
    with pytest.raises(FormatError, match="--tz"):
        list(cisco_xr_cgn.PARSER.parse(FIX / "cisco_xr_cgn.log", ParseOptions()))


# --- Kea -----------------------------------------------------------------------------------


def test_kea_v4_leases() -> None:
    batch = parse_all(kea_leases.PARSER, FIX / "kea-leases4.csv", ParseOptions())
    rows = batch.table.to_pylist()
    assert [r["inside_ip"] for r in rows] == [
        "100.64.1.2",
        "100.64.7.19",
        "100.64.1.2",
        "100.64.7.21",
    ]
    first = rows[0]
    assert (first["start"], first["end"]) == (utc(2026, 11, 27, 9), utc(2026, 11, 27, 10))
    assert first["subscriber"] == "cpe-anna-example"
    assert first["mac"] == "02:00:5e:10:00:01"
    assert rows[3]["event"] == "release" and rows[3]["start"] == rows[3]["end"]
    assert batch.skipped_lines == 2  # the header and the declined address
    assert batch.bad_lines == []


def test_kea_v6_leases_and_prefix_delegation() -> None:
    batch = parse_all(kea_leases.PARSER, FIX / "kea-leases6.csv", ParseOptions())
    rows = batch.table.to_pylist()
    assert rows[0]["inside_ip"] == "2001:db8:1::1a"
    assert rows[0]["session_id"] == "00:03:00:01:02:00:5e:10:00:09"
    assert rows[1]["session_id"] == "pd=2001:db8:5600::/56"
    assert rows[2]["event"] == "expired"


def test_kea_bad_rows(tmp_path: Path) -> None:
    batch = parse_all(kea_leases.PARSER, FIX / "kea-leases4-bad.csv", ParseOptions())
    assert batch.table.num_rows == 1
    reasons = {b.line_no: b.reason for b in batch.bad_lines}
    assert "100.64.1.999" in reasons[3]
    assert "12 comma-separated columns" in reasons[4]
    assert "soon" in reasons[5]
    assert "99999999999999" in reasons[6]
    assert "zz:00" in reasons[7]
    wrong = tmp_path / "x.csv"
    wrong.write_text("ip,mac\n192.0.2.1,02:00:5e:00:00:01\n")
    with pytest.raises(FormatError, match="Kea lease CSV header"):
        list(kea_leases.PARSER.parse(wrong, ParseOptions()))
    assert kea_leases.PARSER.detect((FIX / "kea-leases6.csv").read_text().splitlines()) > 0.9


# --- NetFlow / IPFIX -----------------------------------------------------------------------

# One IPFIX message written byte by byte from RFC 7011 (section 3.1 header, 3.4.1 template
# record) and RFC 8158 (section 4.2 NAT44 session create: observationTimeMilliseconds,
# sourceIPv4Address, postNATSourceIPv4Address, protocolIdentifier, sourceTransportPort,
# postNAPTSourceTransportPort, natEvent).
_RFC_IPFIX = bytes.fromhex(
    "000a" "004e" "6927c2c0" "00000001" "00000007"  # version 10, length 78, export, seq, domain
    "0002" "0024" "0100" "0007"  # template set (36 bytes): template 256, 7 fields
    "0143" "0008" "0008" "0004" "00e1" "0004" "0004" "0001"  # 323/8 8/4 225/4 4/1
    "0007" "0002" "00e3" "0002" "00e6" "0001"  # 7/2 227/2 230/1
    "0100" "001a"  # data set for template 256, 26 bytes (22 record + 4 header)
    "0000019ac4c67c28" "64400102" "cb007105" "06" "c738" "9c41" "04"
)  # fmt: skip


def test_ipfix_rfc8158_message_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "nat.ipfix"
    path.write_bytes(_RFC_IPFIX)
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    (row,) = batch.table.to_pylist()
    assert row["kind"] == "nat" and row["event"] == "create"
    assert (row["inside_ip"], row["inside_port"]) == ("100.64.1.2", 51000)
    assert (row["public_ip"], row["public_port"]) == ("203.0.113.5", 40001)
    assert row["protocol"] == "tcp"
    assert row["start"] == datetime.fromtimestamp(0x19AC4C67C28 / 1000, UTC)
    assert row["device"] == "odid=7"


def _nat_rows(t0_ms: int) -> list[dict[int, Any]]:
    return [
        {323: t0_ms, 8: "100.64.1.2", 225: "203.0.113.5", 4: 6, 7: 51000, 227: 40001,
         12: "192.0.2.80", 11: 443, 230: 4},
        {323: t0_ms + 5000, 8: "100.64.1.2", 225: "203.0.113.5", 4: 6, 7: 51000, 227: 40001,
         12: "192.0.2.80", 11: 443, 230: 5},
        {323: t0_ms + 6000, 8: "100.64.9.9", 225: "203.0.113.5", 4: 17, 7: 5353, 227: 40002,
         12: "192.0.2.53", 11: 53, 230: 12},  # ports exhausted: no mapping
    ]  # fmt: skip


def _block_rows(t0_ms: int) -> list[dict[int, Any]]:
    return [
        {323: t0_ms, 8: "100.64.7.19", 225: "198.51.100.9", 361: 4096, 362: 4223, 230: 16},
        {323: t0_ms + 60_000, 8: "100.64.7.19", 225: "198.51.100.9", 361: 4096, 362: 4223,
         230: 17},
    ]  # fmt: skip


def test_ipfix_templates_nat_and_port_blocks(tmp_path: Path) -> None:
    t0 = 1_795_000_000_000
    t_nat = netflow.template_set(256, netflow.NAT44_TEMPLATE, v9=False)
    t_blk = netflow.template_set(257, netflow.PORT_BLOCK_TEMPLATE, v9=False)
    msgs = [
        netflow.ipfix_message([t_nat, t_blk], t0 // 1000, 0),
        netflow.ipfix_message([netflow.data_set(256, netflow.NAT44_TEMPLATE, _nat_rows(t0))],
                              t0 // 1000, 1),
        netflow.ipfix_message([netflow.data_set(257, netflow.PORT_BLOCK_TEMPLATE,
                                                _block_rows(t0))], t0 // 1000, 4),
    ]  # fmt: skip
    path = tmp_path / "cgn.ipfix.gz"
    path.write_bytes(gzip.compress(b"".join(msgs)))
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    rows = batch.table.to_pylist()
    nat = [r for r in rows if r["kind"] == "nat"]
    blocks = [r for r in rows if r["kind"] == "port_block"]
    assert [r["event"] for r in nat] == ["create", "teardown"]
    assert nat[0]["dst_ip"] == "192.0.2.80" and nat[0]["dst_port"] == 443
    assert [(b["public_port"], b["public_port_end"], b["event"]) for b in blocks] == [
        (4096, 4223, "create"), (4096, 4223, "teardown"),
    ]  # fmt: skip
    assert [r["source_line"] for r in rows] == [2, 2, 3, 3]
    assert batch.skipped_lines == 1  # natEvent 12 (ports exhausted) logs no mapping
    assert batch.bad_lines == []


def test_v9_and_v5_in_pcap(tmp_path: Path) -> None:
    t0_us = 1_795_000_000_000_000
    fields = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4))
    rows = [{8: "198.51.100.20", 12: "203.0.113.80", 7: 40000, 11: 443, 4: 6, 1: 1500, 2: 3,
             22: 3_590_000, 21: 3_599_000}]  # fmt: skip
    v9 = netflow.v9_packet(
        [netflow.template_set(300, fields, v9=True), netflow.data_set(300, fields, rows)],
        export_s=t0_us // 1_000_000, uptime_ms=3_600_000, records=2,
    )  # fmt: skip
    v5 = netflow.v5_packet(
        [{"src": "198.51.100.21", "dst": "192.0.2.9", "sport": 1234, "dport": 80, "proto": 17,
          "start_us": t0_us - 2_000_000, "end_us": t0_us - 1_000_000, "packets": 2,
          "bytes": 120}], t0_us)  # fmt: skip
    path = tmp_path / "flows.pcap"
    netflow.write_pcap(path, [("192.0.2.1", v9), ("192.0.2.2", v5)])
    assert netflow.PARSER.detect([path.read_bytes()[:64].decode("utf-8", "replace")]) >= 0.9
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    a, b = batch.table.to_pylist()
    assert a["kind"] == "flow" and a["device"] == "192.0.2.1"
    # sysUpTime-relative times: export time minus (uptime - first switched)
    assert a["start"] == datetime.fromtimestamp(t0_us / 1e6 - 10, UTC)
    assert a["end"] == datetime.fromtimestamp(t0_us / 1e6 - 1, UTC)
    assert (a["public_ip"], a["public_port"], a["bytes"], a["packets"]) == (
        "198.51.100.20", 40000, 1500, 3,
    )  # fmt: skip
    assert b["device"] == "192.0.2.2" and b["protocol"] == "udp"
    assert b["start"] == datetime.fromtimestamp(t0_us / 1e6 - 2, UTC)


def test_records_before_template_and_unknown_template(tmp_path: Path) -> None:
    t0 = 1_795_000_000_000
    data_first = netflow.ipfix_message(
        [netflow.data_set(256, netflow.NAT44_TEMPLATE, _nat_rows(t0)[:1])], t0 // 1000
    )
    template_later = netflow.ipfix_message(
        [netflow.template_set(256, netflow.NAT44_TEMPLATE, v9=False)], t0 // 1000
    )
    never = netflow.ipfix_message(
        [netflow.data_set(999, netflow.NAT44_TEMPLATE, _nat_rows(t0)[:1])], t0 // 1000
    )
    path = tmp_path / "order.ipfix"
    path.write_bytes(data_first + template_later + never)
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    (row,) = batch.table.to_pylist()
    assert row["source_line"] == 1  # decoded late, but still named by its own packet
    reasons = {b.line_no: b.reason for b in batch.bad_lines}
    assert "came before its template" in reasons[1]
    assert "unknown template 999" in reasons[3]
    assert any("'before_template': 1" in n and "'unknown_template': 1" in n for n in batch.notes)


def test_malformed_and_truncated_packets_are_counted() -> None:
    dec = netflow.FlowDecoder()
    t0 = 1_795_000_000_000
    good = netflow.ipfix_message(
        [netflow.template_set(256, netflow.NAT44_TEMPLATE, v9=False),
         netflow.data_set(256, netflow.NAT44_TEMPLATE, _nat_rows(t0)[:2])], t0 // 1000,
    )  # fmt: skip
    cases = [
        b"",
        b"\x00\x0a",
        good[:40],  # cut short: header length says more
        struct.pack("!HHIII", 10, 8, 0, 0, 0),  # length under the header size
        struct.pack("!HHIII", 10, 20, 0, 0, 0) + struct.pack("!HH", 256, 2),  # set length 2
        struct.pack("!HHIII", 10, 24, 0, 0, 0) + struct.pack("!HHHH", 2, 8, 5, 1),  # tid 5
        struct.pack("!HH", 7, 0) + b"\x00" * 30,  # unknown version
        struct.pack("!HHIIIIBBH", 5, 31, 0, 0, 0, 0, 0, 0, 0),  # v5 count over 30
        struct.pack("!HHIIIIBBH", 5, 2, 0, 0, 0, 0, 0, 0, 0) + b"\x00" * 48,  # v5 cut short
    ]
    for i, data in enumerate(cases, start=1):
        assert dec.decode(data, "192.0.2.1", i) == []
    assert dec.stats.truncated + dec.stats.malformed == len(cases)
    assert {p for p, _ in dec.stats.problems} == set(range(1, len(cases) + 1))
    # a good packet after all that still decodes
    assert len(dec.decode(good, "192.0.2.1", 99)) == 2


def test_truncated_record_keeps_earlier_records() -> None:
    dec = netflow.FlowDecoder()
    fields = ((8, 4), (82, 65535))  # sourceIPv4Address, interfaceName (variable length)
    body = b"\xc6\x33\x64\x01\x03abc" + b"\xc6\x33\x64\x02\x09ab"  # second claims 9 bytes
    data_set = struct.pack("!HH", 256, 4 + len(body)) + body
    msg = netflow.ipfix_message([netflow.template_set(256, fields, v9=False), data_set], 1)
    out = dec.decode(msg, "192.0.2.1", 1)
    assert [r["public_ip"] for r in out] == ["198.51.100.1"]
    assert dec.stats.truncated == 1


def test_pcap_cut_short_and_empty_files(tmp_path: Path) -> None:
    t0 = 1_795_000_000_000
    msg = netflow.ipfix_message(
        [netflow.template_set(256, netflow.NAT44_TEMPLATE, v9=False),
         netflow.data_set(256, netflow.NAT44_TEMPLATE, _nat_rows(t0)[:1])], t0 // 1000,
    )  # fmt: skip
    path = tmp_path / "cut.pcap"
    netflow.write_pcap(path, [("192.0.2.1", msg), ("192.0.2.1", msg)])
    path.write_bytes(path.read_bytes()[:-10])
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    assert batch.table.num_rows == 1
    assert any("runs past the end" in b.reason for b in batch.bad_lines)
    empty = tmp_path / "empty.ipfix"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        list(netflow.PARSER.parse(empty, ParseOptions()))
    text = tmp_path / "text.log"
    text.write_text("this is not an export packet\n")
    with pytest.raises(FormatError, match="does not look like NetFlow"):
        list(netflow.PARSER.parse(text, ParseOptions()))
    gz = tmp_path / "cut.ipfix.gz"
    gz.write_bytes(gzip.compress(msg * 50)[:-20])
    with pytest.raises(FormatError, match="cut short"):
        list(netflow.PARSER.parse(gz, ParseOptions()))


def test_clock_skew_applies_to_flow_times(tmp_path: Path) -> None:
    path = tmp_path / "nat.ipfix"
    path.write_bytes(_RFC_IPFIX)
    plain = parse_all(netflow.PARSER, path, ParseOptions()).table.to_pylist()[0]
    skewed = parse_all(
        netflow.PARSER, path, ParseOptions(clock_skew=timedelta(seconds=3))
    ).table.to_pylist()[0]
    assert plain["start"] - skewed["start"] == timedelta(seconds=3)


# --- writers for traffic synth: what they write, the parsers read back ------------------------


def test_writers_round_trip(tmp_path: Path) -> None:
    at = utc(2026, 11, 27, 9, 15, 2)
    later = at + timedelta(minutes=47)
    lines = [
        juniper_pba.format_line("ALLOC", at, "100.64.1.2", "203.0.113.5", 1024, 1151, at,
                                tz="Europe/Amsterdam"),
        juniper_pba.format_line("RELEASE", later, "100.64.1.2", "203.0.113.5", 1024, 1151, at,
                                tz="Europe/Amsterdam"),
    ]  # fmt: skip
    path = tmp_path / "pba.log"
    path.write_text("\n".join(lines) + "\n")
    rows = parse_all(juniper_pba.PARSER, path,
                     ParseOptions(tz="Europe/Amsterdam", year=2026)).table.to_pylist()  # fmt: skip
    assert [(r["event"], r["start"], r["end"]) for r in rows] == [
        ("create", at, None), ("teardown", at, later),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="ALLOC"):
        juniper_pba.format_line("FREE", at, "100.64.1.2", "203.0.113.5", 1, 2, at)

    dgram = cisco_xr_cgn.format_datagram(at, [
        {"event": "UserbasedA", "inside_ip": "100.64.1.2", "vrf": "v", "public_ip": "203.0.113.5",
         "first_port": 2048, "last_port": 2559},
        {"event": "SessionbasedAD", "proto": 17, "inside_ip": "100.64.1.3",
         "public_ip": "203.0.113.5", "inside_port": 5353, "first_port": 3000,
         "dst_ip": "2001:db8::53", "dst_port": 53},
    ])  # fmt: skip
    path = tmp_path / "cgn.log"
    path.write_text(dgram + "\n")
    rows = parse_all(cisco_xr_cgn.PARSER, path, ParseOptions(tz="UTC")).table.to_pylist()
    got = sorted((r["kind"], r["inside_ip"], r["public_port"], r["start"]) for r in rows)
    assert got == [("nat", "100.64.1.3", 3000, at), ("port_block", "100.64.1.2", 2048, at)]
    with pytest.raises(ValueError, match="unknown CGN event"):
        cisco_xr_cgn.format_datagram(at, [{"event": "Nope"}])

    leases = [{"address": "100.64.1.2", "start": at, "end": later, "hwaddr": "02:00:5e:10:00:01",
               "hostname": "cpe, synthetic"}]  # fmt: skip
    path = tmp_path / "kea.csv"
    path.write_text(kea_leases.format_csv(leases))
    (row,) = parse_all(kea_leases.PARSER, path, ParseOptions()).table.to_pylist()
    assert (row["inside_ip"], row["start"], row["end"], row["subscriber"]) == (
        "100.64.1.2", at, later, "cpe, synthetic",
    )  # fmt: skip
    path6 = tmp_path / "kea6.csv"
    path6.write_text(
        kea_leases.format_csv(
            [{"address": "2001:db8:1::5", "start": at, "end": later, "duid": "00:01"}], v6=True
        )
    )
    (row6,) = parse_all(kea_leases.PARSER, path6, ParseOptions()).table.to_pylist()
    assert row6["inside_ip"] == "2001:db8:1::5" and row6["session_id"] == "00:01"


def _pcapng(frames: list[bytes]) -> bytes:
    """A little-endian pcapng file written from the format's description: a Section Header
    Block, one Interface Description Block (link type 101, raw IP) and one Enhanced Packet
    Block per frame."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * ((-len(body)) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 101, 0, 65535))
    epbs = b"".join(
        block(6, struct.pack("<IIIII", 0, 0, i, len(f), len(f)) + f) for i, f in enumerate(frames)
    )
    return shb + idb + epbs


def test_pcapng_capture(tmp_path: Path) -> None:
    classic = tmp_path / "one.pcap"
    netflow.write_pcap(classic, [("192.0.2.1", _RFC_IPFIX)])
    frame = classic.read_bytes()[24 + 16 :]  # the raw-IP frame of the classic capture
    path = tmp_path / "nat.pcapng"
    path.write_bytes(_pcapng([frame, frame[:25]]))
    from trailguard.traffic.parsers._common import read_head

    assert netflow.PARSER.detect(read_head(path)) >= 0.9
    batch = parse_all(netflow.PARSER, path, ParseOptions())
    (row,) = batch.table.to_pylist()
    assert row["public_ip"] == "203.0.113.5" and row["device"] == "192.0.2.1"
    assert [b.line_no for b in batch.bad_lines] == [2]  # the cut frame, named by its number
