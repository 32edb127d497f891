"""What an attacker found at the exchange endpoints (issue 11, points 4-6), kept fixed:
deep or huge JSON is a 400 with its audit entry (never a 500); one message has one byte form
(an encoding variant of a genuine envelope is refused and cannot block the genuine one);
refusals are rate-limited per source, counted in the audit log, and garbage is not signed."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from network_kit import Net, count, stored
from sqlalchemy import select

from trailguard.app import create_app
from trailguard.audit.orm import AuditEntryRow
from trailguard.audit.service import verify
from trailguard.core.errors import ValidationFailed
from trailguard.network import ReceivedMessage, deliver_pending, register_handler, send_message
from trailguard.network.directory_service import find_entry
from trailguard.network.envelope import canonical_json, parse_envelope, seal
from trailguard.network.identity import PublicKeyRecord, node_identity, unb64
from trailguard.network.orm import ExchangeMessageRow, OutboxRow
from trailguard.network.refusals import flush_refusals, source_of
from trailguard.network.transport import BATCH_PATH, INBOX_PATH, HttpTransport
from trailguard.node import Node

RECEIVED: list[str] = []


def _note(session: Any, node: Node, message: ReceivedMessage) -> None:
    RECEIVED.append(message.message_id)


register_handler("test.hardening", _note)


@pytest.fixture(autouse=True)
def _reset() -> None:
    RECEIVED.clear()


def _send(net: Net, payload: dict[str, Any] | None = None) -> str:
    with net.us.db.session() as session:
        queued = send_message(
            session,
            net.us,
            recipient="nl-poc",
            message_type="test.hardening",
            payload=payload or {"text": "preserve 198.51.100.23"},
            actor="user:alice",
        )
    return queued.message_id


def _envelope_bytes(net: Net, message_id: str) -> bytes:
    with net.us.db.session() as session:
        return (
            session.execute(select(OutboxRow.envelope).where(OutboxRow.message_id == message_id))
            .scalar_one()
            .encode()
        )


def _audit(node: Node) -> list[AuditEntryRow]:
    with node.db.session() as session:
        rows = list(session.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq)).scalars())
        session.expunge_all()
    return rows


def _details(row: AuditEntryRow) -> dict[str, Any]:
    details: dict[str, Any] = json.loads(row.details)
    return details


def _client(net: Net, host: str = "192.0.2.10") -> TestClient:
    """A client of the NL inbox from ``host`` (a documentation address)."""
    return TestClient(create_app(net.nl), client=(host, 40000), raise_server_exceptions=True)


def _post(client: TestClient, body: bytes, path: str = INBOX_PATH) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


# --- point 4: bounded JSON -----------------------------------------------------------------


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize("path", [INBOX_PATH, BATCH_PATH])
@pytest.mark.parametrize("body", [_deep(1000), _deep(100_000), _deep_object(5000)])
def test_deeply_nested_json_is_a_400_with_an_audit_entry_never_a_500(
    net: Net, path: str, body: bytes
) -> None:
    answer = _post(_client(net), body, path)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "malformed"
    assert "nested deeper" in answer.json()["detail"]
    assert "receipt" not in answer.json()  # not an envelope: nothing signed
    refusals = [row for row in _audit(net.nl) if row.action == "exchange.rejected"]
    assert len(refusals) == 1 and _details(refusals[0])["reason"] == "malformed"
    assert _details(refusals[0])["source"] == "192.0.2.10"
    assert stored(net.nl) == {"messages": 0, "receipts": 0, "outbox": 0}


def test_a_deep_envelope_inside_a_batch_is_refused_alone(net: Net) -> None:
    good = _envelope_bytes(net, _send(net)).decode()
    body = json.dumps({"envelopes": [_deep(5000).decode(), good]}).encode()
    answer = _post(_client(net), body, BATCH_PATH)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert first["status_code"] == 400 and "nested deeper" in first["body"]["detail"]
    assert "receipt" not in first["body"]
    assert second["status_code"] == 200 and second["body"]["status"] == "accepted"
    assert len(RECEIVED) == 1


def test_an_over_size_body_is_refused_unsigned_and_audited(net: Net) -> None:
    limit = net.nl.config.max_envelope_bytes
    answer = _post(_client(net), b"[" + b" " * limit + b"]")
    assert answer.status_code == 413 and answer.json()["error"] == "oversize"
    assert "receipt" not in answer.json()
    assert [r.action for r in _audit(net.nl)].count("exchange.rejected") == 1


def test_a_signed_payload_nested_too_deep_is_bad_payload_not_a_crash(net: Net) -> None:
    with net.us.db.session() as session:
        entry = find_entry(session, "nl-poc")
    assert entry is not None and entry.current_key() is not None
    payload: dict[str, Any] = {"leaf": 1}
    for _ in range(80):
        payload = {"next": payload}
    envelope = seal(
        node_identity(net.us),
        sender="us-poc",
        recipient="nl-poc",
        recipient_key=entry.current_key(),  # type: ignore[arg-type]
        message_type="test.hardening",
        payload=payload,
        created_at=net.clock.now(),
    )
    answer = _post(_client(net), envelope.to_bytes())
    assert answer.status_code == 422 and answer.json()["error"] == "bad_payload"
    assert "nested deeper" in answer.json()["detail"]
    assert RECEIVED == []


def test_a_peer_answering_deep_json_is_retried_not_a_crash(net: Net) -> None:
    def deep_answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_deep(100_000))

    transport = HttpTransport(httpx.Client(transport=httpx.MockTransport(deep_answer)))
    result = transport.post_envelope("http://nl-poc.test", b"{}")
    assert result.status_code == 200 and result.body is None
    batch = transport.post_batch("http://nl-poc.test", [b"{}"])
    assert batch.results == [] and batch.error is not None
    message_id = _send(net)
    report = deliver_pending(net.us, transport=transport)
    assert message_id in report.retrying
    transport.close()


# --- point 5: one message, one byte form ---------------------------------------------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _malleate_signature(body: bytes) -> bytes:
    """Change the last base64 character of the signature to another one that decodes to the
    same 64 bytes (the 4 bits after the 512th are ignored by a lenient decoder)."""
    raw = json.loads(body)
    signature: str = raw["signature"]
    last = len(signature) - 3  # 86 characters then '=='
    other = _ALPHABET[_ALPHABET.index(signature[last]) ^ 0b0001]
    tampered = signature[:last] + other + signature[last + 1 :]
    assert tampered != signature
    assert base64.b64decode(tampered) == base64.b64decode(signature)  # the same bytes
    raw["signature"] = tampered
    return canonical_json(raw)


def _timestamp_with_offset(body: bytes) -> bytes:
    raw = json.loads(body)
    raw["created_at"] = raw["created_at"].replace("Z", "+00:00")
    return canonical_json(raw)


def _pretty(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=1).encode()


def _unsorted(body: bytes) -> bytes:
    raw = json.loads(body)
    return json.dumps(dict(reversed(list(raw.items()))), separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "variant", [_malleate_signature, _timestamp_with_offset, _pretty, _unsorted]
)
def test_an_encoding_variant_arriving_first_is_refused_and_the_genuine_is_accepted(
    net: Net, variant: Any
) -> None:
    message_id = _send(net)
    genuine = _envelope_bytes(net, message_id)
    copy = variant(genuine)
    assert copy != genuine
    # an attacker who saw the envelope in transit posts the variant first
    answer = _post(_client(net, "198.51.100.66"), copy)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "malformed"
    assert count(net.nl, ExchangeMessageRow) == 0 and RECEIVED == []
    # then the genuine envelope is delivered: accepted, processed once, not a replay
    report = deliver_pending(net.us, transport=net.transport)
    assert report.delivered == [message_id] and report.rejected == {}
    assert [message_id] == RECEIVED
    with net.nl.db.session() as session:
        row = session.execute(select(ExchangeMessageRow)).scalar_one()
    assert row.envelope_digest == parse_envelope(genuine).digest
    with net.us.db.session() as session:
        assert session.execute(select(OutboxRow.state)).scalar_one() == "delivered"


def test_base64_is_read_in_its_canonical_form_only() -> None:
    assert unb64("AAE=", "x") == b"\x00\x01"
    for text in ("AAF=", "AAE", "AA E=", "AAE==", "AAE=\n"):
        with pytest.raises(ValidationFailed):
            unb64(text, "x")


def test_a_directory_key_in_non_canonical_base64_is_refused(net: Net) -> None:
    record = node_identity(net.us).current.to_json()
    key = record["signing_key"]
    last = len(key) - 2  # 32 bytes: 43 characters then '='
    record["signing_key"] = key[:last] + _ALPHABET[_ALPHABET.index(key[last]) ^ 1] + "="
    with pytest.raises(ValidationFailed, match="canonical"):
        PublicKeyRecord.from_json(record)


# --- point 6: refusals cost the attacker, not the node -------------------------------------


def test_refusals_are_limited_per_source_with_429_and_the_window_ends(net: Net) -> None:
    net.nl.config.max_refusals_per_window = 3
    net.nl.config.refusal_window_seconds = 60
    attacker, peer = _client(net, "198.51.100.66"), _client(net, "192.0.2.10")
    genuine = _envelope_bytes(net, _send(net))
    for _ in range(3):
        assert _post(attacker, b"garbage").status_code == 400
    limited = _post(attacker, b"garbage")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited" and "receipt" not in limited.json()
    assert limited.headers["Retry-After"] == "60"
    # even a genuine envelope waits while its source is limited
    assert _post(attacker, genuine).status_code == 429
    assert _post(attacker, genuine, BATCH_PATH).status_code == 429
    # another source is not affected
    assert _post(peer, b"garbage").status_code == 400
    net.clock.advance(timedelta(seconds=30))
    assert _post(attacker, genuine).headers["Retry-After"] == "30"
    net.clock.advance(timedelta(seconds=30))
    assert _post(attacker, genuine).status_code == 200
    assert len(RECEIVED) == 1


def test_repeated_refusals_are_counted_in_the_audit_log_not_written_one_by_one(
    net: Net,
) -> None:
    net.nl.config.max_refusals_per_window = 5
    attacker = _client(net, "198.51.100.66")
    before = len(_audit(net.nl))
    answers = [_post(attacker, b"\x00 not json").status_code for _ in range(40)]
    assert answers == [400] * 5 + [429] * 35
    written = _audit(net.nl)[before:]
    assert [(r.action, _details(r)["reason"]) for r in written] == [
        ("exchange.rejected", "malformed"),
        ("exchange.rejected", "rate_limited"),
    ]
    assert flush_refusals(net.nl) == 0  # the window is still open
    net.clock.advance(timedelta(seconds=net.nl.config.refusal_window_seconds))
    assert flush_refusals(net.nl) == 2
    counts = {
        _details(r)["reason"]: _details(r)["count"]
        for r in _audit(net.nl)
        if r.action == "exchange.rejected.repeated"
    }
    assert counts == {"malformed": 4, "rate_limited": 34}
    assert 2 + sum(counts.values()) == 40  # every refused request is in an entry or a count
    with net.nl.db.session() as session:
        assert verify(session).ok


def test_a_closed_window_is_written_out_by_the_next_refusal(net: Net) -> None:
    attacker, other = _client(net, "198.51.100.66"), _client(net, "203.0.113.5")
    for _ in range(3):
        _post(attacker, b"[")
    net.clock.advance(timedelta(seconds=61))
    _post(other, b"[")
    repeated = [r for r in _audit(net.nl) if r.action == "exchange.rejected.repeated"]
    assert len(repeated) == 1
    assert _details(repeated[0]) | {"from": "", "until": ""} == {
        "source": "198.51.100.66",
        "reason": "malformed",
        "count": 2,
        "from": "",
        "until": "",
    }


def test_refusals_of_a_verified_sender_keep_their_own_entries(net: Net) -> None:
    """A replay or an expired envelope from a known peer concerns a real message: each one
    keeps its own audit entry and signed receipt, and none counts toward the limit."""
    net.nl.config.max_refusals_per_window = 1
    peer = _client(net)
    body = _envelope_bytes(net, _send(net))
    net.clock.advance(timedelta(days=2))
    answers = [_post(peer, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [410, 410, 410]
    assert all("receipt" in a.json() for a in answers)
    assert [r.action for r in _audit(net.nl)].count("exchange.rejected") == 3


def test_sources_group_ipv6_by_64_and_keep_ipv4_whole() -> None:
    assert source_of("192.0.2.7") == "192.0.2.7"
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:bbbb::9")
    assert source_of("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_of(None) == "unknown"
