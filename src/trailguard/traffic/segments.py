"""Searching a part's rows by key: ``QueryArrays`` (a batch of queries as arrays), ``Segment``
(a run of a part's sorted rows, read through the sparse index or whole) and the periods that
give every row its effective end (``run_periods``, ``effective_end``).

A part is searched through a ``Segment``: a run of its sorted rows with a monotonic 64-bit key
per row (``ip_code << 17 | port + 1``; the ip code is the rank of the address among the
segment's distinct addresses, so codes follow the file's sort order) and the start and
effective end of every row. A search is two ``searchsorted`` calls per query plus a vectorised
filter, so thousands of queries cost one pass. How periods are cut is told in ``index.py``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.layout import STORED_SCHEMA, PartInfo, StoreConfig
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

SMALL_QUERY = 16


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


def np_column(arr: pa.Array | pa.ChunkedArray, fill: int) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)


def own_array(values: np.ndarray) -> np.ndarray:
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
        codes = np_column(encoded.indices, len(self.dictionary))
        if part.kind in ASSIGNMENT:
            port_key = np.zeros(n, dtype=np.int64)
        else:
            port_key = np_column(pc.add(table.column("public_port").cast(pa.int64()), 1), 0)
        self.key = (codes << 17) | port_key
        self.start = np_column(table.column("start").cast(pa.int64()), 0)
        end_col = table.column("end").cast(pa.int64())
        self.end = np_column(end_col, np.iinfo(np.int64).min)
        self.has_end = (
            np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
            if n
            else np.zeros(0, dtype=bool)
        )
        self.port_end = (
            np_column(table.column("public_port_end").cast(pa.int64()), -1)
            if self.port_block
            else None
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
        return np_column(pc.index_in(ips, value_set=self.dictionary), -1)

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
