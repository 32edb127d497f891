"""Delivery: the outbox is posted to each recipient (in order, batched, with retries and
backoff), and the receipts that come back are verified and stored."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.errors import ValidationFailed
from trailguard.network import directory_service
from trailguard.network.envelope import (
    Receipt,
    RejectionCode,
)
from trailguard.network.exchange.accept import _receipt_values, write_serialised
from trailguard.network.notifications import notify
from trailguard.network.orm import ExchangeMessageRow, ExchangeReceiptRow, OutboxRow
from trailguard.network.transport import (
    BATCH_MAX_BYTES,
    BATCH_MAX_MESSAGES,
    BatchResult,
    HttpTransport,
    Transport,
    TransportResult,
)
from trailguard.node import Node

BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_CAP = timedelta(minutes=5)


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
            for recipient in list(queues):
                entry = directory_service.find_entry(session, recipient)
                refusal = _network_refusal(node, entry, queues[recipient])
                if refusal is not None:  # never posted: live and exercise nodes never talk
                    _refuse_queue(session, node, queues.pop(recipient), refusal, report)
                    continue
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


def _network_refusal(node: Node, entry: Any, rows: list[Any]) -> str | None:
    """Why the messages to one recipient must not leave (issue 17), or None: the recipient's
    directory entry, or an envelope in the outbox, belongs to another network than the
    node's own (e.g. a data directory whose ``[exercise]`` table was added or removed)."""
    network = node.config.network_name
    if entry is not None and entry.network != network:
        return (
            f"{entry.node_id!r} is a node of network {entry.network!r}, this node belongs to "
            f"{network!r}; live and exercise nodes never exchange messages"
        )
    # the envelope is canonical JSON: its one unescaped "network" key names its network (a
    # quote inside any string value is escaped), found without parsing a large envelope
    marker = f'"network":{json.dumps(network)},'
    for row in rows:
        if marker not in row.envelope:
            return (
                f"message {row.message_id} was sealed for another network than this node's "
                f"({network!r}); it is not sent"
            )
    return None


def _refuse_queue(
    session: Session, node: Node, rows: list[Any], reason: str, report: DeliveryReport
) -> None:
    now = node.clock.now()
    for item in rows:
        row = _pending(session, item.id)
        if row is None:
            continue
        row.state = "rejected"
        row.last_error = f"{RejectionCode.WRONG_NETWORK.value}: {reason}"[:1000]
        _audit(
            session,
            row,
            "exchange.not_sent",
            now,
            reason=RejectionCode.WRONG_NETWORK.value,
            detail=reason[:300],
        )
        report.rejected[row.message_id] = RejectionCode.WRONG_NETWORK.value


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


def _outcome(result: dict[str, Any]) -> Literal["delivered", "rejected"] | None:
    """What the peer's answer settles for a message: delivered, refused for good (rejected),
    or nothing (None: the message is to be retried)."""
    status = result.get("status_code")
    body = result.get("body")
    if status == 200 and isinstance(body, dict):
        return "delivered"
    if (
        isinstance(status, int)
        and isinstance(body, dict)
        and body.get("error") in RejectionCode.__members__.values()
    ):
        return "rejected"
    return None


def _settled(result: dict[str, Any]) -> bool:
    """Whether the peer's answer settles a message (delivered or refused for good)."""
    return _outcome(result) is not None


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
            outcome = _outcome(result)
            if outcome == "delivered":
                _delivered_in(session, node, row.id, result["body"], report, cache)
            elif outcome == "rejected":
                _rejected_in(session, node, row.id, result["body"], report, cache)
            else:
                status = result.get("status_code")
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

    def take_receipts(
        self, session: Session, row: OutboxRow, raw: Any, now: datetime
    ) -> tuple[list[Receipt], list[str]]:
        """Verify the receipts the peer sent for ``row`` and queue the good ones."""
        receipts, problems = _verified_receipts(
            session, row.recipient, row.message_id, raw, self.keys
        )
        for receipt in receipts:
            self.add_receipt(receipt, now)
        return receipts, problems


def _pending(session: Session, outbox_id: int) -> OutboxRow | None:
    """The outbox row, while it still waits to be sent (another round may have settled it)."""
    row = session.get(OutboxRow, outbox_id)
    return row if row is not None and row.state == "pending" else None


def _audit(session: Session, row: OutboxRow, action: str, now: datetime, **details: Any) -> None:
    """The outbox worker's audit entry about one message; its details name the recipient first."""
    record(
        session,
        actor="system:outbox",
        action=action,
        subject=f"message:{row.message_id}",
        details={"recipient": row.recipient, **details},
        at=now,
    )


def _delivered_in(
    session: Session,
    node: Node,
    outbox_id: int,
    body: dict[str, Any],
    report: DeliveryReport,
    cache: _Round,
) -> None:
    now = node.clock.now()
    row = _pending(session, outbox_id)
    if row is None:
        return
    receipts, problems = cache.take_receipts(session, row, body.get("receipts", []), now)
    row.state = "delivered"
    row.attempts += 1
    row.delivered_at = now
    row.last_error = "; ".join(problems)[:1000] if problems else None
    _audit(
        session,
        row,
        "exchange.delivered",
        now,
        attempts=row.attempts,
        receipts=[r.stage.value for r in receipts],
        problems=problems,
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
    row = _pending(session, outbox_id)
    if row is None:
        return
    _, problems = cache.take_receipts(session, row, body.get("receipt"), now)
    row.state = "rejected"
    row.attempts += 1
    row.last_error = f"{reason}: {body.get('detail')}"[:1000]
    _audit(
        session,
        row,
        "exchange.refused_by_peer",
        now,
        reason=reason,
        detail=str(body.get("detail"))[:300],
        problems=problems,
    )
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
    row = _pending(session, outbox_id)
    if row is None:
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
        _audit(
            session,
            row,
            "exchange.undeliverable",
            now,
            attempts=row.attempts,
            last_error=error[:300],
        )
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
