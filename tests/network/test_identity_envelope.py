"""Keys on disk, key rotation, and the envelope format (no database, no network)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trailguard.core.config import NodePaths
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.network.envelope import (
    Envelope,
    EnvelopeRejected,
    RejectionCode,
    canonical_json,
    parse_envelope,
    seal,
)
from trailguard.network.identity import (
    IDENTITY_FILE,
    NodeIdentity,
    create_identity,
    load_identity,
    rotate_keys,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _ping(
    sender: NodeIdentity, receiver: NodeIdentity, payload: dict[str, object], at: datetime
) -> Envelope:
    """A ping from us-poc, signed with ``sender``'s current key, sealed to ``receiver``'s."""
    return seal(
        sender,
        sender="us-poc",
        recipient="nl-poc",
        recipient_key=receiver.current,
        message_type="network.ping",
        payload=payload,
        created_at=at,
    )


def test_keys_are_private_files_in_a_private_directory(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path / "node")
    identity = create_identity(paths, now=T0)
    assert stat.S_IMODE(paths.keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((paths.keys / IDENTITY_FILE).stat().st_mode) == 0o600
    loaded = load_identity(paths)
    assert loaded.key_id == identity.key_id
    assert bytes(loaded.encryption_key) == bytes(identity.encryption_key)
    with pytest.raises(Conflict):
        create_identity(paths, now=T0)


def test_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    create_identity(paths, now=T0)
    (paths.keys / IDENTITY_FILE).chmod(0o644)
    with pytest.raises(ValidationFailed, match="chmod 600"):
        load_identity(paths)


def test_missing_identity_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="trailguard init"):
        load_identity(NodePaths(tmp_path))


def test_rotation_keeps_old_signatures_verifiable_and_new_ones_use_the_new_key(
    tmp_path: Path,
) -> None:
    paths = NodePaths(tmp_path)
    sender = create_identity(paths, now=T0)
    receiver = create_identity(NodePaths(tmp_path / "r"), now=T0)
    before = _ping(sender, receiver, {"n": 1}, T0 + timedelta(hours=1))
    rotated = rotate_keys(paths, now=T0 + timedelta(days=1))
    assert rotated.key_id != sender.key_id
    assert [r.key_id for r in rotated.history] == [sender.key_id, rotated.key_id]
    assert rotated.history[0].valid_until == T0 + timedelta(days=1)
    assert stat.S_IMODE((paths.keys / "retired").stat().st_mode) == 0o700
    # the old signature still verifies against the history, and only against the old key
    assert before.verify(rotated.history)
    after = _ping(rotated, receiver, {"n": 2}, T0 + timedelta(days=2))
    assert after.key_id == rotated.key_id and after.verify(rotated.history)
    # a message claiming to be signed by the retired key after its retirement is refused
    late = _ping(sender, receiver, {"n": 3}, T0 + timedelta(days=2))
    assert not late.verify(rotated.history)
    # rotation time must move forward
    with pytest.raises(ValidationFailed, match="must be after"):
        rotate_keys(paths, now=T0)


def test_envelopes_sealed_to_a_retired_key_can_still_be_opened(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    receiver = create_identity(paths, now=T0)
    sender = create_identity(NodePaths(tmp_path / "s"), now=T0)
    in_flight = _ping(sender, receiver, {"x": "y"}, T0)
    rotated = rotate_keys(paths, now=T0 + timedelta(minutes=1))
    assert load_identity(paths).retired_encryption_keys
    assert in_flight.open(rotated) == {"x": "y"}


def _sample(tmp_path: Path) -> bytes:
    sender = create_identity(NodePaths(tmp_path / "s"), now=T0)
    receiver = create_identity(NodePaths(tmp_path / "r"), now=T0)
    return _ping(sender, receiver, {"a": 1}, T0).to_bytes()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"format": "other/9"}, "format"),
        ({"extra": 1}, "unknown fields"),
        ({"message_id": "not-a-uuid"}, "UUID"),
        ({"payload_digest": "XYZ"}, "payload_digest"),
        ({"created_at": "2026-11-20T08:00:00"}, "zone"),
        ({"expires_at": "2026-12-30T08:00:00Z"}, "within"),
        ({"expires_at": "2026-11-20T07:00:00Z"}, "after created_at"),
        ({"message_type": "Has Spaces"}, "message_type"),
        ({"correlation_id": 17}, "correlation_id"),
        ({"signature": None}, "signature"),
    ],
)
def test_malformed_envelopes_name_the_bad_field(
    tmp_path: Path, change: dict[str, object], needle: str
) -> None:
    raw = json.loads(_sample(tmp_path))
    raw.update(change)
    with pytest.raises(EnvelopeRejected) as caught:
        parse_envelope(canonical_json(raw))
    assert caught.value.code is RejectionCode.MALFORMED
    assert needle in caught.value.detail


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"null", b'"text"', b"{", b"1e999999"])
def test_garbage_is_malformed(body: bytes) -> None:
    with pytest.raises(EnvelopeRejected) as caught:
        parse_envelope(body)
    assert caught.value.code is RejectionCode.MALFORMED


@pytest.mark.parametrize(
    ("message_type", "payload", "refusal"),
    [("../etc", {}, "message type"), ("x", {"n": float("nan")}, "serialisable")],
    ids=["type", "payload"],
)
def test_payload_must_be_json_serialisable_and_type_must_be_clean(
    tmp_path: Path, message_type: str, payload: dict[str, object], refusal: str
) -> None:
    sender = create_identity(NodePaths(tmp_path / "s"), now=T0)
    with pytest.raises(ValidationFailed, match=refusal):
        seal(
            sender,
            sender="a",
            recipient="b",
            recipient_key=sender.current,
            message_type=message_type,
            payload=payload,
            created_at=T0,
        )
