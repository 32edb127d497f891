"""investigations: server-rendered pages (``/investigations``). Each form posts to one route
that calls the service; errors are shown on the page, nothing half-written."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trailguard.accounts import Principal
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.investigations import service
from trailguard.investigations.domain import DEFAULT_TOLERANCE_S, HANDLING_CODES, TLP_LABELS
from trailguard.law import CONDUCTS
from trailguard.requests import draft_link
from trailguard.web.deps import get_node, require_roles
from trailguard.web.forms import FORM_ERRORS, form_problems
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)
CaseWorker = Depends(require_roles(*service.CASE_ROLES))


def _conducts() -> list[str]:
    return list(CONDUCTS)


@router.get("/investigations", response_class=HTMLResponse)
def list_page(request: Request, principal: Principal = CaseWorker) -> HTMLResponse:
    cases = service.list_investigations(get_node(request), principal)
    return render(
        request,
        "investigations/list.html",
        {
            "cases": cases,
            "conducts": _conducts(),
            "handling_codes": HANDLING_CODES,
            "tlps": TLP_LABELS,
            "form": {},
            "problems": [],
        },
    )


@router.post("/investigations", response_class=HTMLResponse)
def create(
    request: Request,
    reference: str = Form(""),
    title: str = Form(""),
    conduct: list[str] = Form([]),
    handling_code: str = Form("H0"),
    tlp: str = Form("TLP:AMBER"),
    description: str = Form(""),
    principal: Principal = CaseWorker,
) -> Response:
    node = get_node(request)
    data = {
        "reference": reference,
        "title": title,
        "conduct": conduct,
        "handling_code": handling_code,
        "tlp": tlp,
        "description": description,
    }
    try:
        view = service.create_investigation(node, principal, data)
    except (ValidationFailed, Conflict) as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        return render(
            request,
            "investigations/list.html",
            {
                "cases": service.list_investigations(node, principal),
                "conducts": _conducts(),
                "handling_codes": HANDLING_CODES,
                "tlps": TLP_LABELS,
                "form": data,
                "problems": problems,
            },
            status_code=422,
        )
    return RedirectResponse(f"/investigations/{view.id}", status_code=303)


def _draft_links(view: service.InvestigationView) -> dict[str, str]:
    """For each observation with an address and a time, the drafting form pre-filled from the
    case and the observation (issue 15)."""
    links: dict[str, str] = {}
    for o in view.observations:
        if not (o.ip and o.at):
            continue
        values: dict[str, str | int | None] = {
            "reference": view.reference,
            "summary_of_facts": view.description or view.title,
            "handling.code": view.handling_code,
            "handling.tlp": view.tlp,
            "data_to_preserve.0.ip": o.ip,
            "data_to_preserve.0.port": o.port,
            "data_to_preserve.0.timestamp": isoformat_z(o.at),
            "data_to_preserve.0.protocol": o.protocol,
        }
        links[o.id] = draft_link(
            "preservation", values, source=f"investigation {view.reference}, observation {o.seq}"
        )
    return links


def _page(
    request: Request, principal: Principal, investigation_id: str, **extra: Any
) -> HTMLResponse:
    node = get_node(request)
    view = service.get_investigation(node, principal, investigation_id)
    context: dict[str, Any] = {
        "case": view,
        "tolerances": {k.value: v for k, v in DEFAULT_TOLERANCE_S.items()},
        "problems": [],
        "draft_links": _draft_links(view),
    }
    # what other capabilities add to the case's page (the trace: its traces), by registry
    for name, section in request.app.state.case_sections:
        context[name] = section(node, principal, view.id)
    context.update(extra)
    return render(request, "investigations/view.html", context, status_code=extra.get("code", 200))


@router.get("/investigations/{investigation_id}", response_class=HTMLResponse)
def view_page(
    request: Request, investigation_id: str, principal: Principal = CaseWorker
) -> HTMLResponse:
    return _page(request, principal, investigation_id)


@router.post("/investigations/{investigation_id}/add", response_class=HTMLResponse)
def add(
    request: Request,
    investigation_id: str,
    what: str = Form(...),
    text: str = Form(""),
    ip: str = Form(""),
    port: str = Form(""),
    at: str = Form(""),
    protocol: str = Form(""),
    direction: str = Form(""),
    seen: str = Form(""),
    tolerance_s: str = Form(""),
    fmt: str = Form(""),
    tz: str = Form(""),
    label: str = Form(""),
    username: str = Form(""),
    kind: str = Form(""),
    target: str = Form(""),
    principal: Principal = CaseWorker,
) -> Response:
    """One endpoint for every form on the investigation page; the service checks membership."""
    node = get_node(request)
    try:
        if what == "event":
            event: dict[str, Any] = {
                "ip": ip or None,
                "port": int(port) if port.strip() else None,
                "at": at,
                "protocol": protocol or None,
                "direction": direction or None,
                "seen": seen,
            }
            if tolerance_s.strip():
                event["tolerance_s"] = float(tolerance_s)
            service.observe_event(node, principal, investigation_id, event)
        elif what == "log_lines":
            service.observe_log_lines(
                node,
                principal,
                investigation_id,
                text,
                fmt=fmt or None,
                tz=tz or None,
                tolerance_s=float(tolerance_s) if tolerance_s.strip() else None,
                label=label,
            )
        elif what == "headers":
            service.observe_headers(node, principal, investigation_id, text.encode(), label)
        elif what in ("csv", "json"):
            service.observe_import(node, principal, investigation_id, text, what, label)
        elif what == "member":
            service.add_member(node, principal, investigation_id, username.strip())
        elif what == "link":
            service.link(node, principal, investigation_id, kind, target, seen)
        else:
            raise ValidationFailed(f"unknown form {what!r}")
    except FORM_ERRORS as exc:
        return _page(request, principal, investigation_id, problems=form_problems(exc), code=422)
    return RedirectResponse(f"/investigations/{quote(investigation_id)}", status_code=303)


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else v)
