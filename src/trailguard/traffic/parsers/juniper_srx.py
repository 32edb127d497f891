"""Juniper SRX session logs: RT_FLOW_SESSION_CREATE / RT_FLOW_SESSION_CLOSE (and ``_LS``).

Follows Juniper, "Information Provided in Session Log Entries for SRX Series Services
Gateways" (field meanings: nat-source-address is the translated source if NAT was applied,
otherwise the source address):
https://www.juniper.net/documentation/en_US/junos12.2/topics/reference/general/session-log-entry-information-for-srx-series.html
and the RT system log message reference (the plain-text form
``session created s/sp->d/dp service ns/nsp->nd/ndp ...``):
https://www.juniper.net/documentation/en_US/release-independent/downloads/juniper-library-junos102.zip:/tmp/tarfile_extract_61za8uop/juniper-library-junos102/www.juniper.net/techpubs/en_US/junos10.2/information-products/topic-collections/syslog-messages/jd0e45972.html

Two line forms are read:

* structured (RFC 5424): ``<14>1 2019-11-14T09:37:51.184+01:00 host RT_FLOW - RT_FLOW_SESSION_CREATE
  [junos@2636.1.1.1.2.x source-address="..." source-port="..." ... ]``. Stamps with ``Z``, with an
  offset, or with no zone (then ``ParseOptions.tz`` is required).
* plain text (BSD syslog): ``Dec 13 13:12:00 host RT_FLOW: RT_FLOW_SESSION_CREATE: session created
  10.0.0.1/594->198.51.100.13/80 junos-http 203.0.113.9/3021->198.51.100.13/80 ...``; its stamp has
  no year or zone, so ``ParseOptions.year`` and ``ParseOptions.tz`` are required. The protocol is
  not reliably placed in this form and is left null.

Records: when the NAT source differs from the source (address or port) the record is kind
``nat`` (inside = source, public = nat-source), otherwise kind ``flow`` (public = source).
CREATE gives event ``create`` (start = stamp); CLOSE gives event ``teardown`` (end = stamp,
start = end - elapsed-time). DENY lines (no session was set up, nothing was translated) and
APPTRACK_* lines are counted as skipped. Quirks of real devices are tolerated: U+201D curly
quotes around values, trailing spaces inside values, and text after the closing ``]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

_SD = (
    r"^<\d{1,3}>1 (?P<ts>\S+) (?P<host>\S+) \S+ \S+ (?P<msgid>[A-Z_]+) "
    r"\[junos@\S+ "
)
_PLAIN = (
    r"^(?:<\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?:(?P<year>\d{4}) )?"
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d) (?P<host>\S+) RT_FLOW: (?P<msgid>[A-Z_]+): "
    r"session (?:created|closed (?P<reason>[^:]*):) "
    r"(?P<src>[^/\s]+)/(?P<sp>\d+)->(?P<dst>[^/\s]+)/(?P<dp>\d+) (?P<svc>\S+) "
    r"(?P<nsrc>[^/\s]+)/(?P<nsp>\d+)->(?P<ndst>[^/\s]+)/(?P<ndp>\d+)(?P<rest>.*)$"
)
_ANY_PLAIN = (
    r"^(?:<\d{1,3}>)?[A-Z][a-z]{2} {1,2}\d{1,2} (?:\d{4} )?\d\d:\d\d:\d\d \S+ \S+: "
    r"(?P<msgid>[A-Z_]+)"
)
_KEYS = {
    "src": "source-address",
    "sp": "source-port",
    "dst": "destination-address",
    "dp": "destination-port",
    "nsrc": "nat-source-address",
    "nsp": "nat-source-port",
    "proto": "protocol-id",
    "sid": "session-id-32",
    "elapsed": "elapsed-time",
    "bc": "bytes-from-client",
    "bs": "bytes-from-server",
    "pc_": "packets-from-client",
    "ps": "packets-from-server",
}
_RECORD_IDS = ["RT_FLOW_SESSION_CREATE", "RT_FLOW_SESSION_CLOSE"]


def _scatter_struct(parts: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """A regex extraction made on ``rows`` only, spread back to ``n`` rows (null elsewhere)."""
    position = np.full(n, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    return parts.take(pa.array(np.maximum(position, 0), pa.int64(), mask=position < 0))


def _patch(values: pa.Array, rows: np.ndarray, fix: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``values`` with ``fix`` applied to the given rows only."""
    if len(rows) == 0:
        return values
    fixed = fix(values.take(pa.array(rows)))
    position = np.full(len(values), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    patched = c.gather(fixed, position)
    return pc.if_else(pc.is_valid(patched), patched, values)


def _sd_values(lines: pa.Array, keys: dict[str, str]) -> dict[str, pa.Array]:
    """The values of the wanted SD-PARAMs of every line, in one pass: each line is split into
    ``name="value"`` pairs and the pairs whose name is wanted are scattered back to their lines
    (the last one wins). Curly quotes are folded to straight ones on the lines that have them;
    the first pair carries the header before its name and the last one the closing ``]`` (and
    whatever a device wrote after it), both cut off."""
    n = len(lines)
    curly = np.asarray(
        pc.fill_null(pc.match_substring(lines, "\u201d"), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    text = _patch(
        lines,
        np.flatnonzero(curly),
        lambda a: pc.replace_substring(pc.replace_substring(a, "\u201d", '"'), "\u201c", '"'),
    )
    pairs = pc.split_pattern(text, '" ')
    flat = pc.list_flatten(pairs)
    parent = np.asarray(pc.list_parent_indices(pairs).to_numpy(zero_copy_only=False))
    name_value = pc.split_pattern(flat, '="', max_splits=1)
    complete = np.asarray(
        pc.equal(pc.list_value_length(name_value), 2).to_numpy(zero_copy_only=False), dtype=bool
    )
    first = np.ones(len(parent), dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    last = np.ones(len(parent), dtype=bool)
    last[:-1] = parent[:-1] != parent[1:]
    name_value = name_value.filter(pa.array(complete))
    parent, first, last = parent[complete], first[complete], last[complete]
    names = pc.list_element(name_value, 0)
    names = _patch(
        names, np.flatnonzero(first), lambda a: pc.replace_substring_regex(a, "^.* ", "")
    )
    values = pc.list_element(name_value, 1)
    values = _patch(
        values, np.flatnonzero(last), lambda a: pc.replace_substring_regex(a, '".*$', "")
    )
    values = pc.utf8_trim_whitespace(values)
    wanted = pa.array(list(keys.values()))
    which = np.asarray(
        pc.fill_null(pc.index_in(names, value_set=wanted), -1).to_numpy(zero_copy_only=False)
    )
    out: dict[str, pa.Array] = {}
    for i, field in enumerate(keys):
        rows = np.flatnonzero(which == i)
        at = np.full(n, -1, dtype=np.int64)
        at[parent[rows]] = rows
        out[field] = c.empty_to_null(pc.fill_null(c.gather(values, at), ""))
    return out


class JuniperSrxParser:
    NAME: ClassVar[str] = "juniper-srx"
    DESCRIPTION: ClassVar[str] = (
        "Juniper SRX RT_FLOW session create/close logs (structured RFC 5424 and plain text)"
    )
    SOURCE: ClassVar[str] = (
        "Juniper, Information Provided in Session Log Entries for SRX Series Services Gateways: "
        "https://www.juniper.net/documentation/en_US/junos12.2/topics/reference/general/"
        "session-log-entry-information-for-srx-series.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.NAT, RecordKind.FLOW)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        hits = sum(1 for h in lines if "RT_FLOW" in h or "[junos@" in h)
        return 0.95 * hits / len(lines)

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        if options.tz is not None:
            c.validate_tz(options.tz)
        source = c.source_name(path, options)
        for chunk in c.iter_line_chunks(path, options):
            if chunk.first_line == 1:
                c.refuse_if_no_marker(chunk, r"RT_FLOW|\[junos@|APPTRACK_", self.NAME, path)
            yield self._parse_chunk(chunk, options, source)

    def _parse_chunk(self, chunk: c.LineChunk, options: ParseOptions, source: str) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        notes: list[str] = []
        blank = (chunk.ends == chunk.starts) & chunk.usable
        sd_parts = pc.extract_regex(lines, _SD)
        sd_head = c.valid_mask(sd_parts) & chunk.usable
        # the structured data must be closed (a cut line is not a record); look only at the tail
        tail = pc.utf8_slice_codeunits(lines, -48)
        closed = np.asarray(
            pc.or_(pc.match_substring(tail, '"]'), pc.match_substring(tail, "\u201d]")).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        sd_ok = sd_head & closed
        unclosed = sd_head & ~closed
        # the plain-text form, only on the lines that are not structured
        rest_idx = np.flatnonzero(~sd_head & chunk.usable & ~blank)
        plain_parts = _scatter_struct(
            pc.extract_regex(lines.take(pa.array(rest_idx)), _PLAIN), rest_idx, n
        )
        plain_ok = c.valid_mask(plain_parts) & chunk.usable & ~sd_ok
        h = c.struct_fields(sd_parts, ["ts", "host", "msgid"])
        p = c.struct_fields(
            plain_parts,
            [
                "mon",
                "day",
                "year",
                "hh",
                "mi",
                "ss",
                "host",
                "msgid",
                "src",
                "sp",
                "dst",
                "dp",
                "nsrc",
                "nsp",
            ],
        )
        msgid = pc.coalesce(h["msgid"], p["msgid"])
        base_id = pc.replace_substring_regex(pc.fill_null(msgid, ""), r"_LS$", "")
        is_record = np.asarray(
            pc.is_in(base_id, value_set=pa.array(_RECORD_IDS)).to_numpy(zero_copy_only=False),
            dtype=bool,
        ) & (sd_ok | plain_ok)
        # lines of other message ids (DENY, APPTRACK_*, ...) are valid but carry no session
        other_idx = np.flatnonzero(~sd_head & ~plain_ok & chunk.usable & ~blank)
        other_ok = np.zeros(n, dtype=bool)
        other_ok[other_idx] = c.valid_mask(
            pc.extract_regex(lines.take(pa.array(other_idx)), _ANY_PLAIN)
        )
        recognised = sd_ok | plain_ok | other_ok
        skipped = recognised & ~is_record
        teardown = np.asarray(
            pc.fill_null(pc.equal(base_id, "RT_FLOW_SESSION_CLOSE"), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        v = _sd_values(pc.if_else(pa.array(sd_ok), lines, ""), _KEYS)
        for name in ("src", "sp", "dst", "dp", "nsrc", "nsp"):
            v[name] = pc.coalesce(v[name], p[name])
        # time stamps
        stamps = c.parse_iso(h["ts"])
        bsd_year_present = c.nonempty(p["year"])
        if (plain_ok & is_record).any():
            if options.year is None and (plain_ok & is_record & ~bsd_year_present).any():
                row = int(np.flatnonzero(plain_ok & is_record & ~bsd_year_present)[0])
                raise FormatError(
                    f"{source}: line {chunk.first_line + row} has a syslog stamp without a year;"
                    " pass --year (ParseOptions.year) and --tz"
                )
            year = np.where(bsd_year_present, c.to_numpy_str_ints(p["year"]), options.year or 0)
            naive, bad_bsd = c.bsd_civil_us(p, year)
            stamps.naive_us = np.where(plain_ok, naive, stamps.naive_us)
            stamps.impossible = np.where(plain_ok, bad_bsd, stamps.impossible)
            stamps.zone_given = stamps.zone_given & ~plain_ok
        utc, source_tz = c.resolve_times(
            stamps, is_record, options, notes, source, lambda r: chunk.first_line + r
        )
        ports = {k: c.to_numpy_str_ints(v[k], default=-1) for k in ("sp", "dp", "nsp")}
        present = {k: c.nonempty(v[k]) for k in ("sp", "dp", "nsp", "src", "dst", "nsrc")}
        ips = {k: c.canonical_ips(v[k]) for k in ("src", "dst", "nsrc")}
        elapsed = c.to_numpy_str_ints(v["elapsed"])
        checks = [
            c.Check("structured data not closed with ']' (truncated line?)", unclosed),
            c.Check("not a Juniper SRX RT_FLOW line", ~recognised & ~blank & chunk.usable),
            c.Check("impossible date or time", is_record & stamps.impossible, lines),
            c.Check("missing source-address", is_record & ~present["src"]),
            c.Check(
                "invalid source-address", is_record & present["src"] & ~ips["src"][1], v["src"]
            ),
            c.Check(
                "invalid destination-address", is_record & present["dst"] & ~ips["dst"][1], v["dst"]
            ),
            c.Check(
                "invalid nat-source-address",
                is_record & present["nsrc"] & ~ips["nsrc"][1],
                v["nsrc"],
            ),
            c.Check(
                "source-port out of range 0..65535",
                is_record & present["sp"] & ((ports["sp"] < 0) | (ports["sp"] > 65535)),
                v["sp"],
            ),
            c.Check(
                "destination-port out of range 0..65535",
                is_record & present["dp"] & ((ports["dp"] < 0) | (ports["dp"] > 65535)),
                v["dp"],
            ),
            c.Check(
                "nat-source-port out of range 0..65535",
                is_record & present["nsp"] & ((ports["nsp"] < 0) | (ports["nsp"] > 65535)),
                v["nsp"],
            ),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line)
        keep = is_record & ~bad
        kp = pa.array(np.flatnonzero(keep))
        src_ip = ips["src"][0].take(kp)
        nat_ip = ips["nsrc"][0].take(kp)
        sp_k = ports["sp"][keep]
        nsp_k = ports["nsp"][keep]
        nsp_present = present["nsp"][keep]
        nat_present = present["nsrc"][keep]
        same_ip = np.asarray(
            pc.fill_null(pc.equal(src_ip, nat_ip), True).to_numpy(zero_copy_only=False), dtype=bool
        )
        translated = nat_present & (~same_ip | (nsp_present & (nsp_k != sp_k)))
        kind = pc.if_else(pa.array(translated), RecordKind.NAT.value, RecordKind.FLOW.value)
        td = teardown[keep]
        at = utc[keep]
        start = np.where(td, at - elapsed[keep] * 1_000_000, at)
        public_ip = pc.if_else(pa.array(translated), nat_ip, src_ip)
        public_port = np.where(translated, nsp_k, sp_k)
        inside_ip = pc.if_else(pa.array(translated), src_ip, pa.scalar(None, pa.string()))
        byte_sum = c.to_numpy_str_ints(v["bc"]) + c.to_numpy_str_ints(v["bs"])
        pkt_sum = c.to_numpy_str_ints(v["pc_"]) + c.to_numpy_str_ints(v["ps"])
        counted = c.nonempty(v["bc"]) | c.nonempty(v["bs"])
        table = c.build_table(
            kind,
            int(keep.sum()),
            source,
            np.flatnonzero(keep) + chunk.first_line,
            {
                "event": pc.if_else(pa.array(td), "teardown", "create"),
                "start": c.ts_array(start),
                "end": c.ts_array(at, mask=~td),
                "source_tz": source_tz.take(kp),
                "protocol": c.protocol_names(v["proto"]).take(kp),
                "inside_ip": inside_ip,
                "inside_port": pa.array(sp_k, pa.int32(), mask=~translated),
                "public_ip": public_ip,
                "public_port": pa.array(public_port, pa.int32()),
                "dst_ip": ips["dst"][0].take(kp),
                "dst_port": pa.array(ports["dp"][keep], pa.int32(), mask=~present["dp"][keep]),
                "bytes": pa.array(byte_sum[keep], pa.int64(), mask=~counted[keep]),
                "packets": pa.array(pkt_sum[keep], pa.int64(), mask=~counted[keep]),
                "session_id": v["sid"].take(kp),
                "device": pc.coalesce(h["host"], p["host"]).take(kp),
            },
        )
        return ParsedBatch(
            table=table,
            lines_read=n,
            bad_lines=sorted(chunk.bad + bad_lines, key=lambda b: b.line_no),
            notes=notes,
            skipped_lines=int((skipped | blank).sum()),
        )


PARSER = JuniperSrxParser()
