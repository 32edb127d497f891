"""trace: pages. ``/traces/new`` starts a trace from an observation; ``/traces/{id}`` shows
the hops with their clocks and checks, the graph across countries (Graphviz SVG drawn on the
server, left to right for a desk screen and top to bottom for a phone) and the timeline on a
UTC axis; forms record answers and refine open hops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from trailguard.accounts import Principal
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.investigations import get_investigation
from trailguard.network import list_entries
from trailguard.node import Node
from trailguard.requests import (
    CONVENTION_OFFENCE_ARTICLES,
    ENDED_STATES,
    HandlingCode,
    Tlp,
    draft_link,
)
from trailguard.trace import service
from trailguard.trace.pictures import PictureUnavailable, graph_svg, timeline
from trailguard.web.dashboard import DashboardItem
from trailguard.web.deps import get_node, require_roles
from trailguard.web.forms import FORM_ERRORS, form_problems
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)
Tracer = Depends(require_roles(*service.TRACE_ROLES))


@router.get("/traces", response_class=HTMLResponse)
def list_page(request: Request, principal: Principal = Tracer) -> HTMLResponse:
    node = get_node(request)
    return render(
        request,
        "trace/list.html",
        {"traces": service.open_traces(node, principal), "now": node.clock.now()},
    )


@router.get("/traces/new", response_class=HTMLResponse)
def new_page(
    request: Request, investigation: str, observation: str, principal: Principal = Tracer
) -> HTMLResponse:
    node = get_node(request)
    case = get_investigation(node, principal, investigation)
    found = next((o for o in case.observations if o.id == observation), None)
    if found is None:
        raise NotFound(f"no observation {observation!r} in {case.reference}")
    return render(
        request,
        "trace/new.html",
        {
            "case": case,
            "observation": found,
            "form": {"handling_code": case.handling_code, "tlp": case.tlp},
            "problems": [],
            "codes": list(HandlingCode),
            "labels": list(Tlp),
        },
    )


@router.post("/traces/start", response_class=HTMLResponse)
def start(
    request: Request,
    investigation: str = Form(...),
    observation: str = Form(...),
    phone: str = Form(""),
    email: str = Form(""),
    seeking_authority: str = Form(""),
    offence: str = Form(""),
    offence_articles: str = Form(""),
    summary: str = Form(""),
    handling_code: str = Form(""),
    tlp: str = Form(""),
    emergency: str = Form(""),
    auto_send: str = Form(""),
    principal: Principal = Tracer,
) -> Response:
    node = get_node(request)
    template: dict[str, Any] = {
        "requesting_authority": {
            "organisation": node.config.name,
            "person_in_charge": principal.display_name,
            "address": node.config.name,
            "phone": phone,
            "email": email,
            "office_hours": "24/7",
            "time_zone": node.config.timezone,
            "preferred_channel": "trailguard",
        },
        "confirmation_contact": {"name": principal.display_name, "phone": phone, "email": email},
        "seeking_authority": seeking_authority,
        "offence": offence,
        "summary_of_facts": summary,
    }
    try:
        template["offence_articles"] = _articles(offence_articles)
        template["handling"] = _handling(handling_code, tlp)
        if emergency:
            template["emergency"] = True
        view = service.start_trace(
            node,
            principal,
            investigation,
            observation,
            template=template,
            auto_send=bool(auto_send),
        )
    except (ValidationFailed, Conflict) as exc:
        case = get_investigation(node, principal, investigation)
        found = next((o for o in case.observations if o.id == observation), None)
        return render(
            request,
            "trace/new.html",
            {
                "case": case,
                "observation": found,
                "codes": list(HandlingCode),
                "labels": list(Tlp),
                "problems": [str(exc), *getattr(exc, "problems", [])],
                "form": {
                    "phone": phone,
                    "email": email,
                    "offence": offence,
                    "summary": summary,
                    "seeking_authority": seeking_authority,
                    "offence_articles": offence_articles,
                    "handling_code": handling_code,
                    "tlp": tlp,
                    "emergency": bool(emergency),
                },
            },
            status_code=422,
        )
    return RedirectResponse(f"/traces/{view.id}", status_code=303)


def _articles(text: str) -> list[int]:
    """The Convention articles (2-11) the offence falls under, as typed: "2, 3" or "Art. 3";
    refused here, before any trace starts, unless each is one of them."""
    numbers = [part.strip().removeprefix("Art.").strip() for part in text.split(",")]
    bad = [
        part
        for part in numbers
        if part and not (part.isdigit() and int(part) in CONVENTION_OFFENCE_ARTICLES)
    ]
    if bad:
        raise ValidationFailed(
            "offence articles are Convention article numbers (2-11), comma-separated",
            [f"offence_articles: {part!r}" for part in bad],
        )
    return [int(part) for part in numbers if part]


def _handling(code: str, tlp: str) -> dict[str, str]:
    """The handling code and TLP every hop's request carries (what the case calls for)."""
    problems = []
    if code not in set(HandlingCode):
        problems.append(f"handling_code: {code!r}")
    if tlp not in set(Tlp):
        problems.append(f"tlp: {tlp!r}")
    if problems:
        raise ValidationFailed("choose a handling code (H0-H3) and a TLP label", problems)
    return {"code": code, "tlp": tlp}


def _draft_links(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """For each hop with an address and no live request, the drafting form pre-filled from it
    (issue 15): a duty officer drafting one by hand starts from the hop's exact identifiers
    instead of typing them again. A hop whose request is live (drafted, sent, preserved...)
    offers none: its request is linked beside it, and a second one would be a duplicate (the
    requests service refuses it). A hop whose request ended without effect (refused, expired,
    closed) offers a new request under a new reference, so the two stay apart on the record
    and in the answers that name them."""
    links: dict[str, dict[str, str]] = {}
    for hop in data["hops"]:
        if not hop.get("ip"):
            continue
        earlier = hop.get("request_reference")
        ended = hop.get("request_state") in ENDED_STATES
        if hop.get("request_id") and not ended:
            continue
        source = f"trace {data['label']}, hop {hop['seq']}"
        if hop.get("request_id") and earlier:
            reference = f"{earlier}-2"
            label = (
                f"Draft a new request for this hop ({earlier} was {hop['request_state']}): "
                f"reference {reference}"
            )
            source += f", after {earlier} was {hop['request_state']}"
        else:
            reference = earlier or f"{data['label']}-H{hop['seq']}"
            label = "Draft a request from this hop"
        values: dict[str, str | int | None] = {
            "reference": reference,
            "data_to_preserve.0.ip": hop["ip"],
            "data_to_preserve.0.port": hop.get("port"),
            "data_to_preserve.0.timestamp": hop.get("at"),
            "data_to_preserve.0.protocol": hop.get("protocol"),
            # the custodian's country (a documentation address has none from iptocc)
            "requested_party": (hop.get("provider") or {}).get("country") or hop.get("country"),
        }
        url = draft_link("preservation", values, recipient=hop.get("recipient_node"), source=source)
        links[hop["id"]] = {"url": url, "label": label}
    return links


def _zones(node: Node) -> dict[str, str]:
    with node.db.session() as session:
        return {entry.node_id: entry.timezone for entry in list_entries(session)}


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def view_page(request: Request, trace_id: str, principal: Principal = Tracer) -> HTMLResponse:
    return _page(request, principal, trace_id)


def _page(request: Request, principal: Principal, trace_id: str, **extra: Any) -> HTMLResponse:
    node = get_node(request)
    view = service.get_trace(node, principal, trace_id)
    data = view.to_json()
    graph = service.graph_of(node, principal, trace_id)
    try:
        # rebuilt from an allow-list of SVG elements and attributes (pictures.sanitise_svg),
        # so they go into the page as markup; every label in them is escaped text. Both
        # layouts are in the page and the stylesheet shows the one that suits the width:
        # left to right on a desk screen, top to bottom (fitted to the width) on a phone.
        svg: Markup | None = Markup(graph_svg(graph, "wide"))  # noqa: S704
        svg_tall: Markup | None = Markup(graph_svg(graph, "tall"))  # noqa: S704
        svg_problem = None
    except PictureUnavailable as exc:
        svg, svg_tall, svg_problem = None, None, str(exc)
    context = {
        "trace": data,
        "svg": svg,
        "svg_tall": svg_tall,
        "svg_problem": svg_problem,
        "timeline": timeline(data["hops"], _zones(node), node.clock.now()),
        "problems": extra.get("problems", []),
        "draft_links": _draft_links(data),
    }
    return render(request, "trace/view.html", context, status_code=extra.get("code", 200))


@router.post("/traces/{trace_id}/act", response_class=HTMLResponse)
def act(
    request: Request,
    trace_id: str,
    action: str = Form(...),
    hop: str = Form(""),
    kind: str = Form(""),
    key: str = Form(""),
    ip: str = Form(""),
    port: str = Form(""),
    at: str = Form(""),
    tolerance_s: str = Form(""),
    note: str = Form(""),
    principal: Principal = Tracer,
) -> Response:
    node = get_node(request)
    try:
        if action == "sync":
            service.sync_trace(node, principal, trace_id)
        elif action == "answer":
            details: dict[str, Any] = {"note": note} if note else {}
            if kind == "next_hop":
                details.update({"ip": ip, "port": int(port) if port.strip() else None, "at": at})
            service.record_answer(node, principal, trace_id, hop, kind, details, key=key)
        elif action == "refine":
            service.refine_hop(
                node,
                principal,
                trace_id,
                hop,
                port=int(port) if port.strip() else None,
                at=at or None,
                tolerance_s=float(tolerance_s) if tolerance_s.strip() else None,
            )
        else:
            raise ValidationFailed(f"unknown action {action!r}")
    except FORM_ERRORS as exc:
        return _page(request, principal, trace_id, problems=form_problems(exc), code=422)
    return RedirectResponse(f"/traces/{trace_id}", status_code=303)


def dashboard_items(node: Node, principal: Principal, now: datetime) -> list[DashboardItem]:
    items = []
    for view in service.open_traces(node, principal):
        waiting = [h for h in view.hops if h["state"] not in ("advanced",)]
        last = waiting[-1] if waiting else (view.hops[-1] if view.hops else None)
        items.append(
            DashboardItem(
                kind="trace",
                title=view.label,
                url=f"/traces/{view.id}",
                state=last["state"] if last else view.state,
                deadline=view.dies_at,
                deadline_label="the trail dies (retention ends)",
                counterpart=(last or {}).get("next_action", "")[:120] if last else "",
            )
        )
    return items


def case_traces(node: Node, principal: Principal, investigation_id: str) -> list[Any]:
    """The investigation page's section (``case_sections`` in ``capability.py``)."""
    return list(service.traces_of(node, principal, investigation_id))
