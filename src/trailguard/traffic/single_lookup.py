"""Single lookups on the embedded engine: the rules of the batch path in plain Python over the
few rows a lookup touches (a chain of Arrow kernels costs more than the work for one query).
The tests hold this path to the vectorised one answer for answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from trailguard.traffic.answers import Assignment, Match, StoredRecord, record_from_row
from trailguard.traffic.segments import QueryArrays
from trailguard.traffic.values import (
    ASSIGNMENT_KINDS,
    END_BASIS,
    END_LOGGED,
    NAT_KINDS,
    PAIR_US,
    SEEN,
    from_us,
)

# --------------------------------------------------------------------------------------------
# single lookups on the embedded engine: the same rules in plain Python over the few rows
# a lookup touches (a chain of Arrow kernels costs more than the work for one query). The
# tests hold this path to the vectorised one answer for answer.


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


def lookup_one_embedded(
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
