"""Juniper port-block allocation syslog: JSERVICES_NAT_PORT_BLOCK_ALLOC / _RELEASE / _ACTIVE.

Follows Juniper, "Secured Port Block Allocation" and "Interim Logging for Secured Port Block
Allocation" (Junos OS, MS-MPC/MS-MIC services cards; the interim "active" logs re-send the
allocation of blocks still in use because UDP syslog can be lost):
https://www.juniper.net/documentation/us/en/software/junos/interfaces-adaptive-services/topics/topic-map/secured-port-block-allocation-interim-logging.html
https://www.juniper.net/documentation/us/en/software/junos/interfaces-next-gen-services/topics/ref/statement/block-allocation-edit-services-nat-source-port-usf.html

    Jun 28 15:29:20 (FPC Slot 5, PIC Slot 0) {cgn-sset}[FWNAT]: JSERVICES_NAT_PORT_BLOCK_ALLOC:
        100.64.1.2 -> 203.0.113.5:1024-1151 0x5b35015c
    ... JSERVICES_NAT_PORT_BLOCK_ACTIVE: 100.64.1.2 -> 203.0.113.5:1024-1151 0x5b35015c
    ... JSERVICES_NAT_PORT_BLOCK_RELEASE: 100.64.1.2 -> 203.0.113.5:1024-1151 0x5b35015c

The line starts with a BSD syslog stamp (``Mon dd [yyyy] hh:mm:ss[.frac]``, no zone: needs
``ParseOptions.tz``, and ``ParseOptions.year`` when the year is missing) or an RFC 5424 stamp
with its offset (``<PRI>1 2026-11-27T10:00:00.123+01:00 host ...``). The inside address may be
IPv6 (NAT64). The trailing hexadecimal value is the block's allocation time in seconds since
1970 (UTC): the same value appears in the ALLOC, ACTIVE and RELEASE lines of one block.

Normalisation: kind ``port_block``; ``inside_ip`` the subscriber's private address,
``public_ip``/``public_port``..``public_port_end`` the block. ALLOC gives event ``create`` with
``start`` = the stamp; ACTIVE gives ``interim`` with ``start`` = the allocation time and no end
(so it joins its allocation's period however many lie between: issue 18), or, when the line
has no plausible allocation time, ``seen`` with ``start`` = the stamp (it confirms its holder's
period without knowing its start); RELEASE gives ``teardown`` with ``end`` = the stamp and
``start`` = the allocation time (or the stamp). ``session_id`` keeps the hexadecimal value so
that the records of one block can be paired. Other syslog messages are counted in
``skipped_lines``; a line with no syslog stamp is a bad line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import BadLine, FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

# A syslog stamp as relays and devices write it: optional <PRI> (and RFC 5424 version), then
# either a BSD stamp (no zone) or an ISO 8601 stamp with an offset.
STAMP = (
    r"^(?:<\d{1,3}>(?:\d{1,2} )?\s*)?"
    r"(?:(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?:(?P<year>\d{4}) )?"
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,6}))?"
    r"|(?P<iy>\d{4})-(?P<im>\d\d)-(?P<id>\d\d)T(?P<ih>\d\d):(?P<imi>\d\d):(?P<is>\d\d)"
    r"(?:\.(?P<ifrac>\d{1,9}))?(?P<ioff>Z|[+-]\d\d:?\d\d))"
)
STAMP_FIELDS = [
    "mon",
    "day",
    "year",
    "hh",
    "mi",
    "ss",
    "frac",
    "iy",
    "im",
    "id",
    "ih",
    "imi",
    "is",
    "ifrac",
    "ioff",
]

_PBA = (
    STAMP + r":?\s+(?:(?P<host>[^\s({\[<]\S*[^:\s])\s+)?.*?"
    r"JSERVICES_NAT_PORT_BLOCK_(?P<ev>ALLOC|RELEASE|ACTIVE):\s+"
    r"(?P<in_ip>[0-9A-Fa-f:.]+)\s+->\s+(?P<out_ip>[^\s:]+):(?P<p1>\d{1,9})-(?P<p2>\d{1,9})"
    r"(?:\s+(?P<hex>0x[0-9A-Fa-f]{1,16}))?\s*$"
)
_FIELDS = [*STAMP_FIELDS, "host", "ev", "in_ip", "out_ip", "p1", "p2", "hex"]
# plausible allocation times: not after the stamp, not more than 400 days before it
_MAX_BLOCK_AGE_US = 400 * 86_400 * 1_000_000


@dataclass
class Stamps:
    """Instants of syslog stamps (UTC microseconds), their bad mask and source_tz text."""

    us: np.ndarray
    bad: np.ndarray
    source_tz: pa.Array


def syslog_stamps(
    f: dict[str, pa.Array],
    tz: str | None,
    options: ParseOptions,
    notes: list[str],
    source: str,
    first_line: int,
    rows: np.ndarray,
    fmt: str,
) -> Stamps:
    """Turn extracted STAMP fields into UTC instants.

    BSD stamps need ``tz`` (FormatError otherwise) and, without a year, ``options.year``.
    ISO stamps carry their own offset. ``options.clock_skew`` is subtracted."""
    n = len(rows)
    iso = c.nonempty(pc.fill_null(f["iy"], ""))
    bsd = ~iso
    if bsd.any():
        if tz is None:
            raise FormatError(
                f"{source}: line {first_line + int(rows[np.flatnonzero(bsd)[0]])} has a {fmt}"
                " syslog stamp without a time zone; pass --tz (ParseOptions.tz), e.g."
                " --tz Europe/Amsterdam or --tz +01:00"
            )
        year_present = c.nonempty(pc.fill_null(f["year"], ""))
        year = c.to_numpy_str_ints(f["year"])
        if not year_present[bsd].all():
            if options.year is None:
                missing = bsd & ~year_present
                raise FormatError(
                    f"{source}: line {first_line + int(rows[np.flatnonzero(missing)[0]])} has a"
                    " syslog stamp without a year; pass the year the file was written in with"
                    " --year (ParseOptions.year), and --tz"
                )
            year = np.where(year_present, year, options.year)
            note = f"stamps without a year read as {options.year} (given)"
            if note not in notes:
                notes.append(note)
        naive, bad_bsd = c.bsd_civil_us(f, year, c.fraction_to_us(f["frac"]))
        note = f"stamps without a zone read as local time in {tz}"
        if note not in notes:
            notes.append(note)
        bsd_us = c.localize(naive, tz, notes)
    else:
        bsd_us = np.zeros(n, dtype=np.int64)
        bad_bsd = np.zeros(n, dtype=bool)
    iso_naive, bad_iso = c.civil_to_epoch_us(
        c.to_numpy_str_ints(f["iy"]),
        c.to_numpy_str_ints(f["im"]),
        c.to_numpy_str_ints(f["id"]),
        c.to_numpy_str_ints(f["ih"]),
        c.to_numpy_str_ints(f["imi"]),
        c.to_numpy_str_ints(f["is"]),
        c.fraction_to_us(f["ifrac"]),
    )
    off_s, _present, off_text = c.offset_seconds(f["ioff"])
    iso_us = iso_naive - off_s * 1_000_000
    us = np.where(iso, iso_us, bsd_us)
    bad = np.where(iso, bad_iso, bad_bsd)
    tz_text = pa.array(np.full(n, tz or "", dtype=object), pa.string())
    source_tz = pc.if_else(pa.array(iso), off_text, tz_text)
    return Stamps(c.apply_skew(us, options.clock_skew), bad, source_tz)


def first_batch_guard(
    name: str, path: Path, batch: ParsedBatch, chunk: c.LineChunk, seen_any: bool
) -> bool:
    """True once a record or a skipped line was seen; raise when the first chunk has only bad
    lines (the wrong format was named)."""
    if batch.table.num_rows or batch.skipped_lines:
        return True
    if not seen_any and batch.lines_read and chunk.first_line == 1:
        usable = int(chunk.usable.sum())
        if usable and len(batch.bad_lines) >= usable:
            raise c.wrong_format_error(name, path, batch.lines_read)
    return seen_any


class JuniperPbaParser:
    NAME: ClassVar[str] = "juniper-pba"
    DESCRIPTION: ClassVar[str] = (
        "Juniper port-block allocation syslog (JSERVICES_NAT_PORT_BLOCK_ALLOC/_RELEASE/_ACTIVE)"
    )
    SOURCE: ClassVar[str] = (
        "Juniper, Secured Port Block Allocation and its Interim Logging: "
        "https://www.juniper.net/documentation/us/en/software/junos/interfaces-adaptive-services/"
        "topics/topic-map/secured-port-block-allocation-interim-logging.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.PORT_BLOCK,)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        hits = sum(1 for h in lines if "JSERVICES_NAT_PORT_BLOCK_" in h)
        return 0.95 * hits / len(lines)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        tz = c.validate_tz(options.tz) if options.tz is not None else None
        source = c.source_name(path, options)
        seen_tag = False
        for chunk in c.iter_line_chunks(path, options):
            batch, tagged = self._parse_chunk(chunk, tz, options, source)
            seen_tag = seen_tag or tagged
            if not seen_tag and chunk.first_line == 1 and chunk.usable.any():
                raise c.wrong_format_error(
                    self.NAME, path, batch.lines_read, " (no JSERVICES_NAT_PORT_BLOCK_ message)"
                )
            yield batch

    def _parse_chunk(
        self, chunk: c.LineChunk, tz: str | None, options: ParseOptions, source: str
    ) -> tuple[ParsedBatch, bool]:
        lines = chunk.lines
        notes: list[str] = []
        parts = pc.extract_regex(lines, _PBA)
        matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
        matched &= chunk.usable
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines))
        has_tag = np.asarray(
            pc.fill_null(pc.match_substring(lines, "JSERVICES_NAT_PORT_BLOCK_"), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        bad_lines: list[BadLine] = list(chunk.bad)
        rest = ~matched & ~blank & chunk.usable
        for i in np.flatnonzero(rest & has_tag).tolist():
            bad_lines.append(
                BadLine(
                    chunk.first_line + i,
                    "malformed JSERVICES_NAT_PORT_BLOCK message (expected 'inside -> public:"
                    "first-last [0xHEX]' after a syslog stamp)",
                    (lines[i].as_py() or "")[:200],
                )
            )
        # lines of other messages carry no record and are skipped; a line that is no syslog
        # line at all (no stamp where a relay or the router writes one) is a bad line
        syslog = np.asarray(
            pc.fill_null(pc.match_substring_regex(lines, STAMP), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        for i in np.flatnonzero(rest & ~has_tag & ~syslog).tolist():
            bad_lines.append(
                BadLine(
                    chunk.first_line + i,
                    "not a syslog line (no stamp such as 'Nov 16 2026 00:09:32' or an ISO 8601 "
                    "time with its offset at the start)",
                    (lines[i].as_py() or "")[:200],
                )
            )
        skipped = int((rest & ~has_tag & syslog).sum() + (blank & chunk.usable).sum())
        rows = np.flatnonzero(matched)
        f = c.struct_fields(parts.filter(pa.array(matched)), _FIELDS)
        table, more_bad = self._finish(f, rows, chunk, tz, options, source, notes)
        bad_lines += more_bad
        bad_lines.sort(key=lambda b: b.line_no)
        return ParsedBatch(table, len(lines), bad_lines, notes, skipped), bool(has_tag.any())

    @staticmethod
    def _finish(
        f: dict[str, pa.Array],
        rows: np.ndarray,
        chunk: c.LineChunk,
        tz: str | None,
        options: ParseOptions,
        source: str,
        notes: list[str],
    ) -> tuple[pa.Table, list[BadLine]]:
        m = len(rows)
        if m == 0:
            return c.empty_table(), []
        st = syslog_stamps(f, tz, options, notes, source, chunk.first_line, rows, "Juniper")
        in_ip, in_ok = c.canonical_ips(f["in_ip"])
        out_ip, out_ok = c.canonical_ips(f["out_ip"])
        p1 = c.to_numpy_str_ints(f["p1"], default=-1)
        p2 = c.to_numpy_str_ints(f["p2"], default=-1)
        everything = np.ones(m, dtype=bool)
        hex_text = pc.fill_null(f["hex"], "")
        has_hex = c.nonempty(hex_text)
        alloc_s = np.array([int(h, 16) if h else 0 for h in hex_text.to_pylist()], dtype=np.float64)
        alloc_us = np.where(alloc_s < 2**40, alloc_s, 0).astype(np.int64) * 1_000_000
        plausible = (
            has_hex & (alloc_us <= st.us + 1_000_000) & (alloc_us >= st.us - _MAX_BLOCK_AGE_US)
        )
        ev = f["ev"]
        is_alloc = np.asarray(pc.equal(ev, "ALLOC").to_numpy(zero_copy_only=False), dtype=bool)
        is_rel = np.asarray(pc.equal(ev, "RELEASE").to_numpy(zero_copy_only=False), dtype=bool)
        checks = [
            c.Check("impossible date or time", st.bad & everything),
            c.Check(
                "first port of the block out of range 0..65535", c.check_ports(p1, everything), p1
            ),
            c.Check(
                "last port of the block out of range 0..65535", c.check_ports(p2, everything), p2
            ),
            c.Check("port block ends before it starts", p2 < p1, f["p2"]),
            c.Check("invalid inside address", ~in_ok, f["in_ip"]),
            c.Check("invalid public address", ~out_ok, f["out_ip"]),
        ]
        bad, bad_lines = c.collect_bad(checks, chunk.lines, chunk.first_line, row_lines=rows)
        keep = ~bad
        if has_hex.any() and not plausible[has_hex & keep].all():
            count = int((has_hex & keep & ~plausible).sum())
            notes.append(
                f"{count} block allocation times (0x...) were not within 400 days before the"
                " stamp; the stamp was used as the start instead"
            )
        start = np.where(is_alloc | ~plausible, st.us, alloc_us)
        end_mask = ~is_rel  # only a release closes the block
        event = np.where(
            is_alloc,
            "create",
            np.where(is_rel, "teardown", np.where(plausible, "interim", "seen")),
        )
        kp = pa.array(np.flatnonzero(keep))
        table = c.build_table(
            RecordKind.PORT_BLOCK,
            int(keep.sum()),
            source,
            rows[keep] + chunk.first_line,
            {
                "event": pa.array(event[keep], pa.string()),
                "start": c.ts_array(start[keep]),
                "end": c.ts_array(st.us[keep], mask=end_mask[keep]),
                "source_tz": st.source_tz.take(kp),
                "inside_ip": in_ip.take(kp),
                "public_ip": out_ip.take(kp),
                "public_port": pa.array(p1[keep], pa.int32()),
                "public_port_end": pa.array(p2[keep], pa.int32()),
                "session_id": c.empty_to_null(pc.utf8_lower(hex_text)).take(kp),
                "device": c.empty_to_null(pc.fill_null(f["host"], "")).take(kp),
            },
        )
        return table, bad_lines


PARSER = JuniperPbaParser()


def format_line(
    event: str,
    at: datetime,
    inside_ip: str,
    public_ip: str,
    first_port: int,
    last_port: int,
    allocated_at: datetime,
    *,
    host: str = "cgn-1",
    service_set: str = "cgn-sset",
    tz: str = "UTC",
) -> str:
    """One syslog line as a Junos services card writes it (for ``traffic synth`` and tests):
    ``event`` is ALLOC, RELEASE or ACTIVE; the stamp is local time in ``tz`` without a year."""
    if event not in ("ALLOC", "RELEASE", "ACTIVE"):
        raise ValueError(f"event {event!r} is not ALLOC, RELEASE or ACTIVE")
    local = at.astimezone(ZoneInfo(tz))
    stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
    return (
        f"{stamp} {host} (FPC Slot 5, PIC Slot 0) {{{service_set}}}[FWNAT]:"
        f" JSERVICES_NAT_PORT_BLOCK_{event}: {inside_ip} -> {public_ip}:{first_port}-{last_port}"
        f" {int(allocated_at.timestamp()):#x}"
    )
