"""traffic: JSON API under /api/traffic (provider liaison or admin only).

GET  /api/traffic/stats
GET  /api/traffic/lookup?ip=&port=&at=&tolerance_seconds=   one lookup (audited)
POST /api/traffic/lookup/batch                                up to 10,000 lookups, best match each
GET  /api/traffic/flows?ip=&start=&end=&kind=&limit=          records to or from an address
GET  /api/traffic/holds                                       holds with status and SHA-256
POST /api/traffic/holds                                       place a hold (preserve)
POST /api/traffic/holds/{hold_id}/release                     release a hold
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from trailguard.accounts import Principal, Role
from trailguard.core.errors import ValidationFailed
from trailguard.traffic.inputs import parse_instant
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/traffic", tags=["traffic"])
GUARD = require_roles(Role.PROVIDER_LIAISON, Role.ADMIN)


def _tolerance(seconds: float) -> timedelta:
    if not 0 <= seconds <= 86_400:
        raise ValidationFailed(
            f"tolerance_seconds {seconds} must be 0..86400", ["tolerance_seconds"]
        )
    return timedelta(seconds=seconds)


@router.get("/stats")
def stats(request: Request, _p: Principal = Depends(GUARD)) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.service import store_for

    return store_for(get_node(request)).stats()


@router.get("/lookup")
def lookup(
    request: Request,
    ip: str,
    at: str,
    port: int | None = None,
    tolerance_seconds: float = 2.0,
    reference: str | None = Query(default=None, max_length=200),
    principal: Principal = Depends(GUARD),
) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    answer = service.lookup(
        get_node(request),
        principal,
        ip,
        port,
        parse_instant(at, "at"),
        _tolerance(tolerance_seconds),
        reference,
    )
    return answer.to_json()


class BatchQuery(BaseModel):
    ip: str
    port: int | None = Field(default=None, ge=0, le=65535)
    at: str


class BatchRequest(BaseModel):
    queries: list[BatchQuery] = Field(min_length=1, max_length=10_000)
    tolerance_seconds: float = 2.0


@router.post("/lookup/batch")
def lookup_batch(
    request: Request, body: BatchRequest, principal: Principal = Depends(GUARD)
) -> dict[str, Any]:
    # NumPy loads only when the command needs it
    import numpy as np

    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.values import iso, to_us

    ats = np.array(
        [to_us(parse_instant(q.at, f"queries[{i}].at")) for i, q in enumerate(body.queries)],
        dtype=np.int64,
    )
    batch = service.lookup_batch(
        get_node(request),
        principal,
        [q.ip for q in body.queries],
        [q.port for q in body.queries],
        ats,
        _tolerance(body.tolerance_seconds),
    )
    best = batch.best_table().to_pylist()
    return {
        "results": [
            {
                "query": {"ip": q.ip, "port": q.port, "at": q.at},
                "found": b["found"],
                "inside_ip": b["inside_ip"],
                "inside_port": b["inside_port"],
                "start": iso(b["start"]) if b["start"] else None,
                "end": iso(b["end"]) if b["end"] else None,
                "subscriber": b["subscriber"],
                "candidates": b["candidates"],
            }
            for q, b in zip(body.queries, best, strict=True)
        ]
    }


@router.get("/flows")
def flows(
    request: Request,
    ip: str,
    start: str,
    end: str,
    kind: list[str] | None = Query(default=None),
    limit: int = Query(default=1000, ge=1, le=100_000),
    principal: Principal = Depends(GUARD),
) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    records = service.flows(
        get_node(request),
        principal,
        ip,
        parse_instant(start, "start"),
        parse_instant(end, "end"),
        kind,
        limit,
    )
    return {"records": [r.to_json() for r in records]}


@router.get("/holds")
def holds(request: Request, _p: Principal = Depends(GUARD)) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    return {"holds": [h.to_json() for h in service.list_holds(get_node(request))]}


class HoldRequest(BaseModel):
    reference: str = Field(min_length=1, max_length=200)
    ip: str
    port: int | None = Field(default=None, ge=0, le=65535)
    start: str
    end: str
    kinds: list[str] | None = None
    include_assignments: bool = True


@router.post("/holds", status_code=201)
def place_hold(
    request: Request, body: HoldRequest, principal: Principal = Depends(GUARD)
) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.holds import HoldCriteria

    criteria = HoldCriteria(
        ip=body.ip,
        port=body.port,
        start=parse_instant(body.start, "start"),
        end=parse_instant(body.end, "end"),
        include_assignments=body.include_assignments,
    )
    if body.kinds is not None:
        criteria = replace(criteria, kinds=tuple(body.kinds))
    hold = service.place_hold(get_node(request), principal, body.reference, criteria)
    return hold.to_json()


class ReleaseRequest(BaseModel):
    reason: str = Field(default="", max_length=500)


@router.post("/holds/{hold_id}/release")
def release_hold(
    request: Request, hold_id: str, body: ReleaseRequest, principal: Principal = Depends(GUARD)
) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    return service.release_hold(get_node(request), principal, hold_id, body.reason).to_json()
