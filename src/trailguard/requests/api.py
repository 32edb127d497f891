"""requests: JSON API routes (under /api/requests). Thin: every route calls the service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, PlainValidator, field_validator

from trailguard.accounts import Principal, Role
from trailguard.core.apitypes import (
    HEX_SHA256,
    CountryCode,
    Flag,
    Instant,
    NonBlank,
    NotBool,
    ShortNonBlank,
    text_field,
)
from trailguard.core.exercise_marking import exercise_marking
from trailguard.node import Node
from trailguard.requests import service
from trailguard.requests.documents import pdf_filename, render_html, render_pdf
from trailguard.requests.domain.deadlines import DEFAULT_MAX_PERIOD_DAYS, MIN_PRESERVATION_DAYS
from trailguard.requests.domain.lifecycle import RefusalGround
from trailguard.requests.domain.types import CooperationRequest, missing_elements
from trailguard.requests.service.records import MIN_JUSTIFICATION
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/requests", tags=["requests"])

READERS = (Role.DUTY_OFFICER, Role.INVESTIGATOR, Role.CENTRAL_AUTHORITY, Role.PROVIDER_LIAISON)

# What the routes depend on, declared once: the node, and who may call (by role).
CurrentNode = Annotated[Node, Depends(get_node)]
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Drafter = Annotated[Principal, Depends(require_roles(*service.DRAFTERS))]
Approver = Annotated[Principal, Depends(require_roles(*service.APPROVERS))]
Overrider = Annotated[Principal, Depends(require_roles(*service.OVERRIDERS))]
Executor = Annotated[Principal, Depends(require_roles(*service.EXECUTORS))]
RequestingSide = Annotated[Principal, Depends(require_roles(*service.REQUESTING_SIDE))]
ReceivingSide = Annotated[Principal, Depends(require_roles(*service.RECEIVING_SIDE))]
RequesterOrExecutor = Annotated[
    Principal, Depends(require_roles(*service.REQUESTING_SIDE, *service.EXECUTORS))
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A directory node id (the directory's own rule, network.directory._NODE_ID).
NodeId = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$", description="Directory node id of the recipient."),
]
# Convention Art. 29(7): at least 60 days; Art. 16(2): at most 90 per period.
# constraints before NotBool: a BeforeValidator ahead of them would leave them out of the
# published schema (pydantic writes raw "ge"/"le" instead of minimum/maximum)
PeriodDays = Annotated[
    int,
    Field(
        ge=MIN_PRESERVATION_DAYS,
        le=DEFAULT_MAX_PERIOD_DAYS,
        description="Preservation period in days (Convention Art. 29(7), 16(2))",
    ),
    NotBool,
]
RetentionDays = Annotated[int, Field(ge=0, le=36_600), NotBool]


# The typed request: its schema is the request kinds' own (one object per kind, told apart by
# ``kind``), and the service reads it (parse_request), naming every missing element with the
# article that requires it. The rules that tie fields together are published in each kind's
# schema (``allOf`` of if/then/else) but one: a time range's end after its start, a comparison
# JSON Schema cannot state (in TimeRange's description).
def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("a request must be a JSON object")
    return value


RequestBody = Annotated[
    dict[str, Any],
    PlainValidator(_object, json_schema_input_type=CooperationRequest),
    Field(description="The typed request, one of the request kinds (by its kind)."),
]


class DraftIn(_In):
    body: RequestBody
    recipient: NodeId | None = None
    retention_days: dict[str, RetentionDays] | None = Field(
        None, description="The custodian's declared retention per data kind, e.g. {'flow': 30}."
    )
    observed_at: Instant | None = None
    period_days: PeriodDays = MIN_PRESERVATION_DAYS


class UpdateIn(_In):
    body: RequestBody
    recipient: NodeId | None = None


class JustificationIn(_In):
    justification: Annotated[
        str,
        text_field(
            20_000,
            MIN_JUSTIFICATION,
            f"Why the request goes without a legal basis: at least {MIN_JUSTIFICATION} "
            "characters besides white space",
        ),
    ]


class SendIn(_In):
    recipient: NodeId | None = None


class PreserveIn(_In):
    preserved: NonBlank
    hold_id: str | None = Field(None, max_length=200)
    digest: str | None = Field(None, pattern=HEX_SHA256, description="SHA-256, hex")
    partial: Flag = False
    period_days: PeriodDays = MIN_PRESERVATION_DAYS


# "other" is never accepted (lifecycle.check_refusal); which of the rest applies depends on
# the request's kind, named in the refusal's answer.
GROUNDS: list[JsonValue] = [g.value for g in RefusalGround if g is not RefusalGround.OTHER]


class RefuseIn(_In):
    ground: str = Field(
        description="A ground the instrument allows for the request's kind",
        json_schema_extra={"enum": GROUNDS},
    )
    reasons: NonBlank
    reservation_made: Flag = False

    @field_validator("ground")
    @classmethod
    def _ground(cls, value: str) -> str:
        if value not in GROUNDS:
            raise ValueError(f"{value[:60]!r} is not a refusal ground; use one of {GROUNDS}")
        return value


class ReasonsIn(_In):
    reasons: NonBlank


class DiscloseIn(_In):
    summary: NonBlank
    disclosure_request_id: str | None = Field(None, max_length=200)


class ExtendIn(_In):
    days: Annotated[int, Field(ge=1, le=DEFAULT_MAX_PERIOD_DAYS), NotBool]


class MlaReceivedIn(_In):
    mla_request_id: str | None = Field(None, max_length=200)


class CloseIn(_In):
    reason: ShortNonBlank


class ForwardIn(_In):
    recipient: NodeId


class MlaDraftIn(_In):
    overrides: dict[str, Any] = Field(default_factory=dict)
    recipient: NodeId | None = None


def _known_recipient(node: Node, recipient: str | None) -> None:
    """A recipient the body names must be in the directory: 404 as documented (a body that
    names something this node does not know), before anything is stored."""
    if recipient:
        service.resolve_recipient(node, "", provider=recipient)


@router.get("", summary="Inbox and outbox, sorted by nearest deadline")
def list_requests(
    direction: Literal["inbound", "outbound"] | None = Query(None),
    include_closed: bool = Query(True),
    *,
    node: CurrentNode,
    _principal: Reader,
) -> list[dict[str, Any]]:
    views = service.list_requests(node, direction=direction, include_closed=include_closed)
    return [view.to_json() for view in views]


@router.post("/validate", summary="Name every missing or bad element of a draft body")
def validate(body: dict[str, Any] = Body(...), *, _principal: Drafter) -> dict[str, Any]:
    problems = missing_elements(body)
    return {"valid": not problems, "problems": problems}


@router.post("", status_code=201, summary="Draft a request (legal basis pre-filled)")
def draft(data: DraftIn, node: CurrentNode, principal: Drafter) -> dict[str, Any]:
    _known_recipient(node, data.recipient)
    view = service.draft_request(
        node,
        principal,
        data.body,
        recipient=data.recipient,
        retention_days=data.retention_days,
        observed_at=data.observed_at,
        period_days=data.period_days,
    )
    return view.to_json()


@router.get("/reminders", summary="Open reminders and missed deadlines")
def reminders(node: CurrentNode, _principal: Reader) -> list[dict[str, Any]]:
    return [r.to_json() for r in service.open_reminders(node)]


@router.post("/reminders/scan", summary="Raise due reminders and flag missed deadlines now")
def scan(node: CurrentNode, _principal: Reader) -> list[dict[str, Any]]:
    return [r.to_json() for r in service.scan_deadlines(node)]


@router.get("/recipient", summary="The requested country's 24/7 point of contact")
def recipient(
    country: Annotated[CountryCode, Query()], node: CurrentNode, _principal: Reader
) -> dict[str, str]:
    return {"node_id": service.resolve_recipient(node, country)}


@router.get("/{request_id}", summary="A request with its clocks and timeline")
def detail(request_id: str, node: CurrentNode, _principal: Reader) -> dict[str, Any]:
    return service.get_request(node, request_id).to_json()


@router.put("/{request_id}", summary="Edit a draft")
def update(
    request_id: str, data: UpdateIn, node: CurrentNode, principal: Drafter
) -> dict[str, Any]:
    _known_recipient(node, data.recipient)
    view = service.update_draft(node, principal, request_id, data.body, recipient=data.recipient)
    return view.to_json()


@router.get("/{request_id}/document.html", response_class=HTMLResponse)
def document_html(request_id: str, node: CurrentNode, _principal: Reader) -> HTMLResponse:
    view, footer = service.document_of(node, request_id)
    marking = exercise_marking(node.config)  # issue 17
    return HTMLResponse(render_html(view.request, footer=footer, marking=marking))


@router.get("/{request_id}/document.pdf", response_class=Response)
def document_pdf(request_id: str, node: CurrentNode, principal: Reader) -> Response:
    view, footer = service.document_of(node, request_id)
    return Response(
        render_pdf(view.request, footer=footer, node=node, actor=principal.actor),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{pdf_filename(view.reference)}"'},
    )


@router.post("/{request_id}/approve")
def approve(request_id: str, node: CurrentNode, principal: Approver) -> dict[str, Any]:
    return service.approve_request(node, principal, request_id).to_json()


@router.post("/{request_id}/override", summary="Send without a legal basis (audited)")
def override(
    request_id: str, data: JustificationIn, node: CurrentNode, principal: Overrider
) -> dict[str, Any]:
    return service.override_legal_basis(node, principal, request_id, data.justification).to_json()


@router.post("/{request_id}/send")
def send(
    request_id: str,
    data: SendIn | None = None,
    *,
    node: CurrentNode,
    principal: RequestingSide,
) -> dict[str, Any]:
    target = data.recipient if data else None
    return service.send_request(node, principal, request_id, recipient=target).to_json()


@router.post("/{request_id}/forward", summary="24/7 point of contact forwards to a provider")
def forward(
    request_id: str,
    data: ForwardIn,
    node: CurrentNode,
    principal: Annotated[
        Principal, Depends(require_roles(Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY))
    ],
) -> dict[str, Any]:
    return service.forward_request(node, principal, request_id, recipient=data.recipient).to_json()


@router.post("/{request_id}/acknowledge")
def acknowledge(request_id: str, node: CurrentNode, principal: ReceivingSide) -> dict[str, Any]:
    return service.acknowledge_request(node, principal, request_id).to_json()


@router.post("/{request_id}/execute")
def execute(request_id: str, node: CurrentNode, principal: Executor) -> dict[str, Any]:
    return service.start_execution(node, principal, request_id).to_json()


@router.post("/{request_id}/preserve", summary="Record what was preserved and its digest")
def preserve(
    request_id: str, data: PreserveIn, node: CurrentNode, principal: Executor
) -> dict[str, Any]:
    view = service.record_preservation(
        node,
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
    request_id: str, data: RefuseIn, node: CurrentNode, principal: ReceivingSide
) -> dict[str, Any]:
    view = service.refuse_request(
        node,
        principal,
        request_id,
        ground=data.ground,
        reasons=data.reasons,
        reservation_made=data.reservation_made,
    )
    return view.to_json()


@router.post("/{request_id}/warn", summary="Art. 29(6): cannot ensure availability")
def warn(
    request_id: str, data: ReasonsIn, node: CurrentNode, principal: Executor
) -> dict[str, Any]:
    view = service.warn_cannot_ensure_availability(
        node, principal, request_id, reasons=data.reasons
    )
    return view.to_json()


@router.post("/{request_id}/proceed", summary="Go ahead after an Art. 29(6) warning")
def proceed(request_id: str, node: CurrentNode, principal: RequestingSide) -> dict[str, Any]:
    return service.proceed_despite_warning(node, principal, request_id).to_json()


@router.post("/{request_id}/disclose")
def disclose(
    request_id: str, data: DiscloseIn, node: CurrentNode, principal: Executor
) -> dict[str, Any]:
    view = service.record_disclosure(
        node,
        principal,
        request_id,
        summary=data.summary,
        disclosure_request_id=data.disclosure_request_id,
    )
    return view.to_json()


@router.post("/{request_id}/extend")
def extend(
    request_id: str, data: ExtendIn, node: CurrentNode, principal: RequestingSide
) -> dict[str, Any]:
    return service.extend_preservation(node, principal, request_id, days=data.days).to_json()


@router.post("/{request_id}/mla-received", summary="Keep preserved pending the MLA decision")
def mla_received(
    request_id: str,
    data: MlaReceivedIn,
    node: CurrentNode,
    principal: Annotated[
        Principal, Depends(require_roles(*service.REQUESTING_SIDE, Role.PROVIDER_LIAISON))
    ],
) -> dict[str, Any]:
    view = service.mark_superseded_by_mla(
        node, principal, request_id, mla_request_id=data.mla_request_id
    )
    return view.to_json()


@router.post("/{request_id}/mla-draft", status_code=201, summary="Draft the Art. 31 follow-up")
def mla_draft(
    request_id: str, data: MlaDraftIn, node: CurrentNode, principal: Drafter
) -> dict[str, Any]:
    _known_recipient(node, data.recipient)
    view = service.draft_mla_from(
        node, principal, request_id, data.overrides, recipient=data.recipient
    )
    return view.to_json()


@router.post("/{request_id}/expire")
def expire(request_id: str, node: CurrentNode, principal: RequesterOrExecutor) -> dict[str, Any]:
    return service.expire_request(node, principal, request_id).to_json()


@router.post("/{request_id}/close")
def close(
    request_id: str, data: CloseIn, node: CurrentNode, principal: RequesterOrExecutor
) -> dict[str, Any]:
    return service.close_request(node, principal, request_id, reason=data.reason).to_json()
