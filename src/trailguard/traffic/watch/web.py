"""The live watch page: orders in force and closed, hits reported, hits received, refusals.

``router`` is flat (no nested routers); the lead mounts it with the other page routers.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from trailguard.accounts import Principal, Role
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.traffic.watch import service
from trailguard.web.deps import get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)

VIEWERS = (Role.PROVIDER_LIAISON, Role.ADMIN, Role.INVESTIGATOR, Role.DUTY_OFFICER)


@router.get("/traffic/watch", response_class=HTMLResponse)
def watch_page(
    request: Request,
    error: str | None = None,
    _principal: Principal = Depends(require_roles(*VIEWERS)),
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        orders = service.list_orders(session)
        hits = service.list_hits(session)
        received = service.list_received(session)
        requesters = service.authorised_requesters(session)
    now = node.clock.now()
    runtime = getattr(request.app.state, "watch_runtime", None)
    return render(
        request,
        "traffic/watch.html",
        {
            "orders": orders,
            "active": [o for o in orders if o.state == "active" and o.end > now],
            "hits": hits,
            "received": received,
            "requesters": requesters,
            "refusals": dict(service.REFUSALS),
            "stats": runtime.stats.snapshot() if runtime else None,
            "problems": list(runtime.stats.problems)[-50:] if runtime else [],
            "now": now,
            "error": error,
            "loads": json.loads,
        },
    )


@router.post("/traffic/watch/requesters")
def authorise_requester(
    request: Request,
    node_id: str = Form(...),
    note: str = Form(""),
    principal: Principal = Depends(require_roles(Role.PROVIDER_LIAISON, Role.ADMIN)),
) -> RedirectResponse:
    node = get_node(request)
    try:
        with node.db.session() as session:
            service.authorise_requester(session, node, node_id.strip(), actor=principal.actor,
                                        note=note)  # fmt: skip
    except (NotFound, ValidationFailed) as exc:
        return RedirectResponse(f"/traffic/watch?error={quote(str(exc))}", status_code=303)
    return RedirectResponse("/traffic/watch", status_code=303)
