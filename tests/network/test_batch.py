"""Batched delivery: many envelopes for one recipient in one POST and one transaction on each
side, with exactly the per-message outcomes single posts would give (refusals, duplicates,
handler errors, order), and a fallback to single posts for peers without the endpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from network_kit import Net, count, stored
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit.orm import AuditEntryRow
from trailguard.audit.service import record, verify
from trailguard.core.errors import ValidationFailed
from trailguard.network import ReceivedMessage, deliver_pending, register_handler, send_message
from trailguard.network.directory_service import find_entry
from trailguard.network.envelope import Receipt, parse_envelope, seal
from trailguard.network.identity import node_identity
from trailguard.network.orm import ExchangeMessageRow, ExchangeReceiptRow, OutboxRow
from trailguard.network.transport import BATCH_PATH, INBOX_PATH
from trailguard.node import Node

SEEN: list[str] = []


def _handler(session: Session, node: Node, message: ReceivedMessage) -> None:
    # the handler writes before it decides: a refusal must take its writes back with it
    record(
        session,
        actor="system:test",
        action="test.handler_wrote",
        subject=f"message:{message.message_id}",
        at=message.received_at,
    )
    if message.payload.get("refuse"):
        raise ValidationFailed("refused by the test handler", ["refuse=true"])
    if message.payload.get("crash"):
        raise RuntimeError("the handler crashed")
    SEEN.append(str(message.payload["n"]))


register_handler("test.batch", _handler)


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEEN.clear()


def _send(net: Net, n: int, **extra: Any) -> str:
    with net.us.db.session() as session:
        return send_message(
            session,
            net.us,
            recipient="nl-poc",
            message_type="test.batch",
            payload={"n": n, **extra},
            actor="user:alice",
        ).message_id


def _outbox_states(net: Net) -> list[str]:
    with net.us.db.session() as session:
        return list(session.execute(select(OutboxRow.state).order_by(OutboxRow.id)).scalars())


def _audit_actions(node: Node) -> list[str]:
    with node.db.session() as session:
        return list(session.execute(select(AuditEntryRow.action)).scalars())


def _verify_chain(node: Node) -> None:
    with node.db.session() as session:
        report = verify(session)
    assert report.ok, report


def test_one_post_carries_the_queue_in_order_and_each_message_gets_its_receipts(
    net: Net,
) -> None:
    ids = [_send(net, n) for n in range(7)]
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == ids
    assert net.router.paths == [BATCH_PATH]  # one request for all seven
    assert [str(n) for n in range(7)] == SEEN  # processed in the order they were written
    assert count(net.nl, ExchangeMessageRow, direction="received") == 7
    with net.us.db.session() as session:
        receipts = session.execute(select(ExchangeReceiptRow)).scalars().all()
    assert len(receipts) == 14
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None
    nl_keys = list(entry.keys)
    for row in receipts:
        assert Receipt.from_json(json.loads(row.document)).verify(nl_keys)
    assert _outbox_states(net) == ["delivered"] * 7
    assert _audit_actions(net.nl).count("exchange.accepted") == 7
    assert _audit_actions(net.us).count("exchange.delivered") == 7
    _verify_chain(net.nl)
    _verify_chain(net.us)


def test_a_refused_message_leaves_only_its_refusal_and_the_others_go_through(net: Net) -> None:
    ids = [_send(net, 0), _send(net, 1, refuse=True), _send(net, 2)]
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == [ids[0], ids[2]]
    assert report.rejected == {ids[1]: "rejected_by_handler"}
    assert net.router.paths == [BATCH_PATH]
    assert SEEN == ["0", "2"]
    with net.nl.db.session() as session:
        received = session.execute(
            select(ExchangeMessageRow.message_id).where(ExchangeMessageRow.direction == "received")
        ).scalars()
        assert sorted(received) == sorted([ids[0], ids[2]])
    # the refused handler's audit entry was rolled back with its savepoint; the refusal is kept
    actions = _audit_actions(net.nl)
    assert actions.count("test.handler_wrote") == 2
    assert actions.count("exchange.rejected") == 1
    assert _outbox_states(net) == ["delivered", "rejected", "delivered"]
    # the sender holds the receiver's signed refusal receipt
    with net.us.db.session() as session:
        stages = session.execute(
            select(ExchangeReceiptRow.stage).where(ExchangeReceiptRow.message_id == ids[1])
        ).scalars()
        assert list(stages) == ["rejected"]
    _verify_chain(net.nl)
    _verify_chain(net.us)


def test_an_unexpected_error_stops_the_batch_and_the_rest_wait_in_order(net: Net) -> None:
    ids = [_send(net, 0), _send(net, 1), _send(net, 2, crash=True), _send(net, 3)]
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == ids[:2]
    assert list(report.retrying) == [ids[2]]  # the crashed one; the last is held back
    assert SEEN == ["0", "1"]
    assert count(net.nl, ExchangeMessageRow, direction="received") == 2
    assert _outbox_states(net) == ["delivered", "delivered", "pending", "pending"]
    with net.us.db.session() as session:
        row = session.execute(select(OutboxRow).where(OutboxRow.message_id == ids[2])).scalar_one()
        assert row.attempts == 1 and "not processed" in (row.last_error or "")
    assert _audit_actions(net.nl).count("test.handler_wrote") == 2
    _verify_chain(net.nl)
    _verify_chain(net.us)


def test_a_peer_without_the_batch_endpoint_gets_single_posts(net: Net) -> None:
    net.router.no_batches.add(_host(net, net.nl))
    ids = [_send(net, n) for n in range(3)]
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == ids
    assert net.router.paths == [BATCH_PATH, INBOX_PATH, INBOX_PATH, INBOX_PATH]
    assert SEEN == ["0", "1", "2"]


def test_a_lost_batch_answer_is_retried_and_processed_once(net: Net) -> None:
    host = _host(net, net.nl)
    ids = [_send(net, n) for n in range(3)]
    net.router.lose_answers.add(host)
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == [] and list(report.retrying) == [ids[0]]
    assert SEEN == ["0", "1", "2"]  # the receiver did process them
    net.router.lose_answers.clear()
    net.clock.advance(timedelta(minutes=10))
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == ids
    assert SEEN == ["0", "1", "2"]  # and not twice
    assert _outbox_states(net) == ["delivered"] * 3
    with net.us.db.session() as session:
        assert session.scalar(select(ExchangeReceiptRow.id).limit(1)) is not None
    assert stored(net.nl)["messages"] == 3


def _host(net: Net, node: Node) -> str:
    return next(h for h, c in net.router.clients.items() if c.app.state.node is node)  # type: ignore[attr-defined]


def _nl_encryption_key(net: Net) -> Any:
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None and entry.current_key() is not None
    return entry.current_key()


def _batch_post(net: Net, body: Any) -> Any:
    return net.inbox_client(net.nl).post(
        BATCH_PATH,
        content=json.dumps(body).encode() if not isinstance(body, bytes) else body,
        headers={"Content-Type": "application/json"},
    )


def _envelopes(net: Net) -> list[str]:
    with net.us.db.session() as session:
        return list(session.execute(select(OutboxRow.envelope).order_by(OutboxRow.id)).scalars())


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not JSON"),
        ({"envelope": []}, "unknown fields: envelope"),
        ({"envelopes": []}, "at least one envelope"),
        ({"envelopes": [{"a": 1}]}, "must be a string"),
        ([1, 2], "at least one envelope"),
    ],
)
def test_a_malformed_batch_is_refused_whole_and_audited(net: Net, body: Any, detail: str) -> None:
    answer = _batch_post(net, body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed" and detail in answer.json()["detail"]
    assert "exchange.rejected" in _audit_actions(net.nl)
    assert count(net.nl, ExchangeMessageRow) == 0


def test_batch_limits_count_and_per_envelope_size(net: Net) -> None:
    _send(net, 0)
    _send(net, 1)
    envelope = _envelopes(net)[0]
    net.nl.config.max_batch_messages = 1
    answer = _batch_post(net, {"envelopes": [envelope, envelope]})
    assert answer.status_code == 400 and "at most 1" in answer.json()["detail"]
    net.nl.config.max_batch_messages = 200
    net.nl.config.max_batch_bytes = 2048
    answer = _batch_post(net, {"envelopes": [envelope, "x" * 4096]})
    assert answer.status_code == 413
    net.nl.config.max_batch_bytes = 16 * 1024 * 1024
    net.nl.config.max_envelope_bytes = len(envelope) + 10
    big = envelope[:-1] + " " * 20 + "}"
    answer = _batch_post(net, {"envelopes": [envelope, big]})
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert first["status_code"] == 200 and first["body"]["status"] == "accepted"
    assert second["status_code"] == 413 and second["body"]["error"] == "oversize"


def test_the_same_envelope_twice_in_one_batch_is_processed_once(net: Net) -> None:
    _send(net, 5)
    envelope = _envelopes(net)[0]
    answer = _batch_post(net, {"envelopes": [envelope, envelope, "garbage"]})
    assert answer.status_code == 200
    first, second, third = answer.json()["results"]
    assert first["body"]["duplicate"] is False and second["body"]["duplicate"] is True
    assert first["body"]["receipts"] == second["body"]["receipts"]
    assert third["status_code"] == 400 and third["body"]["error"] == "malformed"
    assert SEEN == ["5"]
    _verify_chain(net.nl)


def test_a_reused_id_with_other_content_in_the_same_batch_is_a_replay(net: Net) -> None:
    """Two envelopes with one message id but different content: the second is refused as a
    replay even though the first is not yet written when it is checked."""
    first_id = _send(net, 1)
    with net.us.db.session() as session:
        row = session.execute(
            select(OutboxRow).where(OutboxRow.message_id == first_id)
        ).scalar_one()
        first = parse_envelope(row.envelope.encode())
    twin = seal(
        node_identity(net.us),
        sender="us-poc",
        recipient="nl-poc",
        recipient_key=_nl_encryption_key(net),
        message_type="test.batch",
        payload={"n": 99},
        created_at=first.created_at,
        message_id=first.message_id,
    )
    answer = _batch_post(net, {"envelopes": [row.envelope, twin.to_bytes().decode()]})
    one, two = answer.json()["results"]
    assert one["status_code"] == 200 and one["body"]["duplicate"] is False
    assert two["status_code"] == 409 and two["body"]["error"] == "replay"
    assert SEEN == ["1"]
    assert count(net.nl, ExchangeMessageRow, direction="received") == 1


def test_a_failed_recording_while_the_next_batch_was_on_the_wire_loses_nothing(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outcomes of one batch are recorded while the next is posted. If recording fails, the
    messages stay pending; the next round sends them again and the peer answers them as
    duplicates: each processed once, in order, all delivered in the end."""
    import trailguard.network.exchange.delivery as exchange

    real = exchange._record_outcomes
    calls: list[int] = []

    def failing_once(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the sender's database went away for a moment")
        return real(*args, **kwargs)

    ids = [_send(net, n) for n in range(4)]
    monkeypatch.setattr(exchange, "_record_outcomes", failing_once)
    with pytest.raises(RuntimeError, match="went away"):
        deliver_pending(net.us, transport=net.transport, batch_size=2)
    assert SEEN == ["0", "1", "2", "3"]  # both batches reached the peer
    assert _outbox_states(net).count("delivered") <= 2
    report = deliver_pending(net.us, transport=net.transport, batch_size=2)
    assert set(report.delivered) <= set(ids) and len(report.delivered) >= 2
    assert not report.retrying and not report.rejected
    assert _outbox_states(net) == ["delivered"] * 4
    assert SEEN == ["0", "1", "2", "3"]  # processed once each
    with net.us.db.session() as session:
        stages = session.execute(select(ExchangeReceiptRow.stage)).scalars().all()
    assert sorted(stages) == ["accepted"] * 4 + ["received"] * 4
    _verify_chain(net.us)
    _verify_chain(net.nl)


def test_batch_size_is_checked(net: Net) -> None:
    with pytest.raises(ValidationFailed, match="batch_size"):
        deliver_pending(net.us, transport=net.transport, batch_size=0)
