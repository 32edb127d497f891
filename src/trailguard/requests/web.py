"""requests: server-rendered pages. Inbox and outbox sorted by nearest deadline, drafting with
inline validation (htmx names the missing elements as you type), review and approval, and the
request page with its clocks, timeline, rendered document and PDF."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trailguard.accounts import Principal, Role
from trailguard.core.config import NodeRole
from trailguard.core.countries import iso_countries
from trailguard.core.errors import TrailguardError, ValidationFailed
from trailguard.core.jsonsafe import nesting_depth
from trailguard.network import list_entries
from trailguard.node import Node
from trailguard.requests import form as request_form
from trailguard.requests import labels, service
from trailguard.requests.documents import document_view, pdf_filename, render_pdf
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.types import missing_elements
from trailguard.requests.skeletons import skeleton
from trailguard.traffic import flows as traffic_flows
from trailguard.traffic import lookup as traffic_lookup
from trailguard.web.dashboard import DashboardItem
from trailguard.web.deps import get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)

# The node's administrator may look at requests (a new node's only user must see its node
# work); what each role may do to a request stays with the service's rules.
READERS = (
    Role.DUTY_OFFICER,
    Role.INVESTIGATOR,
    Role.CENTRAL_AUTHORITY,
    Role.PROVIDER_LIAISON,
    Role.ADMIN,
)
ACTORS = READERS


def _clock_rows(views: list[service.RequestView], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for view in views:
        nearest = view.nearest
        rows.append(
            {
                "view": view,
                "status": nearest.status(now) if nearest else "none",
                "remaining": _remaining(nearest.due_at, now) if nearest else "",
            }
        )
    return rows


def _remaining(due: datetime, now: datetime) -> str:
    seconds = int((due - now).total_seconds())
    sign = "overdue by " if seconds < 0 else "in "
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    return f"{sign}{minutes} min"


@router.get("/requests", response_class=HTMLResponse)
def requests_page(
    request: Request, _principal: Principal = Depends(require_roles(*READERS))
) -> HTMLResponse:
    node = get_node(request)
    now = node.clock.now()
    return render(
        request,
        "requests/list.html",
        {
            "inbox": _clock_rows(service.list_requests(node, direction="inbound"), now),
            "outbox": _clock_rows(service.list_requests(node, direction="outbound"), now),
            "reminders": service.open_reminders(node, limit=20),
            "now": now,
            "kinds": [k.value for k in RequestKind],
        },
    )


def _draft_context(
    kind: str, body_text: str, recipient: str, problems: list[str], error: str | None = None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "kinds": [k.value for k in RequestKind],
        "body_text": body_text,
        "recipient": recipient,
        "problems": problems,
        "error": error,
    }


def _form_context(
    node: Node,
    kind: RequestKind,
    body: dict[str, Any],
    *,
    recipient: str = "",
    retention: str = "",
    problems: list[str] | None = None,
    extra_rows: dict[str, int] | None = None,
    show_errors: bool = False,
) -> dict[str, Any]:
    """The drafting page: the form generated from the request type (pre-filled from
    ``body``), and the same request as JSON for the advanced view."""
    fields = request_form.form_for(kind)
    rows = request_form.row_counts(body, fields)
    for name, more in (extra_rows or {}).items():
        rows[name] = rows.get(name, 1) + more
    errors, general = request_form.problems_by_field(problems or []) if show_errors else ({}, [])
    with node.db.session() as session:
        peers = [
            entry
            for entry in list_entries(session)
            if entry.node_id != node.config.node_id and entry.channels.endpoint
        ]
    context = _draft_context(
        kind.value,
        json.dumps(body, indent=2, ensure_ascii=False, default=str),
        recipient,
        missing_elements(body),
    )
    context.update(
        fields=fields,
        values=request_form.prefill(fields, body),
        rows=rows,
        errors=errors,
        general=general,
        countries=sorted(iso_countries().items()),
        peers=peers,
        retention=retention,
    )
    return context


@router.get("/requests/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    kind: str = "preservation",
    _principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> HTMLResponse:
    node = get_node(request)
    try:
        request_kind = RequestKind(kind)
    except ValueError:
        request_kind = RequestKind.PRESERVATION
    body = skeleton(request_kind, node)
    # pre-filled from another page (an investigation, a trace's hop): the values come as the
    # form's own dotted field names and go through the form like typed answers
    given: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        given.setdefault(key, []).append(value)
    ignored: list[str] = []
    if set(given) - request_form.RESERVED_QUERY:
        body, ignored = request_form.merge_prefill(request_kind, body, given)
    context = _form_context(
        node,
        request_kind,
        body,
        recipient=request.query_params.get("recipient", ""),
        retention=request.query_params.get("retention", ""),
    )
    context.update(prefilled_from=request.query_params.get("source", "")[:200], ignored=ignored)
    return render(request, "requests/new.html", context)


def _retention_days(retention: str) -> tuple[dict[str, int], list[str]]:
    days_by_kind: dict[str, int] = {}
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in retention.split(","))):
        name, _, days = part.partition("=")
        if not days.strip().isdigit():
            problems.append(f"retention: {part!r} must look like flow=30")
        else:
            days_by_kind[name.strip()] = int(days)
    return days_by_kind, problems


@router.post("/requests/new/form", response_class=HTMLResponse, response_model=None)
async def create_draft_from_form(
    request: Request,
    principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> Response:
    """The drafting form's answers, turned into the plain request the API takes and checked
    by the same model. "Add another item" re-shows the form with one more row."""
    node = get_node(request)
    form = await request.form()
    answers = {key: [str(v) for v in form.getlist(key)] for key in form}
    try:
        kind = RequestKind(str(form.get("kind", "preservation")))
    except ValueError:
        kind = RequestKind.PRESERVATION
    recipient = str(form.get("recipient", "")).strip()
    retention = str(form.get("retention", ""))
    body = request_form.body_from_form(kind, answers)
    add_row = str(form.get("add_row", ""))
    if add_row:
        return render(
            request,
            "requests/new.html",
            _form_context(
                node,
                kind,
                body,
                recipient=recipient,
                retention=retention,
                extra_rows={add_row: 1},
            ),
        )
    retention_days, problems = _retention_days(retention)
    if not problems:
        try:
            view = service.draft_request(
                node, principal, body, recipient=recipient or None, retention_days=retention_days
            )
        except ValidationFailed as exc:
            problems = exc.problems or [str(exc)]
        except TrailguardError as exc:
            problems = [f"request: {exc}"]
        else:
            return RedirectResponse(f"/requests/{view.id}", status_code=303)
    return render(
        request,
        "requests/new.html",
        _form_context(
            node,
            kind,
            body,
            recipient=recipient,
            retention=retention,
            problems=problems,
            show_errors=True,
        ),
        status_code=422,
    )


@router.post("/requests/new/form/check", response_class=HTMLResponse)
async def check_form(
    request: Request,
    _principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> HTMLResponse:
    """Validation as you type (htmx): the form's answers checked by the same model that checks
    the API, a summary naming each field to complete or correct, and the errors of the fields
    already filled in swapped in beside them. Nothing is stored."""
    form = await request.form()
    answers = {key: [str(v) for v in form.getlist(key)] for key in form if key != "csrf_token"}
    try:
        kind = RequestKind(str(form.get("kind", "preservation")))
    except ValueError:
        kind = RequestKind.PRESERVATION
    body = request_form.body_from_form(kind, answers)
    fields = request_form.form_for(kind)
    rows = request_form.row_counts(body, fields)
    problems = missing_elements(body)
    _, retention_problems = _retention_days(str(form.get("retention", "")))
    problems.extend(retention_problems)
    inline, summary, general = request_form.live_problems(fields, rows, answers, problems)
    return render(
        request,
        "requests/_form_check.html",
        {
            "inline": inline,
            "summary": summary,
            "general": general,
            "shown": request_form.rendered_fields(fields, rows),
        },
    )


def _parse_body(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    if nesting_depth(text.encode("utf-8", "replace"), stop_above=64) > 64:  # core/jsonsafe.py
        return None, ["the body is not valid JSON here: nested deeper than 64 levels"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"the body is not valid JSON: {exc.msg} at line {exc.lineno}"]
    if not isinstance(data, dict):
        return None, ["the body must be a JSON object"]
    return data, []


@router.post("/requests/new/check", response_class=HTMLResponse)
def check_draft(
    request: Request,
    body: str = Form(""),
    _principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> HTMLResponse:
    """The htmx fragment: every missing or bad element, named."""
    data, problems = _parse_body(body)
    if data is not None:
        problems = missing_elements(data)
    return render(request, "requests/_problems.html", {"problems": problems})


@router.post("/requests/new", response_class=HTMLResponse)
def create_draft(
    request: Request,
    kind: str = Form("preservation"),
    body: str = Form(""),
    recipient: str = Form(""),
    retention: str = Form(""),
    principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> Response:
    node = get_node(request)
    data, problems = _parse_body(body)
    retention_days: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in retention.split(","))):
        name, _, days = part.partition("=")
        if not days.strip().isdigit():
            problems.append(f"retention {part!r} must look like flow=30")
        else:
            retention_days[name.strip()] = int(days)
    if data is not None and not problems:
        try:
            view = service.draft_request(
                node,
                principal,
                data,
                recipient=recipient.strip() or None,
                retention_days=retention_days,
            )
        except ValidationFailed as exc:
            problems = exc.problems or [str(exc)]
        except TrailguardError as exc:
            problems = [str(exc)]
        else:
            return RedirectResponse(f"/requests/{view.id}", status_code=303)
    try:
        request_kind = RequestKind(kind)
    except ValueError:
        request_kind = RequestKind.PRESERVATION
    context = _form_context(node, request_kind, data if isinstance(data, dict) else {})
    context.update(body_text=body, recipient=recipient, problems=problems, json_open=True)
    return render(request, "requests/new.html", context, status_code=422)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request,
    request_id: str,
    error: str | None = None,
    principal: Principal = Depends(require_roles(*READERS)),
) -> HTMLResponse:
    return _request_page(request, get_node(request), request_id, error, principal=principal)


def _traffic_answers(node: Node, principal: Principal | None, view: Any) -> list[dict[str, Any]]:
    """On a provider node, what the local traffic store says about each address, port and
    time the request names (each look-up audited), so the liaison sees the answer and the
    hold side by side."""
    if principal is None or NodeRole.PROVIDER not in node.config.roles:
        return []
    if not principal.has_any(Role.PROVIDER_LIAISON, Role.ADMIN):
        return []
    identifiers = getattr(view.request, "data_to_preserve", None) or getattr(
        view.request, "identifiers", []
    )
    answers: list[dict[str, Any]] = []
    for item in identifiers:
        if getattr(item, "type", None) != "ip_endpoint":
            continue
        try:
            answer = traffic_lookup(
                node,
                principal,
                str(item.ip),
                item.port,
                item.timestamp,
                reference=view.reference,
            )
        except TrailguardError as exc:
            answers.append({"query": f"{item.ip}:{item.port}", "error": str(exc)})
            continue
        answers.append(
            {
                "query": f"{item.ip}:{item.port} at {item.timestamp.isoformat()}",
                "answer": answer.to_json(),
                "flows": _flow_records(node, principal, str(item.ip), item.port, item.timestamp),
                "flow_window_minutes": int(FLOW_WINDOW.total_seconds() // 60),
            }
        )
    return answers


FLOW_WINDOW = timedelta(minutes=15)


def _flow_records(
    node: Node, principal: Principal, ip: str, port: int | None, at: datetime
) -> list[dict[str, Any]]:
    """Flow records of the address around the instant (the look-up above resolves who held
    an address through NAT, DHCP and RADIUS; a provider that keeps only flows answers with
    these), the port's own flows first. Through the traffic service, audited."""
    try:
        records = traffic_flows(
            node, principal, ip, at - FLOW_WINDOW, at + FLOW_WINDOW, kinds=["flow"], limit=200
        )
    except TrailguardError:
        return []
    rows = [record.to_json() for record in records]
    if port is not None:
        rows.sort(key=lambda row: port not in (row.get("public_port"), row.get("inside_port")))
    return rows


def _request_page(
    request: Request,
    node: Node,
    request_id: str,
    error: str | None,
    status_code: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    view, footer = service.document_of(node, request_id)
    now = node.clock.now()
    traffic_answers = _traffic_answers(node, principal, view) if view.direction == "inbound" else []
    can_approve, approval_note = service.approval_standing(view, principal)
    can_send, send_note = service.send_standing(view, principal)
    return render(
        request,
        "requests/view.html",
        {
            "r": view,
            "doc": document_view(view.request, footer=footer),
            "now": now,
            "clocks": [
                {"d": d, "status": d.status(now), "remaining": _remaining(d.due_at, now)}
                for d in view.deadlines
            ],
            "error": error,
            "traffic_answers": traffic_answers,
            "can_approve": can_approve,
            "approval_note": approval_note,
            "can_send": can_send,
            "send_note": send_note,
        },
        status_code=status_code,
    )


@router.get("/requests/{request_id}/document.pdf")
def pdf(
    request: Request, request_id: str, _principal: Principal = Depends(require_roles(*READERS))
) -> Response:
    node = get_node(request)
    view, footer = service.document_of(node, request_id)
    return Response(
        render_pdf(view.request, footer=footer, node=node, actor=_principal.actor),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf_filename(view.reference)}"'},
    )


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be a whole number, not {value!r}", [name]) from exc


@router.post("/requests/{request_id}/action", response_class=HTMLResponse)
def act(
    request: Request,
    request_id: str,
    action: str = Form(...),
    recipient: str = Form(""),
    reason: str = Form(""),
    ground: str = Form(""),
    days: str = Form(""),
    hold_id: str = Form(""),
    digest: str = Form(""),
    partial: str = Form(""),
    principal: Principal = Depends(require_roles(*ACTORS)),
) -> Response:
    """One form endpoint for every button on the request page; the service checks roles."""
    node = get_node(request)
    target = request_id
    try:
        if action == "approve":
            service.approve_request(node, principal, request_id)
        elif action == "override":
            service.override_legal_basis(node, principal, request_id, reason)
        elif action == "send":
            service.send_request(node, principal, request_id, recipient=recipient.strip() or None)
        elif action == "acknowledge":
            service.acknowledge_request(node, principal, request_id)
        elif action == "forward":
            target = service.forward_request(
                node, principal, request_id, recipient=recipient.strip()
            ).id
        elif action == "execute":
            service.start_execution(node, principal, request_id)
        elif action == "preserve":
            service.record_preservation(
                node,
                principal,
                request_id,
                preserved=reason,
                hold_id=hold_id.strip() or None,
                digest=digest.strip() or None,
                partial=bool(partial),
            )
        elif action == "refuse":
            service.refuse_request(node, principal, request_id, ground=ground, reasons=reason)
        elif action == "warn":
            service.warn_cannot_ensure_availability(node, principal, request_id, reasons=reason)
        elif action == "proceed":
            service.proceed_despite_warning(node, principal, request_id)
        elif action == "disclose":
            service.record_disclosure(node, principal, request_id, summary=reason)
        elif action == "extend":
            service.extend_preservation(node, principal, request_id, days=_int(days, "days"))
        elif action == "mla":
            service.mark_superseded_by_mla(node, principal, request_id)
        elif action == "expire":
            service.expire_request(node, principal, request_id)
        elif action == "close":
            service.close_request(node, principal, request_id, reason=reason)
        else:
            raise ValidationFailed(f"unknown action {action!r}", ["action"])
    except TrailguardError as exc:
        return _request_page(
            request, node, request_id, str(exc), status_code=422, principal=principal
        )
    return RedirectResponse(f"/requests/{target}", status_code=303)


def dashboard_items(node: Node, principal: Principal, now: datetime) -> list[DashboardItem]:
    if not principal.has_any(*READERS):
        return []
    items = []
    for view in service.list_requests(node, include_closed=False, limit=200):
        nearest = view.nearest
        items.append(
            DashboardItem(
                kind="request",
                title=f"{view.kind.value.replace('_', ' ')} {view.reference} "
                f"({labels.route_label(view.kind, view.requesting_party, view.requested_party)})",
                url=f"/requests/{view.id}",
                state=view.state.value,
                deadline=nearest.due_at if nearest else None,
                deadline_label=nearest.label if nearest else "",
                counterpart=view.counterpart_node or "",
            )
        )
    return items
