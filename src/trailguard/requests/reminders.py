"""Clocks of stored requests: reminders raised before each deadline (in-app, and by e-mail
when the node has an SMTP server configured) and missed deadlines flagged, never dropped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from trailguard.audit import record
from trailguard.core.exercise_marking import exercise_marking
from trailguard.core.mail import MailFailed, default_recipient, send_email
from trailguard.network import notify
from trailguard.node import Node
from trailguard.requests.clocks import clock_facts, refresh_nearest, z
from trailguard.requests.domain.deadlines import deadlines_for, due_reminders
from trailguard.requests.domain.lifecycle import RequestState
from trailguard.requests.orm import ReminderRow, RequestRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReminderView:
    request_id: str
    reference: str
    deadline_kind: str
    label: str
    due_at: datetime
    remind_at: datetime
    missed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "reference": self.reference,
            "deadline_kind": self.deadline_kind,
            "label": self.label,
            "due_at": z(self.due_at),
            "remind_at": z(self.remind_at),
            "missed": self.missed,
        }


def scan_deadlines(node: Node) -> list[ReminderView]:
    """Raise the reminders that are due and flag missed deadlines (idempotent: each reminder
    is stored once). Sends them by e-mail when the node has an SMTP server configured."""
    now = node.clock.now()
    raised: list[ReminderView] = []
    with node.db.session() as session:
        rows = session.scalars(
            select(RequestRow).where(
                RequestRow.state.not_in([RequestState.CLOSED.value, RequestState.DRAFT.value])
            )
        ).all()
        for row in rows:
            deadlines = deadlines_for(clock_facts(row, node))
            candidates = [
                (r.deadline, r.remind_at, int(r.lead.total_seconds()), False)
                for r in due_reminders(deadlines, now)
            ]
            candidates += [
                (d, d.due_at, 0, True) for d in deadlines if not d.met and d.due_at <= now
            ]
            for deadline, remind_at, lead, is_missed in candidates:
                exists = session.scalar(
                    select(ReminderRow.id).where(
                        ReminderRow.request_id == row.id,
                        ReminderRow.deadline_kind == deadline.kind.value,
                        ReminderRow.due_at == deadline.due_at,
                        ReminderRow.lead_seconds == lead,
                    )
                )
                if exists is not None:
                    continue
                session.add(
                    ReminderRow(
                        request_id=row.id,
                        deadline_kind=deadline.kind.value,
                        label=deadline.label[:300],
                        due_at=deadline.due_at,
                        remind_at=remind_at,
                        lead_seconds=lead,
                        missed=is_missed,
                        created_at=now,
                    )
                )
                raised.append(
                    ReminderView(
                        row.id,
                        row.reference,
                        deadline.kind.value,
                        deadline.label,
                        deadline.due_at,
                        remind_at,
                        is_missed,
                    )
                )
                notify(
                    session,
                    node,
                    audience="duty_officer",
                    subject=f"{'MISSED' if is_missed else 'due'} {z(deadline.due_at)}: "
                    f"{deadline.label} ({row.kind} {row.reference})",
                    body=f"/requests/{row.id}",
                )
                if is_missed:
                    record(
                        session,
                        actor="system",
                        action="request.deadline_missed",
                        subject=f"request:{row.id}",
                        details={"deadline": deadline.kind.value, "due_at": z(deadline.due_at)},
                        at=now,
                    )
            refresh_nearest(row, node)
        session.flush()
    if raised and node.config.smtp_url:
        _email(node, raised)
    return raised


def open_reminders(node: Node, *, limit: int = 200) -> list[ReminderView]:
    """Reminders not dismissed, missed deadlines first, then by due time."""
    with node.db.session() as session:
        rows = session.execute(
            select(ReminderRow, RequestRow.reference)
            .join(RequestRow, RequestRow.id == ReminderRow.request_id)
            .where(ReminderRow.dismissed_at.is_(None))
            .order_by(ReminderRow.missed.desc(), ReminderRow.due_at)
            .limit(limit)
        ).all()
        return [
            ReminderView(
                r.request_id, ref, r.deadline_kind, r.label, r.due_at, r.remind_at, r.missed
            )
            for r, ref in rows
        ]


def _email(node: Node, reminders: list[ReminderView]) -> None:
    """Send reminders through ``smtp_url`` (smtp://user:pass@host:port/recipient@example)."""
    smtp_url = node.config.smtp_url or ""
    recipient = default_recipient(smtp_url)
    if recipient is None:
        log.warning("smtp_url must look like smtp://host:port/duty@example.org; not sending")
        return
    try:
        send_email(
            smtp_url,
            sender=f"trailguard@{node.config.node_id}.invalid",
            to=recipient,
            subject=f"trailguard {node.config.node_id}: {len(reminders)} request deadline(s)",
            body="\n".join(
                f"{'MISSED' if r.missed else 'due'} {z(r.due_at)}: {r.label} ({r.reference})"
                for r in reminders
            ),
            marking=exercise_marking(node.config),  # EXERCISE on an exercise node (issue 17)
        )
    except MailFailed as exc:
        log.warning("could not e-mail reminders: %s", exc)
