"""Audit log API: recent entries and the chain check (admins only)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from trailguard.accounts import Principal, Role
from trailguard.audit import service
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/audit", tags=["audit"])


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
    node = get_node(request)
    with node.db.session() as session:
        report = service.verify(session)
    return AuditCheck(
        ok=report.ok,
        entries=report.entries,
        head_hash=report.head_hash,
        problems=[{"seq": p.seq, "reason": p.reason} for p in report.problems],
    )
