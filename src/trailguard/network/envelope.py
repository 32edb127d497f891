"""Envelopes and receipts: the signed, encrypted units that travel between nodes.

An envelope names its network ('live' for real work, an exercise network's id for training,
issue 17: a node refuses an envelope of any other network than its own), its sender,
recipient, message id (UUID), creation and expiry instants, type, the SHA-256 of the
plaintext payload, and the signing key's id; the payload (a JSON
object) is sealed to the recipient's X25519 key; an Ed25519 signature covers the canonical
serialisation of all those fields and the ciphertext. A receipt is a signed statement by one
node about one message at one stage (received, accepted, rejected, acknowledged).

Canonical form: JSON with sorted keys, no insignificant whitespace, UTF-8 (the subset of RFC
8785 that these string-and-integer documents need, https://www.rfc-editor.org/rfc/rfc8785).
Plain Python: no web or database imports.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from trailguard.core.clock import isoformat_z
from trailguard.core.config import LIVE_NETWORK, is_network_name
from trailguard.core.errors import ValidationFailed
from trailguard.core.jsonsafe import JsonRefused, loads_bounded
from trailguard.network.identity import (
    NodeIdentity,
    PublicKeyRecord,
    b64,
    parse_instant,
    unb64,
    verify_b64_signature,
)

ENVELOPE_FORMAT = "trailguard-envelope/1"
RECEIPT_FORMAT = "trailguard-receipt/1"
MAX_PAYLOAD_DEPTH = 64  # nesting of a payload (requests nest a few levels)
SIGNATURE_BYTES = 64  # Ed25519
MAX_LIFETIME = timedelta(days=7)  # the replay window: an envelope may not live longer
CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_LIFETIME = timedelta(hours=24)
_MESSAGE_TYPE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


class RejectionCode(StrEnum):
    """Why an inbox refused an envelope; each has its own HTTP status."""

    MALFORMED = "malformed"
    OVERSIZE = "oversize"
    WRONG_RECIPIENT = "wrong_recipient"
    WRONG_NETWORK = "wrong_network"  # live and exercise nodes never talk (issue 17)
    UNKNOWN_SENDER = "unknown_sender"
    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"
    EXPIRED = "expired"
    BAD_PAYLOAD = "bad_payload"
    REJECTED_BY_HANDLER = "rejected_by_handler"


HTTP_STATUS: dict[RejectionCode, int] = {
    RejectionCode.MALFORMED: 400,
    RejectionCode.BAD_SIGNATURE: 401,
    RejectionCode.UNKNOWN_SENDER: 403,
    RejectionCode.REPLAY: 409,
    RejectionCode.EXPIRED: 410,
    RejectionCode.OVERSIZE: 413,
    RejectionCode.WRONG_RECIPIENT: 421,
    RejectionCode.WRONG_NETWORK: 421,
    RejectionCode.BAD_PAYLOAD: 422,
    RejectionCode.REJECTED_BY_HANDLER: 424,
}


class EnvelopeRejected(Exception):
    """An inbox refuses an envelope; ``code`` is the machine-readable reason."""

    def __init__(self, code: RejectionCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail


class Stage(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ACKNOWLEDGED = "acknowledged"


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_message_type(value: str) -> str:
    if not value or len(value) > 100 or not set(value) <= _MESSAGE_TYPE_CHARS:
        raise ValidationFailed(
            f"message type {value!r} must be 1-100 lower-case letters, digits, dots, dashes "
            "or underscores"
        )
    return value


_SIGNED_FIELDS = (
    "format",
    "network",
    "message_id",
    "sender",
    "recipient",
    "created_at",
    "expires_at",
    "message_type",
    "correlation_id",
    "payload_digest",
    "key_id",
    "ciphertext",
)


@dataclass(frozen=True)
class Envelope:
    message_id: str
    sender: str
    recipient: str
    created_at: datetime
    expires_at: datetime
    message_type: str
    correlation_id: str | None
    payload_digest: str
    key_id: str
    ciphertext: str  # base64 sealed box
    signature: str  # base64 Ed25519 signature over ``signed_bytes``
    network: str = LIVE_NETWORK  # signed: 'live' or an exercise network's id (issue 17)

    def signed_fields(self) -> dict[str, Any]:
        return {
            "format": ENVELOPE_FORMAT,
            "network": self.network,
            "message_id": self.message_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "created_at": isoformat_z(self.created_at),
            "expires_at": isoformat_z(self.expires_at),
            "message_type": self.message_type,
            "correlation_id": self.correlation_id,
            "payload_digest": self.payload_digest,
            "key_id": self.key_id,
            "ciphertext": self.ciphertext,
        }

    def signed_bytes(self) -> bytes:
        return canonical_json(self.signed_fields())

    def to_json(self) -> dict[str, Any]:
        return {**self.signed_fields(), "signature": self.signature}

    def to_bytes(self) -> bytes:
        return self._canonical

    @cached_property
    def _canonical(self) -> bytes:  # the fields never change (frozen): encode once
        return canonical_json(self.to_json())

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the whole canonical envelope, signature included: its fingerprint."""
        return sha256_hex(self.to_bytes())

    def verify(self, history: list[PublicKeyRecord]) -> bool:
        return verify_b64_signature(
            history, self.key_id, self.signed_bytes(), self.signature, signed_at=self.created_at
        )

    def open(self, identity: NodeIdentity) -> dict[str, Any]:
        """Decrypt the payload and check it against its digest."""
        try:
            plaintext = identity.decrypt(unb64(self.ciphertext, "ciphertext"))
        except (CryptoError, ValidationFailed) as exc:
            raise EnvelopeRejected(
                RejectionCode.BAD_PAYLOAD, "the payload cannot be decrypted with this node's keys"
            ) from exc
        if sha256_hex(plaintext) != self.payload_digest:
            raise EnvelopeRejected(
                RejectionCode.BAD_PAYLOAD,
                f"the payload's SHA-256 is {sha256_hex(plaintext)}, "
                f"the envelope says {self.payload_digest}",
            )
        try:
            payload = loads_bounded(
                plaintext, max_bytes=len(plaintext), max_depth=MAX_PAYLOAD_DEPTH
            )
        except JsonRefused as exc:
            raise EnvelopeRejected(
                RejectionCode.BAD_PAYLOAD, f"the payload is not bounded JSON: {exc}"
            ) from exc
        if not isinstance(payload, dict):
            raise EnvelopeRejected(RejectionCode.BAD_PAYLOAD, "the payload is not a JSON object")
        return payload


def seal(
    identity: NodeIdentity,
    *,
    sender: str,
    recipient: str,
    recipient_key: PublicKeyRecord,
    message_type: str,
    payload: dict[str, Any],
    created_at: datetime,
    expires_in: timedelta | None = None,
    correlation_id: str | None = None,
    message_id: str | None = None,
    network: str = LIVE_NETWORK,
) -> Envelope:
    """Encrypt ``payload`` to the recipient's current key and sign the envelope, stating
    ``network`` (the sender's: 'live', or its exercise network's id) inside what is signed."""
    check_message_type(message_type)
    if not is_network_name(network):
        raise ValidationFailed(f"network {network!r} is neither 'live' nor an exercise network")
    lifetime = expires_in if expires_in is not None else DEFAULT_LIFETIME
    if lifetime <= timedelta(0) or lifetime > MAX_LIFETIME:
        raise ValidationFailed(
            f"an envelope lives between 1 second and {MAX_LIFETIME}, not {lifetime}"
        )
    if correlation_id is not None and len(correlation_id) > 200:
        raise ValidationFailed(f"correlation id is too long ({len(correlation_id)} > 200)")
    try:
        plaintext = canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"payload is not JSON-serialisable: {exc}") from exc
    ciphertext = SealedBox(PublicKey(unb64(recipient_key.encryption_key, "key"))).encrypt(plaintext)
    unsigned = Envelope(
        message_id=message_id or str(uuid.uuid4()),
        sender=sender,
        recipient=recipient,
        created_at=created_at,
        expires_at=created_at + lifetime,
        message_type=message_type,
        correlation_id=correlation_id,
        payload_digest=sha256_hex(plaintext),
        key_id=identity.key_id,
        ciphertext=b64(bytes(ciphertext)),
        signature="",
        network=network,
    )
    return replace(unsigned, signature=b64(identity.sign(unsigned.signed_bytes())))


def _need_str(raw: dict[str, Any], name: str, problems: list[str], *, maximum: int = 200) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        problems.append(f"{name} must be a non-empty string")
        return ""
    if len(value) > maximum:
        problems.append(f"{name} is longer than {maximum} characters")
    return value


def parse_envelope(body: bytes) -> Envelope:
    """Parse bytes from the wire; anything that is not a well-formed envelope is
    ``malformed`` (signature, sender and payload are checked later). One message has one
    byte form: the body must be the envelope's canonical JSON exactly, and every base64
    value, digest, key id and instant in it canonical, so that nobody who sees an envelope
    can make a different-looking copy of it that still verifies."""
    try:
        # an envelope is a flat object of strings: depth 1 (the bound stops deep bodies)
        raw = loads_bounded(body, max_bytes=len(body), max_depth=1)
    except JsonRefused as exc:
        raise EnvelopeRejected(
            RejectionCode.MALFORMED, f"the body is not an envelope: {exc}"
        ) from exc
    if not isinstance(raw, dict):
        raise EnvelopeRejected(RejectionCode.MALFORMED, "the body is not a JSON object")
    problems: list[str] = []
    if raw.get("format") != ENVELOPE_FORMAT:
        problems.append(f"format must be {ENVELOPE_FORMAT!r}, not {raw.get('format')!r:.60}")
    unknown = set(raw) - {*_SIGNED_FIELDS, "signature"}
    if unknown:
        problems.append(f"unknown fields: {', '.join(sorted(unknown))[:200]}")
    network = _need_str(raw, "network", problems, maximum=70)
    if network and not is_network_name(network):
        problems.append(
            f"network {network!r:.80} is neither 'live' nor an exercise network ('exercise-...')"
        )
    message_id = _need_str(raw, "message_id", problems)
    try:
        if message_id and str(uuid.UUID(message_id)) != message_id:
            problems.append(f"message_id {message_id!r:.60} is not a canonical UUID")
    except ValueError:
        problems.append(f"message_id {message_id!r:.60} is not a UUID")
    sender = _need_str(raw, "sender", problems, maximum=63)
    recipient = _need_str(raw, "recipient", problems, maximum=63)
    message_type = _need_str(raw, "message_type", problems, maximum=100)
    if message_type and not set(message_type) <= _MESSAGE_TYPE_CHARS:
        problems.append(f"message_type {message_type!r:.60} has characters outside a-z0-9._-")
    digest = _need_str(raw, "payload_digest", problems, maximum=64)
    if digest and (len(digest) != 64 or not set(digest) <= set("0123456789abcdef")):
        problems.append("payload_digest must be 64 lower-case hex digits (SHA-256)")
    key_id = _need_str(raw, "key_id", problems, maximum=16)
    if key_id and (len(key_id) != 16 or not set(key_id) <= set("0123456789abcdef")):
        problems.append("key_id must be 16 lower-case hex digits")
    ciphertext = _need_str(raw, "ciphertext", problems, maximum=1 << 30)
    if ciphertext:
        try:
            unb64(ciphertext, "ciphertext")
        except ValidationFailed as exc:
            problems.append(str(exc))
    signature = _need_str(raw, "signature", problems, maximum=200)
    if signature:
        try:
            if len(unb64(signature, "signature")) != SIGNATURE_BYTES:
                problems.append(f"signature must be {SIGNATURE_BYTES} bytes (Ed25519)")
        except ValidationFailed as exc:
            problems.append(str(exc))
    correlation = raw.get("correlation_id")
    if correlation is not None and (not isinstance(correlation, str) or len(correlation) > 200):
        problems.append("correlation_id must be null or a string of at most 200 characters")
    created = expires = None
    for name in ("created_at", "expires_at"):
        text = _need_str(raw, name, problems, maximum=40)
        if not text:
            continue
        try:
            instant = parse_instant(text, name)
        except ValidationFailed as exc:
            problems.append(str(exc))
            continue
        if isoformat_z(instant) != text:
            problems.append(f"{name} {text!r:.60} is not canonical (UTC with Z, as signed)")
            continue
        if name == "created_at":
            created = instant
        else:
            expires = instant
    if created and expires and not (created < expires <= created + MAX_LIFETIME):
        problems.append(f"expires_at must be after created_at and within {MAX_LIFETIME}")
    if problems or created is None or expires is None:
        raise EnvelopeRejected(RejectionCode.MALFORMED, "; ".join(problems))
    envelope = Envelope(
        message_id=message_id,
        sender=sender,
        recipient=recipient,
        created_at=created,
        expires_at=expires,
        message_type=message_type,
        correlation_id=correlation,
        payload_digest=digest,
        key_id=key_id,
        ciphertext=ciphertext,
        signature=signature,
        network=network,
    )
    if envelope.to_bytes() != body:
        raise EnvelopeRejected(
            RejectionCode.MALFORMED,
            "the body is not the envelope's canonical JSON (sorted keys, no whitespace, "
            "UTF-8 unescaped, correlation_id present); one message has one byte form",
        )
    return envelope


@dataclass(frozen=True)
class Receipt:
    """A node's signed statement about one message at one stage."""

    message_id: str
    envelope_digest: str  # what exactly was received (empty when the body was unreadable)
    stage: Stage
    issuer: str
    subject_sender: str
    at: datetime
    reason: str | None
    detail: str | None
    key_id: str
    signature: str

    def signed_fields(self) -> dict[str, Any]:
        return {
            "format": RECEIPT_FORMAT,
            "message_id": self.message_id,
            "envelope_digest": self.envelope_digest,
            "stage": self.stage.value,
            "issuer": self.issuer,
            "subject_sender": self.subject_sender,
            "at": isoformat_z(self.at),
            "reason": self.reason,
            "detail": self.detail,
            "key_id": self.key_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.signed_fields(), "signature": self.signature}

    def verify(self, history: list[PublicKeyRecord]) -> bool:
        return verify_b64_signature(
            history,
            self.key_id,
            canonical_json(self.signed_fields()),
            self.signature,
            signed_at=self.at,
        )

    @classmethod
    def from_json(cls, raw: Any) -> Receipt:
        if not isinstance(raw, dict) or raw.get("format") != RECEIPT_FORMAT:
            raise ValidationFailed(f"not a {RECEIPT_FORMAT} document")
        try:
            return cls(
                message_id=str(raw["message_id"]),
                envelope_digest=str(raw["envelope_digest"]),
                stage=Stage(raw["stage"]),
                issuer=str(raw["issuer"]),
                subject_sender=str(raw["subject_sender"]),
                at=parse_instant(raw["at"], "at"),
                reason=raw.get("reason"),
                detail=raw.get("detail"),
                key_id=str(raw["key_id"]),
                signature=str(raw["signature"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationFailed(f"bad receipt: {exc}") from exc


def issue_receipt(
    identity: NodeIdentity,
    *,
    issuer: str,
    message_id: str,
    envelope_digest: str,
    subject_sender: str,
    stage: Stage,
    at: datetime,
    reason: str | None = None,
    detail: str | None = None,
) -> Receipt:
    unsigned = Receipt(
        message_id=message_id,
        envelope_digest=envelope_digest,
        stage=stage,
        issuer=issuer,
        subject_sender=subject_sender,
        at=at,
        reason=reason,
        detail=detail[:500] if detail else None,
        key_id=identity.key_id,
        signature="",
    )
    signature = b64(identity.sign(canonical_json(unsigned.signed_fields())))
    return replace(unsigned, signature=signature)
