"""Grouping candidate rows into sessions and ranking them, vectorised over Arrow/NumPy, and the
answer to a batch (``BatchAnswer``), which builds records only for the answers asked for.

Ranking, best first: sessions covering the instant before near misses, closed sessions before
open ones, the most recent start first, then by inside address (see ``resolve.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.answers import (
    Assignment,
    LookupAnswer,
    LookupQuery,
    Match,
    StoredRecord,
    record_from_row,
)
from trailguard.traffic.segments import QueryArrays
from trailguard.traffic.values import (
    END_BASIS,
    END_HORIZON,
    END_LOGGED,
    INT64_MIN,
    PAIR_US,
    from_us,
)

# --------------------------------------------------------------------------------------------
# grouping and ranking (vectorised)


SMALL = 64  # below this many rows, plain Python beats a chain of Arrow kernel calls


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Codes in order of first appearance (nulls -1), like ``dictionary_encode``."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) <= SMALL:
        seen: dict[Any, int] = {}
        return np.array(
            [-1 if v is None else seen.setdefault(v, len(seen)) for v in arr.to_pylist()],
            dtype=np.int64,
        )
    enc = pc.dictionary_encode(arr)
    return np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def int_column(col: pa.ChunkedArray | pa.Array, fill: int) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.type != pa.int64():
        arr = arr.cast(pa.int64())
    if len(arr) <= SMALL:
        return np.array([fill if v is None else v for v in arr.to_pylist()], dtype=np.int64)
    return np.asarray(pc.fill_null(arr, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class Sessions:
    """Candidate rows grouped into sessions and ranked per query."""

    cands: pa.Table  # candidate rows, sorted so that each session's rows are contiguous
    q: np.ndarray  # per session
    rank: np.ndarray  # per session, 0 = best for its query
    first_row: np.ndarray  # per session: first row in cands
    n_rows: np.ndarray  # per session: number of rows in cands
    start: np.ndarray
    end: np.ndarray  # int64 us; meaningful where has_end
    has_end: np.ndarray
    distance: np.ndarray
    order: np.ndarray  # session indices sorted by (q, rank)
    source: Any = None  # set on the warm path: cands hold text codes and (part, row)


def group_sessions(cands: pa.Table, at: np.ndarray, ip_col: str, port_col: str | None) -> Sessions:
    """Merge candidate rows of one session and rank the sessions of each query."""
    n = cands.num_rows
    if not n:
        z = np.zeros(0, dtype=np.int64)
        return Sessions(cands, z, z, z, z, z, z, np.zeros(0, dtype=bool), z, z)
    q = int_column(cands.column("q"), -1)
    start = int_column(cands.column("start"), 0)
    end_col = cands.column("end")
    has_end = np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
    end = int_column(end_col, np.iinfo(np.int64).min)
    end_eff = int_column(cands.column("end_eff"), 0)
    keys = [
        q,
        _codes(cands.column("kind")),
        _codes(cands.column(ip_col)),
        _codes(cands.column("public_ip")),
        _codes(cands.column("protocol")),
        _codes(cands.column("subscriber"))
        if port_col is None
        else int_column(cands.column("inside_port"), -1),
    ]
    if port_col is not None:
        keys.append(int_column(cands.column(port_col), -1))
    order = np.lexsort([start, *reversed(keys)])
    cands = cands.take(pa.array(order))
    q, start, end, has_end, end_eff = (
        q[order],
        start[order],
        end[order],
        has_end[order],
        end_eff[order],
    )
    keys = [k[order] for k in keys]
    sessions = group_sorted(q, start, end, has_end, end_eff, keys, at)
    first = sessions.first_row
    tie = _codes(cands.column(ip_col).take(pa.array(first)))
    return rank_sessions(sessions, cands, tie)


def group_sorted(
    q: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    has_end: np.ndarray,
    end_eff: np.ndarray,
    keys: list[np.ndarray],
    at: np.ndarray,
) -> Sessions:
    """Sessions of rows already sorted by (keys, start); rank and order are filled by
    ``rank_sessions``."""
    n = len(q)
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
        same &= k[1:] == k[:-1]
    # a row joins the previous session when its key matches and it starts within PAIR_US of
    # the session's first row (approximated by the previous row: sessions are contiguous)
    new = np.concatenate([[True], ~same | (np.diff(start) > PAIR_US)])
    first = np.flatnonzero(new)
    n_rows = np.diff(np.append(first, n))
    s_q = q[first]
    if len(first) == n:  # every session is one row
        s_start, s_has_end, s_end, s_eff = (
            start,
            has_end,
            np.where(has_end, end, INT64_MIN),
            end_eff,
        )
    else:
        s_start = np.minimum.reduceat(start, first)
        s_has_end = np.maximum.reduceat(has_end.astype(np.int8), first).astype(bool)
        s_end = np.maximum.reduceat(np.where(has_end, end, INT64_MIN), first)
        s_eff = np.maximum.reduceat(end_eff, first)
    cover_end = np.where(s_has_end, s_end, s_eff)
    at_q = at[s_q]
    distance = np.maximum(0, np.maximum(s_start - at_q, at_q - cover_end))
    z = np.zeros(0, dtype=np.int64)
    return Sessions(_EMPTY_TABLE, s_q, z, first, n_rows, s_start, s_end, s_has_end, distance, z)


def rank_sessions(sessions: Sessions, cands: pa.Table, tie: np.ndarray) -> Sessions:
    s_q, s_start, distance = sessions.q, sessions.start, sessions.distance
    if len(s_q):
        latest = int(s_start.max())
        # (q, distance, open) and (latest start first, tie) packed: two passes, same order
        s_order = np.lexsort(
            (
                *reversed(pack_keys([latest - s_start, tie])),
                *reversed(pack_keys([s_q, distance, (~sessions.has_end).astype(np.int64)])),
            )
        )
    else:
        s_order = np.zeros(0, dtype=np.int64)
    count = len(s_q)
    rank = np.empty(count, dtype=np.int64)
    sorted_q = s_q[s_order]
    group_start = np.concatenate([[True], sorted_q[1:] != sorted_q[:-1]])
    starts_idx = np.maximum.accumulate(np.where(group_start, np.arange(count), 0))
    rank[s_order] = np.arange(count) - starts_idx
    sessions.cands = cands
    sessions.rank = rank
    sessions.order = s_order
    return sessions


_EMPTY_TABLE = pa.table({})


# --------------------------------------------------------------------------------------------
# batch answers


@dataclass
class BatchAnswer:
    """Answers to many queries, kept columnar; ``answer(i)`` builds one ``LookupAnswer``."""

    queries: QueryArrays
    at: np.ndarray
    tolerance: timedelta
    nat: Sessions
    direct: Sessions  # addresses assigned directly (no NAT session matched)
    assign: Sessions  # assignment sessions; q = index into assign_for
    assign_for: np.ndarray  # per assignment query: (0 = nat session, 1 = direct) * big + idx
    engine: str
    _records: dict[int, list[StoredRecord]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.at)

    def best_table(self) -> pa.Table:
        """One row per query: the best match (nulls when none) and the number of candidates.
        Vectorised: no Python loop over the queries."""
        n = len(self.at)
        count = np.bincount(self.nat.q, minlength=n) + np.bincount(self.direct.q, minlength=n)
        # subscriber of each NAT session: its best assignment (subscriber, else MAC)
        text_type = pa.string() if self.nat.source is None else pa.int64()  # warm: codes
        nat_sub = pa.nulls(len(self.nat.q), text_type)
        best_a = np.flatnonzero(self.assign.rank == 0)
        if len(best_a) and len(self.nat.q):
            picked = self.assign.cands.take(pa.array(self.assign.first_row[best_a]))
            values = pc.coalesce(picked.column("subscriber"), picked.column("mac"))
            pos = np.full(len(self.nat.q), -1, dtype=np.int64)
            pos[self.assign_for[self.assign.q[best_a]]] = np.arange(len(best_a))
            nat_sub = _gather(values, pos)
        columns: dict[str, list[pa.Array]] = {
            k: [] for k in ("inside_ip", "inside_port", "start", "end", "subscriber")
        }
        found = np.zeros(n, dtype=bool)
        ts = pa.timestamp("us", tz="UTC")
        for sessions, own_sub in ((self.nat, nat_sub), (self.direct, None)):
            best = np.flatnonzero(sessions.rank == 0)
            picked = sessions.cands.take(pa.array(sessions.first_row[best], pa.int64()))
            subscriber = pc.coalesce(picked.column("subscriber"), picked.column("mac"))
            if own_sub is not None:
                subscriber = pc.coalesce(_gather(own_sub, best), subscriber)
            # NAT matches win; a direct assignment only answers queries without NAT match
            pos = np.full(n, -1, dtype=np.int64)
            pos[sessions.q[best]] = np.arange(len(best))
            pos[found] = -1
            found |= pos >= 0
            has_end = sessions.has_end[best]
            columns["inside_ip"].append(_gather(picked.column("inside_ip"), pos))
            columns["inside_port"].append(_gather(picked.column("inside_port"), pos))
            columns["start"].append(_gather(pa.array(sessions.start[best], ts), pos))
            columns["end"].append(_gather(pa.array(sessions.end[best], ts, mask=~has_end), pos))
            columns["subscriber"].append(_gather(subscriber, pos))
        merged = {k: pc.coalesce(*v) for k, v in columns.items()}
        source = self.nat.source or self.direct.source
        if source is not None:  # the warm path's columns hold interned codes
            merged["inside_ip"] = source.text(merged["inside_ip"])
            merged["subscriber"] = source.text(merged["subscriber"])
        return pa.table(
            {
                "found": pa.array(found),
                "inside_ip": merged["inside_ip"],
                "inside_port": merged["inside_port"],
                "start": merged["start"],
                "end": merged["end"],
                "subscriber": merged["subscriber"],
                "candidates": pa.array(count, pa.int32()),
            }
        )

    def _session_records(self, sessions: Sessions, s: int) -> tuple[StoredRecord, ...]:
        lo = int(sessions.first_row[s])
        rows = sessions.cands.slice(lo, int(sessions.n_rows[s]))
        if sessions.source is not None:
            return sessions.source.records(rows)
        return tuple(record_from_row(r) for r in rows.to_pylist())

    def _assignments_for(self, source: int, s: int) -> tuple[Assignment, ...]:
        code = source * (1 << 40) + s
        which = np.flatnonzero(self.assign_for == code)
        if not len(which):
            return ()
        sel = np.flatnonzero(np.isin(self.assign.q, which))
        sel = sel[np.argsort(self.assign.rank[sel], kind="stable")]
        out = []
        for a in sel.tolist():
            records = self._session_records(self.assign, a)
            first = records[0]
            out.append(
                Assignment(
                    kind=first.kind,
                    ip=first.inside_ip or "",
                    subscriber=next((r.subscriber for r in records if r.subscriber), None)
                    or next((r.mac for r in records if r.mac), None),
                    start=from_us(self.assign.start[a]),
                    end=from_us(self.assign.end[a]) if self.assign.has_end[a] else None,
                    distance=timedelta(microseconds=int(self.assign.distance[a])),
                    records=records,
                )
            )
        return tuple(out)

    def answer(self, i: int) -> LookupAnswer:
        query = LookupQuery(
            public_ip=str(self.queries.ips[i].as_py()),
            public_port=int(self.queries.port[i]) if self.queries.port[i] >= 0 else None,
            at=from_us(int(self.at[i])),
            tolerance=self.tolerance,
        )
        matches: list[Match] = []
        for source, sessions in ((0, self.nat), (1, self.direct)):
            sel = np.flatnonzero(sessions.q == i)
            sel = sel[np.argsort(sessions.rank[sel], kind="stable")]
            for s in sel.tolist():
                records = self._session_records(sessions, s)
                first = records[0]
                assignments = self._assignments_for(source, s)
                subscriber = (
                    assignments[0].subscriber
                    if assignments
                    else next((r.subscriber for r in records if r.subscriber), None)
                )
                block = (
                    (first.public_port or 0, first.public_port_end or 0)
                    if (first.kind == "port_block")
                    else None
                )
                if source == 1:
                    subscriber = next((r.subscriber for r in records if r.subscriber), None) or (
                        next((r.mac for r in records if r.mac), None)
                    )
                period_end, basis = _session_period_end(sessions, s)
                matches.append(
                    Match(
                        rank=len(matches),
                        kind=first.kind,
                        inside_ip=first.inside_ip or "",
                        inside_port=first.inside_port if source == 0 else query.public_port,
                        public_ip=first.public_ip
                        if source == 0 and first.public_ip
                        else query.public_ip,
                        public_port=first.public_port if source == 0 else query.public_port,
                        protocol=first.protocol,
                        start=from_us(sessions.start[s]),
                        end=from_us(sessions.end[s]) if sessions.has_end[s] else None,
                        distance=timedelta(microseconds=int(sessions.distance[s])),
                        subscriber=subscriber,
                        records=records,
                        assignments=assignments,
                        port_block=block,
                        period_end=from_us(period_end),
                        end_basis=END_BASIS[basis],
                    )
                )
        return LookupAnswer(query, tuple(matches), self.engine)


def _session_period_end(sessions: Sessions, s: int) -> tuple[int, int]:
    """(end of the period, basis) of one session: its logged end, else the latest effective
    end of its rows and what that rests on."""
    if sessions.has_end[s]:
        return int(sessions.end[s]), END_LOGGED
    rows = sessions.cands.slice(int(sessions.first_row[s]), int(sessions.n_rows[s]))
    eff = int_column(rows.column("end_eff"), INT64_MIN)
    basis = int_column(rows.column("end_basis"), END_HORIZON)
    best = int(np.argmax(eff))
    return int(eff[best]), int(basis[best])


def flat(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _gather(values: pa.Array | pa.ChunkedArray, pos: np.ndarray) -> pa.Array:
    """values[pos] with null where pos < 0."""
    values = flat(values)
    if not len(values):
        return pa.nulls(len(pos), values.type)
    index = pa.array(np.where(pos < 0, 0, pos), pa.int64(), mask=pos < 0)
    return values.take(index)


def pack_keys(keys: list[np.ndarray]) -> list[np.ndarray]:
    """Small non-negative-after-shift keys packed into as few int64 keys as hold them, in
    the same lexicographic order (fewer passes for ``lexsort``)."""
    packed: list[np.ndarray] = []
    current: np.ndarray | None = None
    used = 0
    for key in keys:
        shifted = key + 1  # -1 (null) -> 0
        bits = max(int(shifted.max()).bit_length(), 1) if len(key) else 1
        if current is None or used + bits > 62:
            if current is not None:
                packed.append(current)
            current, used = shifted.astype(np.int64), bits
        else:
            current = (current << bits) | shifted
            used += bits
    if current is not None:
        packed.append(current)
    return packed
