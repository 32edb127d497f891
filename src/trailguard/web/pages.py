"""Node-wide pages: the dashboard (clocks first) and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from trailguard.accounts import Principal, Role
from trailguard.audit import recent
from trailguard.network import verify_node
from trailguard.web.dashboard import dashboard_items
from trailguard.web.deps import ANY_ROLE, get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def dashboard(
    request: Request, principal: Principal = Depends(require_roles(*ANY_ROLE))
) -> HTMLResponse:
    node = get_node(request)
    now = node.clock.now()
    items = dashboard_items(request.app.state.dashboard_providers, node, principal, now)
    return render(request, "dashboard.html", {"items": items, "now": now})


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, principal: Principal = Depends(require_roles(Role.ADMIN))
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        entries = recent(session, limit=200)
    # the chain, checked against this node's signed heads and the witnessed heads it holds
    report = verify_node(node)
    return render(request, "audit.html", {"entries": entries, "report": report})
