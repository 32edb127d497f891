"""Warm parts: a part read whole and kept as compact NumPy columns (``WarmSegment``), text
interned across parts (``Strings``), with what the compiled batch search needs (the local code
of every interned address, the first row of every address, every ``SAMPLE_STRIDE``-th key).
The engine (``index.EmbeddedEngine``) decides when a part is warmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailguard.traffic.layout import STORED_SCHEMA, PartInfo, StoreConfig
from trailguard.traffic.segments import QueryArrays, effective_end, np_column, own_array
from trailguard.traffic.values import (
    ASSIGNMENT,
    PAIR_US,
    SEEN,
    holder_column,
    sort_ip_column,
)

# periods of warm parts are worked out by the compiled pass; False: ``run_periods`` in plain
# Python (the reference the tests hold the compiled pass to)
COMPILED_PERIODS = True


RANGE_STEPS = 6  # rows walked forward before a range's end is found by binary search


SAMPLE_STRIDE = 64  # one key in this many is kept apart for the compiled search's first steps
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        values = np_column(column.cast(pa.int64()), self.NULL)
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
        codes = np_column(encoded.indices, len(encoded.dictionary))
        order = np.argsort(mapping[:-1], kind="stable")
        self.g_sorted = mapping[:-1][order].astype(np.int64)
        self.g_local = order.astype(np.int64)
        # interned code -> local code (-1: not in this part), one read instead of a search
        self.g_map = np.full(int(mapping.max()) + 1 if len(mapping) > 1 else 0, -1, np.int32)
        self.g_map[mapping[:-1]] = np.arange(len(mapping) - 1, dtype=np.int32)
        if part.kind in ASSIGNMENT:
            port_key = np.zeros(n, dtype=np.int64)
        else:
            port_key = np_column(pc.add(table.column("public_port").cast(pa.int64()), 1), 0)
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
        self.start = own_array(np_column(table.column("start").cast(pa.int64()), 0))
        self.end = own_array(np_column(table.column("end").cast(pa.int64()), NO_END))
        has_end = self.end != NO_END
        self.port_end = (
            own_array(np_column(table.column("public_port_end").cast(pa.int64()), -1))
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
            # numba (about 0.5 s to load) with warm parts only, never on the first lookup
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
        # numba (about 0.5 s to load) with warm parts only, never on the first lookup
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
