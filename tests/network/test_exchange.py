"""The signed exchange between two in-process nodes: delivery, receipts, every rejection,
idempotency, retries while the receiver is down, acknowledgement and escalation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from network_kit import Net, count, new_id, stored
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit.orm import AuditEntryRow
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.network import (
    ReceivedMessage,
    acknowledge,
    deliver_pending,
    escalate_overdue,
    register_handler,
    send_message,
)
from trailguard.network.directory import Shift
from trailguard.network.directory_service import find_entry, publish_self
from trailguard.network.envelope import Receipt, canonical_json, parse_envelope, seal
from trailguard.network.identity import b64, node_identity, unb64
from trailguard.network.orm import (
    EscalationRow,
    ExchangeMessageRow,
    ExchangeReceiptRow,
    OutboxRow,
)
from trailguard.node import Node

CALLS: list[tuple[str, str]] = []


def _record_call(session: Session, node: Node, message: ReceivedMessage) -> None:
    if message.payload.get("refuse"):
        raise ValidationFailed("this handler refuses", [f"refuse={message.payload['refuse']}"])
    CALLS.append((node.config.node_id, message.message_id))


register_handler("test.note", _record_call)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def _send(
    net: Net, payload: dict[str, Any] | None = None, message_type: str = "test.note", **kwargs: Any
) -> str:
    with net.us.db.session() as session:
        queued = send_message(
            session,
            net.us,
            recipient="nl-poc",
            message_type=message_type,
            payload=payload or {"text": "hello"},
            actor="user:alice",
            **kwargs,
        )
    return queued.message_id


def _envelope_bytes(net: Net, message_id: str) -> bytes:
    with net.us.db.session() as session:
        row = session.execute(
            select(OutboxRow).where(OutboxRow.message_id == message_id)
        ).scalar_one()
        return row.envelope.encode()


def _post(net: Net, body: bytes, **headers: str) -> Any:
    return net.inbox_client(net.nl).post(
        "/exchange/v1/messages",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def _nl_key_history(net: Net) -> list[Any]:
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None
    return list(entry.keys)


def test_message_is_delivered_processed_once_and_receipted_on_both_sides(net: Net) -> None:
    message_id = _send(net, {"text": "preserve 198.51.100.23", "port": 41234})
    assert CALLS == []  # nothing leaves before delivery
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == [message_id]
    assert [("nl-poc", message_id)] == CALLS
    with net.nl.db.session() as session:
        row = session.execute(
            select(ExchangeMessageRow).where(ExchangeMessageRow.direction == "received")
        ).scalar_one()
        assert json.loads(row.payload) == {"text": "preserve 198.51.100.23", "port": 41234}
        assert row.recorded_at == net.clock.now()
        assert row.requires_ack is False
    # the sender holds both receipts, signed by the receiver, verbatim
    with net.us.db.session() as session:
        receipts = (
            session.execute(
                select(ExchangeReceiptRow).where(ExchangeReceiptRow.message_id == message_id)
            )
            .scalars()
            .all()
        )
        outbox = session.execute(select(OutboxRow)).scalar_one()
    assert sorted(r.stage for r in receipts) == ["accepted", "received"]
    for row in receipts:
        assert Receipt.from_json(json.loads(row.document)).verify(_nl_key_history(net))
    assert outbox.state == "delivered" and outbox.attempts == 1 and outbox.last_error is None
    # the stored envelope verifies against the sender's key and its ciphertext is opaque
    envelope = parse_envelope(_envelope_bytes(net, message_id))
    with net.nl.db.session() as session:
        us_entry = find_entry(session, "us-poc")
    assert us_entry is not None and envelope.verify(list(us_entry.keys))
    assert b"198.51.100.23" not in _envelope_bytes(net, message_id)
    # a second round has nothing to do
    assert deliver_pending(net.us, transport=net.transport).attempted == 0
    with net.nl.db.session() as session:
        actions = session.execute(select(AuditEntryRow.action)).scalars().all()
    assert "exchange.accepted" in actions


def test_same_envelope_twice_gets_the_same_receipts_and_is_processed_once(net: Net) -> None:
    message_id = _send(net)
    body = _envelope_bytes(net, message_id)
    first = _post(net, body)
    second = _post(net, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["receipts"] == second.json()["receipts"]
    assert second.json()["duplicate"] is True
    assert [("nl-poc", message_id)] == CALLS
    assert count(net.nl, ExchangeMessageRow) == 1


def _tamper_signature(body: bytes) -> bytes:
    raw = json.loads(body)
    signature = bytearray(unb64(raw["signature"], "signature"))
    signature[0] ^= 0x01
    raw["signature"] = b64(bytes(signature))
    return canonical_json(raw)


def _tamper_field(body: bytes) -> bytes:
    raw = json.loads(body)
    raw["message_type"] = "test.other"
    return canonical_json(raw)


def _assert_refused(net: Net, answer: Any, code: str, status: int) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    assert body["detail"]
    if code in ("malformed", "oversize"):  # not an envelope at all: nothing is signed
        assert "receipt" not in body
        assert stored(net.nl) == {"messages": 0, "receipts": 0, "outbox": 0}
        return
    receipt = Receipt.from_json(body["receipt"])  # the sender is told why, signed
    assert receipt.stage.value == "rejected" and receipt.reason == code
    assert receipt.issuer == "nl-poc" and receipt.verify(_nl_key_history(net))
    assert stored(net.nl) == {"messages": 0, "receipts": 0, "outbox": 0}
    assert CALLS == []


@pytest.mark.parametrize(
    ("mutate", "code", "status"),
    [
        (_tamper_signature, "bad_signature", 401),
        (_tamper_field, "bad_signature", 401),
        (lambda body: b"{not json at all", "malformed", 400),
        (lambda body: b"[1, 2, 3]", "malformed", 400),
        (
            lambda body: canonical_json({**json.loads(body), "created_at": "yesterday"}),
            "malformed",
            400,
        ),
        (
            lambda body: canonical_json(
                {k: v for k, v in json.loads(body).items() if k != "sender"}
            ),
            "malformed",
            400,
        ),
        (lambda body: canonical_json({**json.loads(body), "message_id": "42"}), "malformed", 400),
    ],
)
def test_bad_envelopes_are_refused_with_their_code_and_nothing_is_stored(
    net: Net, mutate: Any, code: str, status: int
) -> None:
    body = _envelope_bytes(net, _send(net))
    _assert_refused(net, _post(net, mutate(body)), code, status)


def test_unknown_sender_is_refused(net: Net, tmp_path: Any, third_database_url: str) -> None:
    from network_kit import link

    from helpers import make_node

    stranger = make_node(
        tmp_path / "x", third_database_url, node_id="br-poc", country="BR", clock=net.clock
    )
    net.extra.append(stranger)
    link(net.nl, stranger)  # the stranger knows NL, but NL does not know the stranger
    with stranger.db.session() as session:
        queued = send_message(
            session,
            stranger,
            recipient="nl-poc",
            message_type="test.note",
            payload={"x": 1},
            actor="user:mallory",
        )
        body = (
            session.execute(
                select(OutboxRow.envelope).where(OutboxRow.message_id == queued.message_id)
            )
            .scalar_one()
            .encode()
        )
    _assert_refused(net, _post(net, body), "unknown_sender", 403)


def test_replayed_id_with_different_content_is_refused(net: Net) -> None:
    first = _send(net, {"n": 1})
    deliver_pending(net.us, transport=net.transport)
    assert [("nl-poc", first)] == CALLS
    # a properly signed envelope that reuses the id with other content
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None and entry.current_key() is not None
    forged = seal(
        node_identity(net.us),
        sender="us-poc",
        recipient="nl-poc",
        recipient_key=entry.current_key(),  # type: ignore[arg-type]
        message_type="test.note",
        payload={"n": 2},
        created_at=net.clock.now(),
        message_id=first,
    )
    before = stored(net.nl)
    answer = _post(net, forged.to_bytes())
    assert answer.status_code == 409 and answer.json()["error"] == "replay"
    assert stored(net.nl) == before
    assert [("nl-poc", first)] == CALLS


def test_expired_envelope_is_refused(net: Net) -> None:
    body = _envelope_bytes(net, _send(net, expires_in=timedelta(minutes=5)))
    net.clock.advance(timedelta(minutes=5, seconds=1))
    _assert_refused(net, _post(net, body), "expired", 410)


def test_envelope_from_beyond_the_replay_window_is_refused(net: Net) -> None:
    body = _envelope_bytes(net, _send(net))
    net.clock.advance(timedelta(minutes=-6))  # the receiver's clock trails by six minutes
    _assert_refused(net, _post(net, body), "replay", 409)
    net.clock.advance(timedelta(minutes=2))  # four minutes of skew are tolerated
    assert _post(net, body).status_code == 200


def test_wrong_recipient_is_refused(net: Net) -> None:
    body = _envelope_bytes(net, _send(net))
    answer = net.inbox_client(net.us).post(
        "/exchange/v1/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 421 and answer.json()["error"] == "wrong_recipient"
    assert count(net.us, ExchangeMessageRow, direction="received") == 0


def test_payload_that_does_not_match_its_digest_is_refused(net: Net) -> None:
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None
    key = entry.current_key()
    assert key is not None
    envelope = seal(
        node_identity(net.us),
        sender="us-poc",
        recipient="nl-poc",
        recipient_key=key,
        message_type="test.note",
        payload={"a": 1},
        created_at=net.clock.now(),
    )
    from dataclasses import replace

    lying = replace(envelope, payload_digest="0" * 64)
    lying = replace(lying, signature=b64(node_identity(net.us).sign(lying.signed_bytes())))
    _assert_refused(net, _post(net, lying.to_bytes()), "bad_payload", 422)


def test_handler_refusal_rejects_and_stores_nothing(net: Net) -> None:
    message_id = _send(net, {"refuse": "yes"})
    report = deliver_pending(net.us, transport=net.transport)
    assert report.rejected == {message_id: "rejected_by_handler"}
    assert stored(net.nl) == {"messages": 0, "receipts": 0, "outbox": 0}
    with net.us.db.session() as session:
        outbox = session.execute(select(OutboxRow)).scalar_one()
        receipt = session.execute(select(ExchangeReceiptRow)).scalar_one()
    assert outbox.state == "rejected" and "refuse=yes" in (outbox.last_error or "")
    assert receipt.stage == "rejected" and receipt.reason == "rejected_by_handler"


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body_is_refused_before_parsing(net: Net, chunked: bool) -> None:
    limit = net.nl.config.max_envelope_bytes
    body = b'{"format": "' + b"x" * (limit + 10) + b'"}'
    client = net.inbox_client(net.nl)
    if chunked:

        def chunks() -> Any:
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        answer = client.post(
            "/exchange/v1/messages", content=chunks(), headers={"Content-Type": "application/json"}
        )
    else:
        answer = client.post(
            "/exchange/v1/messages", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == "oversize"
    assert stored(net.nl) == {"messages": 0, "receipts": 0, "outbox": 0}


def test_unknown_recipient_fails_before_sending(net: Net) -> None:
    with pytest.raises(NotFound, match="zz-poc"), net.us.db.session() as session:
        send_message(
            session,
            net.us,
            recipient="zz-poc",
            message_type="test.note",
            payload={},
            actor="user:alice",
        )
    assert count(net.us, OutboxRow) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"message_type": "Bad Type!"}, "message type"),
        ({"payload": {"when": object()}}, "JSON"),
        ({"expires_in": timedelta(days=30)}, "envelope lives"),
        ({"recipient": "us-poc"}, "this node"),
    ],
)
def test_bad_send_arguments_are_refused(net: Net, kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {
        "recipient": "nl-poc",
        "message_type": "test.note",
        "payload": {"a": 1},
        **kwargs,
    }
    with pytest.raises(ValidationFailed, match=match), net.us.db.session() as session:
        send_message(session, net.us, actor="user:alice", **arguments)
    assert count(net.us, OutboxRow) == 0


def test_receiver_down_then_up_processes_exactly_once(net: Net) -> None:
    message_id = _send(net)
    net.router.down.add("nl-poc.test")
    first = deliver_pending(net.us, transport=net.transport)
    assert message_id in first.retrying and "refused" in first.retrying[message_id]
    with net.us.db.session() as session:
        row = session.execute(select(OutboxRow)).scalar_one()
    assert row.state == "pending" and row.attempts == 1
    assert net.clock.now() + timedelta(seconds=0.5) <= row.next_attempt_at
    # not due yet: nothing is attempted
    assert deliver_pending(net.us, transport=net.transport).attempted == 0
    for _ in range(3):
        net.clock.advance(timedelta(minutes=10))
        assert message_id in deliver_pending(net.us, transport=net.transport).retrying
    with net.us.db.session() as session:
        row = session.execute(select(OutboxRow)).scalar_one()
    assert row.attempts == 4
    net.router.down.clear()
    # the answer of the first successful post is lost: the sender retries, the receiver
    # answers the duplicate with the same receipts and does not process it again
    net.router.lose_answers.add("nl-poc.test")
    net.clock.advance(timedelta(minutes=10))
    assert message_id in deliver_pending(net.us, transport=net.transport).retrying
    net.router.lose_answers.clear()
    net.clock.advance(timedelta(minutes=10))
    assert deliver_pending(net.us, transport=net.transport).delivered == [message_id]
    assert [("nl-poc", message_id)] == CALLS
    assert count(net.nl, ExchangeMessageRow) == 1
    assert count(net.us, ExchangeReceiptRow, message_id=message_id) == 2


def test_message_that_expires_undelivered_is_failed_not_dropped(net: Net) -> None:
    message_id = _send(net, expires_in=timedelta(minutes=30))
    net.router.down.add("nl-poc.test")
    deliver_pending(net.us, transport=net.transport)
    net.clock.advance(timedelta(minutes=31))
    report = deliver_pending(net.us, transport=net.transport)
    assert message_id in report.failed
    with net.us.db.session() as session:
        row = session.execute(select(OutboxRow)).scalar_one()
        actions = session.execute(select(AuditEntryRow.action)).scalars().all()
    assert row.state == "failed"
    assert "exchange.undeliverable" in actions


def test_ping_needs_acknowledgement_which_goes_back_signed(net: Net) -> None:
    message_id = _send(net, {"text": "anyone there?"}, message_type="network.ping")
    deliver_pending(net.us, transport=net.transport)
    with net.nl.db.session() as session:
        row = session.execute(select(ExchangeMessageRow)).scalar_one()
    assert row.requires_ack
    assert row.ack_due == row.recorded_at + timedelta(minutes=net.nl.config.ack_minutes)
    net.clock.advance(timedelta(minutes=7))
    receipt = acknowledge(net.nl, message_id, actor="user:bob", note="on it")
    assert receipt.stage.value == "acknowledged" and receipt.at == net.clock.now()
    with pytest.raises(Exception, match="already acknowledged"):
        acknowledge(net.nl, message_id, actor="user:bob")
    # the acknowledgement travels back as its own signed message
    report = deliver_pending(net.nl, transport=net.transport)
    assert len(report.delivered) == 1
    with net.us.db.session() as session:
        stages = (
            session.execute(
                select(ExchangeReceiptRow.stage).where(ExchangeReceiptRow.message_id == message_id)
            )
            .scalars()
            .all()
        )
        ack = session.execute(
            select(ExchangeReceiptRow).where(ExchangeReceiptRow.stage == "acknowledged")
        ).scalar_one()
    assert sorted(stages) == ["accepted", "acknowledged", "received"]
    parsed = Receipt.from_json(json.loads(ack.document))
    assert parsed.detail == "on it" and parsed.verify(_nl_key_history(net))
    # nothing is escalated once acknowledged
    net.clock.advance(timedelta(hours=2))
    assert escalate_overdue(net.nl) == []


def test_forged_acknowledgement_for_a_message_never_sent_is_rejected(net: Net) -> None:
    from trailguard.network.envelope import Stage, issue_receipt

    fake = issue_receipt(
        node_identity(net.nl),
        issuer="nl-poc",
        message_id=new_id(),
        envelope_digest="0" * 64,
        subject_sender="us-poc",
        stage=Stage.ACKNOWLEDGED,
        at=net.clock.now(),
    )
    with net.nl.db.session() as session:
        send_message(
            session,
            net.nl,
            recipient="us-poc",
            message_type="network.receipt",
            payload={"receipt": fake.to_json()},
            actor="user:bob",
        )
    report = deliver_pending(net.nl, transport=net.transport)
    assert list(report.rejected.values()) == ["rejected_by_handler"]
    assert count(net.us, ExchangeReceiptRow) == 0


def test_overdue_acknowledgement_escalates_to_the_backup_once(net: Net) -> None:
    # the Dutch roster: a primary all week in the day, a backup around the clock
    with net.nl.db.session() as session:
        publish_self(
            session,
            net.nl,
            actor="user:admin",
            phone="+31 70 000 0000",
            roster=[
                Shift.from_json(
                    {
                        "person": "Daan (day)",
                        "role": "primary",
                        "weekdays": list(range(7)),
                        "start_time": "08:00",
                        "end_time": "20:00",
                    },
                    "s0",
                ),
                Shift.from_json(
                    {
                        "person": "Eva (backup)",
                        "role": "backup",
                        "weekdays": list(range(7)),
                        "start_time": "00:00",
                        "end_time": "23:59",
                        "email": "eva@nl-poc.example",
                        "phone": "+31 70 000 0001",
                    },
                    "s1",
                ),
            ],
        )
    message_id = _send(net, {"text": "urgent"}, message_type="network.ping")
    deliver_pending(net.us, transport=net.transport)
    net.clock.advance(timedelta(minutes=29, seconds=59))
    assert escalate_overdue(net.nl) == []
    net.clock.advance(timedelta(seconds=1))
    escalations = escalate_overdue(net.nl)
    assert [e.message_id for e in escalations] == [message_id]
    assert escalations[0].contact_person == "Eva (backup)"
    assert escalations[0].contact_phone == "+31 70 000 0001"
    assert escalations[0].channels == "in-app"
    assert escalate_overdue(net.nl) == []  # once
    assert count(net.nl, EscalationRow) == 1
    with net.nl.db.session() as session:
        actions = session.execute(select(AuditEntryRow.action)).scalars().all()
    assert "exchange.escalated" in actions
    # acknowledging late is still possible and marked as late in the audit log
    acknowledge(net.nl, message_id, actor="user:bob")
    with net.nl.db.session() as session:
        details = session.execute(
            select(AuditEntryRow.details).where(AuditEntryRow.action == "exchange.acknowledged")
        ).scalar_one()
    assert json.loads(details)["late"] is True


def test_escalation_without_backup_or_mail_server_is_still_recorded(net: Net) -> None:
    net.nl.config = net.nl.config.model_copy(update={"smtp_url": "smtp://127.0.0.1:9"})
    with net.nl.db.session() as session:
        publish_self(session, net.nl, actor="user:admin", email="duty@nl-poc.example", roster=[])
    _send(net, message_type="network.ping")
    deliver_pending(net.us, transport=net.transport)
    net.clock.advance(timedelta(minutes=45))
    escalations = escalate_overdue(net.nl)
    assert len(escalations) == 1
    assert escalations[0].contact_person is None
    assert escalations[0].contact_email == "duty@nl-poc.example"
    assert escalations[0].channels == "in-app,email-failed"
