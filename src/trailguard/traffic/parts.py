"""Turning parsed records into part files: conforming to the stored schema, sorting for
lookups (compiled radix sort), compacting text columns, and writing a sorted Parquet part with
its sparse index and reach (``write_part``). ``TrafficStore.ingest_*`` publishes the parts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.layout import (
    ROW_GROUP_ROWS,
    STORED_SCHEMA,
    PartInfo,
    fsync_file,
    sha256_file,
)
from trailguard.traffic.model import RECORD_SCHEMA
from trailguard.traffic.values import (
    ASSIGNMENT,
    KIND_CODES,
    MAX_TIME_US,
    MIN_TIME_US,
    PAIR_US,
    SEEN,
    US_PER_DAY,
    holder_column,
    sort_ip_column,
)

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
    # numba (about 0.5 s to load) only when writing parts, never on the first lookup
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
    with the lookups' pairing rule (``segments.effective_end``, compiled, open horizon 0)."""
    # numba (about 0.5 s to load) only when writing parts, never on the first lookup
    from trailguard.traffic._kernels import effective_end

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
