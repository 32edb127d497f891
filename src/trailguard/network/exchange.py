"""The signed exchange: send through the outbox, deliver with retries, receive into the inbox,
issue and collect receipts, acknowledge and escalate.

Exactly-once processing rests on two things: the sender's outbox row is written in the same
transaction as the business change that caused it (so a crash never loses or invents a
message), and the receiver processes a message id at most once (its ``exchange_messages`` row
is unique by id and is written in the same transaction as the handler's effects). Delivery is
therefore at-least-once and processing exactly-once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trailguard.audit.service import record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.network import directory_service
from trailguard.network.envelope import (
    CLOCK_SKEW,
    HTTP_STATUS,
    Envelope,
    EnvelopeRejected,
    Receipt,
    RejectionCode,
    Stage,
    canonical_json,
    check_message_type,
    issue_receipt,
    parse_envelope,
    seal,
)
from trailguard.network.identity import node_identity
from trailguard.network.orm import ExchangeMessageRow, ExchangeReceiptRow, OutboxRow
from trailguard.network.refusals import UNAUTHENTICATED, guard_for, write_entries
from trailguard.network.transport import (
    BATCH_MAX_BYTES,
    BATCH_MAX_MESSAGES,
    BatchResult,
    HttpTransport,
    Transport,
    TransportResult,
)
from trailguard.node import Node

logger = logging.getLogger(__name__)

RECEIPT_MESSAGE_TYPE = "network.receipt"
PING_MESSAGE_TYPE = "network.ping"
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_CAP = timedelta(minutes=5)


# --- handlers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """What a handler sees of an accepted message (already verified and decrypted)."""

    message_id: str
    sender: str
    recipient: str
    message_type: str
    correlation_id: str | None
    created_at: datetime
    expires_at: datetime
    received_at: datetime
    payload: dict[str, Any]


Handler = Callable[[Session, Node, ReceivedMessage], None]


@dataclass(frozen=True)
class HandlerSpec:
    handler: Handler
    requires_ack: bool


_HANDLERS: dict[str, HandlerSpec] = {}


def register_handler(message_type: str, handler: Handler, *, requires_ack: bool = False) -> None:
    """React to ``message_type`` inside the inbox transaction. Raise ``ValidationFailed`` to
    reject the message (``rejected_by_handler``; nothing is stored). ``requires_ack`` starts
    the acknowledgement clock for every accepted message of that type."""
    check_message_type(message_type)
    _HANDLERS[message_type] = HandlerSpec(handler=handler, requires_ack=requires_ack)


def registered_types() -> dict[str, bool]:
    return {name: spec.requires_ack for name, spec in sorted(_HANDLERS.items())}


# --- sending -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    recipient: str
    message_type: str
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def _outbox_message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        message_id=row.message_id,
        recipient=row.recipient,
        message_type=row.message_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
    )


def send_message(
    session: Session,
    node: Node,
    *,
    recipient: str,
    message_type: str,
    payload: dict[str, Any],
    actor: str,
    expires_in: timedelta | None = None,
    correlation_id: str | None = None,
) -> OutboxMessage:
    """Seal, sign and enqueue a message in the caller's transaction; the delivery worker
    sends it after commit. Unknown recipients fail here with ``NotFound``."""
    if recipient == node.config.node_id:
        raise ValidationFailed(f"{recipient!r} is this node; a node does not message itself")
    if not isinstance(payload, dict):
        raise ValidationFailed(f"payload must be a JSON object, not {type(payload).__name__}")
    entry = directory_service.get_entry(session, recipient)
    key = entry.current_key()
    if key is None:
        raise ValidationFailed(f"the directory has no current encryption key for {recipient!r}")
    if not entry.channels.endpoint:
        raise ValidationFailed(f"the directory has no node endpoint for {recipient!r}")
    now = node.clock.now()
    envelope = seal(
        node_identity(node),
        sender=node.config.node_id,
        recipient=recipient,
        recipient_key=key,
        message_type=message_type,
        payload=payload,
        created_at=now,
        expires_in=expires_in,
        correlation_id=correlation_id,
    )
    body = envelope.to_bytes()
    if len(body) > node.config.max_envelope_bytes:
        raise ValidationFailed(
            f"the envelope is {len(body)} bytes, over the limit of "
            f"{node.config.max_envelope_bytes}; send large evidence as a package"
        )
    session.add(_message_row(envelope, "sent", payload, now))
    row = OutboxRow(
        message_id=envelope.message_id,
        recipient=recipient,
        message_type=message_type,
        envelope=body.decode("utf-8"),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        actor=actor[:200],
    )
    session.add(row)  # written with the audit entry at the caller's commit (or next query)
    record(
        session,
        actor=actor,
        action="exchange.sent",
        subject=f"message:{envelope.message_id}",
        details={
            "recipient": recipient,
            "type": message_type,
            "correlation_id": correlation_id,
            "envelope_sha256": envelope.digest,
        },
        at=now,
    )
    return _outbox_message(row)


def _message_row(
    envelope: Envelope, direction: str, payload: dict[str, Any], now: datetime
) -> ExchangeMessageRow:
    return ExchangeMessageRow(**_message_values(envelope, direction, payload, now))


def _message_values(
    envelope: Envelope, direction: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return dict(
        direction=direction,
        message_id=envelope.message_id,
        sender=envelope.sender,
        recipient=envelope.recipient,
        message_type=envelope.message_type,
        correlation_id=envelope.correlation_id,
        created_at=envelope.created_at,
        expires_at=envelope.expires_at,
        envelope_digest=envelope.digest,
        envelope=envelope.to_bytes().decode("utf-8"),
        payload=canonical_json(payload).decode("utf-8"),
        recorded_at=now,
        requires_ack=False,
        ack_due=None,
    )


# --- receiving ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxAnswer:
    """What the inbox endpoint returns: an HTTP status and a JSON body."""

    status_code: int
    body: dict[str, Any]


class _HandlerRefused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _receipt_values(receipt: Receipt, now: datetime) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "stage": receipt.stage.value,
        "issuer": receipt.issuer,
        "at": receipt.at,
        "reason": receipt.reason,
        "document": canonical_json(receipt.to_json()).decode("utf-8"),
        "recorded_at": now,
    }


def _store_receipt(session: Session, receipt: Receipt, now: datetime) -> bool:
    """Store a receipt verbatim unless the same (message, stage, issuer) is already there."""
    existing = session.execute(
        select(ExchangeReceiptRow.id).where(
            ExchangeReceiptRow.message_id == receipt.message_id,
            ExchangeReceiptRow.stage == receipt.stage.value,
            ExchangeReceiptRow.issuer == receipt.issuer,
        )
    ).first()
    if existing:
        return False
    session.add(ExchangeReceiptRow(**_receipt_values(receipt, now)))
    return True


@contextmanager
def write_serialised(node: Node) -> Iterator[None]:
    """Hold SQLite's in-process writer lock for the whole block (a batch's reads and writes
    then see no other writer in between); the engine takes the same lock at each
    transaction's first write anyway. PostgreSQL needs no such lock."""
    lock = node.db.write_lock
    if lock is None:
        yield
        return
    with lock:
        yield


def _receipts_of(session: Session, message_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ExchangeReceiptRow)
        .where(ExchangeReceiptRow.message_id == message_id)
        .order_by(ExchangeReceiptRow.at, ExchangeReceiptRow.id)
    ).scalars()
    return [json.loads(row.document) for row in rows]


def _refusal(
    node: Node,
    code: RejectionCode,
    detail: str,
    now: datetime,
    *,
    message_id: str | None = None,
    sender: str | None = None,
    envelope_digest: str = "",
) -> InboxAnswer:
    receipt = issue_receipt(
        node_identity(node),
        issuer=node.config.node_id,
        message_id=message_id or "",
        envelope_digest=envelope_digest,
        subject_sender=sender or "",
        stage=Stage.REJECTED,
        at=now,
        reason=code.value,
        detail=detail,
    )
    return InboxAnswer(
        HTTP_STATUS[code],
        {"error": code.value, "detail": detail, "receipt": receipt.to_json()},
    )


def _audit_refusal(
    session: Session,
    code: RejectionCode,
    detail: str,
    now: datetime,
    *,
    message_id: str | None = None,
    sender: str | None = None,
    node: Node | None = None,
    source: str | None = None,
) -> None:
    if node is not None and code in UNAUTHENTICATED:  # counted per source (refusals.py)
        entries = guard_for(node).note(
            source or "unknown", code.value, detail, now, message_id=message_id, sender=sender
        )
        write_entries(session, entries)
        return
    record(
        session,
        actor=f"node:{sender}" if sender else "network:unknown",
        action="exchange.rejected",
        subject=f"message:{message_id or 'unreadable'}",
        details={"reason": code.value, "detail": detail[:300]},
        at=now,
    )


def reject(
    node: Node,
    code: RejectionCode,
    detail: str,
    *,
    message_id: str | None = None,
    sender: str | None = None,
    envelope_digest: str = "",
    source: str | None = None,
    signed: bool = True,
) -> InboxAnswer:
    """Answer a refused envelope: its code, why, and a signed ``rejected`` receipt so the
    sender can prove it was refused (``signed=False`` for a body that is not an envelope at
    all: nobody to prove it to). No message or receipt is stored; only the audit log records
    that a refusal happened (unauthenticated ones counted per ``source``, refusals.py)."""
    now = node.clock.now()
    refs: dict[str, Any] = {
        "message_id": message_id,
        "sender": sender,
        "envelope_digest": envelope_digest,
    }
    if signed:
        answer = _refusal(node, code, detail, now, **refs)
    else:
        answer = InboxAnswer(HTTP_STATUS[code], {"error": code.value, "detail": detail})
    if code in UNAUTHENTICATED:
        entries = guard_for(node).note(
            source or "unknown", code.value, detail, now, message_id=message_id, sender=sender
        )
        if entries:
            with write_serialised(node), node.db.session() as session:
                write_entries(session, entries)
        return answer
    with write_serialised(node), node.db.session() as session:
        _audit_refusal(session, code, detail, now, message_id=message_id, sender=sender)
    return answer


def receive_envelope(node: Node, body: bytes, *, source: str | None = None) -> InboxAnswer:
    """Verify, decrypt, dispatch and record one envelope from the wire (size already checked);
    ``source`` is the client's address (refusals are counted per source)."""
    try:
        envelope = parse_envelope(body)
    except EnvelopeRejected as exc:
        return reject(node, exc.code, exc.detail, source=source, signed=False)
    refs: dict[str, Any] = {
        "message_id": envelope.message_id,
        "sender": envelope.sender,
        "envelope_digest": envelope.digest,
        "source": source,
    }
    try:
        return _accept(node, envelope)
    except EnvelopeRejected as exc:
        return reject(node, exc.code, exc.detail, **refs)
    except _HandlerRefused as exc:
        return reject(node, RejectionCode.REJECTED_BY_HANDLER, exc.detail, **refs)
    except IntegrityError:
        # the same message arrived twice at once; the other delivery won: answer as it did
        with node.db.session() as session:
            again = _already_received(session, envelope)
        if again is None:
            raise
        return again


def receive_batch(
    node: Node, bodies: list[bytes], *, source: str | None = None
) -> list[InboxAnswer | None]:
    """Receive several envelopes (in the sender's order) in one transaction.

    Each envelope gets exactly the answer ``receive_envelope`` would give it. A handler runs
    in its own savepoint, so a refused message leaves nothing behind but its audit entry and
    the others are unaffected; the rows of accepted messages (message, receipts, audit entry,
    notification) are written together at the end, a few statements for the whole batch.
    An unexpected error stops the batch there: what came before is committed, and that
    envelope and the rest answer ``None`` (not processed; the sender retries them, in
    order). If the final write fails (a concurrent delivery of the same message), nothing is
    committed and the sender retries the whole batch."""
    from trailguard.audit.service import lock_chain

    answers: list[InboxAnswer | None] = []
    senders: dict[str, Any] = {}
    parsed: list[Envelope | EnvelopeRejected] = []
    for body in bodies:
        try:
            parsed.append(parse_envelope(body))
        except EnvelopeRejected as exc:
            parsed.append(exc)
    with write_serialised(node), node.db.session() as session:
        lock_chain(session)  # the write transaction begins here, outside every savepoint
        ids = [e.message_id for e in parsed if isinstance(e, Envelope)]
        seen = set(
            session.execute(
                select(ExchangeMessageRow.message_id).where(
                    ExchangeMessageRow.direction == "received",
                    ExchangeMessageRow.message_id.in_(ids),
                )
            ).scalars()
        )
        accepted = _Accepted()
        for envelope in parsed:
            now = node.clock.now()
            if isinstance(envelope, EnvelopeRejected):  # not an envelope: answered unsigned
                answers.append(
                    InboxAnswer(
                        HTTP_STATUS[envelope.code],
                        {"error": envelope.code.value, "detail": envelope.detail},
                    )
                )
                _audit_refusal(
                    session, envelope.code, envelope.detail, now, node=node, source=source
                )
                continue
            refs: dict[str, Any] = {
                "message_id": envelope.message_id,
                "sender": envelope.sender,
                "envelope_digest": envelope.digest,
            }
            # only a handler writes before the message is known to be accepted: its effects
            # get a savepoint; everything else is held back and written at the end
            savepoint = session.begin_nested() if envelope.message_type in _HANDLERS else None
            this = _Accepted()
            refused: tuple[RejectionCode, str] | None = None
            try:
                answer = _accept_in(
                    session, node, envelope, senders, this, batch=accepted, seen=seen
                )
                if savepoint is not None:
                    savepoint.commit()
            except EnvelopeRejected as exc:
                refused = (exc.code, exc.detail)
            except _HandlerRefused as exc:
                refused = (RejectionCode.REJECTED_BY_HANDLER, exc.detail)
            except Exception:
                if savepoint is not None and savepoint.is_active:
                    savepoint.rollback()
                logger.exception("receiving message %s in a batch", envelope.message_id)
                break
            if refused is not None:
                if savepoint is not None and savepoint.is_active:
                    savepoint.rollback()
                answer = _refusal(node, refused[0], refused[1], now, **refs)
                _audit_refusal(
                    session,
                    refused[0],
                    refused[1],
                    now,
                    message_id=envelope.message_id,
                    sender=envelope.sender,
                    node=node,
                    source=source,
                )
            else:
                accepted.merge(this)
            answers.append(answer)
        accepted.write(session, node)
    return answers + [None] * (len(bodies) - len(answers))


def _already_received(session: Session, envelope: Envelope) -> InboxAnswer | None:
    row = session.execute(
        select(ExchangeMessageRow).where(
            ExchangeMessageRow.direction == "received",
            ExchangeMessageRow.message_id == envelope.message_id,
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.envelope_digest != envelope.digest:
        raise EnvelopeRejected(
            RejectionCode.REPLAY,
            f"message id {envelope.message_id} was already received with different content",
        )
    receipts = [
        r
        for r in _receipts_of(session, envelope.message_id)
        if r.get("stage") in (Stage.RECEIVED.value, Stage.ACCEPTED.value)
    ]
    return InboxAnswer(200, {"status": "accepted", "duplicate": True, "receipts": receipts})


def _accept(node: Node, envelope: Envelope) -> InboxAnswer:
    with write_serialised(node), node.db.session() as session:
        accepted = _Accepted()
        answer = _accept_in(session, node, envelope, {}, accepted)
        accepted.write(session, node)
        return answer


@dataclass
class _Accepted:
    """What accepting messages writes besides the handlers' own effects, held back so that
    a batch writes it in a few statements at its end (and only for messages whose handler
    succeeded)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, tuple[str, InboxAnswer]] = field(default_factory=dict)  # id -> digest

    def merge(self, other: _Accepted) -> None:
        self.messages += other.messages
        self.receipts += other.receipts
        self.audits += other.audits
        self.notices += other.notices
        self.answers.update(other.answers)

    def write(self, session: Session, node: Node) -> None:
        from trailguard.network.clocks import notify

        if self.messages:  # unique by (direction, message id): a concurrent twin fails here
            session.execute(insert(ExchangeMessageRow), self.messages)
        if self.receipts:
            session.execute(insert(ExchangeReceiptRow), self.receipts)
        for entry in self.audits:
            record(session, **entry)
        for notice in self.notices:
            notify(session, node, **notice)


def _accept_in(
    session: Session,
    node: Node,
    envelope: Envelope,
    senders: dict[str, Any],
    accepted: _Accepted,
    *,
    batch: _Accepted | None = None,
    seen: set[str] | None = None,
) -> InboxAnswer:
    """Accept one envelope in the caller's transaction: check it, run its handler, and put
    what must be stored (message, receipts, audit entry, notification) into ``accepted``
    for the caller to write. ``senders`` caches directory entries; ``batch`` holds what was
    accepted earlier in the same batch (not yet written), and ``seen``, when given, every
    id of the batch already stored (looked up once), so only those are looked up again."""
    if envelope.recipient != node.config.node_id:
        raise EnvelopeRejected(
            RejectionCode.WRONG_RECIPIENT,
            f"this is node {node.config.node_id!r}, the envelope is for {envelope.recipient!r}",
        )
    identity = node_identity(node)
    if envelope.sender not in senders:
        senders[envelope.sender] = directory_service.find_entry(session, envelope.sender)
    entry = senders[envelope.sender]
    if entry is None or not entry.keys:
        raise EnvelopeRejected(
            RejectionCode.UNKNOWN_SENDER,
            f"sender {envelope.sender!r} is not in this node's directory",
        )
    if not envelope.verify(list(entry.keys)):
        raise EnvelopeRejected(
            RejectionCode.BAD_SIGNATURE,
            f"the signature does not verify against key {envelope.key_id!r} of {envelope.sender!r}",
        )
    earlier = batch.answers.get(envelope.message_id) if batch is not None else None
    if earlier is not None:  # the same id earlier in this batch
        if earlier[0] != envelope.digest:
            raise EnvelopeRejected(
                RejectionCode.REPLAY,
                f"message id {envelope.message_id} was already received with different content",
            )
        return InboxAnswer(200, {**earlier[1].body, "duplicate": True})
    again = (
        _already_received(session, envelope)
        if seen is None or envelope.message_id in seen
        else None
    )
    if again is not None:
        return again
    now = node.clock.now()
    if envelope.created_at > now + CLOCK_SKEW:
        # ids are remembered for the whole window; one from beyond it cannot be checked
        raise EnvelopeRejected(
            RejectionCode.REPLAY,
            f"created_at {isoformat_z(envelope.created_at)} is outside the replay window "
            f"(more than {CLOCK_SKEW} ahead of this node's clock, {isoformat_z(now)})",
        )
    if envelope.expires_at <= now:
        raise EnvelopeRejected(
            RejectionCode.EXPIRED,
            f"the envelope expired at {isoformat_z(envelope.expires_at)}; "
            f"it is now {isoformat_z(now)}",
        )
    payload = envelope.open(identity)
    spec = _HANDLERS.get(envelope.message_type)
    row = _message_values(envelope, "received", payload, now)
    if spec and spec.requires_ack:
        row["requires_ack"] = True
        row["ack_due"] = now + timedelta(minutes=node.config.ack_minutes)
    if spec is not None:
        message = ReceivedMessage(
            message_id=envelope.message_id,
            sender=envelope.sender,
            recipient=envelope.recipient,
            message_type=envelope.message_type,
            correlation_id=envelope.correlation_id,
            created_at=envelope.created_at,
            expires_at=envelope.expires_at,
            received_at=now,
            payload=payload,
        )
        try:
            spec.handler(session, node, message)
        except ValidationFailed as exc:
            problems = "; ".join(exc.problems)
            raise _HandlerRefused(f"{exc}{': ' + problems if problems else ''}") from exc
    receipts = [
        issue_receipt(
            identity,
            issuer=node.config.node_id,
            message_id=envelope.message_id,
            envelope_digest=envelope.digest,
            subject_sender=envelope.sender,
            stage=stage,
            at=now,
        )
        for stage in (Stage.RECEIVED, Stage.ACCEPTED)
    ]
    ack_due: datetime | None = row["ack_due"]
    accepted.messages.append(row)
    accepted.receipts += [_receipt_values(r, now) for r in receipts]
    accepted.audits.append(
        {
            "actor": f"node:{envelope.sender}",
            "action": "exchange.accepted",
            "subject": f"message:{envelope.message_id}",
            "details": {
                "type": envelope.message_type,
                "envelope_sha256": envelope.digest,
                "ack_due": isoformat_z(ack_due) if ack_due else None,
            },
            "at": now,
        }
    )
    if ack_due is not None:
        accepted.notices.append(
            {
                "audience": "duty_officer",
                "subject": f"{envelope.message_type} from {envelope.sender} needs "
                f"acknowledgement by {isoformat_z(ack_due)}",
                "body": f"message {envelope.message_id}",
                "message_id": envelope.message_id,
            }
        )
    answer = InboxAnswer(
        200,
        {
            "status": "accepted",
            "duplicate": False,
            "receipts": [receipt.to_json() for receipt in receipts],
        },
    )
    accepted.answers[envelope.message_id] = (envelope.digest, answer)
    return answer


# --- delivery ----------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    attempted: int = 0
    delivered: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # message id -> reason
    retrying: dict[str, str] = field(default_factory=dict)  # message id -> last error
    failed: dict[str, str] = field(default_factory=dict)  # gave up (expired undelivered)


_DELIVERY_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_DEFAULT_TRANSPORT = HttpTransport()


def _delivery_lock(node: Node) -> threading.Lock:
    key = f"{node.config.node_id}|{node.db.url}"
    with _LOCKS_GUARD:
        return _DELIVERY_LOCKS.setdefault(key, threading.Lock())


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter in its upper half: 1 s, 2 s, 4 s ... capped."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return base * random.uniform(0.5, 1.0)


def deliver_pending(
    node: Node,
    *,
    transport: Transport | None = None,
    limit: int = 200,
    concurrency: int = 1,
    batch_size: int = BATCH_MAX_MESSAGES,
) -> DeliveryReport:
    """Try every outbox message that is due. Messages to one recipient go one at a time in
    the order they were written (a request's transitions must not overtake each other), and a
    message waiting for its retry holds back the later ones to the same recipient; different
    recipients are served ``concurrency`` at a time. Safe to call from several threads: one
    delivery round per node runs at a time, and the receiver's idempotency makes a repeated
    post harmless."""
    if not 1 <= concurrency <= 64:
        raise ValidationFailed(f"concurrency must be between 1 and 64, not {concurrency}")
    if not 1 <= batch_size <= BATCH_MAX_MESSAGES:
        raise ValidationFailed(
            f"batch_size must be between 1 and {BATCH_MAX_MESSAGES}, not {batch_size}"
        )
    transport = transport or _DEFAULT_TRANSPORT
    report = DeliveryReport()
    with _delivery_lock(node):
        now = node.clock.now()
        with node.db.session() as session:
            pending = session.execute(
                select(
                    OutboxRow.id,
                    OutboxRow.message_id,
                    OutboxRow.recipient,
                    OutboxRow.envelope,
                    OutboxRow.next_attempt_at,
                )
                .where(OutboxRow.state == "pending")
                .order_by(OutboxRow.id)
                .limit(limit)
            ).all()
            queues: dict[str, list[Any]] = {}
            blocked: set[str] = set()
            for row in pending:
                if row.recipient in blocked:
                    continue
                if row.next_attempt_at > now:
                    blocked.add(row.recipient)  # an earlier message is waiting: keep order
                    continue
                queues.setdefault(row.recipient, []).append(row)
            endpoints = {}
            for recipient in queues:
                entry = directory_service.find_entry(session, recipient)
                endpoints[recipient] = entry.channels.endpoint if entry else None
        report.attempted = sum(len(queue) for queue in queues.values())

        def attempt(row: Any, endpoint: str) -> bool:
            """Post one message; True when the recipient's queue may go on."""
            result = transport.post_envelope(endpoint, row.envelope.encode("utf-8"))
            return _record_outcomes(node, [row], [_result_json(result)], report)

        def drain(queue: list[Any]) -> None:
            endpoint = endpoints.get(queue[0].recipient)
            if endpoint is None:
                _retry(node, queue[0].id, "the recipient has no endpoint in the directory", report)
                return
            post_batch: Callable[[str, list[bytes]], BatchResult] | None = getattr(
                transport, "post_batch", None
            )
            # A batch's outcomes are recorded in a second thread while the next batch is on
            # the wire: whether the queue may go on is known from the answers alone, and a
            # crash before the recording only means the peer sees those messages again (it
            # answers duplicates as before), still in order.
            recorder = ThreadPoolExecutor(1, thread_name_prefix="outbox-record")
            recording: Future[bool] | None = None
            try:
                i = 0
                while i < len(queue):
                    chunk = (
                        _next_batch(queue, i, batch_size)
                        if post_batch is not None
                        else queue[i : i + 1]
                    )
                    if post_batch is None or len(chunk) == 1:
                        if recording is not None:
                            recording.result()
                            recording = None
                        if not attempt(chunk[0], endpoint):
                            return  # the rest wait for this one's retry
                        i += 1
                        continue
                    batch = post_batch(endpoint, [row.envelope.encode("utf-8") for row in chunk])
                    if not batch.supported:
                        post_batch = None  # an older peer, or over its limit: one by one
                        continue
                    if recording is not None:
                        recording.result()  # outcomes are recorded in the order of the queue
                        recording = None
                    if batch.status_code != 200:
                        error = batch.error or f"HTTP {batch.status_code}"
                        _retry(node, chunk[0].id, error, report)
                        return
                    recording = recorder.submit(
                        _record_outcomes, node, chunk, batch.results, report
                    )
                    if not all(_settled(r) for r in batch.results[: len(chunk)]) or len(
                        batch.results
                    ) < len(chunk):
                        return  # one must be retried: it holds back the rest
                    i += len(chunk)
            finally:
                if recording is not None:
                    recording.result()
                recorder.shutdown()

        if concurrency == 1 or len(queues) <= 1:
            for queue in queues.values():
                drain(queue)
        else:
            with ThreadPoolExecutor(concurrency, thread_name_prefix="outbox") as pool:
                for future in [pool.submit(drain, queue) for queue in queues.values()]:
                    future.result()
    return report


def _next_batch(queue: list[Any], start: int, count: int) -> list[Any]:
    """The messages from ``start`` that fit in one batch post (count and bytes)."""
    chunk: list[Any] = []
    size = 0
    for row in queue[start : start + count]:
        size += len(row.envelope) + 8
        if chunk and size > BATCH_MAX_BYTES:
            break
        chunk.append(row)
    return chunk


def _result_json(result: TransportResult) -> dict[str, Any]:
    if result.status_code is None:
        return {"status_code": None, "error": result.error}
    return {"status_code": result.status_code, "body": result.body, "error": result.error}


def _settled(result: dict[str, Any]) -> bool:
    """Whether the peer's answer settles a message (delivered or refused for good)."""
    status = result.get("status_code")
    body = result.get("body")
    if status == 200 and isinstance(body, dict):
        return True
    return (
        isinstance(status, int)
        and isinstance(body, dict)
        and body.get("error") in RejectionCode.__members__.values()
    )


def _record_outcomes(
    node: Node, rows: list[Any], results: list[dict[str, Any]], report: DeliveryReport
) -> bool:
    """Record what the peer answered for each posted message, in order, in one transaction.
    Stops at the first message that must be retried (it holds back the rest of its queue);
    True when every message was settled (delivered or refused) and the queue may go on."""
    cache = _Round()
    with write_serialised(node), node.db.session() as session, session.no_autoflush:
        # two queries for the whole batch; the writes go in at the commit, batched per table
        ids = [row.id for row in rows]
        loaded = list(
            session.execute(select(OutboxRow).where(OutboxRow.id.in_(ids))).scalars()
        )  # kept referenced: session.get() below finds them in the identity map
        message_ids = [row.message_id for row in loaded]
        cache.receipts = set(
            session.execute(
                select(
                    ExchangeReceiptRow.message_id,
                    ExchangeReceiptRow.stage,
                    ExchangeReceiptRow.issuer,
                ).where(ExchangeReceiptRow.message_id.in_(message_ids))
            ).all()
        )
        for index, row in enumerate(rows):
            result = results[index] if index < len(results) else {}
            status = result.get("status_code")
            body = result.get("body")
            if status == 200 and isinstance(body, dict):
                _delivered_in(session, node, row.id, body, report, cache)
            elif (
                isinstance(status, int)
                and isinstance(body, dict)
                and body.get("error") in RejectionCode.__members__.values()
            ):
                _rejected_in(session, node, row.id, body, report, cache)
            else:
                error = result.get("error") or (
                    f"HTTP {status}" if status is not None else "not processed by the peer"
                )
                _retry_in(session, node, row.id, str(error), report)
                break
        else:
            index = len(rows)
        if cache.new_receipts:
            session.execute(insert(ExchangeReceiptRow), cache.new_receipts)
    return index == len(rows)


def _verified_receipts(
    session: Session,
    recipient: str,
    message_id: str,
    raw: Any,
    key_cache: dict[str, list[Any]] | None = None,
) -> tuple[list[Receipt], list[str]]:
    problems: list[str] = []
    items = raw if isinstance(raw, list) else [raw]
    if key_cache is not None and recipient in key_cache:
        keys = key_cache[recipient]
    else:
        entry = directory_service.find_entry(session, recipient)
        keys = list(entry.keys) if entry else []
        if key_cache is not None:
            key_cache[recipient] = keys
    receipts = []
    for item in items:
        try:
            receipt = Receipt.from_json(item)
        except ValidationFailed as exc:
            problems.append(str(exc))
            continue
        if receipt.message_id != message_id or receipt.issuer != recipient:
            problems.append(f"receipt for {receipt.message_id} by {receipt.issuer} does not match")
        elif not receipt.verify(keys):
            problems.append(f"{receipt.stage.value} receipt signature does not verify")
        else:
            receipts.append(receipt)
    return receipts, problems


@dataclass
class _Round:
    """What one recording transaction of a delivery round has already looked up."""

    keys: dict[str, list[Any]] = field(default_factory=dict)
    receipts: set[tuple[str, str, str]] = field(default_factory=set)  # (message, stage, issuer)
    new_receipts: list[dict[str, Any]] = field(default_factory=list)  # to insert at the end

    def add_receipt(self, receipt: Receipt, now: datetime) -> None:
        """Queue a receipt for the round's one insert, unless it is already stored."""
        key = (receipt.message_id, receipt.stage.value, receipt.issuer)
        if key not in self.receipts:
            self.receipts.add(key)
            self.new_receipts.append(_receipt_values(receipt, now))


def _delivered_in(
    session: Session,
    node: Node,
    outbox_id: int,
    body: dict[str, Any],
    report: DeliveryReport,
    cache: _Round,
) -> None:
    now = node.clock.now()
    row = session.get(OutboxRow, outbox_id)
    if row is None or row.state != "pending":
        return
    receipts, problems = _verified_receipts(
        session, row.recipient, row.message_id, body.get("receipts", []), cache.keys
    )
    for receipt in receipts:
        cache.add_receipt(receipt, now)
    row.state = "delivered"
    row.attempts += 1
    row.delivered_at = now
    row.last_error = "; ".join(problems)[:1000] if problems else None
    record(
        session,
        actor="system:outbox",
        action="exchange.delivered",
        subject=f"message:{row.message_id}",
        details={
            "recipient": row.recipient,
            "attempts": row.attempts,
            "receipts": [r.stage.value for r in receipts],
            "problems": problems,
        },
        at=now,
    )
    report.delivered.append(row.message_id)


def _rejected_in(
    session: Session,
    node: Node,
    outbox_id: int,
    body: dict[str, Any],
    report: DeliveryReport,
    cache: _Round,
) -> None:
    now = node.clock.now()
    reason = str(body.get("error"))
    row = session.get(OutboxRow, outbox_id)
    if row is None or row.state != "pending":
        return
    receipts, problems = _verified_receipts(
        session, row.recipient, row.message_id, body.get("receipt"), cache.keys
    )
    for receipt in receipts:
        cache.add_receipt(receipt, now)
    row.state = "rejected"
    row.attempts += 1
    row.last_error = f"{reason}: {body.get('detail')}"[:1000]
    record(
        session,
        actor="system:outbox",
        action="exchange.refused_by_peer",
        subject=f"message:{row.message_id}",
        details={
            "recipient": row.recipient,
            "reason": reason,
            "detail": str(body.get("detail"))[:300],
            "problems": problems,
        },
        at=now,
    )
    from trailguard.network.clocks import notify

    notify(
        session,
        node,
        audience="duty_officer",
        subject=f"{row.recipient} refused message {row.message_id}: {reason}",
        body=str(body.get("detail"))[:1000],
        message_id=row.message_id,
    )
    report.rejected[row.message_id] = reason


def _retry(node: Node, outbox_id: int, error: str, report: DeliveryReport) -> None:
    with write_serialised(node), node.db.session() as session:
        _retry_in(session, node, outbox_id, error, report)


def _retry_in(
    session: Session, node: Node, outbox_id: int, error: str, report: DeliveryReport
) -> None:
    now = node.clock.now()
    row = session.get(OutboxRow, outbox_id)
    if row is None or row.state != "pending":
        return
    row.attempts += 1
    row.last_error = error[:1000]
    expires = session.execute(
        select(ExchangeMessageRow.expires_at).where(
            ExchangeMessageRow.direction == "sent",
            ExchangeMessageRow.message_id == row.message_id,
        )
    ).scalar_one()
    if expires <= now:
        row.state = "failed"
        record(
            session,
            actor="system:outbox",
            action="exchange.undeliverable",
            subject=f"message:{row.message_id}",
            details={
                "recipient": row.recipient,
                "attempts": row.attempts,
                "last_error": error[:300],
            },
            at=now,
        )
        from trailguard.network.clocks import notify

        notify(
            session,
            node,
            audience="duty_officer",
            subject=f"message {row.message_id} to {row.recipient} expired undelivered",
            body=f"after {row.attempts} attempts; last error: {error}"[:1000],
            message_id=row.message_id,
        )
        report.failed[row.message_id] = error
        return
    row.next_attempt_at = now + backoff(row.attempts)
    report.retrying[row.message_id] = error


# --- receipts carried as messages (acknowledgements) -------------------------------------


def _on_receipt(session: Session, node: Node, message: ReceivedMessage) -> None:
    """A peer sends a receipt for one of our messages (e.g. acknowledged by a person)."""
    receipts, problems = _verified_receipts(
        session,
        message.sender,
        str(message.payload.get("receipt", {}).get("message_id", "")),
        message.payload.get("receipt"),
    )
    if problems or not receipts:
        raise ValidationFailed("the receipt cannot be accepted", problems or ["no receipt"])
    receipt = receipts[0]
    sent = session.execute(
        select(ExchangeMessageRow.id).where(
            ExchangeMessageRow.direction == "sent",
            ExchangeMessageRow.message_id == receipt.message_id,
            ExchangeMessageRow.recipient == message.sender,
        )
    ).first()
    if sent is None:
        raise ValidationFailed(
            f"receipt refers to message {receipt.message_id}, which this node never sent to "
            f"{message.sender!r}"
        )
    if _store_receipt(session, receipt, message.received_at):
        record(
            session,
            actor=f"node:{message.sender}",
            action=f"exchange.{receipt.stage.value}",
            subject=f"message:{receipt.message_id}",
            details={"at": isoformat_z(receipt.at), "detail": receipt.detail},
            at=message.received_at,
        )


def _on_ping(session: Session, node: Node, message: ReceivedMessage) -> None:
    text = message.payload.get("text", "")
    if not isinstance(text, str) or len(text) > 2000:
        raise ValidationFailed("a ping carries at most 2000 characters of text", ["text"])


register_handler(RECEIPT_MESSAGE_TYPE, _on_receipt)
register_handler(PING_MESSAGE_TYPE, _on_ping, requires_ack=True)


def acknowledge(node: Node, message_id: str, *, actor: str, note: str | None = None) -> Receipt:
    """A person acknowledges a received message: the clock stops and a signed
    ``acknowledged`` receipt goes back to the sender as its own message."""
    now = node.clock.now()
    with write_serialised(node), node.db.session() as session:
        row = session.execute(
            select(ExchangeMessageRow).where(
                ExchangeMessageRow.direction == "received",
                ExchangeMessageRow.message_id == message_id,
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no received message {message_id!r}")
        if not row.requires_ack:
            raise ValidationFailed(
                f"message {message_id} ({row.message_type}) needs no acknowledgement"
            )
        if row.acknowledged_at is not None:
            raise Conflict(
                f"message {message_id} was already acknowledged by "
                f"{row.acknowledged_by} at {isoformat_z(row.acknowledged_at)}"
            )
        if note is not None and len(note) > 500:
            raise ValidationFailed(f"the note is {len(note)} characters; at most 500")
        row.acknowledged_at = now
        row.acknowledged_by = actor[:200]
        receipt = issue_receipt(
            node_identity(node),
            issuer=node.config.node_id,
            message_id=message_id,
            envelope_digest=row.envelope_digest,
            subject_sender=row.sender,
            stage=Stage.ACKNOWLEDGED,
            at=now,
            detail=note,
        )
        _store_receipt(session, receipt, now)
        record(
            session,
            actor=actor,
            action="exchange.acknowledged",
            subject=f"message:{message_id}",
            details={
                "sender": row.sender,
                "ack_due": isoformat_z(row.ack_due) if row.ack_due else None,
                "late": bool(row.ack_due and now >= row.ack_due),
            },
            at=now,
        )
        send_message(
            session,
            node,
            recipient=row.sender,
            message_type=RECEIPT_MESSAGE_TYPE,
            payload={"receipt": receipt.to_json()},
            actor=actor,
            correlation_id=message_id,
        )
    return receipt


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    message_id: str
    direction: str
    sender: str
    recipient: str
    message_type: str
    correlation_id: str | None
    created_at: datetime
    expires_at: datetime
    recorded_at: datetime
    requires_ack: bool
    ack_due: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    delivery_state: str | None
    attempts: int | None
    last_error: str | None
    next_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            out[name] = isoformat_z(value) if isinstance(value, datetime) else value
        return out


def _view(row: ExchangeMessageRow, outbox: OutboxRow | None) -> MessageView:
    return MessageView(
        message_id=row.message_id,
        direction=row.direction,
        sender=row.sender,
        recipient=row.recipient,
        message_type=row.message_type,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        recorded_at=row.recorded_at,
        requires_ack=row.requires_ack,
        ack_due=row.ack_due,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        escalated_at=row.escalated_at,
        delivery_state=outbox.state if outbox else None,
        attempts=outbox.attempts if outbox else None,
        last_error=outbox.last_error if outbox else None,
        next_attempt_at=outbox.next_attempt_at if outbox else None,
    )


def list_messages(
    session: Session, *, direction: str, limit: int = 100, pending_ack_only: bool = False
) -> list[MessageView]:
    if direction not in ("sent", "received"):
        raise ValidationFailed(f"direction must be 'sent' or 'received', not {direction!r}")
    if not 1 <= limit <= 1000:
        raise ValidationFailed(f"limit must be between 1 and 1000, not {limit}")
    query = (
        select(ExchangeMessageRow, OutboxRow)
        .outerjoin(OutboxRow, OutboxRow.message_id == ExchangeMessageRow.message_id)
        .where(ExchangeMessageRow.direction == direction)
        .order_by(ExchangeMessageRow.id.desc())
        .limit(limit)
    )
    if pending_ack_only:
        query = query.where(
            ExchangeMessageRow.requires_ack.is_(True), ExchangeMessageRow.acknowledged_at.is_(None)
        )
    return [
        _view(message, outbox if direction == "sent" else None)
        for message, outbox in session.execute(query).all()
    ]


@dataclass(frozen=True)
class MessageDetail:
    message: MessageView
    payload: dict[str, Any]
    envelope: dict[str, Any]
    receipts: list[dict[str, Any]]


def message_detail(
    session: Session, message_id: str, *, direction: str | None = None
) -> MessageDetail:
    query = select(ExchangeMessageRow).where(ExchangeMessageRow.message_id == message_id)
    if direction:
        query = query.where(ExchangeMessageRow.direction == direction)
    row = session.execute(query.order_by(ExchangeMessageRow.id)).scalars().first()
    if row is None:
        raise NotFound(f"no message {message_id!r} on this node")
    outbox = None
    if row.direction == "sent":
        outbox = session.execute(
            select(OutboxRow).where(OutboxRow.message_id == message_id)
        ).scalar_one_or_none()
    return MessageDetail(
        message=_view(row, outbox),
        payload=json.loads(row.payload),
        envelope=json.loads(row.envelope),
        receipts=_receipts_of(session, message_id),
    )


def counts(session: Session) -> dict[str, int]:
    """Figures for the dashboard: pending outbox, unacknowledged inbox, failures."""
    pending = (
        session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")
        )
        or 0
    )
    failed = (
        session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.state.in_(("failed", "rejected")))
        )
        or 0
    )
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(ExchangeMessageRow)
            .where(
                ExchangeMessageRow.direction == "received",
                ExchangeMessageRow.requires_ack.is_(True),
                ExchangeMessageRow.acknowledged_at.is_(None),
            )
        )
        or 0
    )
    return {"outbox_pending": pending, "outbox_failed": failed, "awaiting_ack": waiting}
