"""Zeek conn.log, in Zeek's TSV form (``#separator``/``#fields``/``#types`` headers) or as JSON
lines (``LogAscii::use_json``).

Follows the Zeek documentation, "conn.log" and "Zeek ASCII logs" (TSV headers, ``-`` for unset,
``(empty)`` for an empty set): https://docs.zeek.org/en/master/logs/conn.html and
https://docs.zeek.org/en/master/scripts/base/frameworks/logging/writers/ascii.zeek.html

Records are kind ``flow``: ``public_ip``/``public_port`` = ``id.orig_h``/``id.orig_p`` (the
originator as the sensor saw it), ``dst_ip``/``dst_port`` = ``id.resp_h``/``id.resp_p``,
``start`` = ``ts`` (epoch seconds, UTC; JSON may carry ISO 8601 instead), ``end`` = ``ts`` +
``duration`` when set, ``bytes`` = ``orig_bytes`` + ``resp_bytes``, ``packets`` = ``orig_pkts`` +
``resp_pkts``, ``session_id`` = ``uid``. IPv4 and IPv6.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import ParsedBatch, ParseOptions, RecordKind
from trailguard.traffic.parsers import _common as c

_WANTED = {
    "ts": "ts",
    "uid": "uid",
    "orig_h": "id.orig_h",
    "orig_p": "id.orig_p",
    "resp_h": "id.resp_h",
    "resp_p": "id.resp_p",
    "proto": "proto",
    "duration": "duration",
    "orig_bytes": "orig_bytes",
    "resp_bytes": "resp_bytes",
    "orig_pkts": "orig_pkts",
    "resp_pkts": "resp_pkts",
}
_REQUIRED = ("ts", "orig_h", "orig_p", "resp_h", "resp_p", "proto")


class _Header:
    def __init__(self) -> None:
        self.separator = "\t"
        self.unset = "-"
        self.empty = "(empty)"
        self.fields: list[str] | None = None

    def read(self, line: str) -> None:
        if line.startswith("#separator"):
            raw = line[len("#separator") :].strip()
            self.separator = raw.encode().decode("unicode_escape") if raw else "\t"
            return
        parts = line.split(self.separator)
        key, values = parts[0], parts[1:]
        if key == "#fields":
            self.fields = values
        elif key == "#unset_field" and values:
            self.unset = values[0]
        elif key == "#empty_field" and values:
            self.empty = values[0]


class ZeekConnParser:
    NAME: ClassVar[str] = "zeek-conn"
    DESCRIPTION: ClassVar[str] = "Zeek conn.log (TSV with #fields headers, or JSON lines)"
    SOURCE: ClassVar[str] = (
        "Zeek documentation, conn.log: https://docs.zeek.org/en/master/logs/conn.html"
    )
    KINDS: ClassVar[tuple[RecordKind, ...]] = (RecordKind.FLOW,)

    def detect(self, head: list[str]) -> float:
        text = "\n".join(head)
        if "#path\tconn" in text or (
            "#fields" in text and "id.orig_h" in text and "conn_state" in text
        ):
            return 0.98
        if (
            '"id.orig_h"' in text
            and '"uid"' in text
            and ('"conn_state"' in text or '"proto"' in text)
        ):
            return 0.9
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        source = c.source_name(path, options)
        header = _Header()
        for chunk in c.iter_line_chunks(path, options):
            if chunk.first_line == 1:
                c.refuse_if_no_marker(chunk, r'^#fields\t|"id\.orig_h"', self.NAME, path)
            yield self._parse_chunk(chunk, header, options, source)

    def _parse_chunk(
        self, chunk: c.LineChunk, header: _Header, options: ParseOptions, source: str
    ) -> ParsedBatch:
        lines = chunk.lines
        n = len(lines)
        notes: list[str] = []
        is_meta = np.asarray(
            pc.fill_null(pc.starts_with(lines, "#"), False).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        for i in np.flatnonzero(is_meta).tolist():
            header.read(lines[i].as_py() or "")
        blank = ~c.nonempty(pc.utf8_trim_whitespace(lines)) & chunk.usable
        is_json = np.asarray(
            pc.fill_null(pc.starts_with(pc.utf8_ltrim_whitespace(lines), "{"), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        data_rows = chunk.usable & ~is_meta & ~blank
        values: dict[str, pa.Array] = {}
        shape_bad = np.zeros(n, dtype=bool)
        shape_reason = "not a Zeek conn record"
        # a log with a #fields header is TSV: a line starting with "{" in it is a bad line,
        # not a switch of the whole chunk to JSON (which lost every TSV record beside it)
        if header.fields is None and (data_rows & is_json).any():
            for name, key in _WANTED.items():
                key_re = key.replace(".", r"\.")
                parts = pc.extract_regex(
                    lines, r'"' + key_re + r'"\s*:\s*(?:"(?P<s>[^"]*)"|(?P<n>[-0-9.eE+]+))'
                )
                f = c.struct_fields(parts, ["s", "n"])
                values[name] = c.empty_to_null(
                    pc.fill_null(pc.coalesce(c.empty_to_null(pc.fill_null(f["s"], "")), f["n"]), "")
                )
            shape_bad = data_rows & ~is_json
            shape_reason = "not a JSON object line like the rest of this Zeek JSON log"
        elif data_rows.any():
            if header.fields is None:
                shape_bad = data_rows
                shape_reason = "Zeek TSV data line before any #fields header"
            else:
                split = pc.split_pattern(lines, header.separator)
                counts = np.asarray(pc.list_value_length(split).to_numpy(zero_copy_only=False))
                shape_bad = data_rows & (counts != len(header.fields))
                shape_reason = f"field count differs from the {len(header.fields)} named in #fields"
                good = data_rows & ~shape_bad
                sub = split.filter(pa.array(good))
                position = np.cumsum(good) - 1
                back = pa.array(position, pa.int64(), mask=~good)
                for name, key in _WANTED.items():
                    if key in header.fields:
                        col = pc.list_element(sub, header.fields.index(key)).take(back)
                        col = pc.if_else(
                            pc.is_in(col, value_set=pa.array([header.unset, header.empty, ""])),
                            pa.scalar(None, pa.string()),
                            col,
                        )
                        values[name] = col
        for name in _WANTED:
            if name not in values:
                values[name] = pa.nulls(n, pa.string())
        rows = data_rows & ~shape_bad
        missing = np.zeros(n, dtype=bool)
        missing_name: list[str] = []
        for name in _REQUIRED:
            miss = rows & ~c.nonempty(values[name]) & ~missing
            if miss.any():
                missing |= miss
                missing_name.append(_WANTED[name])
        # ts: epoch seconds, or ISO 8601 in JSON logs written with json_timestamps
        epoch_us, epoch_bad = c.parse_epoch(values["ts"])
        iso = c.parse_iso(values["ts"])
        use_iso = epoch_bad & ~iso.impossible
        iso_utc, _ = (
            c.resolve_times(
                iso, rows & use_iso, options, notes, source, lambda r: chunk.first_line + r
            )
            if (rows & use_iso).any()
            else (np.zeros(n, dtype=np.int64), None)
        )
        start = np.where(use_iso, iso_utc, c.apply_skew(epoch_us, options.clock_skew))
        bad_ts = epoch_bad & iso.impossible
        dur_us, dur_bad = c.parse_epoch(values["duration"])
        dur_present = c.nonempty(values["duration"])
        orig_h, orig_ok = c.canonical_ips(values["orig_h"])
        resp_h, resp_ok = c.canonical_ips(values["resp_h"])
        orig_p = c.to_numpy_str_ints(values["orig_p"], default=-1)
        resp_p = c.to_numpy_str_ints(values["resp_p"], default=-1)
        check_rows = rows & ~missing
        checks = [
            c.Check(shape_reason, shape_bad),
            c.Check("missing field (" + ", ".join(missing_name) + ")", missing),
            c.Check("impossible or unreadable ts", check_rows & bad_ts, values["ts"]),
            c.Check("invalid id.orig_h", check_rows & ~orig_ok, values["orig_h"]),
            c.Check("invalid id.resp_h", check_rows & ~resp_ok, values["resp_h"]),
            c.Check(
                "id.orig_p out of range 0..65535",
                check_rows & ((orig_p < 0) | (orig_p > 65535)),
                values["orig_p"],
            ),
            c.Check(
                "id.resp_p out of range 0..65535",
                check_rows & ((resp_p < 0) | (resp_p > 65535)),
                values["resp_p"],
            ),
            c.Check("unreadable duration", check_rows & dur_present & dur_bad, values["duration"]),
        ]
        bad, bad_lines = c.collect_bad(checks, lines, chunk.first_line)
        keep = rows & ~bad
        kp = pa.array(np.flatnonzero(keep))

        def total(a: str, b: str) -> pa.Array:
            x, y = values[a], values[b]
            present = (c.nonempty(x) | c.nonempty(y))[keep]
            s = (c.to_numpy_str_ints(x) + c.to_numpy_str_ints(y))[keep]
            return pa.array(s, pa.int64(), mask=~present)

        has_dur = (dur_present & ~dur_bad)[keep]
        st = start[keep]
        table = c.build_table(
            RecordKind.FLOW,
            int(keep.sum()),
            source,
            np.flatnonzero(keep) + chunk.first_line,
            {
                "start": c.ts_array(st),
                "end": c.ts_array(st + dur_us[keep], mask=~has_dur),
                "source_tz": "Z",
                "protocol": pc.utf8_lower(values["proto"]).take(kp),
                "public_ip": orig_h.take(kp),
                "public_port": pa.array(orig_p[keep], pa.int32()),
                "dst_ip": resp_h.take(kp),
                "dst_port": pa.array(resp_p[keep], pa.int32()),
                "bytes": total("orig_bytes", "resp_bytes"),
                "packets": total("orig_pkts", "resp_pkts"),
                "session_id": values["uid"].take(kp),
            },
        )
        return ParsedBatch(
            table=table,
            lines_read=n,
            bad_lines=sorted(chunk.bad + bad_lines, key=lambda b: b.line_no),
            notes=notes,
            skipped_lines=int((is_meta & chunk.usable).sum() + blank.sum()),
        )


PARSER = ZeekConnParser()
