"""network: server-rendered pages (/directory, /exchange) and the exchange endpoint."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from trailguard.accounts import Principal, Role
from trailguard.core.clock import ensure_utc
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.network import clocks, directory_service, exchange
from trailguard.network.directory import EntryKind, lookup_prefix, search
from trailguard.network.inbox import exchange_router
from trailguard.network.notifications import recent_notifications
from trailguard.node import Node
from trailguard.web.dashboard import DashboardItem
from trailguard.web.deps import ANY_ROLE, get_node, require_roles
from trailguard.web.render import render

router = APIRouter()
router.include_router(exchange_router)
pages = APIRouter(include_in_schema=False)

OPERATIONAL = (Role.DUTY_OFFICER, Role.INVESTIGATOR, Role.CENTRAL_AUTHORITY, Role.PROVIDER_LIAISON)
# Who may look at the exchange pages: the operational roles and the node's administrator (who
# runs the node's exchange); acting on messages stays with the operational roles.
VIEWERS = (*OPERATIONAL, Role.ADMIN)


def _parse_at(text: str | None, node: Node) -> tuple[datetime, str | None]:
    if not text:
        return node.clock.now(), None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return ensure_utc(value), None
    except ValueError:
        return node.clock.now(), (
            f"time {text!r} is not an ISO 8601 instant with an offset "
            "(e.g. 2026-11-20T03:14:07-05:00); showing now"
        )


@pages.get("/directory", response_class=HTMLResponse)
def directory_page(
    request: Request,
    country: str | None = None,
    language: str | None = None,
    at: str | None = None,
    ip: str | None = None,
    _principal: Principal = Depends(require_roles(*ANY_ROLE)),
) -> HTMLResponse:
    node = get_node(request)
    instant, error = _parse_at(at, node)
    with node.db.session() as session:
        entries = directory_service.list_entries(session)
    errors = [error] if error else []
    hits = []
    try:
        hits = search(
            entries,
            at=instant,
            country=country.strip().upper() if country else None,
            language=language.strip().lower() if language else None,
        )
    except ValidationFailed as exc:
        errors.append(str(exc))
    prefix_match = None
    if ip:
        try:
            prefix_match = lookup_prefix(entries, ip)
            if prefix_match is None:
                errors.append(f"no provider in the directory operates {ip}")
        except ValidationFailed as exc:
            errors.append(str(exc))
    return render(
        request,
        "network/directory.html",
        {
            "hits": hits,
            "at": instant,
            "country": country or "",
            "language": language or "",
            "at_text": at or "",
            "ip": ip or "",
            "prefix_match": prefix_match,
            "errors": errors,
            "kinds": list(EntryKind),
        },
    )


@pages.get("/exchange", response_class=HTMLResponse)
def exchange_page(
    request: Request,
    _principal: Principal = Depends(require_roles(*VIEWERS)),
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        inbox = exchange.list_messages(session, direction="received", limit=200)
        outbox = exchange.list_messages(session, direction="sent", limit=200)
        escalations = clocks.list_escalations(session, limit=50)
        notifications = recent_notifications(session, limit=30)
        peers = [
            entry.node_id
            for entry in directory_service.list_entries(session)
            if entry.node_id != node.config.node_id and entry.channels.endpoint
        ]
    return render(
        request,
        "network/exchange.html",
        {
            "inbox": inbox,
            "outbox": outbox,
            "escalations": escalations,
            "notifications": notifications,
            "now": node.clock.now(),
            "peers": peers,
            "error": request.query_params.get("error"),
        },
    )


@pages.get("/exchange/messages/{message_id}", response_class=HTMLResponse)
def message_page(
    request: Request,
    message_id: str,
    _principal: Principal = Depends(require_roles(*VIEWERS)),
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        detail = exchange.message_detail(session, message_id)
    return render(request, "network/message.html", {"detail": detail, "now": node.clock.now()})


@pages.post("/exchange/inbox/{message_id}/ack")
def ack_form(
    request: Request,
    message_id: str,
    principal: Principal = Depends(require_roles(*OPERATIONAL)),
) -> RedirectResponse:
    node = get_node(request)
    try:
        exchange.acknowledge(node, message_id, actor=principal.actor)
    except (Conflict, ValidationFailed, NotFound) as exc:
        return RedirectResponse(f"/exchange?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/exchange/messages/{message_id}", status_code=303)


@pages.post("/exchange/ping")
def ping_form(
    request: Request,
    recipient: str = Form(...),
    text: str = Form(""),
    principal: Principal = Depends(require_roles(*OPERATIONAL)),
) -> RedirectResponse:
    node = get_node(request)
    try:
        with node.db.session() as session:
            queued = exchange.send_message(
                session,
                node,
                recipient=recipient,
                message_type=exchange.PING_MESSAGE_TYPE,
                payload={"text": text[:2000]},
                actor=principal.actor,
            )
    except (ValidationFailed, NotFound) as exc:
        return RedirectResponse(f"/exchange?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/exchange/messages/{queued.message_id}", status_code=303)


router.include_router(pages)


def dashboard_items(node: Node, principal: Principal, now: datetime) -> list[DashboardItem]:
    if not principal.has_any(*OPERATIONAL):
        return []
    with node.db.session() as session:
        waiting = exchange.list_messages(
            session, direction="received", limit=200, pending_ack_only=True
        )
        sent = exchange.list_messages(session, direction="sent", limit=200)
    items = [
        DashboardItem(
            kind="message",
            title=f"{view.message_type} from {view.sender}",
            url=f"/exchange/messages/{view.message_id}",
            state="escalated" if view.escalated_at else "awaiting acknowledgement",
            deadline=view.ack_due,
            deadline_label="acknowledgement due",
            counterpart=view.sender,
        )
        for view in waiting
    ]
    items += [
        DashboardItem(
            kind="message",
            title=f"{view.message_type} to {view.recipient}",
            url=f"/exchange/messages/{view.message_id}",
            state=f"delivery {view.delivery_state}",
            deadline=view.expires_at,
            deadline_label="envelope expires",
            counterpart=view.recipient,
        )
        for view in sent
        if view.delivery_state in ("pending", "failed", "rejected")
    ]
    return items
