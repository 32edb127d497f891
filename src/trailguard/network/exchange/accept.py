"""Receiving: the inbox checks an envelope (form, sender, signature, expiry, replay,
decryption), stores it verbatim, runs the registered handler in the same transaction (each
message at most once) and answers with a signed receipt; batches in one transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trailguard.audit import lock_chain, record
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import ValidationFailed
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
    issue_receipt,
    parse_envelope,
)
from trailguard.network.exchange.handlers import _HANDLERS, ReceivedMessage
from trailguard.network.exchange.outbox import _message_values
from trailguard.network.identity import node_identity
from trailguard.network.notifications import notify
from trailguard.network.orm import ExchangeMessageRow, ExchangeReceiptRow
from trailguard.network.refusals import UNAUTHENTICATED, guard_for, write_entries
from trailguard.node import Node

logger = logging.getLogger(__name__)

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
    network = node.config.network_name
    if envelope.network != network:  # first: live and exercise nodes never talk (issue 17)
        raise EnvelopeRejected(
            RejectionCode.WRONG_NETWORK,
            f"this node belongs to network {network!r}, the envelope to {envelope.network!r}; "
            "live and exercise nodes never exchange messages",
        )
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
    if entry.network != network:
        raise EnvelopeRejected(
            RejectionCode.WRONG_NETWORK,
            f"sender {envelope.sender!r} is listed in this node's directory as a node of "
            f"network {entry.network!r}, this node belongs to {network!r}",
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
