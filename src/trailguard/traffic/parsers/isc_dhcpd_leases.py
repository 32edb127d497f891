"""ISC DHCP server lease database (dhcpd.leases), IPv4 ``lease`` blocks.

Follows dhcpd.leases(5), "DHCP client lease database" (ISC DHCP 4.x):
https://kb.isc.org/docs/en/isc-dhcp-44-manual-pages-dhcpdleases
(also https://linux.die.net/man/5/dhcpd.leases)

    lease 192.0.2.10 {
      starts 2 2013/12/10 12:57:04;     # weekday year/month/day hour:minute:second, always UTC
      ends never;                        # or a date, or "epoch 1386680224;"
      hardware ethernet 60:a4:4c:b5:6a:dd;
      uid "\\001...";
      client-hostname "laptop-7";
      binding state active;
    }

Each lease block becomes one record of kind ``dhcp``, event ``lease``: ``inside_ip`` = the leased
address, ``start``/``end`` = starts/ends (``end`` null for ``ends never``), ``mac`` = hardware
ethernet (lower case), ``subscriber`` = client-hostname, else the uid string as written. All
binding states are kept (a ``free`` lease still records who held the address from starts to
ends). DHCPv6 ``ia-na``/``ia-pd`` blocks and other top-level statements are counted as skipped;
a line outside lease blocks that is no statement (not ending with ``;``, ``{`` or ``}``) and
no comment is a bad line.
A block that is not closed before the next ``lease`` or the end of the file (a truncated file)
is a bad line at the ``lease`` line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import BadLine, ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

_WHEN = (
    r"(?:\d (?P<y>\d{4})/(?P<mo>\d{1,2})/(?P<d>\d{1,2}) "
    r"(?P<h>\d{1,2}):(?P<mi>\d{1,2}):(?P<s>\d{1,2})"
    r"|epoch (?P<epoch>\d+)|(?P<never>never))\s*;"
)
_FIELDS = ["y", "mo", "d", "h", "mi", "s", "epoch", "never"]
_MAC = r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$"


def _times(lines: pa.Array, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(line mask, utc microseconds, never mask, impossible mask) of ``starts``/``ends`` lines."""
    parts = pc.extract_regex(lines, r"^\s*" + which + r" " + _WHEN)
    present = c.valid_mask(parts)
    f = c.struct_fields(parts, _FIELDS)
    epoch = c.nonempty(f["epoch"])
    never = c.nonempty(f["never"])
    us, bad = c.civil_to_epoch_us(
        c.to_numpy_str_ints(f["y"]),
        c.to_numpy_str_ints(f["mo"]),
        c.to_numpy_str_ints(f["d"]),
        c.to_numpy_str_ints(f["h"]),
        c.to_numpy_str_ints(f["mi"]),
        c.to_numpy_str_ints(f["s"]),
    )
    us = np.where(epoch, c.to_numpy_str_ints(f["epoch"]) * 1_000_000, us)
    bad = bad & ~epoch & ~never
    # a line that starts with the keyword but has no readable date is impossible too
    keyword = np.asarray(
        pc.fill_null(pc.match_substring_regex(lines, r"^\s*" + which + r"\s"), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    return present | keyword, us, never, bad | (keyword & ~present)


class IscDhcpdLeasesParser:
    NAME: ClassVar[str] = "isc-dhcpd-leases"
    DESCRIPTION: ClassVar[str] = "ISC dhcpd.leases lease blocks (IPv4)"
    SOURCE: ClassVar[str] = (
        "dhcpd.leases(5), ISC DHCP 4.4: https://kb.isc.org/docs/en/isc-dhcp-44-manual-pages-dhcpdleases"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.DHCP,)

    def detect(self, head: list[str]) -> float:
        text = "\n".join(head)
        if "dhcpd.leases" in text or "isc-dhcp" in text:
            return 0.95
        starts = sum(1 for h in head if h.startswith("lease ") and h.rstrip().endswith("{"))
        if starts and any(h.strip().startswith(("starts ", "ends ")) for h in head):
            return 0.9
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        source = c.source_name(path, options)
        seen_any = False
        for chunk in c.iter_line_chunks(path, options, c.string_boundary(b"lease ")):
            if chunk.first_line == 1 and not seen_any:
                c.refuse_if_no_marker(chunk, r"^lease \S+ \{", self.NAME, path)
                seen_any = True
            yield self._parse_chunk(chunk, options, source)

    def _parse_chunk(self, chunk: c.LineChunk, options: ParseOptions, source: str) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        head = pc.extract_regex(lines, r"^lease (?P<ip>\S+) \{\s*$")
        is_start = c.valid_mask(head) & chunk.usable
        is_close = np.asarray(
            pc.fill_null(pc.match_substring_regex(lines, r"^\s*\}\s*$"), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        # block membership: a line belongs to the open lease block until its closing brace
        block = c.block_ids(is_start)
        n_blocks = int(block[-1]) if n else 0
        start_line = np.flatnonzero(is_start)
        close_line = c.per_block(block, is_close, n_blocks)
        first_close = np.full(n_blocks, -1, dtype=np.int64)
        if n_blocks:
            # the first closing brace after each start
            closes = np.flatnonzero(is_close)
            pos = np.searchsorted(closes, start_line)
            nxt = np.append(start_line[1:], n)
            has = pos < len(closes)
            cand = closes[np.minimum(pos, max(len(closes) - 1, 0))] if len(closes) else pos
            first_close = np.where(has & (cand < nxt), cand, -1)
        del close_line
        inside = np.zeros(n, dtype=bool)
        claimed = np.zeros(n, dtype=bool)  # lines of a lease block, closed or cut short
        if n_blocks:
            open_until = np.where(first_close >= 0, first_close, start_line)
            marks = np.zeros(n + 1, dtype=np.int64)
            np.add.at(marks, start_line, 1)
            np.add.at(marks, open_until + 1, -1)
            inside = np.cumsum(marks[:-1]) > 0
            # a block never closed (reported at its lease line) runs to the next lease
            reach = np.where(first_close >= 0, first_close, np.append(start_line[1:], n) - 1)
            marks = np.zeros(n + 1, dtype=np.int64)
            np.add.at(marks, start_line, 1)
            np.add.at(marks, reach + 1, -1)
            claimed = np.cumsum(marks[:-1]) > 0
        member = np.where(inside, block, 0)
        st_mask, st_us, _, st_bad = _times(lines, "starts")
        en_mask, en_us, en_never, en_bad = _times(lines, "ends")
        mac_parts = pc.extract_regex(lines, r"^\s*hardware ethernet (?P<v>[^;\s]+)\s*;")
        host_parts = pc.extract_regex(lines, r'^\s*client-hostname "(?P<v>(?:[^"\\]|\\.)*)"\s*;')
        uid_parts = pc.extract_regex(lines, r'^\s*uid "?(?P<v>(?:[^"\\;]|\\.)*)"?\s*;')
        st_at = c.per_block(member, st_mask, n_blocks)
        en_at = c.per_block(member, en_mask, n_blocks)
        mac_at = c.per_block(member, c.valid_mask(mac_parts), n_blocks)
        host_at = c.per_block(member, c.valid_mask(host_parts), n_blocks)
        uid_at = c.per_block(member, c.valid_mask(uid_parts), n_blocks)
        ip_raw = c.struct_fields(head, ["ip"])["ip"].take(pa.array(start_line))
        ip, ip_ok = c.canonical_ips(ip_raw)
        mac = pc.utf8_lower(c.gather(c.struct_fields(mac_parts, ["v"])["v"], mac_at))
        mac_ok = np.asarray(
            pc.fill_null(pc.match_substring_regex(mac, _MAC), True).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        subscriber = pc.coalesce(
            c.empty_to_null(
                pc.fill_null(c.gather(c.struct_fields(host_parts, ["v"])["v"], host_at), "")
            ),
            c.empty_to_null(
                pc.fill_null(c.gather(c.struct_fields(uid_parts, ["v"])["v"], uid_at), "")
            ),
        )

        def pick(arr: np.ndarray, at: np.ndarray) -> np.ndarray:
            return np.where(at >= 0, arr[np.maximum(at, 0)], 0 if arr.dtype != bool else False)

        start = pick(st_us, st_at)
        end = pick(en_us, en_at)
        never = pick(en_never, en_at).astype(bool)
        impossible = pick(st_bad, st_at).astype(bool) | pick(en_bad, en_at).astype(bool)
        ip_ok = np.asarray(ip_ok, dtype=bool)
        lines_of = start_line
        checks = [
            c.Check("lease block not closed with '}' (truncated file?)", first_close < 0),
            c.Check("invalid lease address", ~ip_ok, ip_raw),
            c.Check("lease without a starts time", st_at < 0),
            c.Check("impossible starts/ends date", impossible),
            c.Check("ends before starts", (en_at >= 0) & ~never & (end < start)),
            c.Check("invalid hardware ethernet address", ~mac_ok, mac),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line, row_lines=lines_of)
        keep = ~bad
        kp = pa.array(np.flatnonzero(keep))
        start_k = c.apply_skew(start[keep], options.clock_skew)
        end_k = c.apply_skew(end[keep], options.clock_skew)
        no_end = (never | (en_at < 0))[keep]
        table = c.build_table(
            RecordKind.DHCP,
            int(keep.sum()),
            source,
            start_line[keep] + chunk.first_line,
            {
                "event": "lease",
                "start": c.ts_array(start_k),
                "end": c.ts_array(end_k, mask=no_end),
                "source_tz": "UTC",
                "inside_ip": ip.take(kp),
                "mac": mac.take(kp),
                "subscriber": subscriber.take(kp),
            },
        )
        # stray lines outside lease blocks: comments, other statements, IPv6 blocks are
        # skipped; a line that is none of these (no statement ends without ';', '{' or '}')
        # is a bad line
        outside = ~inside & chunk.usable
        statement = np.asarray(
            pc.fill_null(
                pc.match_substring_regex(lines, r"^\s*(?:#.*|.*[;{}]\s*(?:#.*)?)?$"), False
            ).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        stray = outside & ~claimed & ~statement
        for i in np.flatnonzero(stray).tolist():
            text = lines[i].as_py() or ""
            bad_lines.append(
                BadLine(chunk.first_line + i, "not a dhcpd.leases statement", text[:200])
            )
        return ParsedBatch(
            table=table,
            lines_read=n,
            bad_lines=sorted(chunk.bad + bad_lines, key=lambda b: b.line_no),
            notes=["dhcpd.leases times are UTC (dhcpd.leases(5))"],
            skipped_lines=int((outside & statement).sum()),
        )


PARSER = IscDhcpdLeasesParser()
