"""The provider's traffic store: sorted Parquet partitions on local disk, published atomically.

Layout of a traffic data dir (``<node data dir>/traffic`` or any bare directory)::

    manifest.json            the source of truth: which part files exist (written to a temp
                             file, fsynced, renamed); a file not listed here is not in the store
    config.toml              retention days and open-session horizons per data kind
    parts/provider=P/kind=K/day=YYYY-MM-DD/part-<id>.parquet   sorted records (hive layout,
                             readable by DuckDB, Spark, pandas, ...)
    parts/.../part-<id>.idx.json   the sparse primary index of that part: the first and last
                             key of every row group (ClickHouse-style "marks")
    sources/<sha256>.zst|.gz the original files, content-addressed, compressed, for auditors
    holds/<hold_id>/         sealed hold sets (see ``holds.py``)
    staging/                 work in progress; emptied on every open

Records are sorted for lookups: NAT-like kinds (nat, port_block, flow, access) by
(public_ip, public_port, start); assignment kinds (dhcp, radius) by (inside_ip, start).
Each stored row carries ``source_sha256`` besides the contract's ``source_file`` and
``source_line``, so every answer names the raw file and line and ``read_source_line`` re-reads it.

Crash safety: part files are written and fsynced in ``staging/``, renamed into ``parts/``, and
only then listed in a new manifest (atomic rename). Removal works the other way round (manifest
first, files after). A crash at any point leaves either the old or the new manifest, and files
not listed are swept at the next open. Writers hold an exclusive ``flock`` on ``.lock``.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tomli_w

from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.traffic.model import RECORD_SCHEMA, FormatError, ParseOptions, RecordKind

MANIFEST = "manifest.json"
CONFIG = "config.toml"
ROW_GROUP_ROWS = 8192  # one "granule": the unit the sparse index points at
US_PER_DAY = 86_400_000_000

STORED_SCHEMA = RECORD_SCHEMA.append(pa.field("source_sha256", pa.string(), nullable=False))

NAT_LIKE = frozenset({RecordKind.NAT, RecordKind.PORT_BLOCK, RecordKind.FLOW, RecordKind.ACCESS})
ASSIGNMENT = frozenset({RecordKind.DHCP, RecordKind.RADIUS})
KIND_CODES = {kind.value: i for i, kind in enumerate(RecordKind)}

# Days each kind is kept when config.toml says nothing (a provider sets its own legal periods).
DEFAULT_RETENTION_DAYS = {
    "nat": 180, "port_block": 180, "flow": 30, "dhcp": 365, "radius": 365, "access": 90,
}  # fmt: skip
# How long a record without an end (a "create" with no teardown yet, a RADIUS start without a
# stop) is taken to last at most, unless a later record for the same key starts first.
DEFAULT_OPEN_HOURS = {
    "nat": 24, "port_block": 24, "flow": 1, "dhcp": 168, "radius": 168, "access": 0,
}  # fmt: skip

_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
CRASH_ENV = "TRAILGUARD_TRAFFIC_CRASH_AT"


def crash_point(name: str) -> None:
    """Test hook: when ``TRAILGUARD_TRAFFIC_CRASH_AT`` names this point, write a marker file
    (``<value of TRAILGUARD_TRAFFIC_CRASH_MARKER>``) and sleep so that a test can SIGKILL us
    exactly here. Costs one environment read otherwise."""
    if os.environ.get(CRASH_ENV) != name:
        return
    marker = os.environ.get("TRAILGUARD_TRAFFIC_CRASH_MARKER")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    time.sleep(float(os.environ.get("TRAILGUARD_TRAFFIC_CRASH_SLEEP", "60")))


def sort_ip_column(kind: str) -> str:
    return "inside_ip" if kind in ASSIGNMENT else "public_ip"


def validate_provider(provider: str) -> str:
    if not _PROVIDER.fullmatch(provider or ""):
        raise ValidationFailed(
            f"provider id {provider!r} must be 1-63 lower-case letters, digits, dots, dashes "
            "or underscores, starting with a letter or digit",
            ["provider"],
        )
    return provider


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class StoreConfig:
    retention_days: dict[str, int]
    open_hours: dict[str, int]

    @classmethod
    def default(cls) -> StoreConfig:
        return cls(dict(DEFAULT_RETENTION_DAYS), dict(DEFAULT_OPEN_HOURS))

    def open_us(self, kind: str) -> int:
        return int(self.open_hours.get(kind, 0)) * 3_600_000_000


def load_config(root: Path) -> StoreConfig:
    """``config.toml`` in the traffic dir; absent keys take the defaults; bad values refused."""
    config = StoreConfig.default()
    path = root / CONFIG
    if not path.exists():
        return config
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path} is not valid TOML: {exc}", ["config"]) from exc
    problems: list[str] = []
    for section, target in (
        ("retention_days", config.retention_days),
        ("open_hours", config.open_hours),
    ):
        values = raw.get(section, {})
        if not isinstance(values, dict):
            problems.append(f"[{section}] must be a table of kind = number")
            continue
        for kind, days in values.items():
            if kind not in KIND_CODES:
                problems.append(f"[{section}] names unknown kind {kind!r}")
            elif isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36500:
                problems.append(f"[{section}] {kind} = {days!r} must be a whole number 0..36500")
            else:
                target[kind] = days
    if problems:
        raise ValidationFailed(f"{path} has bad values: " + "; ".join(problems), problems)
    return config


def save_config(root: Path, config: StoreConfig) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps({"retention_days": config.retention_days, "open_hours": config.open_hours})
    atomic_write(root / CONFIG, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# manifest


@dataclass(frozen=True)
class PartInfo:
    """One published, immutable, sorted Parquet file of one partition."""

    part_id: str
    provider: str
    kind: str
    day: str  # YYYY-MM-DD of the records' start (UTC)
    path: str  # relative to the traffic dir
    rows: int
    bytes: int
    sha256: str
    min_start_us: int
    max_start_us: int
    max_end_us: int  # over records that have an end (or min_start_us when none does)
    open_rows: int  # records without an end
    row_groups: int
    source_sha256: list[str] = field(default_factory=list)
    # Records without an end whose session partner (a teardown, a stop) is in the part end
    # with it; only the others run to the open-session horizon. Written since the store
    # pairs them at write time (older manifests lack them: the horizon bounds every open row).
    paired_reach_us: int | None = None  # latest end of closed and paired records
    unpaired_max_start_us: int | None = None  # latest start of unpaired open ones, if any

    def max_reach_us(self, config: StoreConfig) -> int:
        """The latest instant any record of this part can cover."""
        if self.paired_reach_us is not None:
            reach = self.paired_reach_us
            if self.unpaired_max_start_us is not None:
                reach = max(reach, self.unpaired_max_start_us + config.open_us(self.kind))
            return max(reach, self.max_start_us)
        reach = self.max_end_us
        if self.open_rows:
            reach = max(reach, self.max_start_us + config.open_us(self.kind))
        return max(reach, self.max_start_us)


@dataclass(frozen=True)
class SourceInfo:
    """One ingested original file."""

    sha256: str
    name: str
    provider: str
    format: str
    size: int
    stored_as: str  # relative path under sources/
    lines_read: int
    records: int
    bad_lines: int
    skipped_lines: int
    ingested_at: str
    # After a purge removed some of its lines (see ``retention``): the purged line ranges
    # [first, last] (1-based, inclusive, sorted), when, and the SHA-256 of the archived text
    # as it is now (its purged lines empty); ``sha256`` stays the original's.
    purged_lines: list[list[int]] = field(default_factory=list)
    purged_at: str | None = None
    archive_sha256: str | None = None

    def purged(self, line_no: int) -> bool:
        """Whether a purge removed line ``line_no`` from the archive."""
        at = bisect.bisect_right(self.purged_lines, [line_no, 2**62]) - 1
        return at >= 0 and self.purged_lines[at][0] <= line_no <= self.purged_lines[at][1]


@dataclass
class Manifest:
    generation: int = 0
    parts: list[PartInfo] = field(default_factory=list)
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    # originals a purge deleted whole: what they were, every line purged, no file (so that an
    # auditor asking for one of their lines is told it was purged, not that it never existed)
    purged_sources: dict[str, SourceInfo] = field(default_factory=dict)

    def to_json(self) -> bytes:
        payload = {
            "format": "trailguard-traffic-store/1",
            "generation": self.generation,
            "parts": [asdict(p) for p in self.parts],
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
        }
        if self.purged_sources:
            payload["purged_sources"] = {
                k: asdict(v) for k, v in sorted(self.purged_sources.items())
            }
        return json.dumps(payload, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        return cls(
            generation=int(raw["generation"]),
            parts=[PartInfo(**p) for p in raw["parts"]],
            sources={k: SourceInfo(**v) for k, v in raw["sources"].items()},
            purged_sources={k: SourceInfo(**v) for k, v in raw.get("purged_sources", {}).items()},
        )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, rename over ``path``, fsync dir."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class LinePurged(NotFound):
    """The line asked for was removed from its archived original by a purge."""


def rewrite_source(
    path: Path, target: Path, drop: Callable[[np.ndarray], np.ndarray]
) -> tuple[str, int]:
    """Copy the archived original ``path`` (zstd or gzip) to ``target`` (zstd) with the lines
    for which ``drop(line_numbers)`` is True emptied (their line ends kept, so every other line
    keeps its number); fsynced. Returns the SHA-256 of the text written and its line count."""
    codec = "gzip" if path.suffix == ".gz" else "zstd"
    digest = hashlib.sha256()
    line = 1
    pending = b""
    sink = pa.OSFile(str(target), "wb")
    with (
        pa.CompressedInputStream(pa.OSFile(str(path)), codec) as raw,
        pa.CompressedOutputStream(sink, "zstd") as out,
    ):

        def emit(data: bytes) -> None:
            if data:
                digest.update(data)
                out.write(data)

        while True:
            chunk = raw.read(4 * 1024 * 1024)
            data = pending + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                body, pending = data[:cut], data[cut:]
            else:
                body, pending = data, b""
            if body:
                buf = np.frombuffer(body, dtype=np.uint8)
                ends = np.flatnonzero(buf == 10) + 1  # each line's end, its newline included
                if not len(ends) or ends[-1] != len(body):  # the last line, without a newline
                    ends = np.append(ends, len(body))
                starts = np.concatenate([[0], ends[:-1]])
                dropped = np.asarray(drop(np.arange(line, line + len(ends))), dtype=bool)
                edges = np.flatnonzero(np.diff(dropped.view(np.int8))) + 1
                for lo, hi in itertools.pairwise([0, *edges.tolist(), len(ends)]):
                    if dropped[lo]:
                        newlines = int((buf[ends[lo:hi] - 1] == 10).sum())
                        emit(b"\n" * newlines)
                    else:
                        emit(body[starts[lo] : ends[hi - 1]])
                line += len(ends)
            if not chunk:
                break
    fsync_file(target)
    return digest.hexdigest(), line - 1


# --------------------------------------------------------------------------------------------
# ingest results


@dataclass(frozen=True)
class BadLineReport:
    line_no: int
    reason: str
    text: str


@dataclass
class IngestReport:
    """What one file's ingest did; ``refused`` is set (and nothing stored) on a FormatError."""

    path: str
    sha256: str
    format: str
    lines_read: int = 0
    records_stored: int = 0
    skipped_lines: int = 0
    bad_lines: list[BadLineReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    duplicate: bool = False
    refused: str | None = None

    @property
    def bad_line_count(self) -> int:
        return len(self.bad_lines)


# --------------------------------------------------------------------------------------------
# sorting and writing


def _array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array for a column; a column of one chunk is not copied (``combine_chunks`` would:
    on a 50 M-row table that is gigabytes of fresh pages)."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def typed_nulls(n: int, type_: pa.DataType) -> pa.Array:
    """``pa.nulls(n, type_)`` for the fixed-width and string types of the record schema, over
    buffers of zeros from ``np.zeros`` (pages the OS maps lazily): nothing is written, so a
    part's all-null columns cost no memory traffic. Other types fall back to ``pa.nulls``."""
    if pa.types.is_string(type_):
        zeros = pa.py_buffer(np.zeros(4 * (n + 1) + (n + 7) // 8, dtype=np.uint8))
        validity = zeros.slice(0, (n + 7) // 8)
        offsets = zeros.slice((n + 7) // 8, 4 * (n + 1))
        return pa.Array.from_buffers(type_, n, [validity, offsets, pa.py_buffer(b"")], n)
    if pa.types.is_integer(type_) or pa.types.is_timestamp(type_):
        width = type_.bit_width // 8
        validity = pa.py_buffer(np.zeros((n + 7) // 8, dtype=np.uint8))
        data = pa.py_buffer(np.zeros(n * width, dtype=np.uint8))
        return pa.Array.from_buffers(type_, n, [validity, data], n)
    return pa.nulls(n, type_)


def _dictionary_rank(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """Codes that order rows by the column's string value (nulls last) and the number of
    distinct values (plus one for null)."""
    arr = _array(column)
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=np.int64), 1
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    dictionary = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(dictionary))
    # equal texts get one rank, even where a dictionary repeats a value
    in_order = dictionary.take(pa.array(order))
    new_value = np.ones(len(order), dtype=np.int64)
    if len(order) > 1:
        same = pc.equal(in_order.slice(1), in_order.slice(0, len(order) - 1))
        new_value[1:] = ~np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    rank = np.empty(len(dictionary) + 1, dtype=np.int64)
    rank[order] = np.cumsum(new_value) - 1
    rank[len(dictionary)] = len(dictionary)  # nulls sort last
    indices = np.asarray(
        pc.fill_null(encoded.indices, len(dictionary)).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    return rank[indices], len(dictionary) + 1


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = _array(column)
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def sort_for_store(table: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Sort rows by (kind, day, key ip, key port, start); returns the sorted table and per-row
    kind codes and day numbers (days since 1970-01-01 UTC) in that order."""
    n = table.num_rows
    kinds = _array(table.column("kind"))
    if pa.types.is_dictionary(kinds.type):
        names = kinds.dictionary.to_pylist()
        lookup = np.array([KIND_CODES.get(k, -1) for k in names] + [-1], dtype=np.int64)
        kind_code = lookup[
            np.asarray(pc.fill_null(kinds.indices, len(names)).to_numpy(zero_copy_only=False))
        ]
    else:
        kind_code = np.asarray(
            pc.fill_null(pc.index_in(kinds, value_set=pa.array(list(KIND_CODES))), -1).to_numpy(
                zero_copy_only=False
            ),
            dtype=np.int64,
        )
    if (kind_code < 0).any():
        bad = kinds[int(np.flatnonzero(kind_code < 0)[0])].as_py()
        raise ValidationFailed(f"unknown record kind {bad!r}", ["kind"])
    start = np.asarray(
        _array(table.column("start")).cast(pa.int64()).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    day = np.floor_divide(start, US_PER_DAY)
    is_assignment = np.isin(kind_code, [KIND_CODES[k.value] for k in ASSIGNMENT])
    if not is_assignment.any():  # one kind of key: no row-wise choice (and no copy)
        key_ip: pa.Array = _array(table.column("public_ip"))
    elif is_assignment.all():
        key_ip = _array(table.column("inside_ip"))
    else:
        key_ip = pc.if_else(
            pa.array(is_assignment),
            _text(table.column("inside_ip")),
            _text(table.column("public_ip")),
        )
    ip_rank, _ = _dictionary_rank(key_ip)
    del key_ip
    port = _array(table.column("public_port"))
    if pa.types.is_null(port.type):
        port_key = np.zeros(n, dtype=np.int64)
    else:
        port_key = np.asarray(
            pc.fill_null(pc.add(port.cast(pa.int64()), 1), 0).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
    port_key = np.where(is_assignment, 0, port_key)
    day_rel = day - day.min() if n else day
    groups = (int(kind_code.max()) + 1) * (int(day_rel.max()) + 1) if n else 0
    if n and groups * (int(ip_rank.max()) + 1) * 65537 <= 1 << 32:
        # (kind, day, address, port) as one dense number below 2**32: sorted by two 16-bit
        # radix passes, then by start within each address and port
        days = int(day_rel.max()) + 1
        per_group = (int(ip_rank.max()) + 1) * 65537
        day_min = int(day.min())
        dense = (kind_code * days + day_rel) * (int(ip_rank.max()) + 1)
        dense = (dense + ip_rank) * 65537 + port_key
        del ip_rank, port_key, day_rel, is_assignment, kind_code, day
        order, dense = radix_order(dense, start)
        del start
        # the sorted key holds the kind and the day: read them off it in order (no gather)
        group = dense // per_group
        del dense
        return permute(table, order), group // days, group % days + day_min
    if n and ip_rank.max() < (1 << 26) and day_rel.max() < (1 << 16):
        primary = (kind_code << 59) | (day_rel << 43) | (ip_rank << 17) | port_key
        del ip_rank, port_key, day_rel, is_assignment  # a 50 M-row file: 400 MB each
        order = np.lexsort((start, primary))
        del primary
    else:
        order = np.lexsort((start, port_key, ip_rank, day, kind_code))
    del start
    kind_sorted, day_sorted = kind_code[order], day[order]
    del kind_code, day
    return permute(table, order), kind_sorted, day_sorted


def radix_order(key: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.lexsort((start, key))`` for keys in 0 .. 2**32 - 1, and the keys in that order: a
    compiled stable radix sort by key, then each run of equal keys (one address and port: a
    few rows) by start (``_kernels.order_by_key_then_start``)."""
    from trailguard.traffic._kernels import order_by_key_then_start

    return order_by_key_then_start(
        np.ascontiguousarray(key, dtype=np.int64), np.ascontiguousarray(start, dtype=np.int64)
    )


def constant_strings(value: str, n: int) -> pa.Array:
    """A string array of ``n`` copies of ``value``, built from buffers (no per-row work)."""
    data = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64) * len(data)
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32).tobytes()), pa.py_buffer(data * n)
        )
    return pa.array([value] * n, pa.string())


def permute(table: pa.Table, order: np.ndarray) -> pa.Table:
    """``table.take(order)``, skipping the columns a permutation cannot change (all null, or
    one value repeated: a file's name, digest, zone, device), which are most of them for a
    single log file; those come back compact (null type, one-value dictionary)."""
    n = table.num_rows
    index = pa.array(order, pa.int64())
    columns: list[pa.Array | None] = []
    to_take: list[tuple[int, pa.Array]] = []
    for name in table.column_names:
        column = table.column(name)
        column = _array(column)
        if pa.types.is_null(column.type):
            columns.append(column)
            continue
        if n and column.null_count == n:
            columns.append(pa.nulls(n))
            continue
        if pa.types.is_dictionary(column.type):
            if len(column.dictionary) == 1 and column.null_count == 0:
                columns.append(column)  # one value: every order is the same
            else:
                to_take.append((len(columns), column))
                columns.append(None)
            continue
        if pa.types.is_string(column.type) and column.null_count == 0:
            first = column[0].as_py()
            if pc.all(pc.equal(column, first)).as_py():
                columns.append(constant_dictionary(first, n))
                continue
        to_take.append((len(columns), column))
        columns.append(None)
    # Arrow's take releases the GIL: the columns are gathered on both cores
    workers = min(len(to_take), os.cpu_count() or 1)
    if workers > 1 and n >= 65536:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            taken = list(pool.map(lambda item: item[1].take(index), to_take))
    else:
        taken = [column.take(index) for _, column in to_take]
    for (at, _), column in zip(to_take, taken, strict=True):
        columns[at] = column
    return pa.Table.from_arrays(columns, names=table.column_names)


def _writer_options() -> dict[str, Any]:
    return {
        "compression": "zstd",
        "compression_level": 3,
        "row_group_size": ROW_GROUP_ROWS,
        "use_dictionary": [
            "kind",
            "event",
            "source_tz",
            "protocol",
            "public_ip",
            "device",
            "source_file",
            "source_sha256",
            "dst_ip",
            "subscriber",
            "inside_ip",
        ],
        "write_statistics": True,
        "write_page_index": True,
        # the files carry Parquet's own types only (string, int32, timestamp UTC), whatever
        # compact form the table had in memory
        "store_schema": False,
    }


# a dictionary column with more values than this is written as plain text, so that every row
# group's dictionary holds only its own values (as when the writer builds it)
WRITE_DICTIONARY_MAX = 64


def plain_part(table: pa.Table) -> pa.Table:
    """A part's rows in the written form: STORED_SCHEMA names, types and nullability, small
    dictionaries kept (the writer writes them as they are), null-type columns made typed."""
    n = table.num_rows
    fields = []
    arrays = []
    for spec in STORED_SCHEMA:
        column = table.column(spec.name)
        column = _array(column)
        if pa.types.is_null(column.type):
            column = typed_nulls(n, spec.type)
        elif pa.types.is_dictionary(column.type):
            if len(column.dictionary) > WRITE_DICTIONARY_MAX:
                column = column.cast(spec.type)
        elif column.type != spec.type:
            column = column.cast(spec.type)
        arrays.append(column)
        fields.append(pa.field(spec.name, column.type, nullable=spec.nullable))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _key_of(kind: str, ip: Any, port: Any) -> list[Any]:
    ip_text = "~" if ip is None else str(ip)  # nulls sort last, "~" sorts after any address
    if kind in ASSIGNMENT:
        return [ip_text, 0]
    return [ip_text, 0 if port is None else int(port) + 1]


def sparse_index(kind: str, table: pa.Table) -> dict[str, Any]:
    """First and last (ip, port key, start) of every row group, for range selection."""
    n = table.num_rows
    firsts_at = list(range(0, n, ROW_GROUP_ROWS))
    lasts_at = [min(i + ROW_GROUP_ROWS, n) - 1 for i in firsts_at]
    picked = table.select([sort_ip_column(kind), "public_port", "start"]).take(
        pa.array(firsts_at + lasts_at, pa.int64())
    )
    ips = picked.column(0).to_pylist()
    ports = picked.column(1).to_pylist()
    starts = picked.column(2).cast(pa.int64()).to_pylist()
    keys = [
        [*_key_of(kind, ip, port), start]
        for ip, port, start in zip(ips, ports, starts, strict=True)
    ]
    return {
        "row_group_rows": ROW_GROUP_ROWS,
        "first": keys[: len(firsts_at)],
        "last": keys[len(firsts_at) :],
    }


def write_part(
    staging: Path,
    provider: str,
    kind: str,
    day_number: int,
    table: pa.Table,
    sources: list[str],
) -> tuple[PartInfo, Path, Path]:
    """Write one sorted part and its sparse index into ``staging`` (fsynced)."""
    day = (date(1970, 1, 1) + timedelta(days=int(day_number))).isoformat()
    part_id = uuid.uuid4().hex
    rel_dir = Path("parts") / f"provider={provider}" / f"kind={kind}" / f"day={day}"
    staged = staging / f"part-{part_id}.parquet"
    starts = np.asarray(
        _array(table.column("start")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    )
    end_col = _array(table.column("end")).cast(pa.int64())
    ends = end_col.drop_null().to_numpy() if end_col.null_count < len(end_col) else None
    # where paired sessions end is worked out (NumPy) while the file is written (Arrow's
    # writer): both release the GIL, so a part uses both cores
    with ThreadPoolExecutor(max_workers=1) as helper:
        reach = helper.submit(_reach, kind, table, starts, end_col)
        table = plain_part(table)
        pq.write_table(table, staged, **_writer_options())
        fsync_file(staged)
        index_path = staging / f"part-{part_id}.idx.json"
        index_path.write_bytes(json.dumps(sparse_index(kind, table)).encode("utf-8"))
        fsync_file(index_path)
        paired_reach, unpaired_start = reach.result()
    info = PartInfo(
        part_id=part_id,
        provider=provider,
        kind=kind,
        day=day,
        path=str(rel_dir / staged.name),
        rows=table.num_rows,
        bytes=staged.stat().st_size,
        sha256=sha256_file(staged),
        min_start_us=int(starts.min()),
        max_start_us=int(starts.max()),
        max_end_us=int(ends.max()) if ends is not None and len(ends) else int(starts.min()),
        open_rows=int(end_col.null_count),
        row_groups=pq.ParquetFile(staged).metadata.num_row_groups,
        source_sha256=sorted(sources),
        paired_reach_us=paired_reach,
        unpaired_max_start_us=unpaired_start,
    )
    return info, staged, index_path


def _reach(
    kind: str, table: pa.Table, starts: np.ndarray, end_col: pa.Array | pa.ChunkedArray
) -> tuple[int, int | None]:
    """(latest end of closed and paired records, latest start of unpaired open ones or None),
    with the lookups' pairing rule (``index.effective_end``, compiled, open horizon 0)."""
    from trailguard.traffic._kernels import effective_end
    from trailguard.traffic.index import PAIR_US, SEEN, holder_column

    n = len(starts)
    # one code per address text (the sort's rank), so rows of one address pair up
    codes, _ = _dictionary_rank(table.column(sort_ip_column(kind)))
    if kind in ASSIGNMENT:
        port_key = np.zeros(n, dtype=np.int64)
    else:
        port_key = np.asarray(
            pc.fill_null(pc.add(table.column("public_port").cast(pa.int64()), 1), 0).to_numpy(
                zero_copy_only=False
            ),
            dtype=np.int64,
        )
    key = (codes << 17) | port_key
    ends = np.asarray(pc.fill_null(end_col, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    has_end = np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
    names = table.column_names
    interim = (
        np.asarray(
            pc.fill_null(pc.equal(_text(table.column("event")), SEEN), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
        if "event" in names
        else np.zeros(n, dtype=bool)
    )
    # holders matter only to records seen without their period's start
    holder = (
        _dictionary_rank(table.column(holder_column(kind)))[0]
        if interim.any() and holder_column(kind) in names
        else np.zeros(n, dtype=np.int64)
    )
    # with no horizon, an unpaired open row ends at its period's last record (or before the
    # next period)
    eff, basis = effective_end(
        key, np.ascontiguousarray(starts, dtype=np.int64), ends, has_end,
        np.ascontiguousarray(holder, dtype=np.int64), interim, 0, PAIR_US,
    )  # fmt: skip
    open_rows = ~has_end
    paired = open_rows & (basis == 0)
    unpaired = open_rows & ~paired
    closed = has_end | paired
    reach = int(eff[closed].max()) if closed.any() else int(starts.min())
    return reach, (int(starts[unpaired].max()) if unpaired.any() else None)


def index_path_for(part_path: Path) -> Path:
    return part_path.with_name(part_path.name.replace(".parquet", ".idx.json"))


_POOL_LOCK = threading.Lock()
_POOL_STATE: dict[str, Any] = {"users": 0, "previous": None}


@contextlib.contextmanager
def ingest_memory_pool() -> Iterator[None]:
    """Arrow allocates from jemalloc while an ingest runs, where the build has it.

    An ingest allocates and frees columns of hundreds of megabytes stage after stage; with
    the default pool (mimalloc) a 5 M-line ingest spent about 2.5 s of its 9 s of CPU in the
    kernel mapping fresh pages, with jemalloc about 1.5 s, and ran 15-20 % faster (same peak
    memory). Buffers remember their pool, so those made before or after are freed where they
    came from. Nested and concurrent ingests share the switch; the last one out restores the
    previous default."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc keeps its default pool
        yield
        return
    with _POOL_LOCK:
        if _POOL_STATE["users"] == 0:
            _POOL_STATE["previous"] = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _POOL_STATE["users"] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL_STATE["users"] -= 1
            if _POOL_STATE["users"] == 0:
                pa.set_memory_pool(_POOL_STATE["previous"])
                _POOL_STATE["previous"] = None


# --------------------------------------------------------------------------------------------
# the store


class TrafficStore:
    """A traffic data dir. Readers use ``manifest`` (a snapshot); writers take the lock."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = Path(root)
        if not self.root.exists():
            if not create:
                raise NotFound(f"no traffic store at {self.root}")
            self.root.mkdir(parents=True)
        if not self.root.is_dir():
            raise ValidationFailed(f"{self.root} is not a directory", ["data_dir"])
        for sub in ("parts", "sources", "holds", "staging"):
            (self.root / sub).mkdir(exist_ok=True)
        self.config = load_config(self.root)
        self._manifest: Manifest | None = None
        self._manifest_mtime: int = -1
        self._engine: Any = None
        self._recover_if_idle()

    # -- locking and recovery ------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Exclusive writer lock (one ingest, purge or hold change at a time)."""
        with (self.root / ".lock").open("a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _recover_if_idle(self) -> None:
        """Recover when no writer is active. A writer at work holds the lock and owns its
        staging files; a reader must neither wait for it nor sweep its work."""
        with (self.root / ".lock").open("a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            try:
                self._recover()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _recover(self) -> None:
        """Sweep what a crash may have left: staging dirs, temp files, unlisted part files."""
        staging = self.root / "staging"
        for entry in staging.iterdir():
            if not entry.is_dir():
                entry.unlink()
                continue
            with (entry / ".owner").open("a+") as owner:
                try:
                    fcntl.flock(owner.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # an ingest or purge in another process is working here
                shutil.rmtree(entry, ignore_errors=True)
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        manifest = self.manifest(refresh=True)
        listed = {p.path for p in manifest.parts}
        listed_idx = {str(index_path_for(Path(p))) for p in listed}
        parts_dir = self.root / "parts"
        for path in parts_dir.rglob("*"):
            if path.is_file():
                rel = str(path.relative_to(self.root))
                if rel not in listed and rel not in listed_idx:
                    path.unlink()
        stored = {s.stored_as for s in manifest.sources.values()}
        for path in (self.root / "sources").iterdir():
            if path.is_file() and f"sources/{path.name}" not in stored:
                path.unlink()
        from trailguard.traffic.holds import recover_holds

        recover_holds(self)

    # -- manifest ------------------------------------------------------------------------

    def manifest(self, refresh: bool = False) -> Manifest:
        path = self.root / MANIFEST
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = 0
        if refresh or self._manifest is None or mtime != self._manifest_mtime:
            self._manifest = Manifest.from_json(path.read_bytes()) if mtime else Manifest()
            self._manifest_mtime = mtime
            self._engine = None
        return self._manifest

    def publish(self, manifest: Manifest) -> None:
        """Make ``manifest`` the store's state (atomic). Caller holds the writer lock."""
        manifest.generation += 1
        atomic_write(self.root / MANIFEST, manifest.to_json())
        self._manifest = manifest
        self._manifest_mtime = (self.root / MANIFEST).stat().st_mtime_ns
        self._engine = None

    def part_path(self, part: PartInfo) -> Path:
        return self.root / part.path

    def parts(
        self, kinds: Iterable[str] | None = None, provider: str | None = None
    ) -> list[PartInfo]:
        wanted = set(kinds) if kinds is not None else None
        return [
            p
            for p in self.manifest().parts
            if (wanted is None or p.kind in wanted) and (provider is None or p.provider == provider)
        ]

    def engine(self) -> Any:
        """The embedded lookup engine over the current manifest (cached until it changes)."""
        self.manifest()
        if self._engine is None:
            from trailguard.traffic.index import EmbeddedEngine

            self._engine = EmbeddedEngine(self)
        return self._engine

    # -- ingest --------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging_area(self) -> Iterator[Path]:
        """A private work folder under ``staging/``, removed afterwards. Its owner holds a
        lock on ``.owner`` inside it, so that recovery in another process leaves it alone."""
        path = self.root / "staging" / uuid.uuid4().hex
        path.mkdir(parents=True)
        handle = (path / ".owner").open("a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            handle.close()

    def ingest_table(
        self,
        table: pa.Table,
        *,
        provider: str,
        source_sha256: str,
        source: SourceInfo | None = None,
        staged_source: Path | None = None,
        staging: Path | None = None,
    ) -> list[PartInfo]:
        """Sort, partition and publish ``table`` (RECORD_SCHEMA) as one atomic step."""
        validate_provider(provider)
        table = conform(table, source_sha256)
        if staging is None:
            with self.staging_area() as own:
                return self._publish(table, provider, source_sha256, source, staged_source, own)
        return self._publish(table, provider, source_sha256, source, staged_source, staging)

    def _publish(
        self,
        table: pa.Table,
        provider: str,
        source_sha256: str,
        source: SourceInfo | None,
        staged_source: Path | None,
        staging: Path,
    ) -> list[PartInfo]:
        infos: list[tuple[PartInfo, Path, Path]] = []
        if table.num_rows:
            ordered, kind_code, day = sort_for_store(table)
            boundaries = np.flatnonzero((np.diff(kind_code) != 0) | (np.diff(day) != 0)) + 1
            edges = [0, *boundaries.tolist(), ordered.num_rows]
            kind_names = list(KIND_CODES)
            jobs = [
                (kind_names[int(kind_code[lo])], int(day[lo]), lo, hi)
                for lo, hi in itertools.pairwise(edges)
            ]
            # partitions are independent files: write them in parallel (Arrow's Parquet
            # writer releases the GIL)
            with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
                infos = list(
                    pool.map(
                        lambda job: write_part(
                            staging,
                            provider,
                            job[0],
                            job[1],
                            ordered.slice(job[2], job[3] - job[2]),
                            [source_sha256],
                        ),
                        jobs,
                    )
                )
        crash_point("ingest:staged")
        with self.writing():
            manifest = self.manifest(refresh=True)
            if source is not None and source.sha256 in manifest.sources:
                raise Conflict(
                    f"{source.name} (SHA-256 {source.sha256}) was ingested "
                    "meanwhile by another process; not stored twice"
                )
            for info, staged, index in infos:
                final = self.root / info.path
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.replace(final)
                index.replace(index_path_for(final))
                fsync_dir(final.parent)
            if staged_source is not None and source is not None:
                target = self.root / source.stored_as
                if not target.exists():
                    staged_source.replace(target)
                    fsync_dir(target.parent)
            crash_point("ingest:moved")
            new = Manifest(
                manifest.generation,
                [*manifest.parts, *(i for i, _, _ in infos)],
                dict(manifest.sources),
                dict(manifest.purged_sources),
            )
            if source is not None:
                new.sources[source.sha256] = source
                new.purged_sources.pop(source.sha256, None)  # ingested again after its purge
            self.publish(new)
            crash_point("ingest:published")
        return [i for i, _, _ in infos]

    def ingest_file(
        self,
        path: Path,
        *,
        provider: str,
        format_name: str | None = None,
        options: ParseOptions | None = None,
        progress: Any = None,
    ) -> IngestReport:
        """Parse one file with its parser and publish it whole, or nothing of it.

        A ``FormatError`` (wrong format, cut-short gzip, wrong encoding, missing --tz) refuses
        the whole file: the report says why and the store is unchanged. Bad lines are
        counted with their numbers. A file already ingested (same SHA-256) is not stored twice.
        """
        from trailguard.traffic.parsers import detect_format, get_parser

        validate_provider(provider)
        path = Path(path)
        if not path.is_file():
            raise ValidationFailed(f"{path} is not a readable file", ["file"])
        report = IngestReport(path=str(path), sha256="", format=format_name or "")
        try:
            parser = get_parser(format_name) if format_name else detect_format(path)
        except FormatError as exc:
            digest = sha256_file(path)
            return self._duplicate(path, digest) or replace(report, sha256=digest, refused=str(exc))
        report.format = parser.NAME
        opts = options or ParseOptions()
        if opts.source_name is None:
            opts = replace(opts, source_name=path.name)
        with (
            ingest_memory_pool(),
            self.staging_area() as staging,
            ThreadPoolExecutor(max_workers=1) as archiver,
        ):
            # the original is hashed and compressed into staging in one read while the parser
            # works (both release the GIL); a refused file's copy goes with the staging folder.
            # A file already stored (same SHA-256) is answered as such whatever the parse gave.
            archived = archiver.submit(self._stage_source, path, staging)
            tables: list[pa.Table] = []
            try:
                for batch in parser.parse(path, opts):
                    # compact at once: a big log's batches would otherwise hold every
                    # repeated text (file name, device, zone) once per row until the end
                    tables.append(compact(batch.table))
                    report.lines_read += batch.lines_read
                    report.skipped_lines += batch.skipped_lines
                    report.bad_lines.extend(
                        BadLineReport(b.line_no, b.reason, b.text) for b in batch.bad_lines
                    )
                    for note in batch.notes:
                        if note not in report.notes:
                            report.notes.append(note)
                    if progress is not None:
                        progress(batch.lines_read)
            except FormatError as exc:
                digest, suffix, staged_source = archived.result()
                report.sha256 = digest
                report.refused = str(exc)
                report.records_stored = 0
                return self._duplicate(path, digest) or report
            digest, suffix, staged_source = archived.result()
            report.sha256 = digest
            duplicate = self._duplicate(path, digest)
            if duplicate is not None:
                return duplicate
            if report.lines_read == 0:
                report.refused = f"{path.name} is empty: no lines to ingest"
                return report
            table = concat_compact(tables) if tables else RECORD_SCHEMA.empty_table()
            del tables
            stored_as = f"sources/{digest}{suffix}"
            source = SourceInfo(
                sha256=digest,
                name=path.name,
                provider=provider,
                format=parser.NAME,
                size=path.stat().st_size,
                stored_as=stored_as,
                lines_read=report.lines_read,
                records=table.num_rows,
                bad_lines=report.bad_line_count,
                skipped_lines=report.skipped_lines,
                ingested_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            )
            try:
                infos = self.ingest_table(
                    table,
                    provider=provider,
                    source_sha256=digest,
                    source=source,
                    staged_source=staged_source,
                    staging=staging,
                )
            except Conflict as exc:
                report.duplicate = True
                report.notes.append(str(exc))
                return report
            report.records_stored = table.num_rows
            report.parts = [i.path for i in infos]
            return report

    def _duplicate(self, path: Path, digest: str) -> IngestReport | None:
        """The report for a file already ingested (same SHA-256), else None."""
        existing = self.manifest().sources.get(digest)
        if existing is None:
            return None
        report = IngestReport(path=str(path), sha256=digest, format=existing.format)
        report.duplicate = True
        report.notes.append(
            f"already ingested as {existing.name} on {existing.ingested_at}; not stored twice"
        )
        return report

    def _stage_source(self, path: Path, staging: Path) -> tuple[str, str, Path]:
        """Copy the original into staging, compressed (zstd), or as-is when already gzip,
        hashing it on the way: (SHA-256, suffix, staged file)."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            gz = handle.read(2) == b"\x1f\x8b"
        suffix = ".gz" if gz else ".zst"
        target = staging / f"source{suffix}"
        with path.open("rb") as src:
            if gz:
                with target.open("wb") as out:
                    while chunk := src.read(8 * 1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
            else:
                sink = pa.OSFile(str(target), "wb")
                with pa.CompressedOutputStream(sink, "zstd") as out:
                    while chunk := src.read(8 * 1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
        fsync_file(target)
        return digest.hexdigest(), suffix, target

    def read_source_line(self, sha256: str, line_no: int) -> str:
        """The raw text of line ``line_no`` (1-based) of an ingested original, for auditors.
        A line a purge removed raises ``LinePurged`` (its text is gone)."""
        manifest = self.manifest()
        source = manifest.sources.get(sha256) or manifest.purged_sources.get(sha256)
        if source is None:
            raise NotFound(f"no ingested source file with SHA-256 {sha256}")
        if line_no < 1:
            raise ValidationFailed(f"line number {line_no} must be 1 or more", ["line"])
        if sha256 not in manifest.sources and line_no > source.lines_read:
            raise NotFound(f"{source.name} had no line {line_no} (it had {source.lines_read})")
        if source.purged(line_no):
            raise LinePurged(
                f"line {line_no} of {source.name} (SHA-256 {sha256}) was purged on "
                f"{source.purged_at}: its records were past retention and no hold covered them"
            )
        path = self.root / source.stored_as
        codec = "gzip" if path.suffix == ".gz" else "zstd"
        with pa.CompressedInputStream(pa.OSFile(str(path)), codec) as raw:
            buffered = pa.input_stream(raw, buffer_size=1 << 20)
            count = 0
            pending = b""
            while True:
                chunk = buffered.read(1 << 20)
                if not chunk:
                    break
                data = pending + chunk
                lines = data.split(b"\n")
                pending = lines.pop()
                if count + len(lines) >= line_no:
                    return lines[line_no - count - 1].rstrip(b"\r").decode("utf-8", "replace")
                count += len(lines)
            if pending and count + 1 == line_no:
                return pending.rstrip(b"\r").decode("utf-8", "replace")
        raise NotFound(f"{source.name} has no line {line_no} (it has {count + bool(pending)})")

    def verify_source(self, sha256: str) -> bool:
        """Re-hash an archived original and compare with its name (after a purge removed
        some of its lines: with the digest recorded for the archive as the purge left it)."""
        source = self.manifest().sources.get(sha256)
        if source is None:
            raise NotFound(f"no ingested source file with SHA-256 {sha256}")
        path = self.root / source.stored_as
        digest = hashlib.sha256()
        if source.archive_sha256 is not None:
            with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as raw:
                while chunk := raw.read(8 * 1024 * 1024):
                    digest.update(chunk)
            return digest.hexdigest() == source.archive_sha256
        if path.suffix == ".gz":
            digest.update(path.read_bytes())
        else:
            with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as raw:
                while chunk := raw.read(8 * 1024 * 1024):
                    digest.update(chunk)
        return digest.hexdigest() == sha256

    # -- reading -------------------------------------------------------------------------

    def read_part(
        self, part: PartInfo, columns: list[str] | None = None, filters: Any = None
    ) -> pa.Table:
        return pq.read_table(
            self.part_path(part), columns=columns, filters=filters, schema=STORED_SCHEMA
        )

    def stats(self) -> dict[str, Any]:
        manifest = self.manifest()
        by_kind: dict[str, dict[str, Any]] = {}
        for part in manifest.parts:
            entry = by_kind.setdefault(
                part.kind, {"parts": 0, "rows": 0, "bytes": 0, "days": set(), "providers": set()}
            )
            entry["parts"] += 1
            entry["rows"] += part.rows
            entry["bytes"] += part.bytes
            entry["days"].add(part.day)
            entry["providers"].add(part.provider)
        kinds = {}
        for kind, entry in sorted(by_kind.items()):
            days = sorted(entry["days"])
            kinds[kind] = {
                "parts": entry["parts"],
                "rows": entry["rows"],
                "bytes": entry["bytes"],
                "bytes_per_record": round(entry["bytes"] / entry["rows"], 2)
                if entry["rows"]
                else None,
                "first_day": days[0],
                "last_day": days[-1],
                "days": len(days),
                "providers": sorted(entry["providers"]),
                "retention_days": self.config.retention_days.get(kind),
            }
        source_bytes = sum(
            (self.root / s.stored_as).stat().st_size
            for s in manifest.sources.values()
            if (self.root / s.stored_as).exists()
        )
        from trailguard.traffic.holds import list_holds

        holds = list_holds(self)
        return {
            "root": str(self.root),
            "generation": manifest.generation,
            "records": sum(p.rows for p in manifest.parts),
            "parquet_bytes": sum(p.bytes for p in manifest.parts),
            "source_files": len(manifest.sources),
            "source_bytes": source_bytes,
            "kinds": kinds,
            "holds_active": sum(1 for h in holds if h.status == "active"),
            "holds_released": sum(1 for h in holds if h.status != "active"),
        }

    def duckdb(self) -> Any:
        """A DuckDB connection with a view ``records`` over exactly the published parts."""
        import duckdb

        con = duckdb.connect()
        paths = [str(self.part_path(p)) for p in self.manifest().parts]
        if paths:
            listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            # the paths come from our own manifest and are quoted; DuckDB has no parameters
            # in CREATE VIEW
            con.execute(
                f"CREATE VIEW records AS SELECT * FROM read_parquet([{listing}], "  # noqa: S608
                "hive_partitioning = true, union_by_name = true)"
            )
        else:
            cols = ", ".join(f'CAST(NULL AS VARCHAR) AS "{f.name}"' for f in STORED_SCHEMA)
            con.execute(f"CREATE VIEW records AS SELECT {cols} WHERE false")
        return con


# the instants a date can name (years 1 to 9999): parts are named by day, answers by datetime
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


def _refuse_times_out_of_range(table: pa.Table, name: str) -> None:
    """A parser checks its own times; this is the store's last line: a record whose ``name``
    lies outside years 1-9999 refuses the whole ingest, naming its source line, before
    anything is written."""
    values = table.column(name).cast(pa.int64())
    if values.null_count == len(values):
        return
    bounds = pc.min_max(values)
    if bounds["min"].as_py() >= MIN_TIME_US and bounds["max"].as_py() <= MAX_TIME_US:
        return
    outside = pc.or_(pc.less(values, MIN_TIME_US), pc.greater(values, MAX_TIME_US))
    row = int(np.flatnonzero(np.asarray(pc.fill_null(outside, False)))[0])
    source = table.column("source_file")[row].as_py()
    where = f"{source} line {table.column('source_line')[row].as_py()}"
    raise ValidationFailed(
        f"{where}: {name} lies outside the years 1-9999 ({values[row].as_py()} microseconds from"
        " 1970-01-01 UTC); nothing of this ingest is stored",
        [name],
    )


def conform(table: pa.Table, source_sha256: str) -> pa.Table:
    """Check the table against RECORD_SCHEMA, add ``source_sha256``; refuse missing columns
    or nulls where the contract forbids them. Columns may come compact (see ``compact``):
    text dictionary-encoded, a column of nothing but nulls as the null type."""
    missing = [f.name for f in RECORD_SCHEMA if f.name not in table.column_names]
    if missing:
        raise ValidationFailed(f"records lack columns {missing}", missing)
    table = table.select(RECORD_SCHEMA.names)
    n = table.num_rows
    columns = []
    for spec in RECORD_SCHEMA:
        column = table.column(spec.name)
        if not _compatible(column.type, spec.type):
            try:
                column = column.cast(spec.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ValidationFailed(
                    f"records do not match the record schema: {spec.name}: {exc}", ["schema"]
                ) from exc
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=RECORD_SCHEMA.names)
    for name in ("kind", "start", "source_file", "source_line"):
        if table.column(name).null_count:
            raise ValidationFailed(f"records have empty {name!r} values", [name])
    for name in ("start", "end"):
        _refuse_times_out_of_range(table, name)
    if not re.fullmatch(r"[0-9a-f]{64}", source_sha256):
        raise ValidationFailed(
            f"source digest {source_sha256!r} is not a SHA-256 hex digest", ["source_sha256"]
        )
    return table.append_column("source_sha256", constant_dictionary(source_sha256, n))


def _compatible(actual: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a compact column stands for a column of type ``wanted`` as it is."""
    if actual == wanted or pa.types.is_null(actual):
        return True
    return (
        pa.types.is_dictionary(actual)
        and pa.types.is_string(wanted)
        and pa.types.is_string(actual.value_type)
    )


def constant_dictionary(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value`` as a dictionary array (one byte per row, one copy of the
    text)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int8), pa.int8()), pa.array([value], pa.string())
    )


# A text column keeps its dictionary when it has at most this many distinct values per this
# many rows; an address column of a big CGNAT log does not, its public side does.
COMPACT_DISTINCT = 1 / 16


def compact(table: pa.Table) -> pa.Table:
    """The same records in less memory: text columns with few distinct values
    dictionary-encoded, all-null columns as the null type (no buffers). ``conform`` and the
    writer accept this form; parts on disk are the same as for the plain form."""
    n = table.num_rows
    columns = []
    for name in table.column_names:
        column = table.column(name)
        column = _array(column)
        if (
            n
            and column.null_count == n
            and name not in ("kind", "start", "source_file", "source_line")
        ):
            column = pa.nulls(n)
        elif pa.types.is_string(column.type) and n >= 1024:
            encoded = pc.dictionary_encode(column)
            if len(encoded.dictionary) <= max(16, n * COMPACT_DISTINCT):
                column = _narrow_indices(encoded)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _narrow_indices(arr: pa.Array) -> pa.Array:
    """A dictionary array with two-byte indices when its dictionary is small."""
    if len(arr.dictionary) <= 1024 and arr.type.index_type != pa.int16():
        return pa.DictionaryArray.from_arrays(arr.indices.cast(pa.int16()), arr.dictionary)
    return arr


def concat_compact(tables: list[pa.Table]) -> pa.Table:
    """``pa.concat_tables`` for compact tables whose column types differ between batches (a
    column all null in one batch, dictionary-encoded in one and not another)."""
    if len(tables) == 1:
        return tables[0]
    names = tables[0].column_names
    columns = []
    for i in range(len(names)):
        types = {t.schema.field(i).type for t in tables}
        pieces = [t.column(i) for t in tables]
        if len(types) > 1:
            non_null = [t for t in types if not pa.types.is_null(t)]
            if len(non_null) == 1 and pa.types.is_dictionary(non_null[0]):
                target = non_null[0].value_type
            elif len(non_null) == 1:
                target = non_null[0]
            else:
                target = next(
                    (t.value_type for t in non_null if pa.types.is_dictionary(t)), non_null[0]
                )
            pieces = [p.cast(target) if p.type != target else p for p in pieces]
        chunks = [c for p in pieces for c in p.chunks]
        if pa.types.is_dictionary(chunks[0].type):
            index_types = {c.type.index_type for c in chunks}
            values = sum(len(c.dictionary) for c in chunks)
            if len(index_types) > 1 or (values > 32767 and index_types == {pa.int16()}):
                # the unified dictionary may outgrow two-byte indices
                chunks = [
                    pa.DictionaryArray.from_arrays(c.indices.cast(pa.int32()), c.dictionary)
                    for c in chunks
                ]
        column = pa.chunked_array(chunks, type=chunks[0].type if chunks else pieces[0].type)
        if pa.types.is_dictionary(column.type):
            column = column.unify_dictionaries()
        columns.append(column.combine_chunks())
    return pa.Table.from_arrays(columns, names=names)


def open_store(data_dir: Path) -> TrafficStore:
    """The store of a data dir: always ``<data_dir>/traffic`` (``NodePaths.traffic``), whether
    the dir was made by ``trailguard init`` or is a bare directory (created when missing) of a
    provider who only uses the store."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationFailed(f"{data_dir} is not a directory", ["data_dir"])
    return TrafficStore(data_dir / "traffic")


def day_of(us: int) -> str:
    return (date(1970, 1, 1) + timedelta(microseconds=us)).isoformat()
