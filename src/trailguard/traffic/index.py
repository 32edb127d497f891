"""The embedded lookup engine: a sparse primary index over sorted row groups, and sorted
in-memory key arrays once a part is warm.

A part is searched through a ``Segment`` (``segments.py``): a run of its sorted rows with a
monotonic 64-bit key per row (``ip_code << 17 | port + 1``; the ip code is the rank of the
address among the segment's distinct addresses, so codes follow the file's sort order) and the
start and effective end of every row. A search is two ``searchsorted`` calls per query plus a
vectorised filter, so thousands of queries cost one pass.

* Cold (the first lookups after open): the part's sparse index (first and last key of each
  row group, ``part-*.idx.json``) picks the row groups a query can touch; only those (plus one
  neighbour each side, so that a session's create and teardown records pair up) are read.
* Warm (``warm()``, or any batch that touches a part widely): the whole part is read once and
  kept as one segment (``warm_parts.WarmSegment``); after that a lookup touches memory only.
  A warm part also keeps, for the compiled batch search (``_kernels.search_part``), the local
  code of every interned address code (``g_map``), the first row of every address
  (``code_start``) and every 64th key (``key_sample``): a query reads its address's row
  range, then searches the samples (which stay in cache) and the few rows between two of them.

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
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trailguard.traffic.layout import STORED_SCHEMA, PartInfo, index_path_for
from trailguard.traffic.segments import QueryArrays, Segment, run_periods
from trailguard.traffic.values import (
    ASSIGNMENT,
    END_LOGGED,
    PAIR_US,
    SEEN,
    holder_column,
    sort_ip_column,
)
from trailguard.traffic.warm_parts import INT_COLUMNS, NO_END, TEXT_COLUMNS, Strings, WarmSegment

if TYPE_CHECKING:  # the store builds its engine: annotations only
    from trailguard.traffic.store import TrafficStore

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
# a batch of more queries than this reads whole parts (warm) instead of row groups
WARM_BATCH = 64
REFINED_MEMO = 100_000  # periods worked out across parts kept per engine


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
