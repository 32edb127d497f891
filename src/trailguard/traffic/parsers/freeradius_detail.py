"""FreeRADIUS accounting ``detail`` files (rlm_detail), the Livingston-style record format.

Follows rlm_detail(5) ("The file format is similar to that of the old Livingston servers"):
https://manpages.ubuntu.com/manpages/jammy/man5/rlm_detail.5.html, the record layout shown in
the GNU Radius manual, "Detailed Request Accounting":
https://www.gnu.org/software/radius/manual/html_node/Detailed-Request-Accounting.html
and RFC 2866 (Acct-Status-Type, Acct-Session-Time, Acct-Delay-Time): https://www.rfc-editor.org/rfc/rfc2866

    Tue Nov 17 08:14:07 2026
    \tAcct-Status-Type = Start
    \tUser-Name = "alice@example.net"
    \tFramed-IP-Address = 100.64.1.7
    \tAcct-Session-Id = "4D2A0001"
    \tEvent-Timestamp = "Nov 17 2026 08:14:07 UTC"
    \tTimestamp = 1795421647
    <blank line>

Each Start / Stop / Interim-Update record with a Framed-IP-Address (or Framed-IPv6-Prefix /
Framed-IPv6-Address) becomes one record of kind ``radius``: ``inside_ip`` = the framed address
(for a prefix: its network address), ``subscriber`` = User-Name, ``session_id`` =
Acct-Session-Id, ``mac`` = Calling-Station-Id when it is a MAC address, ``device`` =
NAS-IP-Address (else NAS-Identifier), ``bytes`` = input + output octets. The instant is
Event-Timestamp (epoch, or a date with ``UTC``/``GMT``; another zone name needs --tz), else
``Timestamp`` minus Acct-Delay-Time, else the record's header line read in --tz. A Stop gives
``end`` = that instant and ``start`` = end - Acct-Session-Time; an Interim-Update gives
``start`` = instant - Acct-Session-Time and no end; a Start gives ``start``. Accounting-On/Off
and records without a framed address are counted as skipped lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import BadLine, FormatError, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

_HEADER = (
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d) (?P<year>\d{4})\s*$"
)
_ATTR = r"^\s+(?P<name>[A-Za-z0-9][A-Za-z0-9_.:-]*)\s*=\s*(?P<value>.*?)\s*$"
_EVENT_DATE = (
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<year>\d{4}) "
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?: (?P<zone>[A-Za-z]+))?$"
)
_WANTED = [
    "Acct-Status-Type",
    "User-Name",
    "Framed-IP-Address",
    "Framed-IPv6-Prefix",
    "Framed-IPv6-Address",
    "Acct-Session-Id",
    "Event-Timestamp",
    "Acct-Session-Time",
    "Calling-Station-Id",
    "NAS-IP-Address",
    "NAS-Identifier",
    "Timestamp",
    "Acct-Delay-Time",
    "Acct-Input-Octets",
    "Acct-Output-Octets",
    "Acct-Input-Gigawords",
    "Acct-Output-Gigawords",
]
_EVENTS = {"Start": "start", "Stop": "stop", "Interim-Update": "interim", "Alive": "interim"}


def _civil(f: dict[str, pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    return c.civil_to_epoch_us(
        c.to_numpy_str_ints(f["year"]),
        c.month_numbers(f["mon"]),
        c.to_numpy_str_ints(f["day"]),
        c.to_numpy_str_ints(f["hh"]),
        c.to_numpy_str_ints(f["mi"]),
        c.to_numpy_str_ints(f["ss"]),
    )


class FreeradiusDetailParser:
    NAME: ClassVar[str] = "freeradius-detail"
    DESCRIPTION: ClassVar[str] = "FreeRADIUS accounting detail files (Start/Stop/Interim-Update)"
    SOURCE: ClassVar[str] = (
        "rlm_detail(5): https://manpages.ubuntu.com/manpages/jammy/man5/rlm_detail.5.html; "
        "record layout: https://www.gnu.org/software/radius/manual/html_node/"
        "Detailed-Request-Accounting.html; RFC 2866"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.RADIUS,)

    def detect(self, head: list[str]) -> float:
        dates = sum(1 for h in head if re.match(_HEADER, h))
        attrs = sum(1 for h in head if re.match(r"^\s+(Acct-|User-Name|Framed-|NAS-)", h))
        if dates and attrs:
            return 0.95
        return 0.4 if attrs >= 3 else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        source = c.source_name(path, options)
        if options.tz is not None:
            c.validate_tz(options.tz)
        checked = False
        for chunk in c.iter_line_chunks(path, options, c.blank_line_boundary):
            if not checked:
                c.refuse_if_no_marker(chunk, _HEADER, self.NAME, path)
                checked = True
            yield self._parse_chunk(chunk, options, source)

    def _parse_chunk(self, chunk: c.LineChunk, options: ParseOptions, source: str) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        notes: list[str] = []
        head = pc.extract_regex(lines, _HEADER)
        is_head = c.valid_mask(head) & chunk.usable
        attr = pc.extract_regex(lines, _ATTR)
        is_attr = c.valid_mask(attr) & chunk.usable & ~is_head
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines)) & chunk.usable
        block = c.block_ids(is_head)
        n_blocks = int(block[-1]) if n else 0
        head_line = np.flatnonzero(is_head)
        a = c.struct_fields(attr, ["name", "value"])
        # strip the quotes FreeRADIUS puts around string values
        value = pc.replace_substring_regex(pc.fill_null(a["value"], ""), r'^"(.*)"$', r"\1")
        stray = chunk.usable & ~is_head & ~is_attr & ~blank
        vals: dict[str, pa.Array] = {}
        for name in _WANTED:
            at = c.per_block(
                block,
                is_attr
                & np.asarray(
                    pc.fill_null(pc.equal(a["name"], name), False).to_numpy(zero_copy_only=False),
                    dtype=bool,
                ),
                n_blocks,
            )
            vals[name] = c.empty_to_null(pc.fill_null(c.gather(value, at), ""))
        status = vals["Acct-Status-Type"]
        event = pc.take(
            pa.array(list(_EVENTS.values())),
            pc.index_in(status, value_set=pa.array(list(_EVENTS))),
        )
        is_session = c.valid_mask(event)
        framed_raw = pc.coalesce(
            vals["Framed-IP-Address"],
            pc.replace_substring_regex(vals["Framed-IPv6-Prefix"], r"/\d+$", ""),
            vals["Framed-IPv6-Address"],
        )
        has_framed = c.valid_mask(framed_raw)
        framed, framed_ok = c.canonical_ips(framed_raw)
        # the instant of the record
        hf = c.struct_fields(
            head.filter(pa.array(is_head)), ["mon", "day", "hh", "mi", "ss", "year"]
        )
        head_us, head_bad = _civil(hf)
        ev_raw = vals["Event-Timestamp"]
        ev_epoch, ev_epoch_bad = c.parse_epoch(ev_raw)
        ev_date = pc.extract_regex(pc.fill_null(ev_raw, ""), _EVENT_DATE)
        ev_date_ok = c.valid_mask(ev_date)
        ed = c.struct_fields(ev_date, ["mon", "day", "hh", "mi", "ss", "year", "zone"])
        ed_us, ed_bad = _civil(ed)
        zone = pc.utf8_upper(pc.fill_null(ed["zone"], ""))
        utc_zone = np.asarray(
            pc.is_in(zone, value_set=pa.array(["UTC", "GMT", "Z"])).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        ts_epoch, ts_bad = c.parse_epoch(vals["Timestamp"])
        delay = c.to_numpy_str_ints(vals["Acct-Delay-Time"])
        has_ev = c.valid_mask(ev_raw)
        has_ts = c.valid_mask(vals["Timestamp"])
        use_epoch_ev = has_ev & ~ev_epoch_bad
        use_date_ev = has_ev & ev_epoch_bad & ev_date_ok
        unreadable_ev = has_ev & ev_epoch_bad & ~ev_date_ok
        use_ts = ~has_ev & has_ts & ~ts_bad
        needs_tz = (use_date_ev & ~utc_zone) | (~has_ev & ~use_ts)
        instant = np.where(use_epoch_ev, ev_epoch, 0)
        instant = np.where(use_date_ev & utc_zone, ed_us, instant)
        instant = np.where(use_ts, ts_epoch - delay * 1_000_000, instant)
        relevant = is_session & has_framed
        src_tz = pc.if_else(pa.array(use_date_ev & ~utc_zone), zone, "Z")
        if (needs_tz & relevant).any():
            if options.tz is None:
                row = int(np.flatnonzero(needs_tz & relevant)[0])
                raise FormatError(
                    f"{source}: the record at line {chunk.first_line + int(head_line[row])} has"
                    " no Event-Timestamp/Timestamp in UTC; pass --tz (ParseOptions.tz) for its"
                    " local time"
                )
            tz = c.validate_tz(options.tz)
            local_naive = np.where(use_date_ev, ed_us, head_us)
            local = c.localize(local_naive, tz, notes)
            instant = np.where(needs_tz, local, instant)
            src_tz = pc.if_else(pa.array(needs_tz), pa.scalar(tz, pa.string()), src_tz)
            notes.append(
                f"{int((needs_tz & relevant).sum())} record times read as local time in {tz}"
            )
        impossible = (use_date_ev & ed_bad) | (needs_tz & ~use_date_ev & head_bad)
        instant = c.apply_skew(instant, options.clock_skew)
        session_time = c.to_numpy_str_ints(vals["Acct-Session-Time"])
        st_present = c.valid_mask(vals["Acct-Session-Time"])
        st_bad = st_present & ~np.asarray(
            pc.fill_null(
                pc.match_substring_regex(vals["Acct-Session-Time"], r"^\d{1,10}$"), False
            ).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        mac_raw = pc.utf8_lower(
            pc.replace_substring_regex(pc.fill_null(vals["Calling-Station-Id"], ""), r"[-.]", ":")
        )
        is_mac = np.asarray(
            pc.match_substring_regex(mac_raw, r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$").to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        checks = [
            c.Check("invalid framed address", relevant & ~framed_ok, framed_raw),
            c.Check("unreadable Event-Timestamp", relevant & unreadable_ev, ev_raw),
            c.Check(
                "unreadable Timestamp", relevant & ~has_ev & has_ts & ts_bad, vals["Timestamp"]
            ),
            c.Check("impossible date", relevant & impossible, ev_raw),
            c.Check("unreadable Acct-Session-Time", relevant & st_bad, vals["Acct-Session-Time"]),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line, row_lines=head_line)
        keep = relevant & ~bad
        kp = pa.array(np.flatnonzero(keep))
        ev_k = event.take(kp)
        is_stop = np.asarray(pc.equal(ev_k, "stop").to_numpy(zero_copy_only=False), dtype=bool)
        is_start = np.asarray(pc.equal(ev_k, "start").to_numpy(zero_copy_only=False), dtype=bool)
        at = instant[keep]
        back = np.where(st_present[keep] & ~is_start, session_time[keep] * 1_000_000, 0)
        start = at - back
        octets = (
            c.to_numpy_str_ints(vals["Acct-Input-Octets"])
            + c.to_numpy_str_ints(vals["Acct-Output-Octets"])
            + (
                c.to_numpy_str_ints(vals["Acct-Input-Gigawords"])
                + c.to_numpy_str_ints(vals["Acct-Output-Gigawords"])
            )
            * 2**32
        )
        has_octets = c.valid_mask(vals["Acct-Input-Octets"]) | c.valid_mask(
            vals["Acct-Output-Octets"]
        )
        table = c.build_table(
            RecordKind.RADIUS,
            int(keep.sum()),
            source,
            head_line[keep] + chunk.first_line,
            {
                "event": ev_k,
                "start": c.ts_array(start),
                "end": c.ts_array(at, mask=~is_stop),
                "source_tz": src_tz.take(kp),
                "inside_ip": framed.take(kp),
                "subscriber": vals["User-Name"].take(kp),
                "mac": pc.if_else(pa.array(is_mac), mac_raw, pa.scalar(None, pa.string())).take(kp),
                "bytes": pa.array(octets[keep], pa.int64(), mask=~has_octets[keep]),
                "session_id": vals["Acct-Session-Id"].take(kp),
                "device": pc.coalesce(vals["NAS-IP-Address"], vals["NAS-Identifier"]).take(kp),
            },
        )
        # lines of records that carry no session with an address, and stray lines
        block_lines = np.bincount(block, minlength=n_blocks + 1)[1:]
        skipped_records = ~relevant & ~bad
        skipped = int(block_lines[skipped_records].sum()) + int((blank & (block == 0)).sum())
        stray_bad = [
            BadLine(chunk.first_line + i, "not a detail-file line", (lines[i].as_py() or "")[:200])
            for i in np.flatnonzero(stray).tolist()
        ]
        return ParsedBatch(
            table=table,
            lines_read=n,
            bad_lines=sorted(chunk.bad + bad_lines + stray_bad, key=lambda b: b.line_no),
            notes=notes,
            skipped_lines=skipped,
        )


PARSER = FreeradiusDetailParser()
