"""The trace graph as CASE/UCO JSON-LD (https://caseontology.org; CASE 1.x / UCO 1.x IRIs).

The investigation; each address as an ``IPv4Address``/``IPv6Address`` observable; each hop's
connection as a ``NetworkConnection`` with its ``NetworkConnectionFacet`` (src, dst, ports,
start time, protocol); providers as ``uco-identity:Organization``; the links between them as
``uco-core:Relationship`` objects (address to operator, subscriber to address). Identifiers
are UUID v5 of the trace's own ids, so the same trace exports the same graph. Checked with
``case_validate`` (case-utils) in the tests.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_NAMESPACE = uuid.UUID("6f1c8a52-2a0e-5c8e-9a57-7472616365aa")


def _id(kind: str, *parts: Any) -> str:
    return f"kb:{kind}-{uuid.uuid5(_NAMESPACE, '|'.join(str(p) for p in parts))}"


def _time(value: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": value}


def case_bundle(graph: dict[str, Any], investigation: dict[str, Any]) -> dict[str, Any]:
    trace = graph["trace"]
    objects: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for node in graph["nodes"]:
        if node["type"] == "endpoint":
            version = ipaddress.ip_address(node["ip"]).version
            kind = "IPv4Address" if version == 4 else "IPv6Address"
            ids[node["id"]] = _id("ip-address", trace["id"], node["ip"])
            if any(o["@id"] == ids[node["id"]] for o in objects):
                continue
            objects.append(
                {
                    "@id": ids[node["id"]],
                    "@type": f"uco-observable:{kind}",
                    "uco-core:hasFacet": [
                        {
                            "@id": _id("facet", trace["id"], node["ip"]),
                            "@type": f"uco-observable:{kind}Facet",
                            "uco-observable:addressValue": node["ip"],
                        }
                    ],
                }
            )
        elif node["type"] == "provider":
            ids[node["id"]] = _id("organization", node["node_id"])
            objects.append(
                {
                    "@id": ids[node["id"]],
                    "@type": "uco-identity:Organization",
                    "uco-core:name": f"{node['organisation']} ({node['country']})",
                }
            )
        else:  # victim, subscriber: parties known by role only
            ids[node["id"]] = _id(node["type"], trace["id"], node["id"])
            objects.append(
                {
                    "@id": ids[node["id"]],
                    "@type": "uco-core:UcoObject",
                    "uco-core:name": node["type"],
                    "uco-core:description": str(
                        node.get("label") or node.get("identified_by") or node["type"]
                    ),
                }
            )
    ports = {n["id"]: n.get("port") for n in graph["nodes"]}
    for number, edge in enumerate(graph["edges"]):
        edge_id = _id("edge", trace["id"], number)
        if edge["type"] == "connection" and edge["to"].startswith("endpoint:"):
            facet: dict[str, Any] = {
                "@id": _id("connection-facet", trace["id"], number),
                "@type": "uco-observable:NetworkConnectionFacet",
                "uco-observable:src": [{"@id": ids[edge["from"]]}],
                "uco-observable:dst": [{"@id": ids[edge["to"]]}],
            }
            if edge.get("at"):
                facet["uco-observable:startTime"] = _time(edge["at"])
            if ports.get(edge["from"]) is not None:
                facet["uco-observable:sourcePort"] = ports[edge["from"]]
            if ports.get(edge["to"]) is not None:
                facet["uco-observable:destinationPort"] = ports[edge["to"]]
            if edge.get("protocol"):
                facet["uco-observable:protocols"] = {
                    "@id": _id("protocols", trace["id"], number),
                    "@type": "uco-types:ControlledDictionary",
                    "uco-types:entry": [
                        {
                            "@id": _id("protocol", trace["id"], number),
                            "@type": "uco-types:ControlledDictionaryEntry",
                            "uco-types:key": "Transport Layer",
                            "uco-types:value": str(edge["protocol"]).upper(),
                        }
                    ],
                }
            objects.append(
                {
                    "@id": edge_id,
                    "@type": "uco-observable:NetworkConnection",
                    "uco-core:description": f"hop {edge['hop']} ({edge['confidence']})",
                    "uco-core:hasFacet": [facet],
                }
            )
        elif edge["type"] == "connection":
            objects.append(
                _relationship(
                    edge_id, ids[edge["from"]], ids[edge["to"]], "Connected_To", observable=False
                )
            )
        elif edge["type"] == "operated_by":
            objects.append(
                _relationship(
                    edge_id, ids[edge["from"]], ids[edge["to"]], "Operated_By", observable=False
                )
            )
        elif edge["type"] == "session":
            objects.append(
                _relationship(
                    edge_id, ids[edge["from"]], ids[edge["to"]], "Used_Address", observable=False
                )
            )
    investigation_id = _id("investigation", investigation["id"])
    objects.insert(
        0,
        {
            "@id": investigation_id,
            "@type": "case-investigation:Investigation",
            "uco-core:name": investigation["reference"],
            "uco-core:description": investigation["title"],
            "uco-core:object": [{"@id": o["@id"]} for o in objects],
        },
    )
    return {
        "@context": CONTEXT,
        "@id": _id("bundle", trace["id"]),
        "@type": "uco-core:Bundle",
        "uco-core:name": f"trace {trace['id']}",
        "uco-core:description": trace.get("label") or "trailguard trace",
        "uco-core:object": objects,
    }


def _relationship(
    identifier: str, source: str, target: str, kind: str, *, observable: bool
) -> dict[str, Any]:
    return {
        "@id": identifier,
        "@type": "uco-observable:ObservableRelationship" if observable else "uco-core:Relationship",
        "uco-core:source": [{"@id": source}],
        "uco-core:target": [{"@id": target}],
        "uco-core:kindOfRelationship": kind,
        "uco-core:isDirectional": True,
    }
