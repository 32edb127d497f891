"""Generic CSV with a header row and a column mapping (for exports of any other system).

Follows RFC 4180, "Common Format and MIME Type for Comma-Separated Values (CSV) Files":
https://www.rfc-editor.org/rfc/rfc4180 (a header row; fields may be quoted with ``"``; quoted
fields may not contain line breaks here, so that every record keeps its own line number: a line
whose quoted field is not closed on it is a bad line).

``ParseOptions.column_map`` maps record fields (names of ``RECORD_SCHEMA``) to CSV headers;
a value starting with ``=`` is a constant, e.g.::

    {"kind": "=nat", "start": "time", "inside_ip": "src", "inside_port": "sport",
     "public_ip": "xlate_ip", "public_port": "xlate_port", "subscriber": "account"}

``start`` is required, and ``kind`` (a column or a constant, one of the ``RecordKind`` values).
Times (``start``, ``end``) are ISO 8601 with an offset or ``Z`` (without one, ``--tz`` is
required), or epoch seconds (UTC) with an optional fraction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from trailguard.traffic.model import (
    RECORD_SCHEMA,
    BadLine,
    FormatError,
    ParsedBatch,
    ParseOptions,
    RecordKind,
)
from trailguard.traffic.parsers import _common as c

_MAPPABLE = [f.name for f in RECORD_SCHEMA if f.name not in ("source_file", "source_line")]
_IPS = ("inside_ip", "public_ip", "dst_ip")
_PORTS = ("inside_port", "public_port", "public_port_end", "dst_port")
_COUNTS = ("bytes", "packets")
_KINDS = [k.value for k in RecordKind]


def _check_map(column_map: dict[str, str] | None, path: Path) -> dict[str, str]:
    if not column_map:
        raise FormatError(
            f"{path}: the csv format needs a column mapping (ParseOptions.column_map), e.g."
            " kind==nat,start=time,inside_ip=src,public_ip=xlate_ip"
        )
    unknown = sorted(set(column_map) - set(_MAPPABLE))
    if unknown:
        raise FormatError(
            f"column mapping names unknown record fields {unknown}; known: {', '.join(_MAPPABLE)}"
        )
    for required in ("start", "kind"):
        if required not in column_map:
            raise FormatError(f"column mapping needs {required!r} (a CSV header or '=constant')")
    kind = column_map["kind"]
    if kind.startswith("=") and kind[1:] not in _KINDS:
        raise FormatError(f"constant kind {kind[1:]!r} is not one of {', '.join(_KINDS)}")
    return column_map


class CsvMappedParser:
    NAME: ClassVar[str] = "csv"
    DESCRIPTION: ClassVar[str] = "Generic CSV with a header row and a column mapping"
    SOURCE: ClassVar[str] = "RFC 4180: https://www.rfc-editor.org/rfc/rfc4180"
    KINDS: ClassVar[tuple[RecordKind, ...]] = tuple(RecordKind)

    def detect(self, head: list[str]) -> float:
        lines = [h for h in head if h.strip()]
        if len(lines) < 2:
            return 0.0
        counts = {h.count(",") for h in lines}
        if len(counts) == 1 and next(iter(counts)) >= 2:
            return 0.3  # plausible, but a mapping is needed anyway: never the best guess alone
        return 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        column_map = _check_map(options.column_map, path)
        if options.tz is not None:
            c.validate_tz(options.tz)
        source = c.source_name(path, options)
        header_line: bytes | None = None
        headers: list[str] = []
        for chunk in c.iter_line_chunks(path, options):
            if header_line is None:
                if len(chunk) == 0:
                    continue
                first = chunk.lines[0].as_py() or ""
                try:
                    headers = next(csv.reader([first], strict=True), [])
                except csv.Error as exc:
                    raise FormatError(f"{path}: the CSV header cannot be read ({exc})") from exc
                head_raw = chunk.raw.slice(0, 1).cast(pa.binary())[0].as_py() or b""
                if re.search(rb"\r[^\n]", head_raw):
                    raise FormatError(f"{path}: the CSV header has a carriage return inside it")
                header_line = first.encode()
                missing = sorted(
                    {v for v in column_map.values() if not v.startswith("=")} - set(headers)
                )
                if missing:
                    raise FormatError(
                        f"{path}: the CSV header has no column {missing}; its columns are {headers}"
                    )
            yield self._parse_chunk(chunk, header_line, headers, column_map, options, source)

    def _parse_chunk(
        self,
        chunk: c.LineChunk,
        header_line: bytes,
        headers: list[str],
        column_map: dict[str, str],
        options: ParseOptions,
        source: str,
    ) -> ParsedBatch:
        notes: list[str] = []
        # a quoted field left open at the end of its line would run on into the next lines
        # (the CSV reader joins them into one row, and the lines after it would be lost or
        # misnumbered): such a line is a bad line, and blanked before the CSV reader sees it
        # a carriage return inside a line ends a row for the CSV reader (old Mac line ends)
        # but not a line here: such a line is a bad line too, blanked the same way
        filled = pc.fill_null(chunk.lines, "")
        usable = np.asarray(chunk.usable, dtype=bool)
        open_quote = c.valid_mask(pc.extract_regex(filled, r'(?:^|,)"(?:[^"]|"")*$')) & usable
        raw = chunk.raw.view(pa.binary() if chunk.raw.type == pa.string() else pa.large_binary())
        bare_cr = (
            np.asarray(
                pc.match_substring_regex(raw, "\r[^\n]").to_numpy(zero_copy_only=False),
                dtype=bool,
            )
            & usable
            & ~open_quote
        )
        unclosed = open_quote | bare_cr
        if chunk.first_line == 1 and len(unclosed):
            unclosed[0] = False  # the header row
        unclosed_bad = [
            BadLine(
                chunk.first_line + i,
                "carriage return inside the line"
                if bare_cr[i]
                else "quoted field not closed on its line",
                text[:200],
            )
            for i, text in zip(
                np.flatnonzero(unclosed).tolist(),
                chunk.lines.filter(pa.array(unclosed)).to_pylist(),
                strict=True,
            )
        ]
        texts = chunk.lines
        if unclosed.any():
            texts = pc.if_else(pa.array(unclosed), "", chunk.lines)
        if chunk.usable.all() and not unclosed.any():
            body = chunk.data
        else:  # error path: invalid UTF-8 lines (and unclosed quotes) blanked
            body = ("\n".join(texts.to_pylist()) + "\n").encode()
        is_first = chunk.first_line == 1
        data = body if is_first else header_line + b"\n" + body
        # parsed row number r (1 = header) is file line r - 2 + first_line (or r on chunk 1)
        shift = 0 if is_first else chunk.first_line - 2
        invalid: list[tuple[int, str, int, int]] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append((row.number or 0, row.text, row.expected_columns, row.actual_columns))
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=on_invalid,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in headers},
                    strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            raise FormatError(f"{source}: the CSV cannot be read ({exc})") from exc
        n_lines = len(chunk) - (1 if is_first else 0)
        invalid_numbers = {num for num, *_ in invalid}
        blank_rows = [num for num, text, *_ in invalid if not text.strip()]
        bad_lines = [
            BadLine(num + shift, f"has {actual} columns, the header has {expected}", text[:200])
            for num, text, expected, actual in invalid
            if text.strip() and chunk.usable[num + shift - chunk.first_line]
        ]
        numbers = np.array(
            [r for r in range(2, n_lines + 2) if r not in invalid_numbers], dtype=np.int64
        )
        line_no = numbers[: table.num_rows] + shift
        m = table.num_rows

        def col(field: str) -> pa.Array | None:
            spec = column_map.get(field)
            if spec is None:
                return None
            if spec.startswith("="):
                return pa.repeat(pa.scalar(spec[1:], pa.string()), m)
            return c.empty_to_null(table.column(spec).combine_chunks())

        kind = col("kind")
        assert kind is not None
        kind_ok = np.asarray(
            pc.is_in(kind, value_set=pa.array(_KINDS)).to_numpy(zero_copy_only=False), dtype=bool
        )
        rows_first = lambda r: int(line_no[r])  # noqa: E731

        times: dict[str, tuple[np.ndarray, pa.Array | None, np.ndarray, np.ndarray]] = {}
        for field in ("start", "end"):
            raw = col(field)
            if raw is None:
                continue
            present = c.valid_mask(raw)
            epoch_us, epoch_bad = c.parse_epoch(raw)
            iso = c.parse_iso(raw)
            use_iso = present & epoch_bad & ~iso.impossible
            utc = c.apply_skew(epoch_us, options.clock_skew)
            tz_arr: pa.Array = pc.if_else(pa.array(present), "Z", pa.scalar(None, pa.string()))
            if use_iso.any():
                iso_utc, iso_tz = c.resolve_times(iso, use_iso, options, notes, source, rows_first)
                utc = np.where(use_iso, iso_utc, utc)
                tz_arr = pc.if_else(pa.array(use_iso), iso_tz, tz_arr)
            times[field] = (utc, tz_arr, present, present & epoch_bad & iso.impossible)
        start_utc, start_tz, start_present, start_bad = times["start"]
        values: dict[str, object] = {}
        checks = [
            c.Check("unknown kind", ~kind_ok, kind),
            c.Check("missing start time", ~start_present),
            c.Check("impossible or unreadable start time", start_bad, col("start")),
        ]
        if "end" in times:
            checks.append(c.Check("impossible or unreadable end time", times["end"][3], col("end")))
        for field in _IPS:
            raw = col(field)
            if raw is not None:
                canon, ok = c.canonical_ips(raw)
                checks.append(c.Check(f"invalid {field}", c.valid_mask(raw) & ~ok, raw))
                values[field] = canon
        for field in _PORTS + _COUNTS:
            raw = col(field)
            if raw is not None:
                present = c.valid_mask(raw)
                digits = np.asarray(
                    pc.fill_null(pc.match_substring_regex(raw, r"^\d{1,18}$"), False).to_numpy(
                        zero_copy_only=False
                    ),
                    dtype=bool,
                )
                number = c.to_numpy_str_ints(raw)
                out_of_range = present & (
                    ~digits | ((number > 65535) if field in _PORTS else False)
                )
                label = "port out of range 0..65535" if field in _PORTS else "not a count"
                checks.append(c.Check(f"{field} {label}", out_of_range, raw))
                values[field] = (number, present)
        row_text = texts.take(pa.array(line_no - chunk.first_line))
        blank_row = ~c.nonempty(pc.utf8_trim_whitespace(row_text))
        for check in checks:
            check.mask = check.mask & ~blank_row
        bad, bad_checked = c.collect_bad(
            checks, chunk.lines, chunk.first_line, row_lines=line_no - chunk.first_line
        )
        bad_lines += bad_checked + unclosed_bad
        keep = ~bad & ~blank_row
        kp = pa.array(np.flatnonzero(keep))
        columns: dict[str, object] = {}
        for field in (
            "event",
            "source_tz",
            "protocol",
            "subscriber",
            "mac",
            "session_id",
            "device",
        ):
            raw = col(field)
            if raw is not None:
                columns[field] = raw.take(kp)
        if "protocol" in columns:
            columns["protocol"] = pc.utf8_lower(columns["protocol"])
        for field in _IPS:
            if field in values:
                columns[field] = values[field].take(kp)  # type: ignore[attr-defined]
        for field in _PORTS + _COUNTS:
            if field in values:
                number, present = values[field]  # type: ignore[misc]
                t = pa.int32() if field in _PORTS else pa.int64()
                columns[field] = pa.array(number[keep], t, mask=~present[keep])
        columns["start"] = c.ts_array(start_utc[keep])
        if "end" in times:
            end_utc, _, end_present, _ = times["end"]
            columns["end"] = c.ts_array(end_utc[keep], mask=~end_present[keep])
        if "source_tz" not in columns:
            columns["source_tz"] = start_tz.take(kp) if start_tz is not None else None
        table_out = c.build_table(kind.take(kp), int(keep.sum()), source, line_no[keep], columns)
        return ParsedBatch(
            table=table_out,
            lines_read=len(chunk),
            bad_lines=sorted(chunk.bad + bad_lines, key=lambda b: b.line_no),
            notes=notes,
            skipped_lines=len(blank_rows)
            + int(blank_row.sum())
            + (1 if is_first else 0)
            - len(unclosed_bad),
        )


PARSER = CsvMappedParser()
