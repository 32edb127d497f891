"""The stored request's clocks, shared by the request services and the reminders: the facts
the deadline rules need, the nearest deadline kept on the row for sorting, UTC text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from trailguard.node import Node
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.deadlines import ClockFacts, deadlines_for, nearest_deadline
from trailguard.requests.domain.lifecycle import RequestState
from trailguard.requests.orm import RequestRow


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clock_facts(row: RequestRow, node: Node) -> ClockFacts:
    return ClockFacts(
        kind=RequestKind(row.kind),
        state=RequestState(row.state),
        zone=row.zone,
        emergency=row.emergency,
        ack_minutes=node.config.ack_minutes,
        sent_at=row.sent_at,
        received_at=row.received_at,
        acknowledged_at=row.acknowledged_at,
        preserved_at=row.preserved_at,
        period_days=row.period_days,
        extensions=tuple(json.loads(row.extensions)),
        kept_pending_decision=row.mla_received_at is not None,
        observed_at=row.observed_at,
        retention_days=json.loads(row.retention_days),
        protocol_article=json.loads(row.body).get("protocol_article"),
    )


def refresh_nearest(row: RequestRow, node: Node) -> None:
    nearest = nearest_deadline(deadlines_for(clock_facts(row, node)))
    row.nearest_deadline_at = nearest.due_at if nearest else None
    row.nearest_deadline_kind = nearest.kind.value if nearest else None
