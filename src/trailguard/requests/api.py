"""requests: JSON API routes (under /api/requests). Thin: every route calls the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal, Role
from trailguard.core.clock import ensure_utc
from trailguard.core.errors import ValidationFailed
from trailguard.core.exercise_marking import exercise_marking
from trailguard.requests import service
from trailguard.requests.documents import render_html, render_pdf
from trailguard.requests.domain.types import missing_elements
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/requests", tags=["requests"])

READERS = (Role.DUTY_OFFICER, Role.INVESTIGATOR, Role.CENTRAL_AUTHORITY, Role.PROVIDER_LIAISON)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftIn(_In):
    body: dict[str, Any] = Field(description="The typed request (see the request kinds).")
    recipient: str | None = Field(None, description="Directory node id of the recipient.")
    retention_days: dict[str, int] | None = Field(
        None, description="The custodian's declared retention per data kind, e.g. {'flow': 30}."
    )
    observed_at: datetime | None = None
    period_days: int = 60


class UpdateIn(_In):
    body: dict[str, Any]
    recipient: str | None = None


class JustificationIn(_In):
    justification: str


class SendIn(_In):
    recipient: str | None = None


class PreserveIn(_In):
    preserved: str
    hold_id: str | None = None
    digest: str | None = None
    partial: bool = False
    period_days: int = 60


class RefuseIn(_In):
    ground: str
    reasons: str
    reservation_made: bool = False


class ReasonsIn(_In):
    reasons: str


class DiscloseIn(_In):
    summary: str
    disclosure_request_id: str | None = None


class ExtendIn(_In):
    days: int


class MlaReceivedIn(_In):
    mla_request_id: str | None = None


class CloseIn(_In):
    reason: str


class ForwardIn(_In):
    recipient: str


class MlaDraftIn(_In):
    overrides: dict[str, Any] = Field(default_factory=dict)
    recipient: str | None = None


def _observed(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), ["observed_at"]) from exc


@router.get("", summary="Inbox and outbox, sorted by nearest deadline")
def list_requests(
    request: Request,
    direction: str | None = Query(None, description="inbound or outbound"),
    include_closed: bool = Query(True),
    _principal: Principal = Depends(require_roles(*READERS)),
) -> list[dict[str, Any]]:
    views = service.list_requests(
        get_node(request), direction=direction, include_closed=include_closed
    )
    return [view.to_json() for view in views]


@router.post("/validate", summary="Name every missing or bad element of a draft body")
def validate(
    body: dict[str, Any] = Body(...),
    _principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> dict[str, Any]:
    problems = missing_elements(body)
    return {"valid": not problems, "problems": problems}


@router.post("", status_code=201, summary="Draft a request (legal basis pre-filled)")
def draft(
    request: Request,
    data: DraftIn,
    principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> dict[str, Any]:
    view = service.draft_request(
        get_node(request),
        principal,
        data.body,
        recipient=data.recipient,
        retention_days=data.retention_days,
        observed_at=_observed(data.observed_at),
        period_days=data.period_days,
    )
    return view.to_json()


@router.get("/reminders", summary="Open reminders and missed deadlines")
def reminders(
    request: Request, _principal: Principal = Depends(require_roles(*READERS))
) -> list[dict[str, Any]]:
    return [r.to_json() for r in service.open_reminders(get_node(request))]


@router.post("/reminders/scan", summary="Raise due reminders and flag missed deadlines now")
def scan(
    request: Request, _principal: Principal = Depends(require_roles(*READERS))
) -> list[dict[str, Any]]:
    return [r.to_json() for r in service.scan_deadlines(get_node(request))]


@router.get("/recipient", summary="The requested country's 24/7 point of contact")
def recipient(
    request: Request,
    country: str = Query(..., description="ISO 3166-1 alpha-2"),
    _principal: Principal = Depends(require_roles(*READERS)),
) -> dict[str, str]:
    return {"node_id": service.resolve_recipient(get_node(request), country)}


@router.get("/{request_id}", summary="A request with its clocks and timeline")
def detail(
    request: Request, request_id: str, _principal: Principal = Depends(require_roles(*READERS))
) -> dict[str, Any]:
    return service.get_request(get_node(request), request_id).to_json()


@router.put("/{request_id}", summary="Edit a draft")
def update(
    request: Request,
    request_id: str,
    data: UpdateIn,
    principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> dict[str, Any]:
    node = get_node(request)
    view = service.update_draft(node, principal, request_id, data.body, recipient=data.recipient)
    return view.to_json()


@router.get("/{request_id}/document.html", response_class=HTMLResponse)
def document_html(
    request: Request, request_id: str, _principal: Principal = Depends(require_roles(*READERS))
) -> HTMLResponse:
    view, footer = service.document_of(get_node(request), request_id)
    marking = exercise_marking(get_node(request).config)  # issue 17
    return HTMLResponse(render_html(view.request, footer=footer, marking=marking))


@router.get("/{request_id}/document.pdf", response_class=Response)
def document_pdf(
    request: Request, request_id: str, _principal: Principal = Depends(require_roles(*READERS))
) -> Response:
    view, footer = service.document_of(get_node(request), request_id)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in view.reference)
    return Response(
        render_pdf(view.request, footer=footer, node=get_node(request), actor=_principal.actor),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.post("/{request_id}/approve")
def approve(
    request: Request,
    request_id: str,
    principal: Principal = Depends(require_roles(*service.APPROVERS)),
) -> dict[str, Any]:
    return service.approve_request(get_node(request), principal, request_id).to_json()


@router.post("/{request_id}/override", summary="Send without a legal basis (audited)")
def override(
    request: Request,
    request_id: str,
    data: JustificationIn,
    principal: Principal = Depends(require_roles(*service.OVERRIDERS)),
) -> dict[str, Any]:
    node = get_node(request)
    return service.override_legal_basis(node, principal, request_id, data.justification).to_json()


@router.post("/{request_id}/send")
def send(
    request: Request,
    request_id: str,
    data: SendIn | None = None,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE)),
) -> dict[str, Any]:
    node = get_node(request)
    target = data.recipient if data else None
    return service.send_request(node, principal, request_id, recipient=target).to_json()


@router.post("/{request_id}/forward", summary="24/7 point of contact forwards to a provider")
def forward(
    request: Request,
    request_id: str,
    data: ForwardIn,
    principal: Principal = Depends(require_roles(Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)),
) -> dict[str, Any]:
    node = get_node(request)
    return service.forward_request(node, principal, request_id, recipient=data.recipient).to_json()


@router.post("/{request_id}/acknowledge")
def acknowledge(
    request: Request,
    request_id: str,
    principal: Principal = Depends(require_roles(*service.RECEIVING_SIDE)),
) -> dict[str, Any]:
    return service.acknowledge_request(get_node(request), principal, request_id).to_json()


@router.post("/{request_id}/execute")
def execute(
    request: Request,
    request_id: str,
    principal: Principal = Depends(require_roles(*service.EXECUTORS)),
) -> dict[str, Any]:
    return service.start_execution(get_node(request), principal, request_id).to_json()


@router.post("/{request_id}/preserve", summary="Record what was preserved and its digest")
def preserve(
    request: Request,
    request_id: str,
    data: PreserveIn,
    principal: Principal = Depends(require_roles(*service.EXECUTORS)),
) -> dict[str, Any]:
    view = service.record_preservation(
        get_node(request),
        principal,
        request_id,
        preserved=data.preserved,
        hold_id=data.hold_id,
        digest=data.digest,
        partial=data.partial,
        period_days=data.period_days,
    )
    return view.to_json()


@router.post("/{request_id}/refuse", summary="Refuse on a ground the treaty allows")
def refuse(
    request: Request,
    request_id: str,
    data: RefuseIn,
    principal: Principal = Depends(require_roles(*service.RECEIVING_SIDE)),
) -> dict[str, Any]:
    view = service.refuse_request(
        get_node(request),
        principal,
        request_id,
        ground=data.ground,
        reasons=data.reasons,
        reservation_made=data.reservation_made,
    )
    return view.to_json()


@router.post("/{request_id}/warn", summary="Art. 29(6): cannot ensure availability")
def warn(
    request: Request,
    request_id: str,
    data: ReasonsIn,
    principal: Principal = Depends(require_roles(*service.EXECUTORS)),
) -> dict[str, Any]:
    node = get_node(request)
    view = service.warn_cannot_ensure_availability(
        node, principal, request_id, reasons=data.reasons
    )
    return view.to_json()


@router.post("/{request_id}/proceed", summary="Go ahead after an Art. 29(6) warning")
def proceed(
    request: Request,
    request_id: str,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE)),
) -> dict[str, Any]:
    return service.proceed_despite_warning(get_node(request), principal, request_id).to_json()


@router.post("/{request_id}/disclose")
def disclose(
    request: Request,
    request_id: str,
    data: DiscloseIn,
    principal: Principal = Depends(require_roles(*service.EXECUTORS)),
) -> dict[str, Any]:
    view = service.record_disclosure(
        get_node(request),
        principal,
        request_id,
        summary=data.summary,
        disclosure_request_id=data.disclosure_request_id,
    )
    return view.to_json()


@router.post("/{request_id}/extend")
def extend(
    request: Request,
    request_id: str,
    data: ExtendIn,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE)),
) -> dict[str, Any]:
    node = get_node(request)
    return service.extend_preservation(node, principal, request_id, days=data.days).to_json()


@router.post("/{request_id}/mla-received", summary="Keep preserved pending the MLA decision")
def mla_received(
    request: Request,
    request_id: str,
    data: MlaReceivedIn,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE, Role.PROVIDER_LIAISON)),
) -> dict[str, Any]:
    view = service.mark_superseded_by_mla(
        get_node(request), principal, request_id, mla_request_id=data.mla_request_id
    )
    return view.to_json()


@router.post("/{request_id}/mla-draft", status_code=201, summary="Draft the Art. 31 follow-up")
def mla_draft(
    request: Request,
    request_id: str,
    data: MlaDraftIn,
    principal: Principal = Depends(require_roles(*service.DRAFTERS)),
) -> dict[str, Any]:
    view = service.draft_mla_from(
        get_node(request), principal, request_id, data.overrides, recipient=data.recipient
    )
    return view.to_json()


@router.post("/{request_id}/expire")
def expire(
    request: Request,
    request_id: str,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE, *service.EXECUTORS)),
) -> dict[str, Any]:
    return service.expire_request(get_node(request), principal, request_id).to_json()


@router.post("/{request_id}/close")
def close(
    request: Request,
    request_id: str,
    data: CloseIn,
    principal: Principal = Depends(require_roles(*service.REQUESTING_SIDE, *service.EXECUTORS)),
) -> dict[str, Any]:
    node = get_node(request)
    return service.close_request(node, principal, request_id, reason=data.reason).to_json()
