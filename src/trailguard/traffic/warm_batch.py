"""Batches over warm parts: the stages of ``sessions`` on NumPy columns. Candidates carry
interned codes (not text) and their (part, row); records are built only for the answers asked
for. The search and the grouping run in compiled loops (``_kernels``) unless ``COMPILED`` is
False (the NumPy stages, the reference the tests hold the kernels to)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic import index
from trailguard.traffic.answers import StoredRecord, record_from_row
from trailguard.traffic.segments import QueryArrays
from trailguard.traffic.sessions import (
    SMALL,
    BatchAnswer,
    Sessions,
    flat,
    group_sorted,
    int_column,
    pack_keys,
    rank_sessions,
)
from trailguard.traffic.values import (
    ASSIGNMENT_KINDS,
    END_LOGGED,
    INT64_MIN,
    NAT_KINDS,
)

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
        return self.strings.array().take(flat(codes))

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


def _port_key(values: np.ndarray) -> np.ndarray:
    return np.where(values == INT64_MIN, -1, values)


def _masked(values: np.ndarray, type_: pa.DataType, null: int) -> pa.Array:
    mask = values == null if null == INT64_MIN else values < 0
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
    order = np.lexsort([start, *reversed(pack_keys(keys))])
    end = c["end"][order]
    sessions = group_sorted(
        c["q"][order],
        start[order],
        end,
        end != INT64_MIN,
        c["end_eff"][order],
        [k[order] for k in keys],
        at,
    )
    tie = _np_codes(c["inside_ip"][order][sessions.first_row])
    return rank_sessions(sessions, _warm_table(c, order, strings), tie)


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
            "inside_port": _masked(c["inside_port"][order], pa.int32(), INT64_MIN),
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


def warm_ready(engine: Any, queries: QueryArrays, provider: str | None) -> bool:
    """The warm path serves a batch when its parts are warm, or when it is big enough that
    reading whole parts pays (as ``segments_for`` decides)."""
    if not hasattr(engine, "full_segment") or not hasattr(engine, "strings"):
        return False
    if len(queries) > index.WARM_BATCH:
        return True
    kinds = NAT_KINDS | ASSIGNMENT_KINDS
    lo, hi = int(queries.at_lo.min()), int(queries.at_hi.max())
    return all(
        engine.warm_segment(p) is not None for p in engine.parts_for(kinds, lo, hi, provider)
    )


def lookup_batch_warm(
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
        where = int_column(pc.index_in(queries.ips, value_set=uniq), 0)
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
        inside = int_column(nat.cands.column("inside_ip").take(pa.array(nat.first_row)), -1)
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
