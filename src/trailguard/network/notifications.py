"""Notifications for people on duty (an overdue acknowledgement, a rejected message, a
reminder): stored on the node, shown on the pages, and mailed where an SMTP server is set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.core.exercise_marking import mark_subject
from trailguard.network.orm import NotificationRow
from trailguard.node import Node


def notify(
    session: Session,
    node: Node,
    *,
    audience: str,
    subject: str,
    body: str,
    message_id: str | None = None,
) -> None:
    """Store a notice; on an exercise node its subject starts with "EXERCISE:" (issue 17)."""
    session.add(
        NotificationRow(
            created_at=node.clock.now(),
            audience=audience[:200],
            subject=mark_subject(node.config, subject)[:300],
            body=body,
            message_id=message_id,
        )
    )


@dataclass(frozen=True)
class Notification:
    id: int
    created_at: datetime
    audience: str
    subject: str
    body: str
    message_id: str | None


def recent_notifications(session: Session, *, limit: int = 50) -> list[Notification]:
    rows = session.execute(
        select(NotificationRow).order_by(NotificationRow.id.desc()).limit(limit)
    ).scalars()
    return [
        Notification(row.id, row.created_at, row.audience, row.subject, row.body, row.message_id)
        for row in rows
    ]
