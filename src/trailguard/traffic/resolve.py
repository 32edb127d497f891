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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.answers import LookupAnswer, LookupQuery, StoredRecord, record_from_row
from trailguard.traffic.index import empty_candidates
from trailguard.traffic.segments import QueryArrays
from trailguard.traffic.sessions import BatchAnswer, group_sessions, int_column
from trailguard.traffic.single_lookup import lookup_one_embedded
from trailguard.traffic.values import (
    ASSIGNMENT_KINDS,
    FLOW_KINDS,
    KIND_CODES,
    NAT_KINDS,
    canonical_ip,
    check_port,
    check_tolerance,
    from_us,
    iso,
    to_us,
)
from trailguard.traffic.warm_batch import lookup_batch_warm, warm_ready


class CandidateEngine(Protocol):
    name: str

    def candidates(
        self, kinds: frozenset[str], queries: QueryArrays, provider: str | None = None
    ) -> pa.Table: ...


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
    if len(queries) and warm_ready(engine, queries, provider):
        return lookup_batch_warm(engine, queries, tolerance, provider)
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
                pa.array(no_nat[int_column(direct_cands.column("q"), 0)], pa.int64()),
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
        matches = lookup_one_embedded(engine, ip, port, at_us, tol, provider)
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
