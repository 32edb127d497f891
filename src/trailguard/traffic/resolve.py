"""(public ip, port, time) -> NAT translation -> inside address -> DHCP/RADIUS -> subscriber.

The answer types are plain Python (the CLI, API, pages and the requests engineer's code read
them); the pipeline is vectorised over Arrow/numpy so that a batch of 10,000 queries costs a
few passes, not 10,000 Python loops. An engine (embedded or Spark) only supplies candidate
rows; grouping into sessions, ranking and chaining live here, so both engines answer alike.

Ranking, best first: sessions covering the instant before near misses (distance from the
instant to the session's [start, end], which must be within the tolerance), closed sessions
before open ones (no end logged), the most recent start first, then by inside address.
Records of one session (ASA create + teardown, RADIUS start + stop: same addresses and ports,
starts within a second) are merged into one match that lists them all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.index import empty_candidates
from trailguard.traffic.segments import QueryArrays
from trailguard.traffic.values import (
    ASSIGNMENT_KINDS,
    END_BASIS,
    END_HORIZON,
    END_LOGGED,
    FLOW_KINDS,
    KIND_CODES,
    NAT_KINDS,
    PAIR_US,
    SEEN,
    canonical_ip,
    check_port,
    check_tolerance,
    from_us,
    iso,
    to_us,
)


class CandidateEngine(Protocol):
    name: str

    def candidates(
        self, kinds: frozenset[str], queries: QueryArrays, provider: str | None = None
    ) -> pa.Table: ...


# --------------------------------------------------------------------------------------------
# answer types


@dataclass(frozen=True)
class StoredRecord:
    """One stored record, with where it came from (file name, SHA-256 of the file, line)."""

    kind: str
    event: str | None
    start: datetime
    end: datetime | None
    protocol: str | None
    inside_ip: str | None
    inside_port: int | None
    public_ip: str | None
    public_port: int | None
    public_port_end: int | None
    subscriber: str | None
    mac: str | None
    device: str | None
    source_tz: str | None
    source_file: str
    source_line: int
    source_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "event": self.event,
            "start": iso(self.start),
            "end": iso(self.end) if self.end else None,
            "protocol": self.protocol,
            "inside_ip": self.inside_ip,
            "inside_port": self.inside_port,
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "public_port_end": self.public_port_end,
            "subscriber": self.subscriber,
            "mac": self.mac,
            "device": self.device,
            "source_tz": self.source_tz,
            "source_file": self.source_file,
            "source_line": self.source_line,
            "source_sha256": self.source_sha256,
        }


@dataclass(frozen=True)
class Assignment:
    """A DHCP lease or RADIUS session that gave ``ip`` to a subscriber for a period."""

    kind: str
    ip: str
    subscriber: str | None
    start: datetime
    end: datetime | None
    distance: timedelta
    records: tuple[StoredRecord, ...]


@dataclass(frozen=True)
class Match:
    """One candidate translation (or a directly assigned address), with what it rests on."""

    rank: int
    kind: str
    inside_ip: str
    inside_port: int | None
    public_ip: str
    public_port: int | None
    protocol: str | None
    start: datetime
    end: datetime | None
    distance: timedelta  # 0 when the session covers the instant
    subscriber: str | None
    records: tuple[StoredRecord, ...]
    assignments: tuple[Assignment, ...] = ()
    port_block: tuple[int, int] | None = None  # identified by a port block, not a session
    # where the period ends and on what that rests: "logged" (a closing record),
    # "re-allocation" (the next period on the key began; release not logged) or "horizon"
    # (nothing closed it: capped by the kind's open-session horizon)
    period_end: datetime | None = None
    end_basis: str = "logged"

    @property
    def covers(self) -> bool:
        """The period covers the instant itself (not only within the tolerance)."""
        return self.distance == timedelta(0)

    @property
    def end_note(self) -> str | None:
        if self.end_basis == "re-allocation":
            return "closed by re-allocation, release not logged"
        if self.end_basis == "horizon":
            return (
                "no release logged and no later allocation: the period is capped by the"
                " format's open-session horizon; an answer inside it rests on that cap"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        records = [r.to_json() for r in self.records]
        for assignment in self.assignments[:1]:
            records.extend(r.to_json() for r in assignment.records)
        return {
            "inside_ip": self.inside_ip,
            "inside_port": self.inside_port,
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "start": iso(self.start),
            "end": iso(self.end) if self.end else None,
            "subscriber": self.subscriber,
            "records": records,
            "rank": self.rank,
            "kind": self.kind,
            "protocol": self.protocol,
            "distance_seconds": self.distance.total_seconds(),
            "port_block": list(self.port_block) if self.port_block else None,
            "other_assignments": [
                {
                    "kind": a.kind,
                    "subscriber": a.subscriber,
                    "start": iso(a.start),
                    "end": iso(a.end) if a.end else None,
                    "distance_seconds": a.distance.total_seconds(),
                }
                for a in self.assignments[1:]
            ],
            "period_end": iso(self.period_end) if self.period_end else None,
            "end_basis": self.end_basis,
            "end_note": self.end_note,
            "covers_instant": self.covers,
        }


@dataclass(frozen=True)
class LookupQuery:
    public_ip: str
    public_port: int | None
    at: datetime
    tolerance: timedelta

    def to_json(self) -> dict[str, Any]:
        return {
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "at": iso(self.at),
            "tolerance_seconds": self.tolerance.total_seconds(),
        }


@dataclass(frozen=True)
class LookupAnswer:
    query: LookupQuery
    matches: tuple[Match, ...]
    engine: str = "embedded"

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def ambiguous(self) -> bool:
        """The answer names more than one holder (an inside address or subscriber)."""
        return len({(m.inside_ip, m.subscriber) for m in self.matches}) > 1

    @property
    def ambiguity(self) -> str | None:
        """Why the answer names more than one holder (None when it names one or none)."""
        if not self.ambiguous:
            return None
        covering = {(m.inside_ip, m.subscriber) for m in self.matches if m.covers}
        if len(covering) > 1:
            return (
                "the data is ambiguous: periods of several holders cover the instant (records"
                " were lost, e.g. a release or an allocation, or clocks disagree); every"
                " candidate is named"
            )
        return "several candidates within the tolerance of the instant; every one is named"

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query.to_json(),
            "matches": [m.to_json() for m in self.matches],
            "ambiguous": self.ambiguous,
            "ambiguity": self.ambiguity,
        }


def build_queries(
    ips: Sequence[str] | pa.Array,
    ports: Sequence[int | None] | np.ndarray,
    ats_us: np.ndarray,
    tolerance: timedelta,
) -> QueryArrays:
    """Validate and vectorise queries (each distinct address is checked once)."""
    check_tolerance(tolerance)
    ip_arr = ips if isinstance(ips, pa.Array) else pa.array(list(ips), pa.string())
    if ip_arr.null_count:
        raise ValidationFailed("a query has no address", ["ip"])
    encoded = pc.dictionary_encode(ip_arr)
    unique = encoded.dictionary
    index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    written = unique.to_pylist()
    canonical = [canonical_ip(v) for v in written]
    if canonical != written:
        # two spellings of one address become one distinct address
        unique = pa.array(canonical, pa.string())
        ip_arr = unique.take(pa.array(index, pa.int64()))
        encoded = pc.dictionary_encode(ip_arr)
        unique = encoded.dictionary
        index = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    port_arr = (
        np.asarray([-1 if p is None else p for p in ports], dtype=np.int64)
        if not (isinstance(ports, np.ndarray))
        else ports.astype(np.int64)
    )
    bad = (port_arr < -1) | (port_arr > 65535)
    if bad.any():
        raise ValidationFailed(
            f"port {int(port_arr[np.flatnonzero(bad)[0]])} must be a whole number 0..65535",
            ["port"],
        )
    tol = int(tolerance / timedelta(microseconds=1))
    ats = np.asarray(ats_us, dtype=np.int64)
    if not (len(ats) == len(port_arr) == len(ip_arr)):
        raise ValidationFailed("addresses, ports and times differ in number", ["queries"])
    has_port = port_arr >= 0
    return QueryArrays(
        ips=ip_arr,
        port_lo=np.where(has_port, port_arr + 1, 0),
        port_hi=np.where(has_port, port_arr + 2, 1 << 17),
        port=port_arr,
        at_lo=ats - tol,
        at_hi=ats + tol,
        distinct=unique,
        distinct_index=index,
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


def _ints(col: pa.ChunkedArray | pa.Array, fill: int) -> np.ndarray:
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
    q = _ints(cands.column("q"), -1)
    start = _ints(cands.column("start"), 0)
    end_col = cands.column("end")
    has_end = np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
    end = _ints(end_col, np.iinfo(np.int64).min)
    end_eff = _ints(cands.column("end_eff"), 0)
    keys = [
        q,
        _codes(cands.column("kind")),
        _codes(cands.column(ip_col)),
        _codes(cands.column("public_ip")),
        _codes(cands.column("protocol")),
        _codes(cands.column("subscriber"))
        if port_col is None
        else _ints(cands.column("inside_port"), -1),
    ]
    if port_col is not None:
        keys.append(_ints(cands.column(port_col), -1))
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
    sessions = _group_sorted(q, start, end, has_end, end_eff, keys, at)
    first = sessions.first_row
    tie = _codes(cands.column(ip_col).take(pa.array(first)))
    return _rank(sessions, cands, tie)


def _group_sorted(
    q: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    has_end: np.ndarray,
    end_eff: np.ndarray,
    keys: list[np.ndarray],
    at: np.ndarray,
) -> Sessions:
    """Sessions of rows already sorted by (keys, start); rank and order are filled by
    ``_rank``."""
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
            np.where(has_end, end, _INT64_MIN),
            end_eff,
        )
    else:
        s_start = np.minimum.reduceat(start, first)
        s_has_end = np.maximum.reduceat(has_end.astype(np.int8), first).astype(bool)
        s_end = np.maximum.reduceat(np.where(has_end, end, _INT64_MIN), first)
        s_eff = np.maximum.reduceat(end_eff, first)
    cover_end = np.where(s_has_end, s_end, s_eff)
    at_q = at[s_q]
    distance = np.maximum(0, np.maximum(s_start - at_q, at_q - cover_end))
    z = np.zeros(0, dtype=np.int64)
    return Sessions(_EMPTY_TABLE, s_q, z, first, n_rows, s_start, s_end, s_has_end, distance, z)


def _rank(sessions: Sessions, cands: pa.Table, tie: np.ndarray) -> Sessions:
    s_q, s_start, distance = sessions.q, sessions.start, sessions.distance
    if len(s_q):
        latest = int(s_start.max())
        # (q, distance, open) and (latest start first, tie) packed: two passes, same order
        s_order = np.lexsort(
            (
                *reversed(_pack([latest - s_start, tie])),
                *reversed(_pack([s_q, distance, (~sessions.has_end).astype(np.int64)])),
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
    eff = _ints(rows.column("end_eff"), _INT64_MIN)
    basis = _ints(rows.column("end_basis"), END_HORIZON)
    best = int(np.argmax(eff))
    return int(eff[best]), int(basis[best])


def _flat(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _gather(values: pa.Array | pa.ChunkedArray, pos: np.ndarray) -> pa.Array:
    """values[pos] with null where pos < 0."""
    values = _flat(values)
    if not len(values):
        return pa.nulls(len(pos), values.type)
    index = pa.array(np.where(pos < 0, 0, pos), pa.int64(), mask=pos < 0)
    return values.take(index)


def record_from_row(row: dict[str, Any]) -> StoredRecord:
    return StoredRecord(
        kind=row["kind"],
        event=row["event"],
        start=row["start"],
        end=row["end"],
        protocol=row["protocol"],
        inside_ip=row["inside_ip"],
        inside_port=row["inside_port"],
        public_ip=row["public_ip"],
        public_port=row["public_port"],
        public_port_end=row["public_port_end"],
        subscriber=row["subscriber"],
        mac=row["mac"],
        device=row["device"],
        source_tz=row["source_tz"],
        source_file=row["source_file"],
        source_line=row["source_line"],
        source_sha256=row["source_sha256"],
    )


def lookup_batch(
    engine: CandidateEngine,
    ips: Sequence[str] | pa.Array,
    ports: Sequence[int | None] | np.ndarray,
    ats_us: np.ndarray,
    tolerance: timedelta = timedelta(seconds=2),
    provider: str | None = None,
) -> BatchAnswer:
    """Resolve many (address, port, instant) queries at once."""
    queries = build_queries(ips, ports, ats_us, tolerance)
    if len(queries) and _warm_ready(engine, queries, provider):
        return _lookup_batch_warm(engine, queries, tolerance, provider)
    at = (queries.at_lo + queries.at_hi) // 2
    nat_cands = engine.candidates(NAT_KINDS, queries, provider)
    nat = group_sessions(nat_cands, at, "inside_ip", "public_port")
    # addresses with no NAT session may be assigned directly (a public lease or framed ip)
    no_nat = np.setdiff1d(np.arange(len(queries)), nat.q)
    if len(no_nat):
        sub = queries.take(no_nat)
        sub = QueryArrays(
            sub.ips,
            np.zeros(len(no_nat), np.int64),
            np.full(len(no_nat), 1 << 17, np.int64),
            sub.port,
            sub.at_lo,
            sub.at_hi,
        )
        direct_cands = engine.candidates(ASSIGNMENT_KINDS, sub, provider)
        if direct_cands.num_rows:
            direct_cands = direct_cands.set_column(
                direct_cands.schema.get_field_index("q"),
                "q",
                pa.array(no_nat[_ints(direct_cands.column("q"), 0)], pa.int64()),
            )
    else:
        direct_cands = empty_candidates()
    direct = group_sessions(direct_cands, at, "inside_ip", None)
    # chain each NAT session to the lease/RADIUS session of its inside address at the instant
    if len(nat.q):
        inside = nat.cands.column("inside_ip").take(pa.array(nat.first_row))
        inside = inside.combine_chunks() if isinstance(inside, pa.ChunkedArray) else inside
        valid = np.asarray(pc.is_valid(inside).to_numpy(zero_copy_only=False), dtype=bool)
        idx = np.flatnonzero(valid)
        a_at = at[nat.q[idx]]
        tol = queries.at_hi[nat.q[idx]] - at[nat.q[idx]]
        aq = QueryArrays(
            inside.take(pa.array(idx, pa.int64())),
            np.zeros(len(idx), np.int64),
            np.full(len(idx), 1 << 17, np.int64),
            np.full(len(idx), -1),
            a_at - tol,
            a_at + tol,
        )
        a_cands = engine.candidates(ASSIGNMENT_KINDS, aq, provider)
        assign = group_sessions(a_cands, a_at, "inside_ip", None)
        assign_for = idx.astype(np.int64)
    else:
        assign = group_sessions(empty_candidates(), at, "inside_ip", None)
        assign_for = np.zeros(0, dtype=np.int64)
    return BatchAnswer(queries, at, tolerance, nat, direct, assign, assign_for, engine.name)


# --------------------------------------------------------------------------------------------
# batches over warm parts: the same stages on NumPy columns. Candidates carry interned codes
# (not text) and their (part, row); records are built only for the answers asked for.

# warm batches search and group in compiled loops (``_kernels``); False: the NumPy stages,
# kept as the reference the tests hold the kernels to
COMPILED = True


_NARROW_TEXT = ("kind", "inside_ip", "public_ip", "protocol", "subscriber", "mac")
_NARROW_INT = ("inside_port", "public_port")


class WarmRows:
    """Decodes what the warm path's candidate tables carry: text codes and (part, row)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.strings = engine.strings
        self.segments: list[Any] = []
        self._seg_ids: dict[str, int] = {}

    def seg_id(self, segment: Any) -> int:
        sid = self._seg_ids.get(segment.part.part_id)
        if sid is None:
            sid = self._seg_ids[segment.part.part_id] = len(self.segments)
            self.segments.append(segment)
        return sid

    def text(self, codes: pa.Array | pa.ChunkedArray) -> pa.Array:
        return self.strings.array().take(_flat(codes))

    def records(self, cands: pa.Table) -> tuple[StoredRecord, ...]:
        segs = cands.column("_seg").to_pylist()
        rows = cands.column("_row").to_pylist()
        return tuple(
            record_from_row(self.segments[s].row_dict(r)) for s, r in zip(segs, rows, strict=True)
        )


_CAND_COLUMNS = (
    "q", "start", "end", "end_eff", "end_basis", *_NARROW_TEXT, *_NARROW_INT, "_seg", "_row",
)  # fmt: skip


def _narrow_empty() -> dict[str, np.ndarray]:
    return {k: np.zeros(0, dtype=np.int64) for k in _CAND_COLUMNS}


def _np_codes(values: np.ndarray) -> np.ndarray:
    """``_codes`` for interned codes (-1 = null): codes in order of first appearance."""
    if not len(values):
        return values
    first = values[0]
    if (values == first).all():
        return np.full(len(values), -1 if first < 0 else 0, dtype=np.int64)
    if len(values) <= SMALL:
        seen: dict[int, int] = {}
        return np.array(
            [-1 if v < 0 else seen.setdefault(v, len(seen)) for v in values.tolist()],
            dtype=np.int64,
        )
    enc = pc.dictionary_encode(pa.array(values, pa.int64(), mask=values < 0))
    return np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _pack(keys: list[np.ndarray]) -> list[np.ndarray]:
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


def _port_key(values: np.ndarray) -> np.ndarray:
    return np.where(values == _INT64_MIN, -1, values)


def _masked(values: np.ndarray, type_: pa.DataType, null: int) -> pa.Array:
    mask = values == null if null == _INT64_MIN else values < 0
    if type_ == pa.int32():
        return pa.array(np.where(mask, 0, values).astype(np.int32), type_, mask=mask)
    return pa.array(values, type_, mask=mask)


def _group_warm(
    c: dict[str, np.ndarray], at: np.ndarray, port_col: str | None, strings: Any
) -> Sessions:
    # the address a stage searched by is the same for every row of a query (the NAT stage
    # searches public addresses, the assignment stages inside ones): its codes need no
    # renumbering, the order within a query does not depend on them
    """``group_sessions`` over the warm path's candidate columns (same grouping and ranking);
    the sessions' table keeps only what answers read: codes, ports and (part, row)."""
    if not len(c["q"]):
        z = np.zeros(0, dtype=np.int64)
        empty = _warm_table(c, z, strings)
        return Sessions(empty, z, z, z, z, z, z, np.zeros(0, dtype=bool), z, z)
    if COMPILED:
        return _group_compiled(c, at, port_col, strings)
    keyed = "public_ip" if port_col is not None else "inside_ip"
    keys = [
        c["q"],
        _np_codes(c["kind"]),
        c["inside_ip"] if keyed == "inside_ip" else _np_codes(c["inside_ip"]),
        c["public_ip"] if keyed == "public_ip" else _np_codes(c["public_ip"]),
        _np_codes(c["protocol"]),
        _np_codes(c["subscriber"]) if port_col is None else _port_key(c["inside_port"]),
    ]
    if port_col is not None:
        keys.append(_port_key(c[port_col]))
    start = c["start"]
    order = np.lexsort([start, *reversed(_pack(keys))])
    end = c["end"][order]
    sessions = _group_sorted(
        c["q"][order],
        start[order],
        end,
        end != _INT64_MIN,
        c["end_eff"][order],
        [k[order] for k in keys],
        at,
    )
    tie = _np_codes(c["inside_ip"][order][sessions.first_row])
    return _rank(sessions, _warm_table(c, order, strings), tie)


def _group_compiled(
    c: dict[str, np.ndarray], at: np.ndarray, port_col: str | None, strings: Any
) -> Sessions:
    """``_group_warm`` in one compiled pass (``_kernels.group_rank``)."""
    # numba (about 0.5 s to load) with warm parts only, never on the first lookup
    from trailguard.traffic import _kernels

    nat = port_col is not None
    (
        order,
        s_q,
        rank,
        first_row,
        n_rows,
        s_start,
        s_end,
        s_has_end,
        distance,
        s_order,
    ) = _kernels.group_rank(
        c["q"],
        c["start"],
        c["end"],
        c["end_eff"],
        c["kind"],
        c["inside_ip"],
        c["public_ip"],
        c["protocol"],
        c["subscriber"],
        c["inside_port"],
        c[port_col] if nat else c["inside_port"],  # type: ignore[index]
        np.ascontiguousarray(at, dtype=np.int64),
        nat,
        len(strings.values) + 1,
    )
    return Sessions(
        _warm_table(c, order, strings),
        s_q,
        rank,
        first_row,
        n_rows,
        s_start,
        s_end,
        s_has_end,
        distance,
        s_order,
    )


def _warm_table(c: dict[str, np.ndarray], order: np.ndarray, strings: Any) -> pa.Table:
    kind = c["kind"][order]
    return pa.table(
        {
            # the record kind decoded (a dictionary over the interned text), as callers read
            # it from sessions of either path
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(kind.astype(np.int32), pa.int32(), mask=kind < 0), strings.array()
            ),
            "inside_ip": _masked(c["inside_ip"][order], pa.int64(), -1),
            "subscriber": _masked(c["subscriber"][order], pa.int64(), -1),
            "mac": _masked(c["mac"][order], pa.int64(), -1),
            "inside_port": _masked(c["inside_port"][order], pa.int32(), _INT64_MIN),
            "end_eff": pa.array(c["end_eff"][order], pa.int64()),
            "end_basis": pa.array(c["end_basis"][order], pa.int8()),
            "_seg": pa.array(c["_seg"][order], pa.int32()),
            "_row": pa.array(c["_row"][order], pa.int64()),
        }
    )


def _warm_candidates(
    engine: Any,
    source: WarmRows,
    kinds: frozenset[str],
    codes: np.ndarray,
    port_lo: np.ndarray,
    port_hi: np.ndarray,
    port: np.ndarray,
    at_lo: np.ndarray,
    at_hi: np.ndarray,
    provider: str | None,
) -> dict[str, np.ndarray]:
    """``EmbeddedEngine.candidates`` on warm parts, for queries given by interned address
    codes; the rows come in the same order, as NumPy columns of codes (-1 = null; whole
    numbers and ends null as INT64_MIN)."""
    if not len(codes):
        return _narrow_empty()
    segments = [
        engine.full_segment(part)
        for part in engine.parts_for(kinds, int(at_lo.min()), int(at_hi.max()), provider)
    ]
    if COMPILED:
        found = _search_compiled(segments, codes, port_lo, port_hi, port, at_lo, at_hi)
    else:
        found = []
        for segment in segments:
            # only the queries whose window meets the time the part's rows really span
            sel = np.flatnonzero((at_hi >= segment.min_start) & (at_lo <= segment.reach))
            local = segment.local_codes(codes[sel])
            qi, rows = segment.search_codes(
                local, port_lo[sel], port_hi[sel], port[sel], at_lo[sel], at_hi[sel]
            )
            found.append((sel[qi], rows))
    pieces = [
        (segment, qi, rows)
        for segment, (qi, rows) in zip(segments, found, strict=True)
        if len(rows)
    ]
    if not pieces:
        return _narrow_empty()
    cols: dict[str, list[np.ndarray]] = {k: [] for k in _CAND_COLUMNS}
    for segment, q, rows in pieces:
        eff = segment.end_eff[rows].copy()
        basis = segment.end_basis[rows].copy()
        if (basis != END_LOGGED).any():
            # periods left open in their part: worked out over every part of the kind
            keep = engine._refine_rows(segment.part, segment, rows, eff, basis, at_lo[q])
            if not keep.all():
                q, rows, eff, basis = q[keep], rows[keep], eff[keep], basis[keep]
        cols["q"].append(q)
        cols["start"].append(segment.start[rows])
        cols["end"].append(segment.end[rows])
        cols["end_eff"].append(eff)
        cols["end_basis"].append(basis.astype(np.int64))
        for name in _NARROW_TEXT:
            cols[name].append(segment.text[name].get(rows))
        for name in _NARROW_INT:
            cols[name].append(segment.ints[name].get(rows))
        cols["_seg"].append(np.full(len(rows), source.seg_id(segment), dtype=np.int32))
        cols["_row"].append(rows)
    return {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in cols.items()}


# a stage with at least this many queries searches its parts in two threads (the compiled
# loop releases the GIL), each thread half of the queries
SPLIT_QUERIES = 4096
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _search_pool() -> ThreadPoolExecutor | None:
    global _pool, _pool_pid
    if (os.cpu_count() or 1) < 2:
        return None
    with _pool_lock:
        # a forked child has no helper thread, whatever the pool copied from its parent says
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traffic-search")
            _pool_pid = os.getpid()
        return _pool


def _search_compiled(
    segments: list[Any],
    codes: np.ndarray,
    port_lo: np.ndarray,
    port_hi: np.ndarray,
    port: np.ndarray,
    at_lo: np.ndarray,
    at_hi: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query index, row) per part, from ``WarmSegment.search_interned``: queries ascending,
    rows ascending per query."""

    def search(lo: int, hi: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            s.search_interned(
                codes[lo:hi],
                port_lo[lo:hi],
                port_hi[lo:hi],
                port[lo:hi],
                at_lo[lo:hi],
                at_hi[lo:hi],
            )
            for s in segments
        ]

    n = len(codes)
    pool = _search_pool() if n >= SPLIT_QUERIES and segments else None
    if pool is None:
        return search(0, n)
    half = n // 2
    second = pool.submit(search, half, n)
    first = search(0, half)
    return [
        (np.concatenate([qa, qb + half]), np.concatenate([ra, rb]))
        for (qa, ra), (qb, rb) in zip(first, second.result(), strict=True)
    ]


def _warm_ready(engine: Any, queries: QueryArrays, provider: str | None) -> bool:
    """The warm path serves a batch when its parts are warm, or when it is big enough that
    reading whole parts pays (as ``segments_for`` decides)."""
    if not hasattr(engine, "full_segment") or not hasattr(engine, "strings"):
        return False
    from trailguard.traffic import index

    if len(queries) > index.WARM_BATCH:
        return True
    kinds = NAT_KINDS | ASSIGNMENT_KINDS
    lo, hi = int(queries.at_lo.min()), int(queries.at_hi.max())
    return all(
        engine.warm_segment(p) is not None for p in engine.parts_for(kinds, lo, hi, provider)
    )


def _lookup_batch_warm(
    engine: Any, queries: QueryArrays, tolerance: timedelta, provider: str | None
) -> BatchAnswer:
    n = len(queries)
    at = (queries.at_lo + queries.at_hi) // 2
    source = WarmRows(engine)
    # every warm part the batch may touch is loaded first, so that the interned codes of
    # the query addresses are known
    kinds = NAT_KINDS | ASSIGNMENT_KINDS
    for part in engine.parts_for(
        kinds, int(queries.at_lo.min()), int(queries.at_hi.max()), provider
    ):
        engine.full_segment(part)
    if queries.distinct is not None and queries.distinct_index is not None:
        uniq, where = queries.distinct, queries.distinct_index
    else:
        uniq = pc.unique(queries.ips)
        where = _ints(pc.index_in(queries.ips, value_set=uniq), 0)
    ucodes = source.strings.lookup(uniq.to_pylist())
    codes = ucodes[where] if len(uniq) else np.zeros(n, np.int64)
    nat_cands = _warm_candidates(
        engine,
        source,
        NAT_KINDS,
        codes,
        queries.port_lo,
        queries.port_hi,
        queries.port,
        queries.at_lo,
        queries.at_hi,
        provider,
    )
    nat = _group_warm(nat_cands, at, "public_port", source.strings)
    nat.source = source
    answered = np.zeros(n, dtype=bool)
    answered[nat.q] = True
    no_nat = np.flatnonzero(~answered)
    if len(no_nat):
        m = len(no_nat)
        direct_cands = _warm_candidates(
            engine,
            source,
            ASSIGNMENT_KINDS,
            codes[no_nat],
            np.zeros(m, np.int64),
            np.full(m, 1 << 17, np.int64),
            queries.port[no_nat],
            queries.at_lo[no_nat],
            queries.at_hi[no_nat],
            provider,
        )
        direct_cands["q"] = no_nat[direct_cands["q"]]
    else:
        direct_cands = _narrow_empty()
    direct = _group_warm(direct_cands, at, None, source.strings)
    direct.source = source
    if len(nat.q):
        inside = _ints(nat.cands.column("inside_ip").take(pa.array(nat.first_row)), -1)
        idx = np.flatnonzero(inside >= 0)
        a_at = at[nat.q[idx]]
        tol = queries.at_hi[nat.q[idx]] - at[nat.q[idx]]
        m = len(idx)
        a_cands = _warm_candidates(
            engine,
            source,
            ASSIGNMENT_KINDS,
            inside[idx],
            np.zeros(m, np.int64),
            np.full(m, 1 << 17, np.int64),
            np.full(m, -1, np.int64),
            a_at - tol,
            a_at + tol,
            provider,
        )
        assign = _group_warm(a_cands, a_at, None, source.strings)
        assign_for = idx.astype(np.int64)
    else:
        assign = _group_warm(_narrow_empty(), at, None, source.strings)
        assign_for = np.zeros(0, dtype=np.int64)
    assign.source = source
    return BatchAnswer(queries, at, tolerance, nat, direct, assign, assign_for, engine.name)


def lookup_one(
    engine: CandidateEngine,
    public_ip: str,
    public_port: int | None,
    at: datetime,
    tolerance: timedelta = timedelta(seconds=2),
    provider: str | None = None,
) -> LookupAnswer:
    port = check_port(public_port)
    check_tolerance(tolerance)
    ip = canonical_ip(public_ip)
    at_us = to_us(at)
    if hasattr(engine, "segments_for"):  # the embedded engine: the plain-Python path
        tol = int(tolerance / timedelta(microseconds=1))
        matches = _lookup_one_embedded(engine, ip, port, at_us, tol, provider)
        query = LookupQuery(ip, port, from_us(at_us), tolerance)
        return LookupAnswer(query, matches, engine.name)
    batch = lookup_batch(
        engine, [ip], [port], np.array([at_us], dtype=np.int64), tolerance, provider
    )
    return batch.answer(0)


def flows(
    store: Any,
    ip: str,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
    limit: int = 10_000,
) -> list[StoredRecord]:
    """Stored records to or from ``ip`` (as public, inside or destination address) that
    overlap [start, end], oldest first, at most ``limit``."""
    ip = canonical_ip(ip)
    lo, hi = to_us(start), to_us(end)
    if hi < lo:
        raise ValidationFailed(f"window end {iso(end)} is before its start {iso(start)}", ["end"])
    if not 1 <= limit <= 1_000_000:
        raise ValidationFailed(f"limit {limit} must be 1..1000000", ["limit"])
    wanted = frozenset(kinds) if kinds else FLOW_KINDS
    unknown = sorted(k for k in wanted if k not in KIND_CODES)
    if unknown:
        raise ValidationFailed(
            f"unknown record kinds {unknown}; use {', '.join(sorted(KIND_CODES))}", ["kind"]
        )
    config = store.config
    pieces = []
    ip_filter = [[("public_ip", "=", ip)], [("inside_ip", "=", ip)], [("dst_ip", "=", ip)]]
    for part in store.parts(wanted):
        if part.min_start_us > hi or part.max_reach_us(config) < lo:
            continue
        table = store.read_part(part, filters=ip_filter)
        if not table.num_rows:
            continue
        s = table.column("start").cast(pa.int64())
        e = pc.coalesce(table.column("end").cast(pa.int64()), s)
        mask = pc.and_(pc.less_equal(s, hi), pc.greater_equal(e, lo))
        pieces.append(table.filter(mask))
    if not pieces:
        return []
    table = pa.concat_tables(pieces)
    table = table.take(
        pc.sort_indices(table, [("start", "ascending"), ("source_line", "ascending")])
    )
    return [record_from_row(r) for r in table.slice(0, limit).to_pylist()]


# --------------------------------------------------------------------------------------------
# single lookups on the embedded engine: the same rules in plain Python over the few rows
# a lookup touches (a chain of Arrow kernels costs more than the work for one query). The
# tests hold this path to the vectorised one answer for answer.

_INT64_MIN = int(np.iinfo(np.int64).min)


def _one_query(ip: str, port: int | None, lo: int, hi: int) -> QueryArrays:
    p = -1 if port is None else port
    return QueryArrays(
        ips=pa.array([ip], pa.string()),
        port_lo=np.array([p + 1 if p >= 0 else 0], dtype=np.int64),
        port_hi=np.array([p + 2 if p >= 0 else 1 << 17], dtype=np.int64),
        port=np.array([p], dtype=np.int64),
        at_lo=np.array([lo], dtype=np.int64),
        at_hi=np.array([hi], dtype=np.int64),
    )


def _rows_for(
    engine: Any,
    kinds: frozenset[str],
    ip: str,
    port: int | None,
    lo: int,
    hi: int,
    provider: str | None,
) -> list[dict[str, Any]]:
    """Every stored row (of ``kinds``) matching one query, decoded: warm parts are searched
    with scalars, cold ones through the sparse index."""
    rows: list[dict[str, Any]] = []
    query: QueryArrays | None = None
    gcode: int | None = None
    warm_of = getattr(engine, "warm_segment", None)
    for part in engine.parts_for(kinds, lo, hi, provider):
        warm = warm_of(part) if warm_of is not None else None
        found_here: list[dict[str, Any]] = []
        if warm is not None:
            if gcode is None:
                gcode = engine.strings.codes.get(ip, -1)
            found_rows = warm.find_one(gcode, -1 if port is None else port, lo, hi)
            found_here.extend(warm.row_dict(r) for r in found_rows)
        else:
            if query is None:
                query = _one_query(ip, port, lo, hi)
            for segment, _served in engine.segments_for(part, query):
                _, found = segment.search(query)
                found_here.extend(segment.row_dict(r) for r in found.tolist())
        rows.extend(r for r in found_here if _refine_row(engine, part, r, lo))
    return rows


def _refine_row(engine: Any, part: Any, row: dict[str, Any], lo: int) -> bool:
    """``EmbeddedEngine.refine_open`` for one decoded row whose period its part left open
    (``_eff``/``_basis`` updated); False when the row no longer reaches the window."""
    if row["_basis"] == END_LOGGED or row["_end"] is not None:
        return True
    assignment = part.kind in ASSIGNMENT_KINDS
    refined = engine.refine_open(
        part,
        row["inside_ip"] if assignment else row["public_ip"],
        None if assignment else row["public_port"],
        row["_start"],
        row["_eff"],
        row["subscriber"] if assignment else row["inside_ip"],
        row["event"] == SEEN,
    )
    if refined is None:
        return True
    row["_eff"], row["_basis"] = refined
    return bool(refined[0] >= lo)


@dataclass
class _Session:
    rows: list[dict[str, Any]]
    start: int
    end: int | None
    distance: int
    period_end: int = 0
    basis: int = END_LOGGED


def _first_codes(values: list[Any]) -> list[int]:
    seen: dict[Any, int] = {}
    return [-1 if v is None else seen.setdefault(v, len(seen)) for v in values]


def _py_sessions(rows: list[dict[str, Any]], at: int, port_col: str | None) -> list[_Session]:
    """``group_sessions`` for one query, in the same order and with the same ranking."""
    if not rows:
        return []
    columns = [
        _first_codes([r["kind"] for r in rows]),
        _first_codes([r["inside_ip"] for r in rows]),
        _first_codes([r["public_ip"] for r in rows]),
        _first_codes([r["protocol"] for r in rows]),
    ]
    if port_col is None:
        columns.append(_first_codes([r["subscriber"] for r in rows]))
    else:
        columns.append([-1 if r["inside_port"] is None else r["inside_port"] for r in rows])
        columns.append([-1 if r[port_col] is None else r[port_col] for r in rows])
    keys = list(zip(*columns, strict=True))
    order = sorted(range(len(rows)), key=lambda i: (keys[i], rows[i]["_start"]))
    groups: list[list[int]] = []
    for i in order:
        if (
            groups
            and keys[groups[-1][-1]] == keys[i]
            and (rows[i]["_start"] - rows[groups[-1][-1]]["_start"] <= PAIR_US)
        ):
            groups[-1].append(i)
        else:
            groups.append([i])
    sessions = []
    for group in groups:
        members = [rows[i] for i in group]
        start = min(m["_start"] for m in members)
        ends = [m["_end"] for m in members if m["_end"] is not None]
        end = max(ends) if ends else None
        if end is not None:
            cover, basis = end, END_LOGGED
        else:
            last = max(members, key=lambda m: m["_eff"])
            cover, basis = last["_eff"], last["_basis"]
        sessions.append(_Session(members, start, end, max(0, start - at, at - cover), cover, basis))
    tie = _first_codes([s.rows[0]["inside_ip"] for s in sessions])
    ranked = sorted(
        range(len(sessions)),
        key=lambda k: (sessions[k].distance, sessions[k].end is None, -sessions[k].start, tie[k]),
    )
    return [sessions[k] for k in ranked]


def _records(session: _Session) -> tuple[StoredRecord, ...]:
    return tuple(record_from_row(r) for r in session.rows)


def _lookup_one_embedded(
    engine: Any, ip: str, port: int | None, at: int, tol: int, provider: str | None
) -> tuple[Match, ...]:
    nat = _py_sessions(
        _rows_for(engine, NAT_KINDS, ip, port, at - tol, at + tol, provider),
        at,
        "public_port",
    )
    matches: list[Match] = []
    for session in nat:
        records = _records(session)
        first = records[0]
        assignments: tuple[Assignment, ...] = ()
        if first.inside_ip is not None:
            found = _py_sessions(
                _rows_for(
                    engine, ASSIGNMENT_KINDS, first.inside_ip, None, at - tol, at + tol, provider
                ),
                at,
                None,
            )
            assignments = tuple(_assignment(a) for a in found)
        subscriber = (
            assignments[0].subscriber
            if assignments
            else next((r.subscriber for r in records if r.subscriber), None)
        )
        matches.append(
            Match(
                rank=len(matches),
                kind=first.kind,
                inside_ip=first.inside_ip or "",
                inside_port=first.inside_port,
                public_ip=first.public_ip or ip,
                public_port=first.public_port,
                protocol=first.protocol,
                start=from_us(session.start),
                end=from_us(session.end) if session.end is not None else None,
                distance=timedelta(microseconds=session.distance),
                subscriber=subscriber,
                records=records,
                assignments=assignments,
                port_block=(first.public_port or 0, first.public_port_end or 0)
                if first.kind == "port_block"
                else None,
                period_end=from_us(session.period_end),
                end_basis=END_BASIS[session.basis],
            )
        )
    if nat:
        return tuple(matches)
    direct = _py_sessions(
        _rows_for(engine, ASSIGNMENT_KINDS, ip, None, at - tol, at + tol, provider),
        at,
        None,
    )
    for session in direct:
        records = _records(session)
        first = records[0]
        subscriber = next((r.subscriber for r in records if r.subscriber), None) or next(
            (r.mac for r in records if r.mac), None
        )
        matches.append(
            Match(
                rank=len(matches),
                kind=first.kind,
                inside_ip=first.inside_ip or "",
                inside_port=port,
                public_ip=ip,
                public_port=port,
                protocol=first.protocol,
                start=from_us(session.start),
                end=from_us(session.end) if session.end is not None else None,
                distance=timedelta(microseconds=session.distance),
                subscriber=subscriber,
                records=records,
                period_end=from_us(session.period_end),
                end_basis=END_BASIS[session.basis],
            )
        )
    return tuple(matches)


def _assignment(session: _Session) -> Assignment:
    records = _records(session)
    first = records[0]
    return Assignment(
        kind=first.kind,
        ip=first.inside_ip or "",
        subscriber=next((r.subscriber for r in records if r.subscriber), None)
        or next((r.mac for r in records if r.mac), None),
        start=from_us(session.start),
        end=from_us(session.end) if session.end is not None else None,
        distance=timedelta(microseconds=session.distance),
        records=records,
    )
