"""``/api/evidence``: items and their custody chains (JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from trailguard.accounts import Principal
from trailguard.evidence.service import (
    EVIDENCE_ROLES,
    custody_events,
    get_item,
    list_items,
    verify_item_chain,
)
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/evidence", tags=["evidence"])


@router.get("/items")
def items(
    request: Request,
    reference: str | None = None,
    _principal: Principal = Depends(require_roles(*EVIDENCE_ROLES)),
) -> list[dict[str, Any]]:
    with get_node(request).db.session() as session:
        return [
            {
                "item_id": row.id,
                "reference": row.reference,
                "file_name": row.file_name,
                "size": row.size,
                "sha256": row.sha256,
                "sha512": row.sha512,
                "handling_code": row.handling_code,
                "tlp": row.tlp,
                "state": row.state,
                "origin_node": row.origin_node,
            }
            for row in list_items(session, reference)
        ]


@router.get("/items/{item_id}/custody")
def custody(
    request: Request,
    item_id: str,
    _principal: Principal = Depends(require_roles(*EVIDENCE_ROLES)),
) -> dict[str, Any]:
    node = get_node(request)
    with node.db.session() as session:
        row = get_item(session, item_id)
        events = custody_events(session, item_id)
        problem = verify_item_chain(session, node, item_id)
    return {
        "item_id": row.id,
        "sha256": row.sha256,
        "ok": problem is None,
        "problem": problem,
        "events": [event.to_json() for event in events],
    }
