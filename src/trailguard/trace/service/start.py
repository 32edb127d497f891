"""Starting a trace from one observation of an investigation: its first hop decided at once
(or the preservation request already sent for it adopted, with its answer so far)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.investigations import get_investigation
from trailguard.node import Node
from trailguard.trace.domain.hops import TraceState
from trailguard.trace.orm import TraceRow
from trailguard.trace.service.answers import follow_request
from trailguard.trace.service.common import TEMPLATE_FIELDS, check_member, new_hop
from trailguard.trace.service.decide import check_adoptable, decide
from trailguard.trace.service.views import TraceView, get_trace


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
    case = check_member(node, principal, investigation_id)
    full = get_investigation(node, principal, case.id)
    observation = next((o for o in full.observations if o.id == observation_id), None)
    if observation is None:
        raise NotFound(f"investigation {case.reference} has no observation {observation_id!r}")
    if observation.ip is None:
        raise ValidationFailed("the observation has no address to trace", ["observation"])
    if adopt_request is not None:
        check_adoptable(node, adopt_request, observation.ip)
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
        hop = new_hop(
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
    decide(node, principal, trace_id, hop.id, adopt=adopt_request)
    if adopt_request is not None:
        # the adopted request may be answered already (preserved before the trace started)
        follow_request(node, trace_id, hop.id, adopt_request)
    return get_trace(node, principal, trace_id)
