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
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from trailguard.accounts import Principal, Role
from trailguard.core.apitypes import Flag, InstantText, IpAddress, NotBool, OneOf
from trailguard.traffic.inputs import parse_instant
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/traffic", tags=["traffic"])
GUARD = require_roles(Role.PROVIDER_LIAISON, Role.ADMIN)


# What the parameters accept, as the store checks them (resolve.py, holds.py).
Port = Annotated[int, Field(ge=0, le=65_535), NotBool]
# constraints before NotBool: a BeforeValidator ahead of them would leave them out of the
# published schema (pydantic writes raw "ge"/"le" instead of minimum/maximum)
Tolerance = Annotated[
    float,
    Field(ge=0, le=86_400, allow_inf_nan=False, description="Seconds, 0..86400"),
    NotBool,
]
# model.RecordKind's values, written out: the API module loads without Arrow (a test holds
# the two lists equal).
RECORD_KINDS = ("nat", "port_block", "flow", "dhcp", "radius", "access")
Kind = Annotated[str, OneOf(RECORD_KINDS, "record kind")]
# holds.py _REFERENCE, in ASCII so that every reader of the pattern (JSON Schema's ECMA-262,
# Python, Rust) agrees on it.
HOLD_REFERENCE = r"^[A-Za-z0-9_./:#@+-][A-Za-z0-9_ ./:#@+-]{0,199}$"
HOLD_ID = r"^hold-[0-9a-f]{16}$"


def _tolerance(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@router.get("/stats")
def stats(request: Request, _p: Principal = Depends(GUARD)) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.service import store_for

    return store_for(get_node(request)).stats()


@router.get("/lookup")
def lookup(
    request: Request,
    ip: Annotated[IpAddress, Query()],
    at: Annotated[InstantText, Query()],
    port: Annotated[Port | None, Query()] = None,
    tolerance_seconds: Annotated[Tolerance, Query()] = 2.0,
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
    ip: IpAddress
    port: Port | None = None
    at: InstantText


class BatchRequest(BaseModel):
    queries: list[BatchQuery] = Field(min_length=1, max_length=10_000)
    tolerance_seconds: Tolerance = 2.0


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
    ip: Annotated[IpAddress, Query()],
    start: Annotated[InstantText, Query()],
    end: Annotated[InstantText, Query(description="Not before start")],
    kind: list[Kind] | None = Query(default=None),
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
    reference: str = Field(min_length=1, max_length=200, pattern=HOLD_REFERENCE)
    ip: IpAddress
    port: Port | None = None
    start: InstantText
    end: InstantText = Field(description="Not before start, at most 400 days after it")
    kinds: list[Kind] | None = Field(None, min_length=1)
    include_assignments: Flag = True


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
    request: Request,
    hold_id: Annotated[str, Path(pattern=HOLD_ID)],
    body: ReleaseRequest,
    principal: Principal = Depends(GUARD),
) -> dict[str, Any]:
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    return service.release_hold(get_node(request), principal, hold_id, body.reason).to_json()
