"""investigations: JSON API (under /api/investigations). Thin: every route calls the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from trailguard.accounts import Principal
from trailguard.investigations import service
from trailguard.web.deps import get_node, require_roles

router = APIRouter(prefix="/investigations", tags=["investigations"])
CaseWorker = Depends(require_roles(*service.CASE_ROLES))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberIn(_In):
    username: str
    role: str = "member"


class ImportIn(_In):
    format: str = Field(description="csv or json")
    text: str
    label: str = ""


class HeadersIn(_In):
    message: str = Field(description="The message source (headers at least).")
    label: str = ""


class LogLinesIn(_In):
    lines: str
    format: str | None = Field(None, description="A traffic parser name; detected if omitted.")
    tz: str | None = None
    year: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    tolerance_s: float | None = None
    label: str = ""


class LinkIn(_In):
    kind: str = Field(description="request or hold")
    id: str
    note: str = ""


@router.get("")
def list_cases(request: Request, principal: Principal = CaseWorker) -> list[dict[str, Any]]:
    return [v.to_json() for v in service.list_investigations(get_node(request), principal)]


@router.post("", status_code=201)
def create(
    request: Request, body: dict[str, Any], principal: Principal = CaseWorker
) -> dict[str, Any]:
    return service.create_investigation(get_node(request), principal, body).to_json()


@router.get("/{investigation_id}")
def show(request: Request, investigation_id: str, principal: Principal = CaseWorker) -> Any:
    return service.get_investigation(get_node(request), principal, investigation_id).to_json()


@router.patch("/{investigation_id}")
def change(
    request: Request, investigation_id: str, body: dict[str, Any], principal: Principal = CaseWorker
) -> dict[str, Any]:
    node = get_node(request)
    return service.update_investigation(node, principal, investigation_id, body).to_json()


@router.post("/{investigation_id}/members", status_code=201)
def add_member(
    request: Request, investigation_id: str, body: MemberIn, principal: Principal = CaseWorker
) -> dict[str, Any]:
    node = get_node(request)
    view = service.add_member(node, principal, investigation_id, body.username, body.role)
    return view.to_json()


@router.post("/{investigation_id}/observations", status_code=201)
def add_event(
    request: Request, investigation_id: str, body: dict[str, Any], principal: Principal = CaseWorker
) -> dict[str, Any]:
    """An event typed by hand: ip, port, at (with zone or offset), protocol, direction, seen,
    tolerance_s."""
    return service.observe_event(get_node(request), principal, investigation_id, body).to_json()


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
