"""The requested side of Art. 30: from this node's own look-up of the identifiers a
preservation request names, the expedited disclosure of "a sufficient amount of traffic data
to identify that service provider and the path through which the communication was
transmitted" (ETS 185 Art. 30(1)) and the third-country notice (Explanatory Report §290),
prepared from the stored records, not typed by hand. Nothing is sent here: the body is a
draft for the requests capability (and its four eyes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.node import Node


def _destination_port(store: Any, rec: Any) -> int | None:
    """The destination port of one stored flow record (the face's records omit it)."""
    filters = [[("public_ip", "=", rec.public_ip), ("source_line", "=", rec.source_line)]]
    for part in store.parts({rec.kind}):
        for row in store.read_part(
            part, columns=["dst_port", "source_file"], filters=filters
        ).to_pylist():
            if row["source_file"] == rec.source_file:
                return int(row["dst_port"]) if row["dst_port"] is not None else None
    return None


def prepare_disclosure(
    node: Node, principal: Principal, request_id: str, *, window_s: int = 900
) -> dict[str, Any]:
    """Look up, in this node's own store, the connections into each preserved endpoint around
    its time; attribute every source; answer the Art. 30 body (when the path leaves for
    another country) and every candidate (several are shown, none is picked)."""
    import trailguard.requests as requests_face
    from trailguard.trace import attribute_on_node
    from trailguard.traffic import flows, store_for

    view = requests_face.get_request(node, request_id)
    if view.kind.value != "preservation":
        raise ValidationFailed(f"request {request_id} is a {view.kind.value}, not a preservation")
    if view.direction != "inbound":
        raise Conflict(f"request {request_id} was drafted here; the requested side discloses")
    body = view.request.model_dump(mode="json")
    store = store_for(node)
    window = timedelta(seconds=window_s)
    candidates: list[dict[str, Any]] = []
    for endpoint in body["data_to_preserve"]:
        if endpoint.get("type") != "ip_endpoint":
            continue
        at = datetime.fromisoformat(endpoint["timestamp"])
        for rec in flows(node, principal, endpoint["ip"], at - window, at + window, kinds=["flow"]):
            if rec.public_ip in (None, endpoint["ip"]):
                continue  # the endpoint's own outgoing connections are not where it came from
            end = rec.end or rec.start
            if not rec.start <= at <= end:
                continue  # a session into the endpoint that was not open at that moment
            who = attribute_on_node(node, rec.public_ip, rec.start).to_json()
            candidates.append(
                {
                    "source": {
                        "type": "ip_endpoint",
                        "ip": rec.public_ip,
                        "port": rec.public_port,
                        "timestamp": isoformat_z(rec.start),
                        "protocol": rec.protocol or "tcp",
                    },
                    "destination": {
                        "type": "ip_endpoint",
                        "ip": endpoint["ip"],
                        "port": _destination_port(store, rec),
                        "timestamp": isoformat_z(rec.start),
                        "protocol": rec.protocol or "tcp",
                    },
                    "record": rec.to_json(),
                    "provider": who["provider"],
                    "special": who["special"],
                }
            )
    now = node.clock.now()
    with node.db.session() as session:
        record(
            session,
            actor=principal.actor,
            action="trace.disclosure_prepared",
            subject=f"request:{request_id}",
            details={"candidates": len(candidates), "window_s": window_s},
            at=now,
        )
    answer: dict[str, Any] = {"request_id": request_id, "candidates": candidates, "body": None}
    if len(candidates) != 1:
        answer["reason"] = (
            "no connection into the endpoint was open at that time"
            if not candidates
            else f"{len(candidates)} connections were open at that time: each is shown, none is "
            "picked; narrow the time or give the destination port"
        )
        return answer
    found = candidates[0]
    provider = found["provider"]
    if provider is None:
        answer["reason"] = f"no provider in the directory serves {found['source']['ip']}"
        return answer
    rec = found["record"]
    path_step = {
        "source": found["source"],
        "destination": {k: v for k, v in found["destination"].items() if v is not None},
        "observed_by": f"{node.config.name}: {rec['source_file']} line {rec['source_line']} "
        f"(SHA-256 {rec['source_sha256'][:16]}...)",
    }
    if path_step["destination"].get("port") is None:
        answer["reason"] = "the stored record has no destination port"
        return answer
    answer["body"] = {
        "kind": "expedited_disclosure",
        "reference": f"{body['reference']}-A30",
        "date_issued": now.date().isoformat(),
        "requesting_party": body["requesting_party"],
        "requested_party": body["requested_party"],
        "requesting_authority": body["requesting_authority"],
        "requested_authority": body["requested_authority"],
        "confirmation_contact": body["confirmation_contact"],
        "in_response_to": body["reference"],
        "provider_in_other_state": {
            "name": provider["organisation"],
            "country": provider["country"],
            "identifiers": [provider["prefix"]],
        },
        "path": [path_step],
        "traffic_data": [
            f"{rec['start']} {found['source']['ip']}:{found['source']['port']} -> "
            f"{endpoint_text(path_step['destination'])} {rec['protocol'] or ''}, "
            f"{rec['source_file']} line {rec['source_line']}"
        ],
        "third_country_notice": (
            f"The communication came from {provider['organisation']} in {provider['country']} "
            f"({found['source']['ip']} port {found['source']['port']} at "
            f"{found['source']['timestamp']}); send a preservation request to "
            f"{provider['country']}."
            if provider["country"] != body["requesting_party"]
            else f"The path leads back into {provider['country']}: its domestic process applies."
        ),
    }
    return answer


def endpoint_text(endpoint: dict[str, Any]) -> str:
    return f"{endpoint['ip']}:{endpoint.get('port')}"
