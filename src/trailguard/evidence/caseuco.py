"""The CASE/UCO JSON-LD description of a package (``case-uco.jsonld``).

CASE 1.x / UCO 1.x vocabulary (https://caseontology.org, https://unifiedcyberontology.org;
checked with ``case_validate`` from case-utils, CASE 1.5.0): the investigation, its
authorisation (the legal basis), the files with their hashes, one provenance record per item,
an investigative action for every custody event (performer, instrument, time, result), the
tool, and the organisations with their roles. Plain Python: builds a dict.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trailguard.core.clock import isoformat_z
from trailguard.evidence.domain import BASIS_LABELS, ItemRecord

CONTEXT = {
    "kb": "urn:example:trailguard:",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-role": "https://ontology.unifiedcyberontology.org/uco/role/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


@dataclass(frozen=True)
class Organisation:
    node_id: str
    name: str
    role: str  # e.g. "issuing node", "recipient node"


@dataclass(frozen=True)
class Connection:
    """A network connection the trace found (optional in a package)."""

    source_ip: str
    source_port: int | None
    destination_ip: str
    destination_port: int | None
    start: datetime


def _id(package_id: str, kind: str, key: str) -> str:
    """A stable identifier: the same package always gives the same graph."""
    return f"kb:{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, f'{package_id}/{kind}/{key}')}"


def _time(value: datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": isoformat_z(value)}


def _ref(identifier: str) -> dict[str, str]:
    return {"@id": identifier}


def describe_package(
    *,
    package_id: str,
    reference: str,
    investigation: str | None,
    basis_kind: str,
    basis_reference: str,
    created_at: datetime,
    tool_version: str,
    organisations: Sequence[Organisation],
    items: Sequence[ItemRecord],
    connections: Sequence[Connection] = (),
    trace_bundles: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The package's graph; ``trace_bundles``: the CASE/UCO exports of the investigation's
    traces (``trailguard.trace.case_of``), whose objects (addresses, ``NetworkConnection``
    objects, providers, the relationships between them) join the graph and the
    investigation."""
    graph: list[dict[str, Any]] = []
    tool_id = _id(package_id, "tool", "trailguard")
    graph.append(
        {
            "@id": tool_id,
            "@type": "uco-tool:Tool",
            "uco-core:name": "trailguard",
            "uco-tool:version": tool_version,
        }
    )
    org_ids: dict[str, str] = {}
    for org in organisations:
        org_id = _id(package_id, "organization", org.node_id)
        role_id = _id(package_id, "role", f"{org.node_id}/{org.role}")
        org_ids[org.node_id] = org_id
        graph.append(
            {
                "@id": org_id,
                "@type": "uco-identity:Organization",
                "uco-core:name": f"{org.name} ({org.node_id})",
            }
        )
        graph.append({"@id": role_id, "@type": "uco-role:Role", "uco-core:name": org.role})
        graph.append(
            {
                "@id": _id(package_id, "relationship", f"{org.node_id}/{org.role}"),
                "@type": "uco-core:Relationship",
                "uco-core:source": _ref(org_id),
                "uco-core:target": _ref(role_id),
                "uco-core:kindOfRelationship": "Has_Role",
                "uco-core:isDirectional": True,
            }
        )
    authorization_id = _id(package_id, "authorization", basis_reference)
    graph.append(
        {
            "@id": authorization_id,
            "@type": "case-investigation:Authorization",
            "uco-core:name": BASIS_LABELS.get(basis_kind, basis_kind)  # type: ignore[call-overload]
            if basis_kind in BASIS_LABELS
            else basis_kind,
            "case-investigation:authorizationType": basis_kind,
            "case-investigation:authorizationIdentifier": [basis_reference],
        }
    )
    investigation_objects: list[dict[str, str]] = [_ref(authorization_id)]
    people: dict[str, str] = {}

    def person(name: str) -> str:
        if name not in people:
            people[name] = _id(package_id, "identity", name)
            graph.append(
                {"@id": people[name], "@type": "uco-identity:Identity", "uco-core:name": name}
            )
        return people[name]

    file_ids: list[dict[str, str]] = []
    for item in items:
        file_id = _id(package_id, "file", item.item_id)
        file_ids.append(_ref(file_id))
        hashes = [
            {
                "@id": _id(package_id, "hash", f"{item.item_id}/{method}"),
                "@type": "uco-types:Hash",
                "uco-types:hashMethod": label,
                "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value.upper()},
            }
            for method, label, value in (
                ("sha256", "SHA256", item.digests.sha256),
                ("sha512", "SHA512", item.digests.sha512),
                ("md5", "MD5", item.digests.md5),
                ("sha1", "SHA1", item.digests.sha1),
            )
            if value
        ]
        graph.append(
            {
                "@id": file_id,
                "@type": "uco-observable:File",
                "uco-core:name": item.file_name,
                "uco-core:hasFacet": [
                    {
                        "@id": _id(package_id, "file-facet", item.item_id),
                        "@type": "uco-observable:FileFacet",
                        "uco-observable:fileName": item.file_name,
                        "uco-observable:filePath": item.path,
                        "uco-observable:sizeInBytes": item.digests.size,
                    },
                    {
                        "@id": _id(package_id, "content-facet", item.item_id),
                        "@type": "uco-observable:ContentDataFacet",
                        "uco-observable:sizeInBytes": item.digests.size,
                        "uco-observable:hash": hashes,
                    },
                ],
            }
        )
        acquisition = item.acquisition
        provenance_id = _id(package_id, "provenance-record", item.item_id)
        graph.append(
            {
                "@id": provenance_id,
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": item.item_id,
                "uco-core:description": f"{item.file_name}: {item.description}".rstrip(": "),
                "uco-core:object": [_ref(file_id)],
            }
        )
        investigation_objects.append(_ref(provenance_id))
        previous_result = provenance_id
        for event in item.custody:
            action_id = _id(package_id, "investigative-action", f"{item.item_id}/{event.seq}")
            performer = person(f"{event.user} at {event.node_id}")
            action: dict[str, Any] = {
                "@id": action_id,
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": event.action.value,
                "uco-core:description": (
                    f"custody event {event.seq} of item {item.item_id}; event hash "
                    f"{event.event_hash}; signed by node {event.node_id} key {event.key_id}"
                ),
                "uco-action:startTime": _time(event.at),
                "uco-action:endTime": _time(event.at),
                "uco-action:performer": _ref(performer),
                "uco-action:instrument": _ref(tool_id),
                "uco-action:object": [_ref(previous_result)],
                "uco-action:result": [_ref(provenance_id)],
            }
            if event.seq == 1:
                action["uco-action:object"] = [_ref(authorization_id)]
                action["uco-core:description"] += (
                    f"; method: {acquisition.method}; tool: {acquisition.tool} "
                    f"{acquisition.tool_version}; host: {acquisition.host}; local time "
                    f"{acquisition.local_time}"
                )
            graph.append(action)
            investigation_objects.append(_ref(action_id))
            previous_result = provenance_id
    addresses: dict[str, str] = {}

    def address(value: str) -> str:
        if value not in addresses:
            kind = "IPv6Address" if ":" in value else "IPv4Address"
            addresses[value] = _id(package_id, kind.lower(), value)
            graph.append(
                {
                    "@id": addresses[value],
                    "@type": f"uco-observable:{kind}",
                    "uco-core:hasFacet": [
                        {
                            "@id": _id(package_id, f"{kind.lower()}-facet", value),
                            "@type": f"uco-observable:{kind}Facet",
                            "uco-observable:addressValue": value,
                        }
                    ],
                }
            )
        return addresses[value]

    for index, connection in enumerate(connections):
        facet: dict[str, Any] = {
            "@id": _id(package_id, "network-connection-facet", str(index)),
            "@type": "uco-observable:NetworkConnectionFacet",
            "uco-observable:startTime": _time(connection.start),
            "uco-observable:src": [_ref(address(connection.source_ip))],
            "uco-observable:dst": [_ref(address(connection.destination_ip))],
        }
        if connection.source_port is not None:
            facet["uco-observable:sourcePort"] = connection.source_port
        if connection.destination_port is not None:
            facet["uco-observable:destinationPort"] = connection.destination_port
        connection_id = _id(package_id, "network-connection", str(index))
        graph.append(
            {
                "@id": connection_id,
                "@type": "uco-observable:NetworkConnection",
                "uco-core:description": (
                    f"{connection.source_ip} port {connection.source_port} -> "
                    f"{connection.destination_ip} port {connection.destination_port}"
                ),
                "uco-core:hasFacet": [facet],
            }
        )
        investigation_objects.append(_ref(connection_id))
    for bundle in trace_bundles:
        for merged in trace_objects(bundle):
            if all(node["@id"] != merged["@id"] for node in graph):
                graph.append(merged)
                investigation_objects.append(_ref(merged["@id"]))
    investigation_objects.extend(file_ids)
    investigation_objects.extend(_ref(org_id) for org_id in org_ids.values())
    graph.append(
        {
            "@id": _id(package_id, "investigation", reference),
            "@type": "case-investigation:Investigation",
            "uco-core:name": reference,
            "case-investigation:investigationForm": "case",
            "uco-core:description": (
                f"evidence package {package_id}"
                + (f" for investigation {investigation}" if investigation else "")
            ),
            "uco-core:objectCreatedTime": _time(created_at),
            "uco-core:object": investigation_objects,
        }
    )
    return {"@context": CONTEXT, "@graph": graph}


def trace_objects(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a trace's CASE/UCO bundle, to merge into a package's graph: everything
    but the trace's own investigation (the package names its investigation). The bundle's
    prefixes must mean what they mean here (the same CASE/UCO namespaces); its ``kb:``
    identifiers stay unique (named from the trace's own ids)."""
    context = bundle.get("@context", {})
    for prefix, iri in context.items():
        if prefix != "kb" and CONTEXT.get(prefix, iri) != iri:
            raise ValueError(f"trace export: prefix {prefix} is {iri}, not {CONTEXT[prefix]}")
    unknown = sorted(set(context) - set(CONTEXT))
    if unknown:
        raise ValueError(f"trace export: unknown prefixes {', '.join(unknown)}")
    return [
        obj
        for obj in bundle.get("uco-core:object", [])
        if obj.get("@type") != "case-investigation:Investigation"
    ]
