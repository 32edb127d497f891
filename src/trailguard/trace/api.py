"""trace: JSON API (``/api/traces`` and ``/api/trace``). Thin: every route calls a service."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal, Role
from trailguard.core.apitypes import (
    MESSAGE_PATTERN,
    Flag,
    Instant,
    IpAddress,
    NonBlank,
    NotBool,
    OneOf,
)
from trailguard.trace import attribute_on_node, disclosure, read_message, service
from trailguard.trace.pictures import graph_svg as draw
from trailguard.trace.rdap import RdapFailed
from trailguard.web.deps import ANY_ROLE, get_node, require_roles

router = APIRouter(tags=["trace"])
Tracer = Depends(require_roles(*service.TRACE_ROLES))
AnyUser = Depends(require_roles(*ANY_ROLE))
Disclosing = Depends(
    require_roles(Role.PROVIDER_LIAISON, Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartIn(_In):
    investigation_id: str
    observation_id: str
    template: dict[str, Any] = Field(default_factory=dict)
    auto_send: Flag = Field(False, description="Recorded policy: send without a second person.")
    label: str | None = None
    adopt_request: str | None = Field(
        None, description="A preservation request already sent for the first hop."
    )


class AnswerIn(_In):
    kind: Annotated[str, OneOf(service.ANSWER_KINDS, "answer kind")]
    key: NonBlank = Field(description="The message, letter or call the answer came in (once only).")
    details: dict[str, Any] = Field(default_factory=dict)


class CustodianIn(_In):
    retention_days: dict[str, Annotated[int, Field(ge=0, le=36_600), NotBool]] = Field(
        min_length=1, description="Days kept per data kind (0-36600), at least one kind"
    )
    source: NonBlank


class HeadersIn(_In):
    message: str = Field(
        pattern=MESSAGE_PATTERN,
        description="An RFC 5322 message (header fields at least, starting with one; no NUL)",
    )


class PrepareIn(_In):
    request_id: str
    window_s: Annotated[int, NotBool] = Field(900, ge=1, le=86_400)


@router.post("/traces", status_code=201)
def start(request: Request, body: StartIn, principal: Principal = Tracer) -> dict[str, Any]:
    view = service.start_trace(
        get_node(request),
        principal,
        body.investigation_id,
        body.observation_id,
        template=body.template,
        auto_send=body.auto_send,
        label=body.label,
        adopt_request=body.adopt_request,
    )
    return view.to_json()


@router.get("/traces")
def open_traces(request: Request, principal: Principal = Tracer) -> list[dict[str, Any]]:
    """Open traces of the investigations you are on, nearest death first."""
    return [v.to_json() for v in service.open_traces(get_node(request), principal)]


@router.get("/traces/{trace_id}")
def show(request: Request, trace_id: str, principal: Principal = Tracer) -> dict[str, Any]:
    return service.get_trace(get_node(request), principal, trace_id).to_json()


@router.post("/traces/{trace_id}/sync")
def sync(request: Request, trace_id: str, principal: Principal = Tracer) -> dict[str, Any]:
    return service.sync_trace(get_node(request), principal, trace_id).to_json()


@router.post("/traces/{trace_id}/hops/{hop_id}/answers", status_code=201)
def answer(
    request: Request, trace_id: str, hop_id: str, body: AnswerIn, principal: Principal = Tracer
) -> dict[str, Any]:
    node = get_node(request)
    view = service.record_answer(
        node, principal, trace_id, hop_id, body.kind, body.details, key=body.key
    )
    return view.to_json()


@router.get("/traces/{trace_id}/graph")
def graph(request: Request, trace_id: str, principal: Principal = Tracer) -> dict[str, Any]:
    """The trace graph, format ``trailguard.trace-graph.v1`` (see ARCHITECTURE.md)."""
    return service.graph_of(get_node(request), principal, trace_id)


@router.get("/traces/{trace_id}/graph.svg")
def graph_svg(request: Request, trace_id: str, principal: Principal = Tracer) -> Response:
    svg = draw(service.graph_of(get_node(request), principal, trace_id))
    return Response(svg, media_type="image/svg+xml")


@router.get("/traces/{trace_id}/case")
def case(request: Request, trace_id: str, principal: Principal = Tracer) -> Response:
    """The trace as CASE/UCO JSON-LD."""
    bundle = service.case_of(get_node(request), principal, trace_id)
    return Response(json.dumps(bundle, indent=1), media_type="application/ld+json")


@router.put("/trace/custodians/{node_id}")
def custodian(
    request: Request, node_id: str, body: CustodianIn, principal: Principal = Tracer
) -> dict[str, Any]:
    kept = service.set_custodian(
        get_node(request), principal, node_id, body.retention_days, body.source
    )
    return {"node_id": kept.node_id, "retention_days": kept.retention_days, "source": kept.source}


@router.get("/trace/attribute")
def attribute(
    request: Request,
    ip: Annotated[IpAddress, Query()],
    at: Instant | None = Query(None),
    rdap: bool = Query(False, description="Also ask RDAP (off by default; audited)."),
    principal: Principal = AnyUser,
) -> dict[str, Any]:
    node = get_node(request)
    try:
        return attribute_on_node(node, ip, at, rdap=rdap, actor=principal.actor).to_json()
    except RdapFailed as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from exc


@router.post("/trace/headers")
def headers(body: HeadersIn, _principal: Principal = AnyUser) -> dict[str, Any]:
    return {"hops": [hop.to_json() for hop in read_message(body.message.encode("utf-8"))]}


@router.post("/trace/disclosures/prepare")
def prepare(request: Request, body: PrepareIn, principal: Principal = Disclosing) -> Any:
    """The requested side: the Art. 30 disclosure and third-country notice, prepared from this
    node's own look-up of the preserved identifiers (not typed by hand)."""
    return disclosure.prepare_disclosure(
        get_node(request), principal, body.request_id, window_s=body.window_s
    )


@router.post("/trace/disclosures/send")
def send(request: Request, body: PrepareIn, principal: Principal = Disclosing) -> Any:
    """The custodian: prepare the Art. 30 disclosure from this node's own look-up and send it,
    with the third-country notice, to the point of contact that forwarded the request, which
    drafts the disclosure to the requesting Party (409 when sent already; 422 when the
    look-up does not decide one path)."""
    return disclosure.send_disclosure(
        get_node(request), principal, body.request_id, window_s=body.window_s
    )


@router.get("/trace/disclosures")
def received(
    request: Request,
    request_id: str | None = Query(None, description="The request forwarded to the custodian."),
    _principal: Principal = Disclosing,
) -> list[dict[str, Any]]:
    """The point of contact: the custodians' disclosures received, each with the Art. 30
    disclosure request drafted from it (awaiting four eyes)."""
    return disclosure.disclosures_received(get_node(request), request_id)
