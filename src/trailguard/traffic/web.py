"""traffic: the /traffic page (store statistics, a lookup form, holds) for provider liaisons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from trailguard.accounts import Principal, Role
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.traffic import service
from trailguard.traffic.holds import HoldCriteria
from trailguard.traffic.inputs import parse_instant
from trailguard.web.deps import get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)
GUARD = require_roles(Role.PROVIDER_LIAISON, Role.ADMIN)


def _instant(text: str, field: str) -> datetime:
    return parse_instant(text, field)


@router.get("/traffic", response_class=HTMLResponse)
def traffic_page(
    request: Request,
    ip: str | None = None,
    port: str | None = None,
    at: str | None = None,
    tolerance: str = "2",
    principal: Principal = Depends(GUARD),
) -> HTMLResponse:
    node = get_node(request)
    errors: list[str] = []
    answer = None
    if ip and at:
        try:
            port_number = int(port) if port not in (None, "") else None
        except ValueError:
            errors.append(f"port {port!r} is not a number 0..65535")
            port_number = None
        try:
            seconds = float(tolerance or 0)
        except ValueError:
            errors.append(f"tolerance {tolerance!r} is not a number of seconds")
            seconds = 2.0
        if not errors:
            try:
                answer = service.lookup(
                    node, principal, ip, port_number, _instant(at, "at"), timedelta(seconds=seconds)
                )
            except ValidationFailed as exc:
                errors.append(str(exc))
    context: dict[str, Any] = {
        "stats": service.store_for(node).stats(),
        "holds": service.list_holds(node),
        "answer": answer.to_json() if answer else None,
        "form": {"ip": ip or "", "port": port or "", "at": at or "", "tolerance": tolerance},
        "errors": errors,
        "status_code": 422 if errors else 200,
    }
    return render(request, "traffic/page.html", context, status_code=context["status_code"])


@router.post("/traffic/holds", response_class=HTMLResponse, response_model=None)
def place_hold_form(
    request: Request,
    reference: str = Form(...),
    ip: str = Form(...),
    start: str = Form(...),
    end: str = Form(...),
    port: str = Form(""),
    principal: Principal = Depends(GUARD),
) -> HTMLResponse | RedirectResponse:
    node = get_node(request)
    try:
        criteria = HoldCriteria(
            ip=ip,
            port=int(port) if port.strip() else None,
            start=_instant(start, "start"),
            end=_instant(end, "end"),
        )
        service.place_hold(node, principal, reference, criteria)
    except ValueError as exc:  # int() of a bad port
        return _page_error(request, f"port {port!r} is not a number 0..65535: {exc}")
    except (ValidationFailed, PermissionDenied, Conflict) as exc:
        return _page_error(request, str(exc))
    return RedirectResponse("/traffic", status_code=303)


@router.post("/traffic/holds/{hold_id}/release", response_class=HTMLResponse, response_model=None)
def release_hold_form(
    request: Request,
    hold_id: str,
    reason: str = Form(""),
    principal: Principal = Depends(GUARD),
) -> HTMLResponse | RedirectResponse:
    try:
        service.release_hold(get_node(request), principal, hold_id, reason[:500])
    except (ValidationFailed, NotFound, Conflict, PermissionDenied) as exc:
        return _page_error(request, str(exc))
    return RedirectResponse("/traffic", status_code=303)


def _page_error(request: Request, message: str) -> HTMLResponse:
    node = get_node(request)
    return render(
        request,
        "traffic/page.html",
        {
            "stats": service.store_for(node).stats(),
            "holds": service.list_holds(node),
            "answer": None,
            "form": {"ip": "", "port": "", "at": "", "tolerance": "2"},
            "errors": [message],
        },
        status_code=422,
    )
