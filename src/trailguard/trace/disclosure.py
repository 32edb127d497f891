"""The requested side of Art. 30: from this node's own look-up of the identifiers a
preservation request names, the expedited disclosure of "a sufficient amount of traffic data
to identify that service provider and the path through which the communication was
transmitted" (ETS 185 Art. 30(1)) and the third-country notice (Explanatory Report §290),
prepared from the stored records, not typed by hand.

Two legs, as the Convention has them (the custodian answers its point of contact; the
requested Party discloses to the requesting Party):

- ``send_disclosure`` (the custodian's node, e.g. a provider that received a forwarded
  request): prepares the body from its own flow records and sends it to the point of contact
  that forwarded the request, as a typed ``trace.disclosure`` exchange message; once per
  request.
- ``handle_disclosure`` (the point of contact's inbox, declared in ``capability.py``): checks
  that the message answers a request it forwarded to that sender, and drafts, in the inbox
  transaction, the Art. 30 disclosure request to the requesting Party through the requests
  face (the on-duty person as contact). A duty officer approves and sends it (four eyes: the
  draft is the custodian's, the approval a person's); the requesting side's trace advances
  when it arrives (``trace.service.answers``).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import trailguard.requests as requests_face
from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.network import ReceivedMessage, find_entry, send_message
from trailguard.node import Node
from trailguard.requests import disclosure_draft_from_preservation
from trailguard.trace.attribution import attribute_on_node
from trailguard.trace.orm import DisclosureRow
from trailguard.traffic import flows, store_for

DISCLOSURE_MESSAGE = "trace.disclosure"
DISCLOSURE_DRAFTER = "trace:disclosure"
SENDERS = (Role.PROVIDER_LIAISON, Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY)


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
    answer["body"] = disclosure_draft_from_preservation(
        body,
        date_issued=now.date(),
        confirmation_contact=body["confirmation_contact"],
        provider=provider["organisation"],
        provider_country=provider["country"],
        provider_prefix=provider["prefix"],
        path=[path_step],
        traffic_data=[
            f"{rec['start']} {found['source']['ip']}:{found['source']['port']} -> "
            f"{endpoint_text(path_step['destination'])} {rec['protocol'] or ''}, "
            f"{rec['source_file']} line {rec['source_line']}"
        ],
        came_from=(
            f"{found['source']['ip']} port {found['source']['port']} at "
            f"{found['source']['timestamp']}"
        ),
    )
    return answer


def endpoint_text(endpoint: dict[str, Any]) -> str:
    return f"{endpoint['ip']}:{endpoint.get('port')}"


# --- the custodian sends what its look-up found ----------------------------------------------


def send_disclosure(
    node: Node, principal: Principal, request_id: str, *, window_s: int = 900
) -> dict[str, Any]:
    """Prepare the Art. 30 body from this node's own records and send it, with the
    third-country notice, to the point of contact that forwarded the request (a typed
    ``trace.disclosure`` message). Refused when the look-up does not decide one path (the
    candidates are answered, none is picked) or when it was sent already."""
    if not principal.has_any(*SENDERS):
        roles = ", ".join(role.value for role in SENDERS)
        raise PermissionDenied(f"sending a disclosure needs one of the roles {roles}")
    with node.db.session() as session:
        if _disclosure(session, request_id, "sent") is not None:
            raise Conflict(f"the Art. 30 disclosure for request {request_id} was sent already")
    prepared = prepare_disclosure(node, principal, request_id, window_s=window_s)
    body = prepared["body"]
    if body is None:
        raise ValidationFailed(
            f"nothing to disclose: {prepared.get('reason')}",
            [json.dumps(c["source"], sort_keys=True) for c in prepared["candidates"][:8]],
        )
    view = requests_face.get_request(node, request_id)
    recipient = view.counterpart_node
    if recipient is None:
        raise ValidationFailed(f"request {request_id} names no node to answer")
    now = node.clock.now()
    with node.db.session() as session:
        sent = send_message(
            session,
            node,
            recipient=recipient,
            message_type=DISCLOSURE_MESSAGE,
            payload={"request_id": request_id, "body": body, "prepared_by": principal.actor},
            actor=principal.actor,
            correlation_id=request_id,
        )
        session.add(
            DisclosureRow(
                id=str(uuid.uuid4()),
                request_id=request_id,
                side="sent",
                counterpart=recipient,
                body=json.dumps(body, sort_keys=True),
                message_id=sent.message_id,
                drafted_request_id=None,
                actor=principal.actor,
                at=now,
            )
        )
        record(
            session,
            actor=principal.actor,
            action="trace.disclosure_sent",
            subject=f"request:{request_id}",
            details={
                "to": recipient,
                "message_id": sent.message_id,
                "reference": body["reference"],
                "provider": body["provider_in_other_state"]["name"],
            },
            at=now,
        )
    return {**prepared, "sent_to": recipient, "message_id": sent.message_id}


def _disclosure(session: Session, request_id: str, side: str) -> DisclosureRow | None:
    return session.execute(
        select(DisclosureRow).where(
            DisclosureRow.request_id == request_id, DisclosureRow.side == side
        )
    ).scalar_one_or_none()


# --- the point of contact drafts the disclosure to the requesting Party ----------------------


def handle_disclosure(session: Session, node: Node, message: ReceivedMessage) -> None:
    """``trace.disclosure``: the custodian's answer to a request this node forwarded to it.
    Refused (``ValidationFailed``: the message is rejected, nothing stored) when it answers
    no request forwarded to that sender; the same request answered twice drafts once."""
    payload = message.payload
    request_id = payload.get("request_id")
    body = payload.get("body")
    if not isinstance(request_id, str) or not isinstance(body, dict):
        raise ValidationFailed("trace.disclosure needs request_id and body", ["payload"])
    with node.db.joined(session):
        if _disclosure(session, request_id, "received") is not None:
            return  # answered already: the first disclosure stands
        try:
            copy = requests_face.get_request(node, request_id)
        except NotFound as exc:
            raise ValidationFailed(f"no request {request_id!r} here", ["request_id"]) from exc
        if copy.direction != "outbound" or copy.counterpart_node != message.sender:
            raise ValidationFailed(
                f"request {request_id} was not forwarded to {message.sender}", ["request_id"]
            )
        if copy.parent_id is None:
            raise ValidationFailed(f"request {request_id} is not a forwarded copy", ["request_id"])
        original = requests_face.get_request(node, copy.parent_id)
        if body.get("in_response_to") != original.reference:
            raise ValidationFailed(
                f"the disclosure answers {body.get('in_response_to')!r}, not {original.reference}",
                ["body.in_response_to"],
            )
        now = node.clock.now()
        draft = requests_face.draft_request(
            node,
            _drafter(message.sender),
            {**body, "confirmation_contact": _on_duty_contact(session, node, now)},
            recipient=original.counterpart_node,
        )
        session.add(
            DisclosureRow(
                id=str(uuid.uuid4()),
                request_id=request_id,
                side="received",
                counterpart=message.sender,
                body=json.dumps(body, sort_keys=True),
                message_id=message.message_id,
                drafted_request_id=draft.id,
                actor=f"node:{message.sender}",
                at=now,
            )
        )
        record(
            session,
            actor=f"node:{message.sender}",
            action="trace.disclosure_received",
            subject=f"request:{original.id}",
            details={
                "forwarded_copy": request_id,
                "drafted": draft.id,
                "to": original.counterpart_node,
                "message_id": message.message_id,
            },
            at=now,
        )


def _drafter(sender: str) -> Principal:
    """The disclosure request is drafted from the custodian's answer, not by a person here:
    a person approves it (four eyes)."""
    return Principal(
        user_id=0,
        username=f"{DISCLOSURE_DRAFTER}:{sender}",
        display_name=f"Art. 30 disclosure prepared by {sender}",
        roles=frozenset({Role.INVESTIGATOR}),
    )


def _on_duty_contact(session: Session, node: Node, now: datetime) -> dict[str, str]:
    """This point of contact's contact for confirmation: the person on duty now, from its own
    directory entry (the shift's phone and e-mail, else the node's channels)."""
    entry = find_entry(session, node.config.node_id)
    if entry is None:
        raise ValidationFailed("this node has no entry in its own directory: no contact to name")
    shift = entry.on_duty(now).contact
    return {
        "name": shift.person if shift else entry.organisation,
        "phone": ((shift.phone if shift else None) or entry.channels.phone or "").replace(" ", ""),
        "email": (shift.email if shift else None) or entry.channels.email or "",
    }


def disclosures_received(node: Node, request_id: str | None = None) -> list[dict[str, Any]]:
    """The disclosures this point of contact received (for one forwarded request when
    ``request_id`` is given), each with the disclosure request it drafted."""
    query = select(DisclosureRow).where(DisclosureRow.side == "received")
    if request_id is not None:
        query = query.where(DisclosureRow.request_id == request_id)
    with node.db.session() as session:
        rows = session.execute(query.order_by(DisclosureRow.at)).scalars()
        return [
            {
                "request_id": r.request_id,
                "from": r.counterpart,
                "drafted_request_id": r.drafted_request_id,
                "at": isoformat_z(r.at),
                "body": json.loads(r.body),
            }
            for r in rows
        ]
