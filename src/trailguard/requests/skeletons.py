"""Blank drafts for the drafting form: every field of a request kind, pre-filled with what the
node knows (date, its country, its office's name and time zone), the rest left empty so that
the inline validation names what is still missing."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from trailguard.node import Node
from trailguard.requests.domain.common import Authority, Contact, IpEndpoint, RequestKind
from trailguard.requests.domain.types import REQUEST_TYPES

_SKIP = {"kind", "legal_basis", "confidentiality", "handling", "notes"}


def _blank_model(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: ("" if info.is_required() else info.get_default(call_default_factory=True))
        for name, info in model.model_fields.items()
        if name != "type"
    }


def _blank(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return False
    if origin is list:
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _blank_model(annotation)
    return ""


def skeleton(kind: RequestKind, node: Node) -> dict[str, Any]:
    model = REQUEST_TYPES[kind]
    body: dict[str, Any] = {"kind": kind.value}
    for name, info in model.model_fields.items():
        if name in _SKIP:
            continue
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            body[name] = default.value if hasattr(default, "value") else default
            continue
        body[name] = _blank(info.annotation)
    body["date_issued"] = node.clock.now().date().isoformat()
    body["requesting_party"] = node.config.country
    authority = _blank_model(Authority)
    authority.update(
        organisation=node.config.name,
        time_zone=node.config.timezone,
        office_hours="24/7",
        preferred_channel="trailguard",
    )
    body["requesting_authority"] = authority
    body["confirmation_contact"] = _blank_model(Contact)
    if "data_to_preserve" in body:
        endpoint = {"type": "ip_endpoint", **_blank_model(IpEndpoint)}
        endpoint.update(protocol="tcp", port=None)
        body["data_to_preserve"] = [endpoint]
    body["handling"] = {"code": "H0", "tlp": "TLP:AMBER", "onward_sharing_permitted": False}
    return body
