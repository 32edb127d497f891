"""Acknowledgement clocks and escalation, in-app notices, and the background worker.

Every accepted message whose type requires a person's acknowledgement carries
``ack_due = received_at + ack_minutes``. When the clock runs out unacknowledged, the message is
escalated to the backup on the node's own duty roster (or, when the roster names none, to the
node's duty officers at large): the escalation is recorded, shown in the app, and e-mailed when
the node has an SMTP server. An overdue message is never dropped silently.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.exercise_marking import exercise_marking
from trailguard.core.mail import MailFailed, send_email
from trailguard.network import directory_service
from trailguard.network.exchange import deliver_pending
from trailguard.network.notifications import notify
from trailguard.network.orm import EscalationRow, ExchangeMessageRow
from trailguard.network.refusals import flush_refusals
from trailguard.network.transport import Transport
from trailguard.node import Node

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    message_id: str
    sender: str
    message_type: str
    ack_due: datetime
    escalated_at: datetime
    contact_person: str | None
    contact_email: str | None
    contact_phone: str | None
    channels: str


def escalate_overdue(node: Node, now: datetime | None = None) -> list[Escalation]:
    """Escalate every unacknowledged message whose clock ran out (each once)."""
    instant = ensure_utc(now) if now else node.clock.now()
    escalations: list[Escalation] = []
    with node.db.session() as session:
        rows = (
            session.execute(
                select(ExchangeMessageRow)
                .where(
                    ExchangeMessageRow.direction == "received",
                    ExchangeMessageRow.requires_ack.is_(True),
                    ExchangeMessageRow.acknowledged_at.is_(None),
                    ExchangeMessageRow.escalated_at.is_(None),
                    ExchangeMessageRow.ack_due <= instant,
                )
                .order_by(ExchangeMessageRow.ack_due)
            )
            .scalars()
            .all()
        )
        if not rows:
            return []
        own = directory_service.find_entry(session, node.config.node_id)
        duty = own.on_duty(instant) if own else None
        backup = duty.backup if duty else None
        person = backup.person if backup else None
        email = backup.email if backup and backup.email else (own.channels.email if own else None)
        phone = backup.phone if backup and backup.phone else (own.channels.phone if own else None)
        for row in rows:
            due = row.ack_due or instant
            subject = (
                f"OVERDUE: {row.message_type} from {row.sender} was due for "
                f"acknowledgement at {isoformat_z(due)}"
            )
            body = (
                f"Message {row.message_id} from {row.sender} ({row.message_type}) has not "
                f"been acknowledged; it was due at {isoformat_z(due)}. Escalated to "
                f"{person or 'the duty officers (no backup on the roster now)'}."
            )
            channels = ["in-app"]
            if node.config.smtp_url and email:
                try:
                    send_email(
                        node.config.smtp_url,
                        sender=f"trailguard@{node.config.node_id}",
                        to=email,
                        subject=subject,
                        body=body,
                        marking=exercise_marking(node.config),
                    )
                    channels.append("email")
                except MailFailed as exc:
                    channels.append("email-failed")
                    body += f" E-mail to {email} failed: {exc}"
            row.escalated_at = instant
            session.add(
                EscalationRow(
                    message_id=row.message_id,
                    escalated_at=instant,
                    ack_due=due,
                    contact_person=person,
                    contact_email=email,
                    contact_phone=phone,
                    channels=",".join(channels),
                    detail=body,
                )
            )
            notify(
                session,
                node,
                audience=person or "duty_officer",
                subject=subject,
                body=body,
                message_id=row.message_id,
            )
            record(
                session,
                actor="system:clock",
                action="exchange.escalated",
                subject=f"message:{row.message_id}",
                details={
                    "ack_due": isoformat_z(due),
                    "to": person,
                    "email": email,
                    "phone": phone,
                    "channels": channels,
                },
                at=instant,
            )
            escalations.append(
                Escalation(
                    message_id=row.message_id,
                    sender=row.sender,
                    message_type=row.message_type,
                    ack_due=due,
                    escalated_at=instant,
                    contact_person=person,
                    contact_email=email,
                    contact_phone=phone,
                    channels=",".join(channels),
                )
            )
    return escalations


def list_escalations(session: Session, *, limit: int = 100) -> list[Escalation]:
    rows = session.execute(
        select(EscalationRow, ExchangeMessageRow)
        .join(
            ExchangeMessageRow,
            (ExchangeMessageRow.message_id == EscalationRow.message_id)
            & (ExchangeMessageRow.direction == "received"),
        )
        .order_by(EscalationRow.id.desc())
        .limit(limit)
    ).all()
    return [
        Escalation(
            message_id=e.message_id,
            sender=m.sender,
            message_type=m.message_type,
            ack_due=e.ack_due,
            escalated_at=e.escalated_at,
            contact_person=e.contact_person,
            contact_email=e.contact_email,
            contact_phone=e.contact_phone,
            channels=e.channels,
        )
        for e, m in rows
    ]


class DeliveryWorker:
    """A background thread: delivers the outbox and escalates overdue messages."""

    def __init__(
        self,
        node: Node,
        *,
        interval: float = 0.5,
        transport: Transport | None = None,
        concurrency: int = 4,
    ) -> None:
        self.node = node
        self.concurrency = concurrency
        self.interval = interval
        self.transport = transport
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"trailguard-outbox-{node.config.node_id}", daemon=True
        )

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = deliver_pending(
                    self.node, transport=self.transport, concurrency=self.concurrency
                )
                escalate_overdue(self.node)
                flush_refusals(self.node)  # counts of refusal windows that have closed
                busy = report.attempted > 0 and report.attempted > len(report.retrying)
            except Exception:  # the worker must survive a bad round; the next one retries
                log.exception("delivery round failed")
                busy = False
            if not busy:
                self._stop.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_delivery_worker(
    node: Node, *, interval: float = 0.5, transport: Transport | None = None
) -> DeliveryWorker:
    return DeliveryWorker(node, interval=interval, transport=transport).start()
