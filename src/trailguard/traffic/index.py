"""The embedded lookup engine: a sparse primary index over sorted row groups, and sorted
in-memory key arrays once a part is warm.

A part is searched through a ``Segment``: a run of its sorted rows with a monotonic 64-bit key
per row (``ip_code << 17 | port + 1``; the ip code is the rank of the address among the
segment's distinct addresses, so codes follow the file's sort order) and the start and
effective end of every row. A search is two ``searchsorted`` calls per query plus a vectorised
filter, so thousands of queries cost one pass.

* Cold (the first lookups after open): the part's sparse index (first and last key of each
  row group, ``part-*.idx.json``) picks the row groups a query can touch; only those (plus one
  neighbour each side, so that a session's create and teardown records pair up) are read.
* Warm (``warm()``, or any batch that touches a part widely): the whole part is read once and
  kept as one segment; after that a lookup touches memory only. A warm part also keeps, for
  the compiled batch search (``_kernels.search_part``), the local code of every interned
  address code (``g_map``), the first row of every address (``code_start``) and every 64th
  key (``key_sample``): a query reads its address's row range, then searches the samples
  (which stay in cache) and the few rows between two of them.

The *effective end* of a record is the end of the period its key's records imply
(``run_periods``): the records of one key (address and port, or port block, or leased
address), in order of start, are cut into periods. A record joins the period before it when it
starts within a second of the previous record (an interim record that carries its period's
start confirms the period, it never opens a second one), or is an interim record of the same
holder logged without that start (event ``seen``); an opening record that starts
after the period's logged end opens a new one. A period ends at its latest closing record
(an ASA teardown, a RADIUS stop, a Juniper release) however many records lie between; without
one, it ends just before the next period on the key (closed by re-allocation, release not
logged), or at its last record + the kind's open-session horizon (config.toml), whichever
comes first. Each row also carries the basis of that end (``END_LOGGED``, ``END_REALLOCATED``,
``END_HORIZON``).

A part works this out over its own rows; a period left open in its part is worked out again
over the rows of its key in every part of the kind (``EmbeddedEngine.refine_open``), so that
ends do not depend on how records were split into days and files.
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailguard.traffic.layout import STORED_SCHEMA, PartInfo, StoreConfig, index_path_for
from trailguard.traffic.values import (
    ASSIGNMENT,
    END_HORIZON,
    END_LOGGED,
    END_REALLOCATED,
    PAIR_US,
    SEEN,
    holder_column,
    sort_ip_column,
)

if TYPE_CHECKING:  # the store builds its engine: annotations only
    from trailguard.traffic.store import TrafficStore

# periods of warm parts are worked out by the compiled pass; False: ``run_periods`` in plain
# Python (the reference the tests hold the compiled pass to)
COMPILED_PERIODS = True
CACHE_SEGMENTS = 256
WARM_DICTIONARY = [
    "kind",
    "event",
    "source_tz",
    "protocol",
    "public_ip",
    "device",
    "source_file",
    "source_sha256",
]
SMALL_QUERY = 16
# a batch of more queries than this reads whole parts (warm) instead of row groups
WARM_BATCH = 64
RANGE_STEPS = 6  # rows walked forward before a range's end is found by binary search
REFINED_MEMO = 100_000  # periods worked out across parts kept per engine
SAMPLE_STRIDE = 64  # one key in this many is kept apart for the compiled search's first steps
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class QueryArrays:
    """Vectorised queries: address text, port key range and the time window per query."""

    ips: pa.Array  # string
    port_lo: np.ndarray  # int64 port key lower bound (port + 1; 0 = no port)
    port_hi: np.ndarray  # int64 port key upper bound, exclusive
    port: np.ndarray  # int64 queried port or -1 (for port-block range checks)
    at_lo: np.ndarray  # int64 us: window start (at - tolerance)
    at_hi: np.ndarray  # int64 us: window end (at + tolerance)
    # the distinct addresses and each query's index among them, when the builder has them
    # (``resolve.build_queries``); ``take`` drops them
    distinct: pa.Array | None = None
    distinct_index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.port_lo)

    def take(self, idx: np.ndarray) -> QueryArrays:
        return QueryArrays(
            self.ips.take(pa.array(idx, pa.int64())),
            self.port_lo[idx],
            self.port_hi[idx],
            self.port[idx],
            self.at_lo[idx],
            self.at_hi[idx],
        )


def _np(arr: pa.Array | pa.ChunkedArray, fill: int) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)


def _own(values: np.ndarray) -> np.ndarray:
    return values if values.flags.writeable and values.flags.c_contiguous else values.copy()


class Segment:
    """A sorted run of one part's rows with searchable keys."""

    def __init__(self, part: PartInfo, table: pa.Table, config: StoreConfig) -> None:
        self.part = part
        self.table = table
        self.port_block = part.kind == "port_block"
        n = table.num_rows
        ip_col = table.column(sort_ip_column(part.kind)).combine_chunks()
        if pa.types.is_dictionary(ip_col.type):
            ip_col = ip_col.cast(pa.string())
        encoded = pc.dictionary_encode(ip_col)
        self.dictionary: pa.Array = encoded.dictionary
        self._ip_index: dict[str, int] | None = None
        codes = _np(encoded.indices, len(self.dictionary))
        if part.kind in ASSIGNMENT:
            port_key = np.zeros(n, dtype=np.int64)
        else:
            port_key = _np(pc.add(table.column("public_port").cast(pa.int64()), 1), 0)
        self.key = (codes << 17) | port_key
        self.start = _np(table.column("start").cast(pa.int64()), 0)
        end_col = table.column("end").cast(pa.int64())
        self.end = _np(end_col, np.iinfo(np.int64).min)
        self.has_end = (
            np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
            if n
            else np.zeros(0, dtype=bool)
        )
        self.port_end = (
            _np(table.column("public_port_end").cast(pa.int64()), -1) if self.port_block else None
        )
        # effective ends are worked out per key run when a search first touches it (a
        # lookup reads a handful of runs; plain Python over them costs less than over all)
        self._open_us = config.open_us(part.kind)
        self.end_eff = np.zeros(n, dtype=np.int64)
        self.end_basis = np.zeros(n, dtype=np.int8)
        self._known = np.zeros(n, dtype=bool)

    def ensure_periods(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Work out the periods of every key run within the row ranges [lo, hi)."""
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            if b <= a or self._known[a:b].all():
                continue
            # whole runs: back to the first row of the key at a, on to the last at b - 1
            while a > 0 and self.key[a - 1] == self.key[a]:
                a -= 1
            while b < len(self.key) and self.key[b] == self.key[b - 1]:
                b += 1
            sub = self.table.slice(a, b - a)
            holder = sub.column(holder_column(self.part.kind)).to_pylist()
            interim = [e == SEEN for e in sub.column("event").to_pylist()]
            has = self.has_end[a:b]
            keys = self.key[a:b]
            cut = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), b - a]
            for x, y in itertools.pairwise(cut):
                eff, bas = run_periods(
                    self.start[a + x : a + y].tolist(),
                    [int(self.end[a + r]) if has[r] else None for r in range(x, y)],
                    holder[x:y],
                    interim[x:y],
                    self._open_us,
                )
                self.end_eff[a + x : a + y] = eff
                self.end_basis[a + x : a + y] = bas
            self._known[a:b] = True

    @property
    def rows(self) -> int:
        return self.table.num_rows

    def take(self, rows: np.ndarray) -> pa.Table:
        picked = self.table.take(pa.array(rows, pa.int64()))
        return picked if picked.schema.equals(STORED_SCHEMA) else picked.cast(STORED_SCHEMA)

    def row_dict(self, row: int) -> dict[str, Any]:
        out: dict[str, Any] = self.table.slice(row, 1).to_pylist()[0]
        out["_start"] = int(self.start[row])
        out["_end"] = int(self.end[row]) if self.has_end[row] else None
        out["_eff"] = int(self.end_eff[row])
        out["_basis"] = int(self.end_basis[row])
        return out

    def codes_for(self, ips: pa.Array) -> np.ndarray:
        if len(ips) <= SMALL_QUERY:
            # a handful of queries: a dict built once per segment beats hashing the whole
            # dictionary again on every call (index_in rebuilds its hash table each time)
            if self._ip_index is None:
                self._ip_index = {ip: i for i, ip in enumerate(self.dictionary.to_pylist())}
            return np.array([self._ip_index.get(ip, -1) for ip in ips.to_pylist()], dtype=np.int64)
        return _np(pc.index_in(ips, value_set=self.dictionary), -1)

    def _ranges(self, queries: QueryArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(known query indices, first row, end row) of each query's key range."""
        codes = self.codes_for(queries.ips)
        known = np.flatnonzero(codes >= 0)
        if not len(known) or not len(self.key):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        base = codes[known] << 17
        if self.port_block:
            lo_key = base
            hi_key = np.where(
                queries.port[known] >= 0, base + queries.port[known] + 2, base + (1 << 17)
            )
        else:
            lo_key = base + queries.port_lo[known]
            hi_key = base + queries.port_hi[known]
        lo = np.searchsorted(self.key, lo_key, "left")
        hi = np.searchsorted(self.key, hi_key, "left")
        return known, lo, hi

    def key_rows(self, queries: QueryArrays) -> tuple[np.ndarray, np.ndarray]:
        """First and end rows of the non-empty key ranges of these queries."""
        _, lo, hi = self._ranges(queries)
        hit = hi > lo
        return lo[hit], hi[hit]

    def search(self, queries: QueryArrays) -> tuple[np.ndarray, np.ndarray]:
        """(query index, row) of every row matching a query's address, port and window."""
        known, lo, hi = self._ranges(queries)
        if not len(known):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.ensure_periods(lo, hi)
        counts = hi - lo
        total = int(counts.sum())
        if not total:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        qidx = np.repeat(known, counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = np.repeat(lo, counts) + offsets
        mask = (self.start[rows] <= queries.at_hi[qidx]) & (
            self.end_eff[rows] >= queries.at_lo[qidx]
        )
        if self.port_block and self.port_end is not None:
            qport = queries.port[qidx]
            mask &= (qport < 0) | (self.port_end[rows] >= qport)
        return qidx[mask], rows[mask]


# --------------------------------------------------------------------------------------------
# warm parts: compact NumPy columns


class Strings:
    """Every text value of the warm parts, interned once per engine: a column keeps int32 codes
    (-1 for null), so that rows of different parts compare by code and an answer decodes a
    code with one list index."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[str] = []
        self._array: pa.Array | None = None

    def encode(self, values: list[str | None]) -> np.ndarray:
        codes = self.codes
        known = self.values
        out = np.empty(len(values), dtype=np.int32)
        for i, value in enumerate(values):
            if value is None:
                out[i] = -1
                continue
            code = codes.get(value)
            if code is None:
                code = codes[value] = len(known)
                known.append(value)
            out[i] = code
        if len(known) != (0 if self._array is None else len(self._array)):
            self._array = None
        return out

    def lookup(self, values: list[str]) -> np.ndarray:
        """Codes of these values (-1 where no warm part has them); nothing is added."""
        get = self.codes.get
        return np.fromiter((get(v, -1) for v in values), dtype=np.int64, count=len(values))

    def array(self) -> pa.Array:
        """The values as an Arrow string array (code -> value by ``take``)."""
        if self._array is None or len(self._array) != len(self.values):
            self._array = pa.array(self.values, pa.string())
        return self._array


class CodeColumn:
    """A text column of a warm part: one code for every row, or small local codes and their
    global codes (``Strings``)."""

    __slots__ = ("const", "local", "mapping")

    def __init__(self, column: pa.ChunkedArray | pa.Array, strings: Strings) -> None:
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr)
        dictionary = arr.dictionary
        if pa.types.is_dictionary(dictionary.type):  # pragma: no cover - defensive
            dictionary = dictionary.cast(pa.string())
        mapping = np.append(strings.encode(dictionary.to_pylist()), np.int32(-1))
        indices = arr.indices
        local = np.asarray(
            pc.fill_null(indices, len(dictionary)).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        self.const: int | None = None
        self.local: np.ndarray | None = None
        self.mapping = mapping
        if not len(local):
            self.const = -1
            return
        first = int(local[0])
        if (local == first).all():
            self.const = int(mapping[first])
            return
        dtype = (
            np.uint8 if len(mapping) <= 256 else np.uint16 if len(mapping) <= 65536 else np.int32
        )
        self.local = local.astype(dtype)

    def get(self, rows: np.ndarray) -> np.ndarray:
        if self.local is None:
            return np.full(len(rows), self.const, dtype=np.int64)
        return self.mapping[self.local[rows]].astype(np.int64)

    def one(self, row: int) -> int:
        if self.local is None:
            return self.const  # type: ignore[return-value]
        return int(self.mapping[self.local[row]])

    def nbytes(self) -> int:
        return (0 if self.local is None else self.local.nbytes) + self.mapping.nbytes


class IntColumn:
    """A whole-number column of a warm part (null = ``NULL``), constant or in the smallest
    NumPy type that holds it."""

    NULL = -(2**63)
    __slots__ = ("const", "values")

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        values = _np(column.cast(pa.int64()), self.NULL)
        self.const: int | None = None
        self.values: np.ndarray | None = None
        if not len(values) or (values == values[0]).all():
            self.const = int(values[0]) if len(values) else self.NULL
            return
        present = values[values != self.NULL]
        if (
            len(present) == len(values)
            and int(present.min()) > -(2**31)
            and int(present.max()) < 2**31
        ):
            self.values = values.astype(np.int32)
        else:
            self.values = values

    def get(self, rows: np.ndarray) -> np.ndarray:
        if self.values is None:
            return np.full(len(rows), self.const, dtype=np.int64)
        return self.values[rows].astype(np.int64)

    def one(self, row: int) -> int | None:
        value = self.const if self.values is None else int(self.values[row])
        return None if value == self.NULL else value

    def nbytes(self) -> int:
        return 0 if self.values is None else self.values.nbytes


TEXT_COLUMNS = (
    "kind",
    "event",
    "source_tz",
    "protocol",
    "inside_ip",
    "public_ip",
    "subscriber",
    "mac",
    "device",
    "source_file",
    "source_sha256",
)
INT_COLUMNS = ("inside_port", "public_port", "public_port_end", "source_line")
# columns a lookup answer never shows; a warm part reads them from its file when asked
COLD_COLUMNS = ("dst_ip", "dst_port", "bytes", "packets", "session_id")


def run_periods(
    start: list[int],
    end: list[int | None],
    holder: list[Any],
    interim: list[bool],
    open_us: int,
) -> tuple[list[int], list[int]]:
    """(effective end, end basis) of every record of one key, given in order of start (see
    the module docstring). Plain Python: the cold path, the cross-part refinement and the
    reference for the compiled pass (``_kernels.effective_end``)."""
    n = len(start)
    out = [0] * n
    basis = [END_LOGGED] * n
    c0 = 0
    while c0 < n:
        cur_end = end[c0]
        last_start = start[c0]
        j = c0 + 1
        while j < n:
            joins = start[j] - start[j - 1] <= PAIR_US or (
                interim[j] and holder[j] == holder[j - 1]
            )
            if joins and end[j] is None and cur_end is not None and start[j] > cur_end:
                joins = False  # an opening record after the period's release
            if not joins:
                break
            e_j = end[j]
            if e_j is not None and (cur_end is None or e_j > cur_end):
                cur_end = e_j
            last_start = max(last_start, start[j])
            j += 1
        if cur_end is not None:
            e, b = cur_end, END_LOGGED
        else:
            cap = last_start + open_us
            nxt = start[j] if j < n else None
            if nxt is not None and nxt - 1 < cap:
                e, b = max(nxt - 1, last_start), END_REALLOCATED
            else:
                e, b = cap, END_HORIZON
        for r in range(c0, j):
            e_r = end[r]
            if e_r is not None:
                out[r], basis[r] = e_r, END_LOGGED
            else:
                # never before its own start (a close stamped before the open, clocks)
                out[r], basis[r] = max(e, start[r]), b
        c0 = j
    return out, basis


def effective_end(
    key: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    has_end: np.ndarray,
    holder: np.ndarray,
    interim: np.ndarray,
    open_us: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(effective end, end basis) of rows sorted by (key, start): ``run_periods`` over every
    run of one key (plain Python; the compiled ``_kernels.effective_end`` gives the same)."""
    n = len(key)
    out = np.empty(n, dtype=np.int64)
    basis = np.zeros(n, dtype=np.int8)
    if not n:
        return out, basis
    bounds = np.flatnonzero(np.diff(key)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), n]
    s_list, e_list = start.tolist(), end.tolist()
    h_list, i_list, has = holder.tolist(), interim.tolist(), has_end.tolist()
    for lo, hi in zip(starts, stops, strict=True):
        eff, bas = run_periods(
            s_list[lo:hi],
            [e_list[r] if has[r] else None for r in range(lo, hi)],
            h_list[lo:hi],
            i_list[lo:hi],
            open_us,
        )
        out[lo:hi] = eff
        basis[lo:hi] = bas
    return out, basis


class _KeyIp:
    """The address a part is sorted by, decoded from the search key (no column of its own)."""

    __slots__ = ("key", "mapping")

    def __init__(self, key: np.ndarray, mapping: np.ndarray) -> None:
        self.key = key
        self.mapping = mapping

    def get(self, rows: np.ndarray) -> np.ndarray:
        return self.mapping[self.key[rows] >> 17].astype(np.int64)

    def one(self, row: int) -> int:
        return int(self.mapping[int(self.key[row]) >> 17])

    def nbytes(self) -> int:
        return self.mapping.nbytes


class _KeyPort:
    """The public port of a NAT-like part, decoded from the search key (port + 1; 0 = null)."""

    __slots__ = ("key",)

    def __init__(self, key: np.ndarray) -> None:
        self.key = key

    def get(self, rows: np.ndarray) -> np.ndarray:
        port = (self.key[rows] & PORT_MASK) - 1
        return np.where(port < 0, IntColumn.NULL, port)

    def one(self, row: int) -> int | None:
        port = (int(self.key[row]) & PORT_MASK) - 1
        return None if port < 0 else port

    def nbytes(self) -> int:
        return 0


PORT_MASK = (1 << 17) - 1
NO_END = np.iinfo(np.int64).min
_NO_PORT_END = np.zeros(0, dtype=np.int64)


class WarmSegment:
    """A whole part in memory as NumPy columns: the search keys (as ``Segment``) and the
    columns an answer shows, text as interned codes (about 45 bytes per NAT record instead of
    the 200 of decoded Arrow columns)."""

    def __init__(
        self, part: PartInfo, table: pa.Table, config: StoreConfig, strings: Strings, path: Any
    ) -> None:
        self.part = part
        self.path = path
        self.strings = strings
        self.port_block = part.kind == "port_block"
        self.rows = n = table.num_rows
        ip_col = table.column(sort_ip_column(part.kind)).combine_chunks()
        if pa.types.is_dictionary(ip_col.type):
            ip_col = ip_col.cast(pa.string())
        encoded = pc.dictionary_encode(ip_col)
        # rows are sorted by address, so first-appearance codes follow the sort order
        mapping = np.append(strings.encode(encoded.dictionary.to_pylist()), np.int32(-1))
        codes = _np(encoded.indices, len(encoded.dictionary))
        order = np.argsort(mapping[:-1], kind="stable")
        self.g_sorted = mapping[:-1][order].astype(np.int64)
        self.g_local = order.astype(np.int64)
        # interned code -> local code (-1: not in this part), one read instead of a search
        self.g_map = np.full(int(mapping.max()) + 1 if len(mapping) > 1 else 0, -1, np.int32)
        self.g_map[mapping[:-1]] = np.arange(len(mapping) - 1, dtype=np.int32)
        if part.kind in ASSIGNMENT:
            port_key = np.zeros(n, dtype=np.int64)
        else:
            port_key = _np(pc.add(table.column("public_port").cast(pa.int64()), 1), 0)
        self.key = (codes << 17) | port_key
        # first row of every local address code (and of the null address, last): the key
        # range of an address without a binary search over the whole part
        self.code_start = np.searchsorted(
            self.key, np.arange(len(mapping) + 1, dtype=np.int64) << 17, "left"
        ).astype(np.int64)
        # every SAMPLE_STRIDE-th key: the compiled search looks there first (a small array
        # that stays in cache), then among the rows between two samples
        self.key_sample = self.key[::SAMPLE_STRIDE].copy()
        # writable arrays of their own (not views of Arrow buffers): one array type for the
        # compiled searches, so one compiled version of each
        self.start = _own(_np(table.column("start").cast(pa.int64()), 0))
        self.end = _own(_np(table.column("end").cast(pa.int64()), NO_END))
        has_end = self.end != NO_END
        self.port_end = (
            _own(_np(table.column("public_port_end").cast(pa.int64()), -1))
            if self.port_block
            else None
        )
        self.text: dict[str, Any] = {}
        key_ip = sort_ip_column(part.kind)
        for name in TEXT_COLUMNS:
            if name == key_ip:
                self.text[name] = _KeyIp(self.key, mapping)
            else:
                self.text[name] = CodeColumn(table.column(name), strings)
        self.ints: dict[str, Any] = {}
        for name in INT_COLUMNS:
            if name == "public_port" and part.kind not in ASSIGNMENT:
                self.ints[name] = _KeyPort(self.key)
            else:
                self.ints[name] = IntColumn(table.column(name))
        self._text_items = list(self.text.items())
        self._int_items = list(self.ints.items())
        self._cold: pa.Table | None = None
        everything = np.arange(n, dtype=np.int64)
        seen_code = strings.codes.get(SEEN)
        if seen_code is None:  # holders matter only to records seen without their start
            interim = np.zeros(n, dtype=bool)
            holder = np.zeros(n, dtype=np.int64)
        else:
            interim = self.text["event"].get(everything) == seen_code
            holder = self.text[holder_column(part.kind)].get(everything)
        del everything
        if COMPILED_PERIODS:
            from trailguard.traffic import _kernels

            self.end_eff, self.end_basis = _kernels.effective_end(
                self.key, self.start, self.end, has_end, holder, interim,
                config.open_us(part.kind), PAIR_US,
            )  # fmt: skip
        else:
            self.end_eff, self.end_basis = effective_end(
                self.key, self.start, self.end, has_end, holder, interim,
                config.open_us(part.kind),
            )  # fmt: skip
        del holder, interim
        # the time the rows really span (the manifest's reach assumes the open-session horizon)
        self.min_start = int(self.start.min()) if n else 0
        self.reach = int(self.end_eff.max()) if n else -1

    @property
    def has_end(self) -> np.ndarray:
        return self.end != NO_END

    def nbytes(self) -> int:
        arrays = [
            self.key,
            self.start,
            self.end,
            self.end_eff,
            self.end_basis,
            self.g_sorted,
            self.g_local,
            self.g_map,
            self.code_start,
            self.key_sample,
        ]
        if self.port_end is not None:
            arrays.append(self.port_end)
        return (
            sum(a.nbytes for a in arrays)
            + sum(c.nbytes() for c in self.text.values())
            + sum(c.nbytes() for c in self.ints.values())
        )

    # -- search --------------------------------------------------------------------------

    def local_codes(self, gcodes: np.ndarray) -> np.ndarray:
        """This part's address codes for interned codes (-1 where it has no such address)."""
        if not len(self.g_sorted):
            return np.full(len(gcodes), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.g_sorted, gcodes), len(self.g_sorted) - 1)
        return np.where(self.g_sorted[pos] == gcodes, self.g_local[pos], -1)

    def search_interned(
        self,
        gcodes: np.ndarray,
        port_lo: np.ndarray,
        port_hi: np.ndarray,
        port: np.ndarray,
        at_lo: np.ndarray,
        at_hi: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``search_codes`` for queries given by interned address codes, in one compiled loop
        (``_kernels.search_part``): the same pairs in the same order."""
        from trailguard.traffic import _kernels

        return _kernels.search_part(
            self.key,
            self.start,
            self.end_eff,
            self.port_end if self.port_end is not None else _NO_PORT_END,
            self.port_block,
            self.g_map,
            self.code_start,
            self.key_sample,
            SAMPLE_STRIDE,
            gcodes,
            port_lo,
            port_hi,
            port,
            at_lo,
            at_hi,
            self.min_start,
            self.reach,
        )

    def search_codes(
        self,
        codes: np.ndarray,
        port_lo: np.ndarray,
        port_hi: np.ndarray,
        port: np.ndarray,
        at_lo: np.ndarray,
        at_hi: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query index, row) of every row matching a query (local address code, port key
        range, window); rows ascending per query, queries in the given order."""
        known = np.flatnonzero(codes >= 0)
        empty = np.zeros(0, dtype=np.int64)
        if not len(known) or not self.rows:
            return empty, empty
        base = codes[known] << 17
        if self.port_block:
            lo_key = base
            hi_key = np.where(port[known] >= 0, base + port[known] + 2, base + (1 << 17))
        else:
            lo_key = base + port_lo[known]
            hi_key = base + port_hi[known]
        if len(known) > 64:
            # sorted needles walk the keys in one direction (fewer cache misses)
            by_key = np.argsort(lo_key, kind="stable")
            lo = np.empty_like(lo_key)
            lo[by_key] = np.searchsorted(self.key, lo_key[by_key], "left")
        else:
            lo = np.searchsorted(self.key, lo_key, "left")
        hi = self._range_ends(lo, hi_key)
        counts = hi - lo
        hit = counts > 0
        if not hit.any():
            return empty, empty
        known, lo, counts = known[hit], lo[hit], counts[hit]
        total = int(counts.sum())
        if total == len(known):  # one row per query: the usual case
            qidx, rows = known, lo
        else:
            qidx = np.repeat(known, counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            rows = np.repeat(lo, counts) + offsets
        mask = (self.start[rows] <= at_hi[qidx]) & (self.end_eff[rows] >= at_lo[qidx])
        if self.port_block and self.port_end is not None:
            qport = port[qidx]
            mask &= (qport < 0) | (self.port_end[rows] >= qport)
        return qidx[mask], rows[mask]

    def find_one(self, gcode: int, port: int, at_lo: int, at_hi: int) -> list[int]:
        """``search_codes`` for one query, with scalars (a lookup touches a handful of rows;
        NumPy's per-call cost would dominate). ``port`` is -1 for none."""
        if gcode < 0 or at_hi < self.min_start or at_lo > self.reach:
            return []
        g_sorted = self.g_sorted
        pos = int(g_sorted.searchsorted(gcode))
        if pos >= len(g_sorted) or int(g_sorted[pos]) != gcode:
            return []
        base = int(self.g_local[pos]) << 17
        if self.port_block:
            lo_key, hi_key = base, base + (port + 2 if port >= 0 else 1 << 17)
        elif port >= 0:
            lo_key, hi_key = base + port + 1, base + port + 2
        else:
            lo_key, hi_key = base, base + (1 << 17)
        key = self.key
        lo = int(key.searchsorted(lo_key))
        hi = int(key.searchsorted(hi_key))
        if hi - lo > 32:  # a whole address (no port): vectorised
            rows = np.arange(lo, hi)
            mask = (self.start[lo:hi] <= at_hi) & (self.end_eff[lo:hi] >= at_lo)
            if self.port_block and self.port_end is not None and port >= 0:
                mask &= self.port_end[lo:hi] >= port
            return [int(r) for r in rows[mask]]
        start, end_eff = self.start, self.end_eff
        block_end = self.port_end if self.port_block and port >= 0 else None
        return [
            r
            for r in range(lo, hi)
            if start[r] <= at_hi
            and end_eff[r] >= at_lo
            and (block_end is None or block_end[r] >= port)
        ]

    def _range_ends(self, lo: np.ndarray, hi_key: np.ndarray) -> np.ndarray:
        """``searchsorted(key, hi_key)`` for ranges known to start at ``lo``: a query for one
        port spans a few rows, so a few steps forward beat a second binary search over the
        whole part; ranges still open after them (a whole address) are searched."""
        key = self.key
        top = len(key)
        hi = lo.copy()
        open_ = np.arange(len(lo))
        for _ in range(RANGE_STEPS):
            at = hi[open_]
            inside = at < top
            inside[inside] = key[at[inside]] < hi_key[open_[inside]]
            open_ = open_[inside]
            if not len(open_):
                return hi
            hi[open_] += 1
        hi[open_] = np.searchsorted(key, hi_key[open_], "left")
        return hi

    def search(self, queries: QueryArrays) -> tuple[np.ndarray, np.ndarray]:
        gcodes = self.strings.lookup(queries.ips.to_pylist())
        return self.search_codes(
            self.local_codes(gcodes),
            queries.port_lo,
            queries.port_hi,
            queries.port,
            queries.at_lo,
            queries.at_hi,
        )

    # -- rows out ------------------------------------------------------------------------

    def row_dict(self, row: int) -> dict[str, Any]:
        """One row as ``record_from_row`` reads it (text decoded, times as datetimes)."""
        values = self.strings.values
        out: dict[str, Any] = {}
        for name, col in self._text_items:
            code = col.one(row)
            out[name] = None if code < 0 else values[code]
        for name, col in self._int_items:
            out[name] = col.one(row)
        start = int(self.start[row])
        end = int(self.end[row])
        out["start"] = _EPOCH + timedelta(microseconds=start)
        out["end"] = None if end == NO_END else _EPOCH + timedelta(microseconds=end)
        out["_start"] = start
        out["_end"] = None if end == NO_END else end
        out["_eff"] = int(self.end_eff[row])
        out["_basis"] = int(self.end_basis[row])
        return out

    def cold_columns(self) -> pa.Table:
        if self._cold is None:
            self._cold = pq.read_table(self.path, columns=list(COLD_COLUMNS), memory_map=True)
        return self._cold

    def take(self, rows: np.ndarray) -> pa.Table:
        """These rows as a STORED_SCHEMA table."""
        index = pa.array(rows, pa.int64())
        strings = self.strings.array()
        columns: dict[str, pa.Array] = {}
        for name in TEXT_COLUMNS:
            codes = self.text[name].get(rows)
            columns[name] = strings.take(pa.array(codes, pa.int64(), mask=codes < 0))
        for name in INT_COLUMNS:
            values = self.ints[name].get(rows)
            columns[name] = pa.array(values, pa.int64(), mask=values == IntColumn.NULL)
        columns["start"] = pa.array(self.start[rows], pa.int64())
        end = self.end[rows]
        columns["end"] = pa.array(end, pa.int64(), mask=end == NO_END)
        cold = self.cold_columns().take(index)
        for name in COLD_COLUMNS:
            columns[name] = cold.column(name)
        arrays = [columns[f.name].cast(f.type) for f in STORED_SCHEMA]
        return pa.Table.from_arrays(arrays, schema=STORED_SCHEMA)


class EmbeddedEngine:
    """Lookups over the current manifest with the sparse index and warm segments."""

    name = "embedded"

    def __init__(self, store: TrafficStore) -> None:
        self.store = store
        self.config = store.config
        self.strings = Strings()
        self._load_lock = threading.Lock()
        self._full: dict[str, WarmSegment] = {}
        self._cache: OrderedDict[tuple[str, int, int], Segment] = OrderedDict()
        self._sparse: dict[str, tuple[list[tuple[str, int]], list[tuple[str, int]]]] = {}
        self._files: dict[str, pq.ParquetFile] = {}
        # periods worked out across parts, by row and the parts they were worked out over
        self._refined: dict[tuple[Any, ...], tuple[int, int] | None] = {}

    # -- part selection ------------------------------------------------------------------

    def parts_for(
        self, kinds: frozenset[str], at_min: int, at_max: int, provider: str | None = None
    ) -> list[PartInfo]:
        return [
            p
            for p in self.store.parts(kinds, provider)
            if p.min_start_us <= at_max and p.max_reach_us(self.config) >= at_min
        ]

    # -- loading -------------------------------------------------------------------------

    def _file(self, part: PartInfo) -> pq.ParquetFile:
        handle = self._files.get(part.part_id)
        if handle is None:
            handle = pq.ParquetFile(self.store.part_path(part), memory_map=True)
            self._files[part.part_id] = handle
        return handle

    def warm(self, kinds: frozenset[str] | None = None) -> int:
        """Load whole parts into memory; returns how many rows are now warm."""
        rows = 0
        for part in self.store.parts(kinds):
            rows += self.full_segment(part).rows
        # the interned text as one Arrow array (batches decode codes through it), built now
        # rather than by the first batch
        self.strings.array()
        return rows

    def warm_segment(self, part: PartInfo) -> WarmSegment | None:
        return self._full.get(part.part_id)

    def full_segment(self, part: PartInfo) -> WarmSegment:
        segment = self._full.get(part.part_id)
        if segment is not None:
            return segment
        # one loader at a time: parts of one engine share the interned codes, which two
        # threads (API requests) must not hand out twice for the same text
        with self._load_lock:
            return self._load_full(part)

    def _load_full(self, part: PartInfo) -> WarmSegment:
        segment = self._full.get(part.part_id)
        if segment is None:
            # repetitive text columns are read dictionary-encoded (their dictionaries are
            # interned, the rows keep small codes); the columns no answer shows stay on disk
            path = self.store.part_path(part)
            table = pq.read_table(
                path,
                memory_map=True,
                columns=[*TEXT_COLUMNS, *INT_COLUMNS, "start", "end"],
                read_dictionary=WARM_DICTIONARY,
            )
            segment = WarmSegment(part, table, self.config, self.strings, path)
            del table
            # the compiled searches are loaded (numba, its cache) with the first warm part,
            # not by the first batch that uses them
            from trailguard.traffic import _kernels

            _kernels.prime()
            self._full[part.part_id] = segment
        return segment

    def _sparse_index(self, part: PartInfo) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        index = self._sparse.get(part.part_id)
        if index is None:
            raw = json.loads(index_path_for(self.store.part_path(part)).read_bytes())
            index = ([(f[0], f[1]) for f in raw["first"]], [(x[0], x[1]) for x in raw["last"]])
            self._sparse[part.part_id] = index
        return index

    def _row_group_segment(self, part: PartInfo, rg_lo: int, rg_hi: int) -> Segment:
        key = (part.part_id, rg_lo, rg_hi)
        segment = self._cache.get(key)
        if segment is None:
            table = self._file(part).read_row_groups(list(range(rg_lo, rg_hi)))
            segment = Segment(part, table.combine_chunks(), self.config)
            self._cache[key] = segment
            if len(self._cache) > CACHE_SEGMENTS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return segment

    def segments_for(
        self, part: PartInfo, queries: QueryArrays
    ) -> list[tuple[Segment | WarmSegment, np.ndarray]]:
        """Segments to search for these queries, each with the query indices it serves."""
        full = self._full.get(part.part_id)
        everyone = np.arange(len(queries))
        if full is not None:
            return [(full, everyone)]
        if len(queries) > WARM_BATCH:
            return [(self.full_segment(part), everyone)]
        firsts, lasts = self._sparse_index(part)
        groups: dict[tuple[int, int], list[int]] = {}
        ips = queries.ips.to_pylist()
        for i, ip in enumerate(ips):
            if ip is None:
                continue
            if part.kind in ASSIGNMENT:
                lo_key, hi_key = (ip, 0), (ip, 0)
            elif part.kind == "port_block":
                lo_key, hi_key = (
                    (ip, 0),
                    (ip, int(queries.port[i]) + 1 if queries.port[i] >= 0 else 1 << 17),
                )
            else:
                lo_key, hi_key = (ip, int(queries.port_lo[i])), (ip, int(queries.port_hi[i]) - 1)
            rg_lo = bisect.bisect_left(lasts, lo_key)
            rg_hi = bisect.bisect_right(firsts, hi_key)
            if rg_lo >= rg_hi:
                continue
            groups.setdefault((rg_lo, rg_hi), []).append(i)
        result: list[tuple[Segment | WarmSegment, np.ndarray]] = []
        for (lo, hi), idx in groups.items():
            served = np.array(idx, dtype=np.int64)
            sub = queries.take(served)
            segment = self._row_group_segment(part, lo, hi)
            # a period is worked out over all rows of its key: when the rows a query touches
            # reach an edge of the run read, the key may go on there; read one more row group
            while True:
                first, last = segment.key_rows(sub)
                grow_lo = lo > 0 and bool(len(first)) and int(first.min()) == 0
                grow_hi = (
                    hi < part.row_groups and bool(len(last)) and int(last.max()) >= segment.key.size
                )
                if not (grow_lo or grow_hi):
                    break
                lo, hi = lo - int(grow_lo), hi + int(grow_hi)
                segment = self._row_group_segment(part, lo, hi)
            result.append((segment, served))
        return result

    # -- periods across parts ------------------------------------------------------------

    def _key_records(
        self, part: PartInfo, ip: str, port: int | None, lo: int, hi: int
    ) -> list[tuple[int, int | None, Any, bool]]:
        """(start, end, holder, interim) of the rows of one key (address, and port or first
        port of a block) in one part that start within [lo, hi], in stored order."""
        holder_col = holder_column(part.kind)
        exact = part.kind not in ASSIGNMENT
        out: list[tuple[int, int | None, Any, bool]] = []
        warm = self._full.get(part.part_id)
        if warm is not None:
            gcode = self.strings.codes.get(ip, -1)
            values = self.strings.values
            for r in warm.find_one(gcode, -1 if port is None else port, lo, hi):
                start = int(warm.start[r])
                if start < lo or start > hi:
                    continue
                if exact and warm.ints["public_port"].one(r) != port:
                    continue
                end = int(warm.end[r])
                h = warm.text[holder_col].one(r)
                e = warm.text["event"].one(r)
                out.append(
                    (
                        start,
                        None if end == NO_END else end,
                        None if h < 0 else values[h],
                        e >= 0 and values[e] == SEEN,
                    )
                )
            return out
        p = -1 if port is None else port
        query = QueryArrays(
            ips=pa.array([ip], pa.string()),
            port_lo=np.array([p + 1 if p >= 0 else 0], dtype=np.int64),
            port_hi=np.array([p + 2 if p >= 0 else 1 << 17], dtype=np.int64),
            port=np.array([p], dtype=np.int64),
            at_lo=np.array([lo], dtype=np.int64),
            at_hi=np.array([hi], dtype=np.int64),
        )
        for segment, _served in self.segments_for(part, query):
            _, rows = segment.search(query)
            if not len(rows) or not isinstance(segment, Segment):
                continue
            picked = segment.table.take(pa.array(rows, pa.int64())).select(
                ["public_port", holder_col, "event"]
            )
            ports = picked.column(0).to_pylist()
            holders = picked.column(1).to_pylist()
            events = picked.column(2).to_pylist()
            for i, r in enumerate(rows.tolist()):
                start = int(segment.start[r])
                if start < lo or start > hi or (exact and ports[i] != port):
                    continue
                stop = int(segment.end[r]) if segment.has_end[r] else None
                out.append((start, stop, holders[i], events[i] == SEEN))
        return out

    def refine_open(
        self,
        part: PartInfo,
        ip: str,
        port: int | None,
        start: int,
        end_eff: int,
        holder: Any,
        interim: bool,
    ) -> tuple[int, int] | None:
        """(effective end, basis) of a row without an end whose period its own part left
        open (no closing record there), worked out over the rows of its key in every part
        of its kind and provider; None when no other part can hold rows of that period.

        A period's end does not depend on how its records were split into days and files:
        a release logged in another file, or the next holder's allocation after midnight,
        ends it as it would in one part."""
        open_us = self.config.open_us(part.kind)
        # rows that may belong to the period before the row (an interim record joins its
        # holder's period from up to a horizon back), and rows up to just after its present
        # end (the record that cut it there, one that joins it within a second)
        lo = start - PAIR_US - (open_us if interim else 0)
        hi = end_eff + PAIR_US + 1
        parts = [
            p
            for p in self.store.parts(frozenset([part.kind]), part.provider)
            if p.min_start_us <= hi and p.max_start_us >= lo
        ]
        if not any(p.part_id != part.part_id for p in parts):
            return None
        memo = (
            part.part_id,
            ip,
            port,
            start,
            end_eff,
            holder,
            interim,
            *(p.part_id for p in parts),
        )
        known = self._refined.get(memo)
        if known is not None:
            return known
        if len(self._refined) > REFINED_MEMO:
            self._refined.clear()
        self._refined[memo] = result = self._refine(part, ip, port, start, holder, lo, hi, parts)
        return result

    def _refine(
        self,
        part: PartInfo,
        ip: str,
        port: int | None,
        start: int,
        holder: Any,
        lo: int,
        hi: int,
        parts: list[PartInfo],
    ) -> tuple[int, int] | None:
        open_us = self.config.open_us(part.kind)
        merged: list[tuple[int, int, int | None, Any, bool, bool]] = []
        for order, p in enumerate(parts):
            own = p.part_id == part.part_id
            for rec in self._key_records(p, ip, port, lo, hi):
                merged.append((rec[0], order, rec[1], rec[2], rec[3], own))
        merged.sort(key=lambda m: (m[0], m[1]))
        eff, basis = run_periods(
            [m[0] for m in merged],
            [m[2] for m in merged],
            [m[3] for m in merged],
            [m[4] for m in merged],
            open_us,
        )
        for i, m in enumerate(merged):
            if m[5] and m[0] == start and m[2] is None and m[3] == holder:
                return eff[i], basis[i]
        return None

    # -- candidates ----------------------------------------------------------------------

    def candidates(
        self, kinds: frozenset[str], queries: QueryArrays, provider: str | None = None
    ) -> pa.Table:
        """Every stored row (of ``kinds``) matching a query, with columns ``q`` (the query
        index) and ``end_eff`` (effective end, us) added; cast to STORED_SCHEMA."""
        if not len(queries):
            return empty_candidates()
        pieces: list[pa.Table] = []
        parts = self.parts_for(kinds, int(queries.at_lo.min()), int(queries.at_hi.max()), provider)
        for part in parts:
            for segment, served in self.segments_for(part, queries):
                sub = queries.take(served) if len(served) != len(queries) else queries
                qidx, rows = segment.search(sub)
                if not len(rows):
                    continue
                eff = segment.end_eff[rows].copy()
                basis = segment.end_basis[rows].copy()
                keep = self._refine_rows(part, segment, rows, eff, basis, sub.at_lo[qidx])
                if not keep.all():
                    qidx, rows, eff, basis = qidx[keep], rows[keep], eff[keep], basis[keep]
                    if not len(rows):
                        continue
                picked = segment.take(rows)
                picked = picked.append_column("q", pa.array(served[qidx], pa.int64()))
                picked = picked.append_column("end_eff", pa.array(eff, pa.int64()))
                picked = picked.append_column("end_basis", pa.array(basis, pa.int8()))
                pieces.append(picked)
        if not pieces:
            return empty_candidates()
        return pa.concat_tables(pieces)

    def _refine_rows(
        self,
        part: PartInfo,
        segment: Segment | WarmSegment,
        rows: np.ndarray,
        eff: np.ndarray,
        basis: np.ndarray,
        at_lo: np.ndarray,
    ) -> np.ndarray:
        """``refine_open`` for the rows (of one segment) whose period their part left open:
        ``eff`` and ``basis`` are updated in place; returns which rows still reach their
        query's window."""
        keep = np.ones(len(rows), dtype=bool)
        todo = np.flatnonzero(basis != END_LOGGED)
        if not len(todo):
            return keep
        table = segment.table if isinstance(segment, Segment) else None
        ip_col = sort_ip_column(part.kind)
        holder_col = holder_column(part.kind)
        for i in todo.tolist():
            r = int(rows[i])
            if table is not None:
                row = table.slice(r, 1).select([ip_col, "public_port", holder_col, "event"])
                ip, port, holder, event = (row.column(c)[0].as_py() for c in range(4))
            else:
                d = segment.row_dict(r)
                ip, port, holder, event = d[ip_col], d["public_port"], d[holder_col], d["event"]
            refined = self.refine_open(
                part,
                ip,
                None if part.kind in ASSIGNMENT else port,
                int(segment.start[r]),
                int(eff[i]),
                holder,
                event == SEEN,
            )
            if refined is None:
                continue
            eff[i], basis[i] = refined
            keep[i] = refined[0] >= at_lo[i]
        return keep


CANDIDATE_SCHEMA = (
    STORED_SCHEMA.append(pa.field("q", pa.int64()))
    .append(pa.field("end_eff", pa.int64()))
    .append(pa.field("end_basis", pa.int8()))
)


_EMPTY = CANDIDATE_SCHEMA.empty_table()


def empty_candidates() -> pa.Table:
    return _EMPTY


def segment_stats(engine: EmbeddedEngine) -> dict[str, Any]:
    return {
        "warm_parts": len(engine._full),
        "warm_rows": sum(s.rows for s in engine._full.values()),
        "warm_bytes": sum(s.nbytes() for s in engine._full.values()),
        "cached_segments": len(engine._cache),
    }
