"""Cisco IOS XR Carrier Grade NAT syslog: NAT44 and DS-Lite port-block (bulk allocation) and
session events.

Follows Cisco, "Cisco IOS XR Carrier Grade NAT Configuration Guide", chapter "External
Logging", section "Syslog Message Format" (CRS Release 5.2.x, OL-32659-01; the ASR 9000 CGNAT
guide has the same chapter):
https://www.cisco.com/c/en/us/td/docs/routers/asr9000/software/24xx/cgnat/configuration/guide/b-cgnat-cg-asr9k-24xx/external-logging.html

A line is one UDP syslog datagram: an RFC 5424-like header whose stamp is written in Cisco's
simpler form ``YYYY Mon DD HH:MM:SS`` (no zone: ``ParseOptions.tz`` is required), then one or
more bracketed messages::

    <134>1 2026 Nov 27 10:15:02 198.51.100.1 - - NAT44 - [UserbasedA - 100.64.1.2 vrf-cgn -
        203.0.113.5 - 1024 1535 - -][UserbasedA - 100.64.1.3 vrf-cgn - 203.0.113.5 - 1536 2047 - -]

Each message is ``[EventName L4 OriginalSourceIP InsideVRF OriginalSourceIPv6 TranslatedSourceIP
OriginalPort TranslatedFirstSourcePort TranslatedLastSourcePort DestinationIP DestinationPort]``
with ``-`` for fields that do not apply. Events: UserbasedA / UserbasedW (port block assigned /
withdrawn, kind ``port_block``), SessionbasedA(D) / SessionbasedW(D) (one translation created /
deleted, kind ``nat``; D adds the destination), Portblockrunout (ports exhausted: counted in the
notes, no record). L4 is the protocol number (1 ICMP, 6 TCP, 17 UDP).

Normalisation: ``inside_ip`` is the original source IPv4 address, or for DS-Lite the B4's IPv6
address (the softwire identifies the subscriber, the IPv4 inside address is shared); the inside
VRF goes to ``session_id`` as ``vrf=<name>``. A withdrawal gives ``start`` = ``end`` = the stamp
(the log says when the block ended, not when it began). ``source_line`` is the line of the
datagram for every message in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import BadLine, FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c
from trailguard.traffic.parsers.juniper_pba import first_batch_guard

_HEADER = (
    r"^(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \S+ )?"  # an optional relay's BSD prefix
    r"(?:<\d{1,3}>\s?(?:\d{1,2} )?)?"
    r"(?P<year>\d{4}) (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,6}))? "
    r"(?P<host>\S+) \S+ \S+ (?P<app>NAT44|DSLite|DS-Lite|NAT64) \S+ (?P<msgs>\[.*\])\s*$"
)
_HEADER_FIELDS = ["year", "mon", "day", "hh", "mi", "ss", "frac", "host", "app", "msgs"]
_MSG = (
    r"^(?P<ev>\S+) (?P<l4>\S+) (?P<src>\S+) (?P<vrf>\S+) (?P<src6>\S+) (?P<xlat>\S+) "
    r"(?P<oport>\S+) (?P<first>\S+) (?P<last>\S+) (?P<dst>\S+) (?P<dport>\S+)$"
)
_MSG_FIELDS = ["ev", "l4", "src", "vrf", "src6", "xlat", "oport", "first", "last", "dst", "dport"]
_BLOCK_EVENTS = ("UserbasedA", "UserbasedW")
_SESSION_EVENTS = ("SessionbasedA", "SessionbasedAD", "SessionbasedW", "SessionbasedWD")
_KNOWN = (*_BLOCK_EVENTS, *_SESSION_EVENTS, "Portblockrunout")
_PROTO = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmp6"}


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _dash_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, "-"), pa.scalar(None, pa.string()), arr)


class CiscoXrCgnParser:
    NAME: ClassVar[str] = "cisco-xr-cgn"
    DESCRIPTION: ClassVar[str] = (
        "Cisco IOS XR CGN syslog (NAT44/DS-Lite UserbasedA/W port blocks, SessionbasedA/W)"
    )
    SOURCE: ClassVar[str] = (
        "Cisco IOS XR Carrier Grade NAT Configuration Guide, External Logging, Syslog Message "
        "Format: https://www.cisco.com/c/en/us/td/docs/routers/asr9000/software/24xx/cgnat/"
        "configuration/guide/b-cgnat-cg-asr9k-24xx/external-logging.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.PORT_BLOCK, RecordKind.NAT)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        hits = sum(
            1
            for h in lines
            if any(f"[{e} " in h for e in _KNOWN) and (" NAT44 " in h or " DSLite " in h)
        )
        return 0.95 * hits / len(lines)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        if options.tz is None:
            raise FormatError(
                f"{path}: Cisco IOS XR CGN syslog stamps carry no time zone; pass --tz"
                " (ParseOptions.tz), e.g. --tz UTC or --tz +01:00"
            )
        tz = c.validate_tz(options.tz)
        source = c.source_name(path, options)
        seen_any = False
        for chunk in c.iter_line_chunks(path, options):
            batch = self._parse_chunk(chunk, tz, options, source)
            seen_any = first_batch_guard(self.NAME, path, batch, chunk, seen_any)
            yield batch

    def _parse_chunk(
        self, chunk: c.LineChunk, tz: str, options: ParseOptions, source: str
    ) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        notes: list[str] = [f"stamps read as local time in {tz} (no zone in CGN syslog)"]
        bad_lines: list[BadLine] = list(chunk.bad)
        parts = pc.extract_regex(lines, _HEADER)
        matched = _mask(pc.is_valid(parts)) & chunk.usable
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines))
        rest = ~matched & ~blank & chunk.usable
        for i in np.flatnonzero(rest).tolist():
            bad_lines.append(
                BadLine(
                    chunk.first_line + i,
                    "not a Cisco CGN syslog datagram (expected '<PRI>1 YYYY Mon DD HH:MM:SS host"
                    " - - NAT44 - [...]')",
                    (lines[i].as_py() or "")[:200],
                )
            )
        rows = np.flatnonzero(matched)
        if len(rows) == 0:
            bad_lines.sort(key=lambda b: b.line_no)
            return ParsedBatch(c.empty_table(), n, bad_lines, notes, int(blank.sum()))
        h = c.struct_fields(parts.filter(pa.array(matched)), _HEADER_FIELDS)
        year = c.to_numpy_str_ints(h["year"])
        naive, bad_date = c.bsd_civil_us(h, year, c.fraction_to_us(h["frac"]))
        stamp = c.apply_skew(c.localize(naive, tz, notes), options.clock_skew)
        for i in np.flatnonzero(bad_date).tolist():
            r = int(rows[i])
            bad_lines.append(
                BadLine(chunk.first_line + r, "impossible date or time", lines[r].as_py()[:200])
            )
        # one row per bracketed message, remembering the datagram it came from
        inner = pc.utf8_slice_codeunits(h["msgs"], 1, -1)
        split = pc.split_pattern_regex(inner, r"\]\s*\[")
        msgs = pc.utf8_trim_whitespace(
            pc.replace_substring_regex(pc.list_flatten(split), r"\s+", " ")
        )
        parent = np.asarray(pc.list_parent_indices(split).to_numpy(zero_copy_only=False))
        mparts = pc.extract_regex(msgs, _MSG)
        mok = _mask(pc.is_valid(mparts))
        f = c.struct_fields(mparts, _MSG_FIELDS)
        ev = pc.fill_null(f["ev"], "")
        is_block = _mask(pc.is_in(ev, value_set=pa.array(_BLOCK_EVENTS)))
        is_session = _mask(pc.is_in(ev, value_set=pa.array(_SESSION_EVENTS)))
        is_runout = _mask(pc.equal(ev, "Portblockrunout"))
        if (mok & is_runout).any():
            notes.append(f"{int((mok & is_runout).sum())} Portblockrunout (ports exhausted) events")
        withdraw = _mask(pc.match_substring_regex(ev, r"^(?:Userbased|Sessionbased)WD?$"))
        dslite = _mask(
            pc.is_in(pc.take(h["app"], pa.array(parent)), value_set=pa.array(["DSLite", "DS-Lite"]))
        )
        src = pc.if_else(pa.array(dslite), f["src6"], f["src"])
        in_ip, in_ok = c.canonical_ips(_dash_null(src))
        out_ip, out_ok = c.canonical_ips(_dash_null(f["xlat"]))
        dst_raw = _dash_null(f["dst"])
        dst_ip, dst_ok = c.canonical_ips(dst_raw)
        dst_present = c.valid_mask(dst_raw)
        first = c.to_numpy_str_ints(f["first"], default=-1)
        last = c.to_numpy_str_ints(f["last"], default=-1)
        oport_present = c.nonempty(_dash_null(f["oport"]))
        oport = c.to_numpy_str_ints(f["oport"], default=-1)
        dport_present = c.nonempty(_dash_null(f["dport"]))
        dport = c.to_numpy_str_ints(f["dport"], default=-1)
        m = len(msgs)
        usable = mok & (is_block | is_session) & ~bad_date[parent]
        everything = np.ones(m, dtype=bool)
        checks = [
            c.Check("malformed CGN message (expected 11 fields)", ~mok, msgs),
            c.Check("unknown CGN event", mok & ~(is_block | is_session | is_runout), f["ev"]),
            c.Check("invalid original source address", usable & ~in_ok, src),
            c.Check("invalid translated source address", usable & ~out_ok, f["xlat"]),
            c.Check(
                "translated port out of range 0..65535",
                usable & c.check_ports(first, everything),
                f["first"],
            ),
            c.Check(
                "last port of the block out of range 0..65535",
                usable & is_block & c.check_ports(last, everything),
                f["last"],
            ),
            c.Check(
                "port block ends before it starts", usable & is_block & (last < first), f["last"]
            ),
            c.Check(
                "original port out of range 0..65535",
                usable & is_session & oport_present & c.check_ports(oport, everything),
                f["oport"],
            ),
            c.Check("invalid destination address", usable & dst_present & ~dst_ok, f["dst"]),
            c.Check(
                "destination port out of range 0..65535",
                usable & dport_present & c.check_ports(dport, everything),
                f["dport"],
            ),
        ]
        bad, _ = c.collect_bad(checks, msgs, 0)
        # report per datagram line: the first bad message's reason, with the line's text
        reasons: dict[int, str] = {}
        for check in checks:
            for i in np.flatnonzero(check.mask).tolist():
                row = int(rows[parent[i]])
                if row not in reasons and not bad_date[parent[i]]:
                    value = msgs[i].as_py()
                    reasons[row] = f"{check.reason}: {value!r}"
        for row, reason in sorted(reasons.items()):
            bad_lines.append(BadLine(chunk.first_line + row, reason, lines[row].as_py()[:200]))
        keep = usable & ~bad
        block_keep = keep & is_block
        sess_keep = keep & is_session
        at = stamp[parent]
        tables = []
        for sel, kind in ((block_keep, RecordKind.PORT_BLOCK), (sess_keep, RecordKind.NAT)):
            if not sel.any():
                continue
            idx = pa.array(np.flatnonzero(sel))
            wd = withdraw[sel]
            vrf = _dash_null(f["vrf"]).take(idx)
            l4 = f["l4"].take(idx).to_pylist()
            proto = pa.array([_PROTO.get(p or "-") for p in l4], pa.string())
            columns: dict[str, object] = {
                "event": pa.array(np.where(wd, "teardown", "create"), pa.string()),
                "start": c.ts_array(at[sel]),
                "end": c.ts_array(at[sel], mask=~wd),
                "source_tz": tz,
                "protocol": proto,
                "inside_ip": in_ip.take(idx),
                "public_ip": out_ip.take(idx),
                "public_port": pa.array(first[sel], pa.int32()),
                "session_id": pc.binary_join_element_wise("vrf=", vrf, ""),
                "device": c.empty_to_null(pc.take(h["host"], pa.array(parent[sel]))),
            }
            if kind is RecordKind.PORT_BLOCK:
                columns["public_port_end"] = pa.array(last[sel], pa.int32())
            else:
                columns["inside_port"] = pa.array(oport[sel], pa.int32(), mask=~oport_present[sel])
                columns["dst_ip"] = dst_ip.take(idx)
                columns["dst_port"] = pa.array(dport[sel], pa.int32(), mask=~dport_present[sel])
            tables.append(
                c.build_table(
                    kind, int(sel.sum()), source, rows[parent[sel]] + chunk.first_line, columns
                )
            )
        table = pa.concat_tables(tables) if tables else c.empty_table()
        # datagrams that carry only Portblockrunout events: valid, but no traffic record
        with_record = np.zeros(len(rows), dtype=bool)
        with_record[parent[keep]] = True
        reported = np.isin(rows, np.array(sorted(reasons), dtype=np.int64)) | bad_date
        skipped = int(blank.sum()) + int((~with_record & ~reported).sum())
        bad_lines.sort(key=lambda b: b.line_no)
        return ParsedBatch(table, n, bad_lines, notes, skipped)


PARSER = CiscoXrCgnParser()


def format_datagram(
    at: datetime,
    messages: list[dict[str, object]],
    *,
    host: str = "198.51.100.1",
    app: str = "NAT44",
    tz: str = "UTC",
) -> str:
    """One syslog datagram as IOS XR CGN writes it (for ``traffic synth`` and tests). Each
    message is a dict with ``event`` (UserbasedA, SessionbasedW, ...) and any of ``proto``,
    ``inside_ip``, ``vrf``, ``inside_v6``, ``public_ip``, ``inside_port``, ``first_port``,
    ``last_port``, ``dst_ip``, ``dst_port``; missing fields are written as ``-``."""
    local = at.astimezone(ZoneInfo(tz))
    keys = ("event", "proto", "inside_ip", "vrf", "inside_v6", "public_ip", "inside_port",
            "first_port", "last_port", "dst_ip", "dst_port")  # fmt: skip
    parts = []
    for msg in messages:
        if str(msg.get("event")) not in _KNOWN:
            raise ValueError(f"unknown CGN event {msg.get('event')!r}")
        parts.append("[" + " ".join(str(msg.get(k, "-")) for k in keys) + "]")
    return f"<134>1 {local:%Y %b %d %H:%M:%S} {host} - - {app} - {''.join(parts)}"
