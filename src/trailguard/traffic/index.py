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
  kept as one segment; after that a lookup touches memory only.

The *effective end* of a record without an end is the end of its paired record (an ASA
teardown, a RADIUS stop with the same key and start within a second), else the start of the
next session on the same key, else start + the kind's open-session horizon (config.toml).
"""

from __future__ import annotations

import bisect
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailguard.traffic.store import (
    ASSIGNMENT,
    STORED_SCHEMA,
    PartInfo,
    StoreConfig,
    TrafficStore,
    index_path_for,
    sort_ip_column,
)

PAIR_US = 1_000_000  # records of one session (create/teardown, start/stop) start within 1 s
NEIGHBOURS = 3
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


@dataclass
class QueryArrays:
    """Vectorised queries: address text, port key range and the time window per query."""

    ips: pa.Array  # string
    port_lo: np.ndarray  # int64 port key lower bound (port + 1; 0 = no port)
    port_hi: np.ndarray  # int64 port key upper bound, exclusive
    port: np.ndarray  # int64 queried port or -1 (for port-block range checks)
    at_lo: np.ndarray  # int64 us: window start (at - tolerance)
    at_hi: np.ndarray  # int64 us: window end (at + tolerance)

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
        self.end_eff = self._effective_end(config.open_us(part.kind))

    def _effective_end(self, open_us: int) -> np.ndarray:
        end_eff = np.where(self.has_end, self.end, self.start + open_us)
        open_rows = np.flatnonzero(~self.has_end)
        if not len(open_rows):
            return end_eff
        n = len(self.key)
        paired = np.full(len(open_rows), np.iinfo(np.int64).min)
        next_start = np.full(len(open_rows), np.iinfo(np.int64).max)
        for step in range(1, NEIGHBOURS + 1):
            for direction in (1, -1):
                other = open_rows + direction * step
                ok = (other >= 0) & (other < n)
                other = np.clip(other, 0, n - 1)
                same_key = ok & (self.key[other] == self.key[open_rows])
                delta = self.start[other] - self.start[open_rows]
                pair = same_key & self.has_end[other] & (np.abs(delta) <= PAIR_US)
                paired = np.where(pair, np.maximum(paired, self.end[other]), paired)
                later = same_key & (delta > PAIR_US)
                next_start = np.where(later, np.minimum(next_start, self.start[other]), next_start)
        fallback = np.minimum(
            self.start[open_rows] + open_us, np.maximum(next_start - 1, self.start[open_rows])
        )
        end_eff[open_rows] = np.where(paired != np.iinfo(np.int64).min, paired, fallback)
        return end_eff

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


class EmbeddedEngine:
    """Lookups over the current manifest with the sparse index and warm segments."""

    name = "embedded"

    def __init__(self, store: TrafficStore) -> None:
        self.store = store
        self.config = store.config
        self._full: dict[str, Segment] = {}
        self._cache: OrderedDict[tuple[str, int, int], Segment] = OrderedDict()
        self._sparse: dict[str, tuple[list[tuple[str, int]], list[tuple[str, int]]]] = {}
        self._files: dict[str, pq.ParquetFile] = {}

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
            rows += self.full_segment(part).table.num_rows
        return rows

    def full_segment(self, part: PartInfo) -> Segment:
        segment = self._full.get(part.part_id)
        if segment is None:
            # repetitive text columns stay dictionary-encoded in memory (a few bytes per row
            # instead of the text); rows taken out of a segment are decoded on the way out
            table = pq.read_table(
                self.store.part_path(part), memory_map=True, read_dictionary=WARM_DICTIONARY
            )
            segment = Segment(part, table.unify_dictionaries().combine_chunks(), self.config)
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
    ) -> list[tuple[Segment, np.ndarray]]:
        """Segments to search for these queries, each with the query indices it serves."""
        full = self._full.get(part.part_id)
        everyone = np.arange(len(queries))
        if full is not None:
            return [(full, everyone)]
        if len(queries) > 64:
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
        result = []
        for (lo, hi), idx in groups.items():
            served = np.array(idx, dtype=np.int64)
            sub = queries.take(served)
            segment = self._row_group_segment(part, lo, hi)
            # a session's records pair up with neighbours of the same key: when the rows a
            # query touches sit at an edge of the run read, read one more row group there
            while True:
                first, last = segment.key_rows(sub)
                grow_lo = lo > 0 and bool(len(first)) and int(first.min()) < NEIGHBOURS
                grow_hi = (
                    hi < part.row_groups
                    and bool(len(last))
                    and int(last.max()) > segment.key.size - NEIGHBOURS
                )
                if not (grow_lo or grow_hi):
                    break
                lo, hi = lo - int(grow_lo), hi + int(grow_hi)
                segment = self._row_group_segment(part, lo, hi)
            result.append((segment, served))
        return result

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
                picked = segment.table.take(pa.array(rows))
                if not picked.schema.equals(STORED_SCHEMA):
                    picked = picked.cast(STORED_SCHEMA)
                picked = picked.append_column("q", pa.array(served[qidx], pa.int64()))
                picked = picked.append_column(
                    "end_eff", pa.array(segment.end_eff[rows], pa.int64())
                )
                pieces.append(picked)
        if not pieces:
            return empty_candidates()
        return pa.concat_tables(pieces)


CANDIDATE_SCHEMA = STORED_SCHEMA.append(pa.field("q", pa.int64())).append(
    pa.field("end_eff", pa.int64())
)


_EMPTY = CANDIDATE_SCHEMA.empty_table()


def empty_candidates() -> pa.Table:
    return _EMPTY


def segment_stats(engine: EmbeddedEngine) -> dict[str, Any]:
    return {
        "warm_parts": len(engine._full),
        "warm_rows": sum(s.table.num_rows for s in engine._full.values()),
        "cached_segments": len(engine._cache),
    }
