"""investigations: JSON API (under /api/investigations). Thin: every route calls the service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal
from trailguard.core.apitypes import (
    RECEIVED_MESSAGE_PATTERN,
    Instant,
    InstantText,
    IpAddress,
    NonBlank,
    NotBool,
    OneOf,
    text_field,
)
from trailguard.investigations import service
from trailguard.investigations.domain import (
    DIRECTIONS,
    HANDLING_CODES,
    PROTOCOLS,
    REFERENCE,
    TLP_LABELS,
)
from trailguard.law import CONDUCTS
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/investigations", tags=["investigations"])
CaseWorker = Depends(require_roles(*service.CASE_ROLES))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What the domain accepts (investigations.domain), published: the API refuses with 422 what
# the schema does not allow, before the service reads it.
Conduct = Annotated[str, OneOf(CONDUCTS, "conduct")]
Title = Annotated[str, text_field(300)]
Description = Annotated[str, Field(max_length=20_000)]
HandlingCode = Annotated[str, OneOf(HANDLING_CODES, "handling code")]
Tlp = Annotated[str, OneOf(TLP_LABELS, "TLP")]
Label = Annotated[str, Field(max_length=300)]
Tolerance = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False), NotBool]


class InvestigationCreate(_In):
    reference: str = Field(
        pattern=REFERENCE.pattern,
        description="3-64 letters, digits or . _ / -, starting with a letter or digit",
    )
    title: Title
    conduct: list[Conduct] = Field(default_factory=list, max_length=20)
    handling_code: HandlingCode = "H0"
    tlp: Tlp = "TLP:AMBER"
    description: Description = ""


class InvestigationChange(_In):
    title: Title | None = None
    conduct: list[Conduct] | None = Field(None, max_length=20)
    handling_code: HandlingCode | None = None
    tlp: Tlp | None = None
    description: Description | None = None
    status: Literal["open", "closed"] | None = None


class EventIn(_In):
    """An event typed by hand."""

    ip: IpAddress
    at: InstantText = Field(description="When, with its offset (the zone is kept)")
    port: Annotated[int, Field(ge=0, le=65_535), NotBool] | None = None
    # the domain reads the protocol in either case (TCP is tcp)
    protocol: (
        Annotated[str, OneOf((*PROTOCOLS, *(p.upper() for p in PROTOCOLS)), "protocol")] | None
    ) = None
    direction: Annotated[str, OneOf(DIRECTIONS, "direction")] | None = None
    seen: str = Field("", max_length=2_000)
    tolerance_s: Tolerance | None = None


class MemberIn(_In):
    username: str = Field(min_length=1, max_length=200)
    role: Literal["lead", "member"] = "member"


class ImportIn(_In):
    format: Literal["csv", "json"] = Field(description="csv or json")
    text: NonBlank = Field(
        description="csv: a header row (ip, at and any of port, protocol, direction, seen, "
        "tolerance_s) and a row per event; json: a list of objects with those keys"
    )
    label: Label = ""


class HeadersIn(_In):
    message: str = Field(
        pattern=RECEIVED_MESSAGE_PATTERN,
        description="The message source: header fields at least, with a Received: line",
    )
    label: Label = ""


class LogLinesIn(_In):
    lines: NonBlank
    format: str | None = Field(
        None, max_length=100, description="A traffic parser name; detected if omitted."
    )
    tz: str | None = Field(None, max_length=100, description="IANA zone of zone-less lines")
    year: Annotated[int, Field(ge=1970, le=2999), NotBool] | None = Field(
        None, description="Year of year-less lines"
    )
    start: Instant | None = None
    end: Instant | None = Field(None, description="Not before start")
    tolerance_s: Tolerance | None = None
    label: Label = ""


class RequestLinkIn(_In):
    kind: Literal["request"]
    id: NonBlank = Field(max_length=200, description="A request id on this node")
    note: str = Field("", max_length=2_000)


class HoldLinkIn(_In):
    kind: Literal["hold"]
    id: str = Field(pattern=r"^hold-[0-9a-f]{16}$", description="A hold id on this node")
    note: str = Field("", max_length=2_000)


LinkIn = Annotated[RequestLinkIn | HoldLinkIn, Field(discriminator="kind")]


@router.get("")
def list_cases(request: Request, principal: Principal = CaseWorker) -> list[dict[str, Any]]:
    return [v.to_json() for v in service.list_investigations(get_node(request), principal)]


@router.post("", status_code=201)
def create(
    request: Request, body: InvestigationCreate, principal: Principal = CaseWorker
) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    return service.create_investigation(get_node(request), principal, data).to_json()


@router.get("/{investigation_id}")
def show(request: Request, investigation_id: str, principal: Principal = CaseWorker) -> Any:
    return service.get_investigation(get_node(request), principal, investigation_id).to_json()


@router.patch("/{investigation_id}")
def change(
    request: Request,
    investigation_id: str,
    body: InvestigationChange,
    principal: Principal = CaseWorker,
) -> dict[str, Any]:
    node = get_node(request)
    data = body.model_dump(exclude_unset=True)
    return service.update_investigation(node, principal, investigation_id, data).to_json()


@router.post("/{investigation_id}/members", status_code=201)
def add_member(
    request: Request, investigation_id: str, body: MemberIn, principal: Principal = CaseWorker
) -> dict[str, Any]:
    node = get_node(request)
    view = service.add_member(node, principal, investigation_id, body.username, body.role)
    return view.to_json()


@router.post("/{investigation_id}/observations", status_code=201)
def add_event(
    request: Request, investigation_id: str, body: EventIn, principal: Principal = CaseWorker
) -> dict[str, Any]:
    """An event typed by hand: ip, port, at (with zone or offset), protocol, direction, seen,
    tolerance_s."""
    event = body.model_dump(exclude_unset=True)
    return service.observe_event(get_node(request), principal, investigation_id, event).to_json()


@router.post("/{investigation_id}/observations/import", status_code=201)
def add_import(
    request: Request, investigation_id: str, body: ImportIn, principal: Principal = CaseWorker
) -> list[dict[str, Any]]:
    views = service.observe_import(
        get_node(request), principal, investigation_id, body.text, body.format, body.label
    )
    return [v.to_json() for v in views]


@router.post("/{investigation_id}/observations/headers", status_code=201)
def add_headers(
    request: Request, investigation_id: str, body: HeadersIn, principal: Principal = CaseWorker
) -> list[dict[str, Any]]:
    views = service.observe_headers(
        get_node(request), principal, investigation_id, body.message.encode("utf-8"), body.label
    )
    return [v.to_json() for v in views]


@router.post("/{investigation_id}/observations/log-lines", status_code=201)
def add_log_lines(
    request: Request, investigation_id: str, body: LogLinesIn, principal: Principal = CaseWorker
) -> list[dict[str, Any]]:
    views = service.observe_log_lines(
        get_node(request),
        principal,
        investigation_id,
        body.lines,
        fmt=body.format,
        tz=body.tz,
        year=body.year,
        start=body.start,
        end=body.end,
        tolerance_s=body.tolerance_s,
        label=body.label,
    )
    return [v.to_json() for v in views]


@router.post("/{investigation_id}/links", status_code=201)
def add_link(
    request: Request, investigation_id: str, body: LinkIn, principal: Principal = CaseWorker
) -> dict[str, Any]:
    node = get_node(request)
    return service.link(node, principal, investigation_id, body.kind, body.id, body.note).to_json()
