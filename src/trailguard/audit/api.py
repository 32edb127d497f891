"""Audit log API: recent entries and the chain check (admins only); and for peers, this
node's signed head and the heads it witnessed of them (``exchange_router``, no login: the heads
are signed statements meant to be public, as Certificate Transparency's tree heads are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from trailguard.accounts import Principal, Role
from trailguard.audit import service
from trailguard.network import sign_head, verify_node, witnessed_of
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/audit", tags=["audit"])
exchange_router = APIRouter(prefix="/exchange/v1/audit", tags=["audit"])


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str
    entry_hash: str


class AuditCheck(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    problems: list[dict[str, str | int]]
    signed_heads: int = 0
    witnessed_heads: int = 0
    witnesses: list[str] = []


@router.get("/entries", response_model=list[AuditEntryOut])
async def entries(
    request: Request,
    limit: int = Query(100, ge=1, le=5000),
    subject: str | None = None,
    principal: Principal = Depends(require_roles(Role.ADMIN)),
) -> list[AuditEntryOut]:
    node = get_node(request)
    with node.db.session() as session:
        rows = service.recent(session, limit=limit, subject=subject)
    return [
        AuditEntryOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            subject=e.subject,
            details=e.details,
            entry_hash=e.entry_hash,
        )
        for e in rows
    ]


@router.get("/verify", response_model=AuditCheck)
async def verify(
    request: Request, principal: Principal = Depends(require_roles(Role.ADMIN))
) -> AuditCheck:
    """The chain, checked against this node's signed heads and the witnessed heads it holds."""
    report = verify_node(get_node(request))
    return AuditCheck(
        ok=report.ok,
        entries=report.entries,
        head_hash=report.head_hash,
        problems=[{"seq": p.seq, "reason": p.reason} for p in report.problems],
        signed_heads=report.signed_heads,
        witnessed_heads=report.witnessed_heads,
        witnesses=report.witnesses,
    )


@exchange_router.get("/head", summary="This node's audit chain head, signed with its key")
def signed_head(request: Request) -> dict[str, Any]:
    return sign_head(get_node(request)).to_json()


@exchange_router.get(
    "/witnessed/{node_id}", summary="The heads of a peer's audit chain this node countersigned"
)
def witnessed_heads(
    request: Request,
    node_id: str = Path(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$"),
    limit: int = Query(1000, ge=1, le=1000),
) -> list[dict[str, Any]]:
    return [w.to_json() for w in witnessed_of(get_node(request), node_id, limit=limit)]
