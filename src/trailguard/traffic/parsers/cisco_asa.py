"""Cisco ASA syslog: NAT translations 305011 (built) and 305012 (teardown).

Follows Cisco, "Cisco ASA Series Syslog Messages", messages 305011 and 305012:
https://www.cisco.com/c/en/us/td/docs/security/asa/syslog/b_syslog/syslogs3.html
(older edition: http://www.cisco.com/en/US/docs/security/asa/asa90/system/message/logmsgs.html)

    %ASA-6-305011: Built {dynamic|static} {TCP|UDP|ICMP} translation from
        real_interface:real_address/real_port [(real_user)]
        to mapped_interface:mapped_address/mapped_port
    %ASA-6-305012: Teardown {dynamic|static} {TCP|UDP|ICMP} translation from
        interface:real_address/real_port [(idfw_user)] to interface:mapped_address/mapped_port
        duration time

Line prefix (syslog header as the ASA or a relay writes it): optional ``<PRI>``, a stamp
``Oct 10 2018 12:34:56`` or ``Oct 10 12:34:56`` (optionally with ``.mmm`` and a colon), an
optional hostname, an optional tag like ``CiscoASA[999]:``, then ``%ASA-6-305011:``.

Normalisation: kind ``nat``; the real (inside) address/port is ``inside_ip``/``inside_port``,
the mapped (outside) one ``public_ip``/``public_port``. 305011 gives event ``create`` and
``start``; 305012 gives event ``teardown``, ``end`` = the stamp and ``start`` = end - duration.
The duration is ``hours:minutes:seconds``; minutes or seconds over 59 make the line a bad line
(``9:99:99`` is no time), on the compiled and the regex path alike.
The stamps carry no zone, so ``ParseOptions.tz`` is required; a stamp without a year needs
``ParseOptions.year``. Other ASA message ids are counted in ``skipped_lines``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import BadLine, FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c
from trailguard.traffic.parsers._asa_fast import PROTO_NAMES, FastNat, parse_fast

_STAMP = (
    r"^(?:<\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?:(?P<year>\d{4}) )?"
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,6}))?:? "
    r"(?:(?P<host>[^\s%]\S*) )??(?:[^\s%]\S*: )?"
)
_NAT = (
    _STAMP + r"%(?:ASA|FTD|PIX)-\d-30501(?P<which>[12]): (?:Built|Teardown) (?:dynamic|static) "
    r"(?P<proto>\S+) translation from [^:\s]+:(?P<in_ip>[^\s/]+)/(?P<in_port>\d+)"
    r"(?: \([^)]*\))? to [^:\s]+:(?P<out_ip>[^\s/]+)/(?P<out_port>\d+)"
    r"(?: duration (?P<dh>\d+):(?P<dm>\d\d):(?P<ds>\d\d))?\s*$"
)
_ANY_ASA = _STAMP + r"%(?:ASA|FTD|PIX)-\d-(?P<msgid>\d{6}):"
# the compiled scanner for the usual line shape (see _asa_fast); the regex path alone gives the
# same records, only slower (tests compare the two)
USE_FAST_PATH = True
_EVENTS = pa.array(["create", "teardown"], pa.string())
_FIELDS = [
    "mon",
    "day",
    "year",
    "hh",
    "mi",
    "ss",
    "frac",
    "host",
    "which",
    "proto",
    "in_ip",
    "in_port",
    "out_ip",
    "out_port",
    "dh",
    "dm",
    "ds",
]


class CiscoAsaParser:
    NAME: ClassVar[str] = "cisco-asa"
    DESCRIPTION: ClassVar[str] = "Cisco ASA syslog NAT translations (305011 built, 305012 teardown)"
    SOURCE: ClassVar[str] = (
        "Cisco ASA Series Syslog Messages, 305011/305012: "
        "https://www.cisco.com/c/en/us/td/docs/security/asa/syslog/b_syslog/syslogs3.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.NAT,)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        hits = sum(1 for h in lines if "%ASA-" in h or "%FTD-" in h or "%PIX-" in h)
        return 0.95 * hits / len(lines)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        if options.tz is None:
            raise FormatError(
                f"{path}: Cisco ASA syslog stamps carry no time zone; pass --tz (ParseOptions.tz),"
                " e.g. --tz Europe/Amsterdam or --tz +01:00"
            )
        tz = c.validate_tz(options.tz)
        source = c.source_name(path, options)
        for chunk in c.iter_line_chunks(path, options):
            if chunk.first_line == 1:
                c.refuse_if_no_marker(chunk, r"%(?:ASA|FTD|PIX)-\d-\d{6}", self.NAME, path)
            yield self._parse_chunk(chunk, tz, options, source)

    def _parse_chunk(
        self, chunk: c.LineChunk, tz: str, options: ParseOptions, source: str
    ) -> ParsedBatch:
        n = len(chunk)
        notes: list[str] = [f"stamps read as local time in {tz} (no zone in ASA syslog)"]
        bad_lines = list(chunk.bad)
        tables = []
        if USE_FAST_PATH:
            fast, taken = parse_fast(
                chunk.data, chunk.starts, chunk.ends, chunk.usable, options.year
            )
            table, before_1970 = self._fast_table(fast, chunk, tz, options, source, notes)
            tables.append(table)
            if len(before_1970):  # the regex path reports them as bad lines
                taken = taken.copy()
                taken[before_1970] = False
            slow_idx = np.flatnonzero(~taken & chunk.usable)
        else:
            slow_idx = np.flatnonzero(chunk.usable)
        skipped = 0
        if len(slow_idx) or not tables:
            slow_lines = chunk.texts(slow_idx)
            slow, skipped, slow_bad = self._from_regex(slow_lines)
            slow.rows = slow_idx[slow.rows]
            for i, reason in slow_bad:
                text = slow_lines[i].as_py() or ""
                bad_lines.append(BadLine(chunk.first_line + int(slow_idx[i]), reason, text[:200]))
            table, part_bad = self._finish(slow, chunk, tz, options, source, notes)
            tables.append(table)
            bad_lines += part_bad
        bad_lines.sort(key=lambda b: b.line_no)
        return ParsedBatch(
            table=pa.concat_tables(tables) if len(tables) > 1 else tables[0],
            lines_read=n,
            bad_lines=bad_lines,
            notes=notes,
            skipped_lines=skipped,
        )

    @staticmethod
    def _fast_table(
        fast: FastNat,
        chunk: c.LineChunk,
        tz: str,
        options: ParseOptions,
        source: str,
        notes: list[str],
    ) -> tuple[pa.Table, np.ndarray]:
        """The records of the lines the compiled scanner took: every value is already checked
        (real date, canonical addresses, ports in range), so only the zone is applied here.
        Also returns the chunk rows of teardowns whose start (stamp minus duration) falls
        before 1970, left out of the table for the regex path to report."""
        if fast.yearless:
            note = f"stamps without a year read as {options.year} (given)"
            if note not in notes:
                notes.append(note)
        at = c.apply_skew(c.localize(fast.naive_us, tz, notes), options.clock_skew)
        teardown = fast.duration_s >= 0
        start = np.where(teardown, at - fast.duration_s * 1_000_000, at)
        early = teardown & (start < 0)
        rows, proto, in_port, out_port = fast.rows, fast.proto, fast.in_port, fast.out_port
        in_ip, out_ip, host = fast.in_ip, fast.out_ip, fast.host
        if early.any():
            keep = ~early
            kept = pa.array(np.flatnonzero(keep))
            rows, proto, in_port, out_port = rows[keep], proto[keep], in_port[keep], out_port[keep]
            in_ip, out_ip, host = in_ip.take(kept), out_ip.take(kept), host.take(kept)
            at, start, teardown = at[keep], start[keep], teardown[keep]
        table = c.build_table(
            RecordKind.NAT,
            len(rows),
            source,
            rows + chunk.first_line,
            {
                "event": _EVENTS.take(pa.array(teardown.view(np.int8))),
                "start": c.ts_array(start),
                "end": c.ts_array(at, mask=~teardown),
                "source_tz": tz,
                "protocol": PROTO_NAMES.take(pa.array(proto)),
                "inside_ip": in_ip,
                "inside_port": pa.array(in_port, pa.int32()),
                "public_ip": out_ip,
                "public_port": pa.array(out_port, pa.int32()),
                "device": host,
            },
        )
        return table, fast.rows[early]

    @staticmethod
    def _from_regex(lines: pa.Array) -> tuple[_Fields, int, list[tuple[int, str]]]:
        """The full grammar, for the lines the fast path did not take."""
        parts = pc.extract_regex(lines, _NAT)
        matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines))
        rest = ~matched & ~blank
        bad: list[tuple[int, str]] = []
        skipped = int(blank.sum())
        if rest.any():
            idx = np.flatnonzero(rest)
            other = pc.extract_regex(lines.take(pa.array(idx)), _ANY_ASA)
            ok = np.asarray(pc.is_valid(other).to_numpy(zero_copy_only=False), dtype=bool)
            ids = pc.fill_null(pc.struct_field(other, "msgid"), "")
            is_nat_id = np.asarray(
                pc.is_in(ids, value_set=pa.array(["305011", "305012"])).to_numpy(
                    zero_copy_only=False
                ),
                dtype=bool,
            )
            skipped += int((ok & ~is_nat_id).sum())
            for i in idx[ok & is_nat_id].tolist():
                bad.append((i, "malformed 305011/305012 translation message"))
            for i in idx[~ok].tolist():
                bad.append((i, "not a Cisco ASA syslog line"))
        rows = np.flatnonzero(matched)
        sub = parts.filter(pa.array(matched))
        f = c.struct_fields(sub, _FIELDS)
        return (
            _Fields(
                rows=rows,
                year=c.to_numpy_str_ints(f["year"]),
                year_present=c.nonempty(f["year"]),
                month=c.month_numbers(f["mon"]),
                day=c.to_numpy_str_ints(f["day"]),
                hh=c.to_numpy_str_ints(f["hh"]),
                mi=c.to_numpy_str_ints(f["mi"]),
                ss=c.to_numpy_str_ints(f["ss"]),
                micro=c.fraction_to_us(f["frac"]),
                teardown=np.asarray(
                    pc.fill_null(pc.equal(f["which"], "2"), False).to_numpy(zero_copy_only=False),
                    dtype=bool,
                ),
                duration_hours=c.to_numpy_str_ints(f["dh"]).astype(np.float64),
                duration_rest=c.to_numpy_str_ints(f["dm"]) * 60 + c.to_numpy_str_ints(f["ds"]),
                duration_bad=(c.to_numpy_str_ints(f["dm"]) > 59)
                | (c.to_numpy_str_ints(f["ds"]) > 59),
                duration_text=pc.binary_join_element_wise(
                    pc.fill_null(f["dh"], ""), pc.fill_null(f["dm"], ""), f["ds"], ":"
                ),
                proto=pc.utf8_lower(f["proto"]),
                in_ip=f["in_ip"],
                in_port=c.to_numpy_str_ints(f["in_port"], default=-1),
                out_ip=f["out_ip"],
                out_port=c.to_numpy_str_ints(f["out_port"], default=-1),
                host=c.empty_to_null(pc.fill_null(f["host"], "")),
            ),
            skipped,
            bad,
        )

    @staticmethod
    def _finish(
        f: _Fields,
        chunk: c.LineChunk,
        tz: str,
        options: ParseOptions,
        source: str,
        notes: list[str],
    ) -> tuple[pa.Table, list[BadLine]]:
        m = len(f.rows)
        if options.year is not None:
            year = np.where(f.year_present, f.year, options.year)
            if m and not f.year_present.all():
                note = f"stamps without a year read as {options.year} (given)"
                if note not in notes:
                    notes.append(note)
        else:
            missing = ~f.year_present
            if missing.any():
                first = chunk.first_line + int(f.rows[np.flatnonzero(missing)[0]])
                raise FormatError(
                    f"{source}: line {first} has a syslog stamp without a year; pass the year"
                    " the file was written in with --year (ParseOptions.year), and --tz"
                )
            year = f.year
        naive, bad_date = c.civil_to_epoch_us(year, f.month, f.day, f.hh, f.mi, f.ss, f.micro)
        stamp = c.apply_skew(c.localize(naive, tz, notes), options.clock_skew)
        in_ip, in_ok = c.canonical_ips(f.in_ip)
        out_ip, out_ok = c.canonical_ips(f.out_ip)
        everything = np.ones(m, dtype=bool)
        checks = [
            c.Check("impossible date or time", bad_date & everything),
            c.Check(
                "inside port out of range 0..65535", c.check_ports(f.in_port, everything), f.in_port
            ),
            c.Check(
                "public port out of range 0..65535",
                c.check_ports(f.out_port, everything),
                f.out_port,
            ),
            c.Check("invalid inside address", ~in_ok, f.in_ip),
            c.Check("invalid public address", ~out_ok, f.out_ip),
            c.Check(
                "invalid duration (hours:minutes:seconds, minutes and seconds 0..59)",
                f.teardown & f.duration_bad,
                f.duration_text,
            ),
            # the start is the stamp minus the duration (in floats: a long duration would
            # overflow 64-bit microseconds)
            c.Check(
                "start (stamp minus duration) before 1970-01-01",
                f.teardown & (stamp / 1e6 - f.duration_hours * 3600.0 - f.duration_rest < 0),
            ),
        ]
        bad, bad_lines = c.collect_bad(checks, chunk, chunk.first_line, row_lines=f.rows)
        keep = ~bad
        if bad.any():
            kp = pa.array(np.flatnonzero(keep))
            in_ip, out_ip = in_ip.take(kp), out_ip.take(kp)
            proto, host = f.proto.take(kp), f.host.take(kp)
        else:
            proto, host = f.proto, f.host
        teardown = f.teardown[keep]
        at = stamp[keep]
        # checked above: every kept teardown's duration ends after 1970, so this cannot overflow
        duration_s = f.duration_hours[keep].astype(np.int64) * 3600 + f.duration_rest[keep]
        start = np.where(teardown, at - duration_s * 1_000_000, at)
        table = c.build_table(
            RecordKind.NAT,
            int(keep.sum()),
            source,
            f.rows[keep] + chunk.first_line,
            {
                "event": pc.if_else(pa.array(teardown), "teardown", "create"),
                "start": c.ts_array(start),
                "end": c.ts_array(at, mask=~teardown),
                "source_tz": tz,
                "protocol": proto,
                "inside_ip": in_ip,
                "inside_port": pa.array(f.in_port[keep], pa.int32()),
                "public_ip": out_ip,
                "public_port": pa.array(f.out_port[keep], pa.int32()),
                "device": host,
            },
        )
        return table, bad_lines


@dataclass
class _Fields:
    """Parsed fields of the NAT lines at ``rows`` (indices into the chunk)."""

    rows: np.ndarray
    year: np.ndarray
    year_present: np.ndarray
    month: np.ndarray
    day: np.ndarray
    hh: np.ndarray
    mi: np.ndarray
    ss: np.ndarray
    micro: np.ndarray
    teardown: np.ndarray
    duration_hours: np.ndarray  # float64: the hours field may hold up to 18 digits
    duration_rest: np.ndarray  # minutes and seconds, in seconds
    duration_bad: np.ndarray  # minutes or seconds over 59
    duration_text: pa.Array  # the duration as written (null without one)
    proto: pa.Array
    in_ip: pa.Array
    in_port: np.ndarray
    out_ip: pa.Array
    out_port: np.ndarray
    host: pa.Array


PARSER = CiscoAsaParser()
