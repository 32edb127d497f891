"""The trace as a service: start from an observation, decide every hop, draft the next
preservation request, let answers move the trace, end at a subscriber or a dead end.

Built only on other capabilities' faces: ``investigations`` (membership, observations),
``requests`` (draft, approve, send, read), ``traffic`` (own look-ups), ``network`` (the
directory), ``law`` (the channel and its citation), ``audit``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.node import Node
from trailguard.trace.attribution import attribute_on_node
from trailguard.trace.domain.hops import (
    DEAD_END_REASONS,
    SUBSCRIBER_KINDS,
    Check,
    Custodian,
    HopFacts,
    HopState,
    TraceState,
    blocking,
    dies_at,
    graph,
    presend_checks,
    same_hop,
)
from trailguard.trace.orm import AnswerRow, CustodianRow, HopRow, TraceRow

TRACE_ROLES = (Role.INVESTIGATOR, Role.DUTY_OFFICER)
POLICY_ACTOR = "policy:auto-send"
# Request states the trace reads as "on its way" and as answers.
_UNDER_WAY = {"approved", "sent", "received", "acknowledged", "in_execution", "extended"}
_PRESERVED = {"preserved", "partially_preserved"}
_REFUSED = {"refused", "cannot_ensure_availability"}
_OPEN_STATES = {
    HopState.OPEN.value,
    HopState.AMBIGUOUS.value,
    HopState.DRAFTED.value,
    HopState.SENT.value,
    HopState.PRESERVED.value,
}
TEMPLATE_FIELDS = (
    "requesting_authority",
    "confirmation_contact",
    "seeking_authority",
    "offence",
    "offence_articles",
    "summary_of_facts",
)


# --- views ------------------------------------------------------------------------------------


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def hop_json(row: HopRow) -> dict[str, Any]:
    attribution = _loads(row.attribution) or {}
    return {
        "id": row.id,
        "seq": row.seq,
        "ip": row.ip,
        "port": row.port,
        "at": isoformat_z(row.at) if row.at else None,
        "source_zone": row.source_zone,
        "tolerance_s": row.tolerance_s,
        "protocol": row.protocol,
        "dst_ip": row.dst_ip,
        "dst_port": row.dst_port,
        "special": attribution.get("special"),
        "country": attribution.get("country"),
        "provider": attribution.get("provider"),
        "sources": attribution.get("sources", []),
        "state": row.state,
        "end_reason": row.end_reason,
        "end_reason_text": DEAD_END_REASONS.get(row.end_reason or "", None),
        "recipient_node": row.recipient_node,
        "channel": _loads(row.channel),
        "checks": _loads(row.checks) or [],
        "data_kinds": _loads(row.data_kinds) or [],
        "request_id": row.request_id,
        "request_reference": row.request_reference,
        "hold_id": row.hold_id,
        "hold_digest": row.hold_digest,
        "candidates": _loads(row.candidates) or [],
        "source": _loads(row.source) or {},
        "subscriber": row.subscriber,
        "dies_at": isoformat_z(row.dies_at) if row.dies_at else None,
        "next_action": row.next_action,
        "confidence": _confidence(row),
    }


def _confidence(row: HopRow) -> str:
    if row.state in (HopState.SUBSCRIBER.value, HopState.LOOKED_UP.value):
        return "record"  # a custodian's own record
    if row.state == HopState.AMBIGUOUS.value:
        return "ambiguous"
    source = _loads(row.source) or {}
    return "disclosed" if source.get("kind") == "disclosure" else "observed"


@dataclass
class TraceView:
    id: str
    investigation_id: str
    label: str
    state: str
    end_reason: str | None
    auto_send: bool
    dies_at: datetime | None
    target: dict[str, Any]
    created_by: str
    created_at: datetime
    hops: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "investigation_id": self.investigation_id,
            "label": self.label,
            "state": self.state,
            "end_reason": self.end_reason,
            "end_reason_text": DEAD_END_REASONS.get(self.end_reason or "", None),
            "auto_send": self.auto_send,
            "dies_at": isoformat_z(self.dies_at) if self.dies_at else None,
            "target": self.target,
            "created_by": self.created_by,
            "created_at": isoformat_z(self.created_at),
            "hops": self.hops,
        }


def _hops(session: Session, trace_id: str) -> list[HopRow]:
    return list(
        session.execute(select(HopRow).where(HopRow.trace_id == trace_id).order_by(HopRow.seq))
        .scalars()
        .all()
    )


def _view(session: Session, row: TraceRow) -> TraceView:
    return TraceView(
        id=row.id,
        investigation_id=row.investigation_id,
        label=row.label,
        state=row.state,
        end_reason=row.end_reason,
        auto_send=row.auto_send,
        dies_at=row.dies_at,
        target=_loads(row.target) or {},
        created_by=row.created_by,
        created_at=row.created_at,
        hops=[hop_json(h) for h in _hops(session, row.id)],
    )


# --- access -------------------------------------------------------------------------------------


def _require_role(principal: Principal) -> None:
    if not principal.has_any(*TRACE_ROLES):
        raise PermissionDenied("traces need the investigator or duty_officer role")


def _trace_row(session: Session, trace_id: str) -> TraceRow:
    row = session.get(TraceRow, trace_id)
    if row is None:
        raise NotFound(f"no trace {trace_id!r}")
    return row


def _check_member(node: Node, principal: Principal, investigation_id: str) -> Any:
    from trailguard.investigations import require_member

    _require_role(principal)
    return require_member(node, principal, investigation_id)


# --- custodians -----------------------------------------------------------------------------


def set_custodian(
    node: Node, principal: Principal, node_id: str, retention_days: dict[str, int], source: str
) -> Custodian:
    """Record what a provider keeps and for how long (from its published policy or answer)."""
    _require_role(principal)
    from trailguard.network import find_entry

    problems = [
        f"retention_days.{kind}: {days!r}"
        for kind, days in retention_days.items()
        if not isinstance(days, int) or not 0 <= days <= 36_600
    ]
    if problems or not retention_days:
        raise ValidationFailed("retention is a number of days (0-36600) per data kind", problems)
    if not source.strip():
        raise ValidationFailed("say where the retention comes from (source)", ["source"])
    now = node.clock.now()
    with node.db.session() as session:
        if find_entry(session, node_id) is None:
            raise NotFound(f"{node_id!r} is not in this node's directory")
        row = session.get(CustodianRow, node_id) or CustodianRow(node_id=node_id)
        row.retention_days = json.dumps(retention_days, sort_keys=True)
        row.source = source.strip()
        row.recorded_by = principal.actor
        row.recorded_at = now
        session.add(row)
        record(
            session,
            actor=principal.actor,
            action="trace.custodian_recorded",
            subject=f"custodian:{node_id}",
            details={"retention_days": retention_days, "source": source.strip()},
            at=now,
        )
    return Custodian(node_id, dict(retention_days), source.strip())


def _custodian(session: Session, node_id: str | None) -> Custodian | None:
    if node_id is None:
        return None
    row = session.get(CustodianRow, node_id)
    if row is None:
        return None
    return Custodian(node_id, json.loads(row.retention_days), row.source)


# --- starting a trace -------------------------------------------------------------------------


def start_trace(
    node: Node,
    principal: Principal,
    investigation_id: str,
    observation_id: str,
    *,
    template: dict[str, Any] | None = None,
    auto_send: bool = False,
    label: str | None = None,
    adopt_request: str | None = None,
) -> TraceView:
    """Start a trace from one observation of an investigation and decide its first hop.
    ``adopt_request``: a preservation request already sent for that hop (drafted before the
    trace started) becomes the hop's request instead of a new draft."""
    case = _check_member(node, principal, investigation_id)
    from trailguard.investigations import get_investigation

    full = get_investigation(node, principal, case.id)
    observation = next((o for o in full.observations if o.id == observation_id), None)
    if observation is None:
        raise NotFound(f"investigation {case.reference} has no observation {observation_id!r}")
    if observation.ip is None:
        raise ValidationFailed("the observation has no address to trace", ["observation"])
    if adopt_request is not None:
        _check_adoptable(node, adopt_request, observation.ip)
    template = dict(template or {})
    unknown = [k for k in template if k not in TEMPLATE_FIELDS]
    if unknown:
        raise ValidationFailed(
            f"unknown template field(s) {', '.join(unknown)}; known: {', '.join(TEMPLATE_FIELDS)}"
        )
    now = node.clock.now()
    trace_id = str(uuid.uuid4())
    target = {
        "label": observation.source_label or "the victim",
        "observation": observation.id,
        "seen": observation.seen,
    }
    with node.db.session() as session:
        row = TraceRow(
            id=trace_id,
            investigation_id=case.id,
            observation_id=observation.id,
            label=label
            or f"{case.reference}: {observation.ip} at "
            f"{isoformat_z(observation.at) if observation.at else 'unknown time'}",
            target=json.dumps(target),
            template=json.dumps(template),
            state=TraceState.OPEN.value,
            end_reason=None,
            auto_send=auto_send,
            policy_set_by=principal.actor if auto_send else None,
            dies_at=None,
            created_by=principal.actor,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        record(
            session,
            actor=principal.actor,
            action="trace.started",
            subject=f"trace:{trace_id}",
            details={
                "investigation": case.id,
                "observation": observation.id,
                "auto_send": auto_send,
            },
            at=now,
        )
        session.flush()
        hop = _new_hop(
            session,
            row,
            seq=1,
            ip=observation.ip,
            port=observation.port,
            at=observation.at,
            source_zone=observation.source_zone,
            tolerance_s=observation.tolerance_s,
            protocol=observation.protocol,
            dst=(None, None),
            source={"kind": "observation", "id": observation.id, "label": observation.source_label},
            now=now,
        )
    _decide(node, principal, trace_id, hop.id, adopt=adopt_request)
    return get_trace(node, principal, trace_id)


def _new_hop(
    session: Session,
    trace: TraceRow,
    *,
    seq: int,
    ip: str,
    port: int | None,
    at: datetime | None,
    source_zone: str | None,
    tolerance_s: float,
    protocol: str | None,
    dst: tuple[str | None, int | None],
    source: dict[str, Any],
    now: datetime,
) -> HopRow:
    hop = HopRow(
        id=str(uuid.uuid4()),
        trace_id=trace.id,
        seq=seq,
        ip=ip,
        port=port,
        at=at,
        source_zone=source_zone,
        tolerance_s=tolerance_s,
        protocol=protocol,
        dst_ip=dst[0],
        dst_port=dst[1],
        attribution="{}",
        state=HopState.OPEN.value,
        checks="[]",
        data_kinds="[]",
        candidates="[]",
        source=json.dumps(source),
        next_action="decide who holds the data",
        created_at=now,
        updated_at=now,
    )
    session.add(hop)
    session.flush()
    return hop


# --- deciding a hop -------------------------------------------------------------------------------


def _poc_for(session: Session, country: str, now: datetime) -> Any:
    from trailguard.network import list_entries

    entries = [e for e in list_entries(session) if e.country == country and e.kind.value == "poc"]
    entries.sort(key=lambda e: (e.on_duty(now).contact is None, e.node_id))
    return entries[0] if entries else None


def _channel(node: Node, requested: str, when: datetime) -> dict[str, Any] | None:
    from trailguard.law import get_engine

    answer = get_engine().channels(node.config.country, requested, "traffic", False, when.date())
    for channel in answer.channels:
        if channel.id.startswith("preservation"):
            return channel.to_dict()
    return None


def _end(session: Session, trace: TraceRow, hop: HopRow, reason: str, now: datetime) -> None:
    hop.state = HopState.DEAD_END.value
    hop.end_reason = reason
    hop.next_action = f"dead end: {DEAD_END_REASONS[reason]}"
    trace.state = TraceState.DEAD_END.value
    trace.end_reason = reason
    trace.updated_at = now


def _refresh_trace_clock(session: Session, trace: TraceRow) -> None:
    open_hops = [h for h in _hops(session, trace.id) if h.state in _OPEN_STATES and h.dies_at]
    trace.dies_at = min((h.dies_at for h in open_hops if h.dies_at), default=None)


def _decide(
    node: Node, principal: Principal, trace_id: str, hop_id: str, *, adopt: str | None = None
) -> None:
    """Decide one open hop: dead end, own look-up, or a drafted preservation request."""
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        ip, port, at = hop.ip, hop.port, hop.at
    attribution = attribute_on_node(node, ip, at)
    now = node.clock.now()
    draft_args: dict[str, Any] | None = None
    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        hop.attribution = json.dumps(attribution.to_json())
        hop.updated_at = now
        earlier = [h for h in _hops(session, trace.id) if h.seq < hop.seq]
        provider = attribution.provider
        if not attribution.traced_as_public:
            hop.checks = json.dumps(
                [
                    {
                        "level": "error",
                        "code": attribution.special or "special",
                        "message": attribution.meaning or "",
                    }
                ]
            )
            _end(session, trace, hop, "special_address", now)
        elif any(same_hop((h.ip, h.port), (ip, port)) for h in earlier):
            _end(session, trace, hop, "loop", now)
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
            _end(session, trace, hop, "unserved", now)
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
            custodian = _custodian(session, provider.node_id)
            channel = _channel(node, provider.country, now)
            kinds = custodian.kinds_needed() if custodian else ["flow"]
            hop.data_kinds = json.dumps(kinds)
            hop.dies_at = dies_at(at, custodian, kinds)
            if channel is None:
                _end(session, trace, hop, "no_lawful_channel", now)
            else:
                hop.channel = json.dumps(channel)
                poc = _poc_for(session, provider.country, now)
                checks = presend_checks(
                    HopFacts(
                        ip=ip,
                        port=port,
                        at=at,
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
                    _end(session, trace, hop, "retention_over", now)
                elif blocking(checks):
                    hop.next_action = "fix before drafting: " + "; ".join(
                        c.message for c in checks if c.level == "error"
                    )
                else:
                    hop.recipient_node = poc.node_id
                    draft_args = {
                        "own": False,
                        "provider": provider,
                        "custodian": custodian,
                        "kinds": kinds,
                        "poc": poc,
                        "channel": channel,
                        "template": json.loads(trace.template),
                        "reference": f"{_case_reference(node, principal, trace)}-H{hop.seq}",
                    }
        _refresh_trace_clock(session, trace)
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


def _check_adoptable(node: Node, request_id: str, ip: str) -> Any:
    """Refused before anything is written: the request must be this node's own preservation
    request naming the hop's address."""
    import trailguard.requests as requests_face

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
    view = _check_adoptable(node, request_id, ip)
    body = view.request.model_dump(mode="json")
    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        hop = session.get(HopRow, hop_id)
        assert hop is not None
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


def _case_reference(node: Node, principal: Principal, trace: TraceRow) -> str:
    from trailguard.investigations import require_member

    return str(require_member(node, principal, trace.investigation_id).reference)


def _own_lookup(node: Node, principal: Principal, trace_id: str, hop_id: str) -> None:
    """This node holds the data: an audited look-up through the traffic capability's face."""
    from trailguard.traffic import lookup, require_hold_role

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
        trace = _trace_row(session, trace_id)
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        hop.candidates = json.dumps(candidates, default=str)
        hop.updated_at = now
        subscribers = {c["subscriber"] for c in candidates if c["subscriber"]}
        if at is None:
            hop.next_action = "give the time with its zone: the look-up needs it"
        elif not candidates:
            _end(session, trace, hop, "no_data", now)
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
        _refresh_trace_clock(session, trace)
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
    import trailguard.requests as requests_face

    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        assert hop is not None
        facts = hop_json(hop)
    body = preservation_body(node, facts, args)
    custodian: Custodian | None = args["custodian"]
    try:
        draft = requests_face.draft_request(
            node,
            principal,
            body,
            recipient=args["poc"].node_id,
            retention_days=dict(custodian.retention_days) if custodian else None,
            observed_at=hop.at,
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
    now = node.clock.now()
    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        hop = session.get(HopRow, hop_id)
        assert hop is not None
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
        policy = Principal(
            user_id=0,
            username=POLICY_ACTOR,
            display_name="recorded auto-send policy",
            roles=frozenset({Role.DUTY_OFFICER}),
        )
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
    return {
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


# --- answers move the trace ------------------------------------------------------------------


def sync_trace(node: Node, principal: Principal, trace_id: str) -> TraceView:
    """Read the states of the hops' requests and any Art. 30 disclosure that answers them,
    and move the trace: preserved, refused (dead end), advanced (next hop drafted), or ended at
    the subscriber whose data was preserved."""
    import trailguard.requests as requests_face

    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        investigation_id = trace.investigation_id
        pending = [
            (h.id, h.request_id, h.request_reference)
            for h in _hops(session, trace_id)
            if h.request_id and h.state in _OPEN_STATES
        ]
    _check_member(node, principal, investigation_id)
    disclosures = [
        view
        for view in requests_face.list_requests(node, direction="inbound")
        if view.kind.value == "expedited_disclosure"
    ]
    for hop_id, request_id, reference in pending:
        view = requests_face.get_request(node, request_id)
        state = view.state.value
        if state in _UNDER_WAY:
            _set_under_way(node, hop_id)
        if state in _PRESERVED:
            _answer(
                node,
                principal,
                trace_id,
                hop_id,
                f"request:{request_id}:preserved",
                "preserved",
                {
                    "hold_id": view.hold_id,
                    "digest": view.hold_digest,
                    "summary": view.preserved_summary,
                },
                quiet=True,
            )
        if state in _REFUSED:
            _answer(
                node,
                principal,
                trace_id,
                hop_id,
                f"request:{request_id}:refused",
                "refused",
                {"ground": view.refusal_ground, "article": view.refusal_article},
                quiet=True,
            )
        for disclosure in disclosures:
            body = disclosure.request.model_dump(mode="json")
            if body.get("in_response_to") != reference:
                continue
            _answer(
                node,
                principal,
                trace_id,
                hop_id,
                f"disclosure:{disclosure.id}",
                "next_hop",
                _next_from_disclosure(disclosure.id, body),
                quiet=True,
            )
    return get_trace(node, principal, trace_id)


def _set_under_way(node: Node, hop_id: str) -> None:
    with node.db.session() as session:
        hop = session.get(HopRow, hop_id)
        if hop is not None and hop.state == HopState.DRAFTED.value:
            hop.state = HopState.SENT.value
            hop.next_action = "await the acknowledgement and the preservation"


def _next_from_disclosure(disclosure_id: str, body: dict[str, Any]) -> dict[str, Any]:
    step = body["path"][0]
    source = step["source"]
    return {
        "ip": source["ip"],
        "port": source.get("port"),
        "at": source.get("timestamp"),
        "protocol": source.get("protocol"),
        "dst_ip": (step.get("destination") or {}).get("ip"),
        "dst_port": (step.get("destination") or {}).get("port"),
        "provider": body.get("provider_in_other_state"),
        "disclosure": disclosure_id,
        "reference": body.get("reference"),
        "notice": body.get("third_country_notice"),
        "traffic_data": body.get("traffic_data"),
    }


ANSWER_KINDS = ("preserved", "refused", "no_data", "next_hop", "subscriber")


def record_answer(
    node: Node,
    principal: Principal,
    trace_id: str,
    hop_id: str,
    kind: str,
    details: dict[str, Any],
    *,
    key: str,
) -> TraceView:
    """An answer that came another way (a call, a letter): recorded once under its key."""
    if kind not in ANSWER_KINDS:
        raise ValidationFailed(f"answer kind must be one of {', '.join(ANSWER_KINDS)}", ["kind"])
    if not key or not key.strip():
        raise ValidationFailed("an answer needs a key (the message or letter it came in)", ["key"])
    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        investigation_id = trace.investigation_id
    _check_member(node, principal, investigation_id)
    _answer(node, principal, trace_id, hop_id, f"manual:{key.strip()}", kind, details)
    return get_trace(node, principal, trace_id)


def _answer(
    node: Node,
    principal: Principal,
    trace_id: str,
    hop_id: str,
    key: str,
    kind: str,
    details: dict[str, Any],
    *,
    quiet: bool = False,
) -> None:
    now = node.clock.now()
    next_hop: str | None = None
    try:
        with node.db.session() as session:
            trace = _trace_row(session, trace_id)
            hop = session.get(HopRow, hop_id)
            if hop is None or hop.trace_id != trace.id:
                raise NotFound(f"trace {trace_id} has no hop {hop_id!r}")
            seen = session.execute(
                select(AnswerRow.id).where(AnswerRow.hop_id == hop.id, AnswerRow.key == key)
            ).first()
            if seen:
                if quiet:
                    return
                raise Conflict(f"this answer ({key}) was recorded already for hop {hop.seq}")
            if hop.state not in _OPEN_STATES:
                if quiet:
                    return
                raise Conflict(f"hop {hop.seq} is {hop.state}: it takes no more answers")
            session.add(
                AnswerRow(
                    hop_id=hop.id,
                    key=key,
                    kind=kind,
                    details=json.dumps(details, default=str),
                    recorded_by=principal.actor,
                    recorded_at=now,
                )
            )
            if kind == "preserved":
                hop.hold_id = details.get("hold_id")
                hop.hold_digest = details.get("digest")
                kinds = set(json.loads(hop.data_kinds))
                if kinds & SUBSCRIBER_KINDS:
                    hop.state = HopState.SUBSCRIBER.value
                    hop.subscriber = details.get("summary") or "identified by the preserved records"
                    hop.next_action = (
                        "the data that identifies the subscriber is preserved: "
                        "ask for it by mutual legal assistance (Art. 31)"
                    )
                    trace.state = TraceState.SUBSCRIBER.value
                else:
                    hop.state = HopState.PRESERVED.value
                    hop.next_action = (
                        "await the Art. 30 disclosure of where the connection came from"
                    )
            elif kind == "refused":
                _end(session, trace, hop, "refusal", now)
            elif kind == "no_data":
                _end(session, trace, hop, "no_data", now)
            elif kind == "subscriber":
                hop.state = HopState.SUBSCRIBER.value
                hop.subscriber = str(details.get("note") or "identified by the custodian")
                trace.state = TraceState.SUBSCRIBER.value
                hop.next_action = "ask for the subscriber's data by mutual legal assistance"
            elif kind == "next_hop":
                next_hop = _advance(session, trace, hop, details, now)
            hop.updated_at = now
            trace.updated_at = now
            _refresh_trace_clock(session, trace)
            record(
                session,
                actor=principal.actor,
                action="trace.answer_recorded",
                subject=f"trace:{trace.id}",
                details={"hop": hop.seq, "kind": kind, "key": key},
                at=now,
            )
    except IntegrityError:
        if quiet:
            return
        raise Conflict(f"this answer ({key}) was recorded already") from None
    if next_hop is not None:
        _decide(node, principal, trace_id, next_hop)


def _advance(
    session: Session, trace: TraceRow, hop: HopRow, details: dict[str, Any], now: datetime
) -> str:
    from trailguard.investigations import parse_instant

    ip = details.get("ip")
    if not ip:
        raise ValidationFailed("the answer names no address for the next hop", ["ip"])
    at_value = details.get("at")
    at = parse_instant(at_value, "at")[0] if at_value else None
    zone = parse_instant(at_value, "at")[1] if at_value else None
    port = details.get("port")
    hop.state = HopState.ADVANCED.value
    hop.next_action = f"advanced: the connection came from {ip}" + (f":{port}" if port else "")
    seq = max(h.seq for h in _hops(session, trace.id)) + 1
    new = _new_hop(
        session,
        trace,
        seq=seq,
        ip=str(ip),
        port=int(port) if port is not None else None,
        at=at,
        source_zone=zone,
        tolerance_s=float(details.get("tolerance_s") or 2.0),
        protocol=details.get("protocol"),
        dst=(details.get("dst_ip"), details.get("dst_port")),
        source={
            "kind": "disclosure" if details.get("disclosure") else "answer",
            "disclosure": details.get("disclosure"),
            "reference": details.get("reference"),
            "notice": details.get("notice"),
            "traffic_data": details.get("traffic_data"),
            "previous_hold": hop.hold_id,
        },
        now=now,
    )
    return new.id


# --- reading -------------------------------------------------------------------------------------


def get_trace(node: Node, principal: Principal, trace_id: str) -> TraceView:
    with node.db.session() as session:
        row = _trace_row(session, trace_id)
        investigation_id = row.investigation_id
    _check_member(node, principal, investigation_id)
    with node.db.session() as session:
        view = _view(session, _trace_row(session, trace_id))
    _request_clocks(node, view)
    return view


def _request_clocks(node: Node, view: TraceView) -> None:
    """Each hop's request: its state and the clock that runs on it (from the requests face)."""
    import trailguard.requests as requests_face

    for hop in view.hops:
        hop["request_state"] = None
        hop["request_clock"] = None
        if not hop["request_id"]:
            continue
        try:
            request = requests_face.get_request(node, hop["request_id"])
        except NotFound:
            continue
        hop["request_state"] = request.state.value
        if request.nearest is not None:
            hop["request_clock"] = {
                "label": request.nearest.label,
                "due_at": isoformat_z(request.nearest.due_at),
                "citation": request.nearest.citation,
            }


def traces_of(node: Node, principal: Principal, investigation_id: str) -> list[TraceView]:
    case = _check_member(node, principal, investigation_id)
    with node.db.session() as session:
        rows = session.execute(
            select(TraceRow)
            .where(TraceRow.investigation_id == case.id)
            .order_by(TraceRow.created_at)
        ).scalars()
        return [_view(session, row) for row in rows]


def open_traces(node: Node, principal: Principal) -> list[TraceView]:
    """Every open trace of the investigations this person is on, nearest death first."""
    from trailguard.investigations import list_investigations

    if not principal.has_any(*TRACE_ROLES):
        return []
    ids = [case.id for case in list_investigations(node, principal)]
    if not ids:
        return []
    with node.db.session() as session:
        rows = session.execute(
            select(TraceRow).where(
                TraceRow.investigation_id.in_(ids), TraceRow.state == TraceState.OPEN.value
            )
        ).scalars()
        views = [_view(session, row) for row in rows]
    far = datetime.max.replace(tzinfo=node.clock.now().tzinfo)
    return sorted(views, key=lambda v: v.dies_at or far)


def graph_of(node: Node, principal: Principal, trace_id: str) -> dict[str, Any]:
    view = get_trace(node, principal, trace_id)
    data = view.to_json()
    return graph(data, data["hops"])


def case_of(node: Node, principal: Principal, trace_id: str) -> dict[str, Any]:
    """The trace as CASE/UCO JSON-LD (see ``domain.case_uco``)."""
    from trailguard.investigations import require_member
    from trailguard.trace.domain.case_uco import case_bundle

    view = get_trace(node, principal, trace_id)
    data = view.to_json()
    case = require_member(node, principal, view.investigation_id)
    return case_bundle(
        graph(data, data["hops"]),
        {"id": case.id, "reference": case.reference, "title": case.title},
    )


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
    from trailguard.investigations import parse_instant

    with node.db.session() as session:
        trace = _trace_row(session, trace_id)
        investigation_id = trace.investigation_id
    _check_member(node, principal, investigation_id)
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
        trace = _trace_row(session, trace_id)
        hop = session.get(HopRow, hop_id)
        if hop is None or hop.trace_id != trace.id:
            raise NotFound(f"trace {trace_id} has no hop {hop_id!r}")
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
    _decide(node, principal, trace_id, hop_id)
    return get_trace(node, principal, trace_id)
