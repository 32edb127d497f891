"""Deciding hops: custodians' declared retention, deciding one hop (dead
end, own look-up, or a preservation request drafted through the requests face with the law
engine's channel and the pre-send checks), adopting a request already sent, refining a hop."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import trailguard.requests as requests_face
from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.investigations import case_reference, parse_instant
from trailguard.law import get_engine
from trailguard.network import find_entry, list_entries
from trailguard.node import Node
from trailguard.trace.attribution import attribute_on_node
from trailguard.trace.domain.hops import (
    Check,
    Custodian,
    HopFacts,
    HopState,
    TraceState,
    blocking,
    dies_at,
    presend_checks,
    same_hop,
)
from trailguard.trace.orm import CustodianRow, HopRow, TraceRow
from trailguard.trace.service.common import (
    TEMPLATE_FIELDS,
    end,
    hop_row,
    hops_of,
    member_of_trace,
    policy_principal,
    refresh_trace_clock,
    require_role,
    trace_row,
)
from trailguard.trace.service.views import TraceView, get_trace, hop_json
from trailguard.traffic import lookup, require_hold_role

# --- custodians -----------------------------------------------------------------------------


def set_custodian(
    node: Node, principal: Principal, node_id: str, retention_days: dict[str, int], source: str
) -> Custodian:
    """Record what a provider keeps and for how long (from its published policy or answer)."""
    require_role(principal)
    problems = [
        f"retention_days.{kind}: {days!r}"
        for kind, days in retention_days.items()
        if not isinstance(days, int) or not 0 <= days <= 36_600
    ]
    if problems or not retention_days:
        raise ValidationFailed("retention is a number of days (0-36600) per data kind", problems)
    if not source.strip():
        raise ValidationFailed("say where the retention comes from (source)", ["source"])
    for attempt in (1, 2):
        try:
            _write_custodian(node, principal, node_id, retention_days, source.strip())
            break
        except IntegrityError:
            # two people recorded the same custodian at once: the second write updates
            if attempt == 2:
                raise
    return Custodian(node_id, dict(retention_days), source.strip())


def _write_custodian(
    node: Node, principal: Principal, node_id: str, retention_days: dict[str, int], source: str
) -> None:
    now = node.clock.now()
    with node.db.session() as session:
        if find_entry(session, node_id) is None:
            raise NotFound(f"{node_id!r} is not in this node's directory")
        row = session.get(CustodianRow, node_id) or CustodianRow(node_id=node_id)
        row.retention_days = json.dumps(retention_days, sort_keys=True)
        row.source = source
        row.recorded_by = principal.actor
        row.recorded_at = now
        session.add(row)
        record(
            session,
            actor=principal.actor,
            action="trace.custodian_recorded",
            subject=f"custodian:{node_id}",
            details={"retention_days": retention_days, "source": source},
            at=now,
        )


def _custodian(session: Session, node_id: str | None) -> Custodian | None:
    if node_id is None:
        return None
    row = session.get(CustodianRow, node_id)
    if row is None:
        return None
    return Custodian(node_id, json.loads(row.retention_days), row.source)


# --- deciding a hop -------------------------------------------------------------------------------


def _poc_for(session: Session, country: str, now: datetime) -> Any:
    entries = [e for e in list_entries(session) if e.country == country and e.kind.value == "poc"]
    entries.sort(key=lambda e: (e.on_duty(now).contact is None, e.node_id))
    return entries[0] if entries else None


def _channel(node: Node, requested: str, when: datetime) -> dict[str, Any] | None:
    answer = get_engine().channels(node.config.country, requested, "traffic", False, when.date())
    for channel in answer.channels:
        if channel.id.startswith("preservation"):
            return channel.to_dict()
    return None


def _special_check(attribution: Any) -> str:
    return json.dumps(
        [
            {
                "level": "error",
                "code": attribution.special or "special",
                "message": attribution.meaning or "",
            }
        ]
    )


def decide(
    node: Node, principal: Principal, trace_id: str, hop_id: str, *, adopt: str | None = None
) -> None:
    """Decide one open hop: dead end, own look-up, or a drafted preservation request. Runs in
    the caller's transaction when called inside ``node.db.joined`` (an answer arriving)."""
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        ip, port, at = hop.ip, hop.port, hop.at
    attribution = attribute_on_node(node, ip, at)
    now = node.clock.now()
    draft_args: dict[str, Any] | None = None
    with node.db.session() as session:
        trace = trace_row(session, trace_id)
        hop = hop_row(session, trace, hop_id)
        hop.attribution = json.dumps(attribution.to_json())
        hop.updated_at = now
        earlier = [h for h in hops_of(session, trace.id) if h.seq < hop.seq]
        provider = attribution.provider
        if not attribution.traced_as_public:
            hop.checks = _special_check(attribution)
            end(session, trace, hop, "special_address", now)
        elif any(same_hop((h.ip, h.port), (ip, port)) for h in earlier):
            end(session, trace, hop, "loop", now)
        elif provider is None:
            hop.checks = json.dumps(
                [
                    {
                        "level": "error",
                        "code": "unserved",
                        "message": f"no provider in the directory serves {ip}",
                    }
                ]
            )
            end(session, trace, hop, "unserved", now)
        elif provider.node_id == node.config.node_id:
            hop.next_action = "look up in this node's own traffic store"
            draft_args = {"own": True}
        elif provider.country == node.config.country:
            hop.state = HopState.OPEN.value
            hop.next_action = (
                f"the trail comes home: {provider.organisation} is in {provider.country}; "
                "ask it under national law (a domestic step, no international request)"
            )
            hop.recipient_node = provider.node_id
        else:
            draft_args = _abroad(node, session, trace, hop, attribution, now)
        refresh_trace_clock(session, trace)
        record(
            session,
            actor=principal.actor,
            action="trace.hop_decided",
            subject=f"trace:{trace.id}",
            details={"hop": hop.seq, "ip": ip, "state": hop.state, "reason": hop.end_reason},
            at=now,
        )
    if draft_args is None:
        return
    if draft_args["own"]:
        _own_lookup(node, principal, trace_id, hop_id)
    elif adopt is not None:
        _adopt_request(node, principal, trace_id, hop_id, adopt)
    else:
        _draft_request(node, principal, trace_id, hop_id, draft_args)


def _abroad(
    node: Node, session: Session, trace: TraceRow, hop: HopRow, attribution: Any, now: datetime
) -> dict[str, Any] | None:
    """Another country holds the data: its channel, the custodian's retention and the
    pre-send checks; the arguments of the draft when nothing blocks it."""
    provider = attribution.provider
    custodian = _custodian(session, provider.node_id)
    channel = _channel(node, provider.country, now)
    kinds = custodian.kinds_needed() if custodian else ["flow"]
    hop.data_kinds = json.dumps(kinds)
    hop.dies_at = dies_at(hop.at, custodian, kinds)
    if channel is None:
        end(session, trace, hop, "no_lawful_channel", now)
        return None
    hop.channel = json.dumps(channel)
    poc = _poc_for(session, provider.country, now)
    checks = presend_checks(
        HopFacts(
            ip=hop.ip,
            port=hop.port,
            at=hop.at,
            tolerance_s=hop.tolerance_s,
            special=attribution.special,
            provider_node=provider.node_id,
            provider_country=provider.country,
            recipient_country=poc.country if poc else provider.country,
            data_kinds=kinds,
        ),
        custodian,
        now,
    )
    if poc is None:
        checks.append(
            Check(
                "error",
                "no_point_of_contact",
                f"the directory has no 24/7 point of contact for {provider.country}",
            )
        )
    hop.checks = json.dumps([c.to_json() for c in checks])
    if any(c.code == "retention_over" for c in checks):
        end(session, trace, hop, "retention_over", now)
        return None
    if blocking(checks):
        hop.next_action = "fix before drafting: " + "; ".join(
            c.message for c in checks if c.level == "error"
        )
        return None
    hop.recipient_node = poc.node_id
    return {
        "own": False,
        "provider": provider,
        "custodian": custodian,
        "kinds": kinds,
        "poc": poc,
        "channel": channel,
        "template": json.loads(trace.template),
        "reference": _hop_reference(node, session, trace, hop),
    }


def _hop_reference(node: Node, session: Session, trace: TraceRow, hop: HopRow) -> str:
    """The hop's request reference, unique on this node: ``<case>-H<seq>`` for the case's
    first trace, ``<case>-T<n>-H<seq>`` for its n-th (an answer names the reference it
    answers). Two traces started at the same instant (a clock that does not move, as in an
    exercise) would count alike: the later one takes the next number still free."""
    earlier = session.execute(
        select(func.count())
        .select_from(TraceRow)
        .where(
            TraceRow.investigation_id == trace.investigation_id,
            TraceRow.created_at < trace.created_at,
        )
    ).scalar_one()
    case = case_reference(node, trace.investigation_id)
    while True:
        reference = f"{case}-H{hop.seq}" if not earlier else f"{case}-T{earlier + 1}-H{hop.seq}"
        taken = session.execute(
            select(func.count())
            .select_from(HopRow)
            .where(HopRow.request_reference == reference, HopRow.trace_id != trace.id)
        ).scalar_one()
        if not taken:
            return reference
        earlier += 1


def check_adoptable(node: Node, request_id: str, ip: str) -> Any:
    """Refused before anything is written: the request must be this node's own preservation
    request naming the hop's address."""
    view = requests_face.get_request(node, request_id)
    body = view.request.model_dump(mode="json")
    named = [d.get("ip") for d in body.get("data_to_preserve", [])]
    if view.kind.value != "preservation" or view.direction != "outbound":
        raise ValidationFailed(f"request {request_id} is not an outbound preservation request")
    if ip not in named:
        names = ", ".join(map(str, named))
        raise ValidationFailed(f"request {view.reference} does not name {ip} ({names})")
    return view


def _adopt_request(
    node: Node, principal: Principal, trace_id: str, hop_id: str, request_id: str
) -> None:
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        ip = hop.ip
    view = check_adoptable(node, request_id, ip)
    body = view.request.model_dump(mode="json")
    with node.db.session() as session:
        trace = trace_row(session, trace_id)
        hop = hop_row(session, trace, hop_id)
        hop.request_id = view.id
        hop.request_reference = view.reference
        hop.recipient_node = view.counterpart_node
        hop.data_kinds = json.dumps(body.get("data_kinds") or json.loads(hop.data_kinds))
        hop.state = HopState.DRAFTED.value if view.state.value == "draft" else HopState.SENT.value
        hop.next_action = "await the acknowledgement and the preservation"
        record(
            session,
            actor=principal.actor,
            action="trace.request_adopted",
            subject=f"trace:{trace.id}",
            details={"hop": hop.seq, "request": view.id},
            at=node.clock.now(),
        )


def _own_lookup(node: Node, principal: Principal, trace_id: str, hop_id: str) -> None:
    """This node holds the data: an audited look-up through the traffic capability's face."""
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        ip, port, at, tolerance = hop.ip, hop.port, hop.at, hop.tolerance_s
    now = node.clock.now()
    try:
        require_hold_role(principal)
    except PermissionDenied:
        # the traffic store answers only its liaison team: the hop waits for them, visibly
        with node.db.session() as session:
            hop = session.get(HopRow, hop_id)
            assert hop is not None
            hop.next_action = (
                "the data is in this node's own traffic store: a provider liaison (or admin) "
                "opens this trace to look it up"
            )
            hop.updated_at = now
        return None
    candidates: list[dict[str, Any]] = []
    if at is not None:
        answer = lookup(
            node, principal, ip, port, at, timedelta(seconds=tolerance), reference=trace_id
        )
        for match in answer.matches:
            candidates.append(
                {
                    "subscriber": getattr(match, "subscriber", None),
                    "inside_ip": getattr(match, "inside_ip", None),
                    "score": getattr(match, "score", None),
                }
            )
    with node.db.session() as session:
        trace = trace_row(session, trace_id)
        hop = hop_row(session, trace, hop_id)
        hop.candidates = json.dumps(candidates, default=str)
        hop.updated_at = now
        subscribers = {c["subscriber"] for c in candidates if c["subscriber"]}
        if at is None:
            hop.next_action = "give the time with its zone: the look-up needs it"
        elif not candidates:
            end(session, trace, hop, "no_data", now)
        elif len({(c["inside_ip"], c["subscriber"]) for c in candidates}) > 1:
            hop.state = HopState.AMBIGUOUS.value
            hop.next_action = (
                f"{len(candidates)} candidates: give the source port or an exact time to decide "
                "(none is picked)"
            )
        elif subscribers:
            hop.state = HopState.SUBSCRIBER.value
            hop.subscriber = next(iter(subscribers))
            hop.next_action = "preserve the subscriber's records (place a hold)"
            trace.state = TraceState.SUBSCRIBER.value
        else:
            hop.state = HopState.LOOKED_UP.value
            hop.next_action = "the record names no subscriber: read it and decide the next hop"
        refresh_trace_clock(session, trace)
        record(
            session,
            actor=principal.actor,
            action="trace.own_lookup",
            subject=f"trace:{trace.id}",
            details={"hop": hop.seq, "ip": ip, "port": port, "candidates": len(candidates)},
            at=now,
        )


def _draft_request(
    node: Node, principal: Principal, trace_id: str, hop_id: str, args: dict[str, Any]
) -> None:
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        facts = hop_json(hop)
        observed_at = hop.at
    body = preservation_body(node, facts, args)
    custodian: Custodian | None = args["custodian"]
    try:
        draft = requests_face.draft_request(
            node,
            principal,
            body,
            recipient=args["poc"].node_id,
            retention_days=dict(custodian.retention_days) if custodian else None,
            observed_at=observed_at,
        )
    except ValidationFailed as exc:
        # The request could not be drafted: the hop says why and stays open (nothing sent).
        with node.db.session() as session:
            hop = session.get(HopRow, hop_id)
            assert hop is not None
            checks = json.loads(hop.checks)
            checks.append(
                {
                    "level": "error",
                    "code": "request_incomplete",
                    "message": f"{exc}: {'; '.join(exc.problems[:8])}",
                }
            )
            hop.checks = json.dumps(checks)
            hop.next_action = "complete the request's fields (the trace's template), then retry"
        return
    except Conflict as exc:
        # A live request already holds the hop's reference (one drafted by hand from the hop):
        # no second one; the hop names it and stays open, to adopt it (nothing sent).
        with node.db.session() as session:
            hop = session.get(HopRow, hop_id)
            assert hop is not None
            checks = json.loads(hop.checks)
            checks.append({"level": "error", "code": "request_exists", "message": str(exc)})
            hop.checks = json.dumps(checks)
            hop.next_action = (
                "a request under this hop's reference already exists (see the check): follow "
                "it, and record its answer on this hop"
            )
        return
    now = node.clock.now()
    with node.db.session() as session:
        trace = trace_row(session, trace_id)
        hop = hop_row(session, trace, hop_id)
        hop.request_id = draft.id
        hop.request_reference = draft.reference
        hop.state = HopState.DRAFTED.value
        hop.next_action = (
            f"a second person approves {draft.reference} (four eyes), then it is sent to "
            f"{args['poc'].organisation}"
        )
        auto = trace.auto_send
        record(
            session,
            actor=principal.actor,
            action="trace.request_drafted",
            subject=f"trace:{trace.id}",
            details={"hop": hop.seq, "request": draft.id, "recipient": args["poc"].node_id},
            at=now,
        )
    if auto:
        # the recorded policy approves and sends; the approval moves the hop on (answers)
        policy = policy_principal()
        requests_face.approve_request(node, policy, draft.id)
        requests_face.send_request(node, policy, draft.id)
        with node.db.session() as session:
            hop = session.get(HopRow, hop_id)
            assert hop is not None
            hop.state = HopState.SENT.value
            hop.next_action = "await the acknowledgement and the preservation"


def preservation_body(node: Node, hop: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The Art. 29 request for one hop, with the exact identifiers (address, port, UTC time
    with the source's offset kept, protocol) and the custodian named."""
    template = args["template"]
    provider = args["provider"]
    poc = args["poc"]
    endpoint: dict[str, Any] = {
        "type": "ip_endpoint",
        "ip": hop["ip"],
        "port": hop["port"],
        "timestamp": hop["at"],
        "protocol": hop["protocol"] if hop["protocol"] in ("tcp", "udp", "sctp", "icmp") else "tcp",
    }
    if hop["dst_port"] is not None:
        endpoint["destination_port"] = hop["dst_port"]
    kinds = args["kinds"]
    custodian: Custodian | None = args["custodian"]
    necessity = "The records that show where this connection came from are kept only briefly"
    if hop["dies_at"]:
        necessity += (
            f"; they are deleted from {hop['dies_at']} ({custodian.source if custodian else ''})"
        )
    body: dict[str, Any] = {
        "kind": "preservation",
        "reference": args["reference"],
        "date_issued": node.clock.now().date().isoformat(),
        "requesting_party": node.config.country,
        "requested_party": provider.country,
        "requesting_authority": template.get("requesting_authority"),
        "requested_authority": poc.organisation,
        "confirmation_contact": template.get("confirmation_contact"),
        "seeking_authority": template.get("seeking_authority"),
        "offence": template.get("offence"),
        "offence_articles": template.get("offence_articles", []),
        "summary_of_facts": template.get("summary_of_facts"),
        "data_to_preserve": [endpoint],
        "relationship_to_offence": f"Hop {hop['seq']} of the trace: the connection came from "
        f"this address and port (±{hop['tolerance_s']:g} s).",
        "custodian": f"{provider.organisation} ({provider.node_id}, {provider.network})",
        "necessity": necessity + ".",
        "mla_intended": True,
        "data_kinds": kinds,
    }
    if template.get("handling"):
        body["handling"] = template["handling"]
    if template.get("emergency"):
        body["emergency"] = template["emergency"]
    return body


def refine_hop(
    node: Node,
    principal: Principal,
    trace_id: str,
    hop_id: str,
    *,
    port: int | None = None,
    at: str | None = None,
    tolerance_s: float | None = None,
    template: dict[str, Any] | None = None,
) -> TraceView:
    """Give what would decide an open or ambiguous hop (its port, an exact time, a narrower
    window, the missing request fields) and decide it again. Audited."""
    member_of_trace(node, principal, trace_id)
    if port is not None and not 0 <= port <= 65535:
        raise ValidationFailed("a port is 0-65535", ["port"])
    if tolerance_s is not None and not 0 <= tolerance_s <= 86_400:
        raise ValidationFailed("a tolerance is 0-86400 seconds", ["tolerance_s"])
    unknown = [k for k in (template or {}) if k not in TEMPLATE_FIELDS]
    if unknown:
        raise ValidationFailed(f"unknown template field(s) {', '.join(unknown)}")
    instant = parse_instant(at, "at") if at else None
    now = node.clock.now()
    with node.db.session() as session:
        trace = trace_row(session, trace_id)
        hop = hop_row(session, trace, hop_id)
        if hop.state not in (HopState.OPEN.value, HopState.AMBIGUOUS.value):
            raise Conflict(f"hop {hop.seq} is {hop.state}; only an open hop can be refined")
        changed: dict[str, Any] = {}
        if port is not None:
            changed["port"] = port
            hop.port = port
        if instant is not None:
            changed["at"] = isoformat_z(instant[0])
            hop.at, hop.source_zone = instant
        if tolerance_s is not None:
            changed["tolerance_s"] = tolerance_s
            hop.tolerance_s = tolerance_s
        if template:
            merged = {**json.loads(trace.template), **template}
            trace.template = json.dumps(merged)
            changed["template"] = sorted(template)
        if not changed:
            raise ValidationFailed("nothing to refine: give a port, a time, a tolerance or fields")
        hop.state = HopState.OPEN.value
        hop.checks = "[]"
        hop.candidates = "[]"
        hop.updated_at = now
        record(
            session,
            actor=principal.actor,
            action="trace.hop_refined",
            subject=f"trace:{trace.id}",
            details={"hop": hop.seq, **changed},
            at=now,
        )
    decide(node, principal, trace_id, hop_id)
    return get_trace(node, principal, trace_id)
