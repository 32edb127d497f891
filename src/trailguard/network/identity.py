"""A node's identity: an Ed25519 signing key and an X25519 encryption key, with history.

Keys live in ``<data-dir>/keys`` (directory 0700, files 0600). ``identity.json`` holds the
current key pair and the public half of every earlier pair with its validity period, so that a
signature made before a rotation still verifies against the key that was valid when it was
made. Retired private encryption keys stay in ``retired/`` so that envelopes encrypted to the
old key while the rotation propagates can still be opened. The cryptography is PyNaCl
(libsodium): Ed25519 signatures and X25519 sealed boxes; nothing here is home-made.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.config import NodePaths
from trailguard.core.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from trailguard.node import Node

IDENTITY_FILE = "identity.json"
RETIRED_DIR = "retired"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    """Decode canonical base64 only (RFC 4648 section 3.5): padded, no other characters, and
    the unused bits of the last character zero. A decoder that ignores those bits gives one
    value many spellings; re-encoding and comparing leaves exactly one."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, AttributeError) as exc:
        raise ValidationFailed(f"{what} is not valid base64: {str(text)[:40]!r}") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise ValidationFailed(f"{what} is not canonical base64: {text[:40]!r}")
    return data


def key_id_for(verify_key: bytes) -> str:
    """A short, stable name of a signing key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(verify_key).hexdigest()[:16]


def parse_instant(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValidationFailed(f"{what} is not an ISO 8601 instant: {text!r}") from exc
    if value.tzinfo is None:
        raise ValidationFailed(f"{what} has no zone or offset: {text!r}")
    return ensure_utc(value)


@dataclass(frozen=True)
class PublicKeyRecord:
    """The public half of one key pair and when it was (or is) the node's current pair."""

    key_id: str
    signing_key: str  # base64 Ed25519 verify key (32 bytes)
    encryption_key: str  # base64 X25519 public key (32 bytes)
    valid_from: datetime
    valid_until: datetime | None = None

    def covers(self, instant: datetime) -> bool:
        if instant < self.valid_from:
            return False
        return self.valid_until is None or instant < self.valid_until

    def verify_key(self) -> VerifyKey:
        return VerifyKey(unb64(self.signing_key, "signing key"))

    def public_key(self) -> PublicKey:
        return PublicKey(unb64(self.encryption_key, "encryption key"))

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "valid_from": isoformat_z(self.valid_from),
            "valid_until": isoformat_z(self.valid_until) if self.valid_until else None,
        }

    @classmethod
    def from_json(cls, raw: Any) -> PublicKeyRecord:
        if not isinstance(raw, dict):
            raise ValidationFailed(f"a public key record must be an object, not {raw!r:.60}")
        problems = [
            f"public key record lacks {name!r}"
            for name in ("key_id", "signing_key", "encryption_key", "valid_from")
            if not isinstance(raw.get(name), str)
        ]
        if problems:
            raise ValidationFailed("bad public key record", problems)
        signing = unb64(raw["signing_key"], "signing_key")
        encryption = unb64(raw["encryption_key"], "encryption_key")
        if len(signing) != 32 or len(encryption) != 32:
            raise ValidationFailed(f"key {raw['key_id']!r}: keys must be 32 bytes each")
        if key_id_for(signing) != raw["key_id"]:
            raise ValidationFailed(
                f"key id {raw['key_id']!r} does not match its signing key "
                f"(expected {key_id_for(signing)})"
            )
        until = raw.get("valid_until")
        return cls(
            key_id=raw["key_id"],
            signing_key=raw["signing_key"],
            encryption_key=raw["encryption_key"],
            valid_from=parse_instant(raw["valid_from"], "valid_from"),
            valid_until=parse_instant(until, "valid_until") if until else None,
        )


def verify_b64_signature(
    history: list[PublicKeyRecord],
    key_id: str,
    message: bytes,
    signature_b64: str,
    *,
    signed_at: datetime | None = None,
) -> bool:
    """``verify_with_history`` for a signature carried as base64 text (envelopes, receipts,
    directory documents); an undecodable signature simply does not verify."""
    try:
        signature = unb64(signature_b64, "signature")
    except ValidationFailed:
        return False
    return verify_with_history(history, key_id, message, signature, signed_at=signed_at)


def verify_with_history(
    history: list[PublicKeyRecord],
    key_id: str,
    message: bytes,
    signature: bytes,
    *,
    signed_at: datetime | None = None,
) -> bool:
    """True if ``signature`` over ``message`` verifies with the key named ``key_id`` in
    ``history`` (and, when ``signed_at`` is given, that key was not yet retired then)."""
    for record in history:
        if record.key_id != key_id:
            continue
        # A key signs until it is retired; its start is not checked because a node's clock
        # may legitimately trail the key's creation (replayed scenarios, skew).
        if (
            signed_at is not None
            and record.valid_until is not None
            and (signed_at >= record.valid_until)
        ):
            return False
        try:
            record.verify_key().verify(message, signature)
        except (BadSignatureError, ValueError, CryptoError):
            return False
        return True
    return False


def merge_key_history(
    old: list[PublicKeyRecord], new: list[PublicKeyRecord]
) -> list[PublicKeyRecord]:
    """Union by key id; the newer document's validity wins, no key is ever forgotten."""
    merged = {record.key_id: record for record in old}
    for record in new:
        merged[record.key_id] = record
    return sorted(merged.values(), key=lambda record: record.valid_from)


@dataclass
class NodeIdentity:
    """The node's current key pair and the public history of all its pairs."""

    signing_key: SigningKey
    encryption_key: PrivateKey
    created_at: datetime
    history: list[PublicKeyRecord] = field(default_factory=list)
    retired_encryption_keys: dict[str, PrivateKey] = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        return key_id_for(bytes(self.signing_key.verify_key))

    @property
    def current(self) -> PublicKeyRecord:
        for record in self.history:
            if record.key_id == self.key_id:
                return record
        raise NotFound(f"the current key {self.key_id} is missing from the key history")

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message).signature

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Open a sealed box addressed to the current key or to a retired one."""
        keys = [self.encryption_key, *self.retired_encryption_keys.values()]
        for key in keys:
            try:
                return SealedBox(key).decrypt(ciphertext)
            except CryptoError:
                continue
        raise CryptoError("no key of this node opens this ciphertext")


def _private_json(signing: SigningKey, encryption: PrivateKey) -> dict[str, str]:
    return {"signing_seed": b64(bytes(signing)), "encryption_key": b64(bytes(encryption))}


def _public_record(
    signing: SigningKey, encryption: PrivateKey, valid_from: datetime
) -> PublicKeyRecord:
    verify = bytes(signing.verify_key)
    return PublicKeyRecord(
        key_id=key_id_for(verify),
        signing_key=b64(verify),
        encryption_key=b64(bytes(encryption.public_key)),
        valid_from=valid_from,
    )


def _write_secret(path: Path, content: str) -> None:
    """Write a file readable by the owner only, atomically (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _ensure_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def _save(paths: NodePaths, identity: NodeIdentity) -> None:
    _ensure_dir(paths.keys)
    document = {
        "format": "trailguard-identity/1",
        "created_at": isoformat_z(identity.created_at),
        "current": _private_json(identity.signing_key, identity.encryption_key),
        "history": [record.to_json() for record in identity.history],
    }
    _write_secret(paths.keys / IDENTITY_FILE, json.dumps(document, indent=2))


def create_identity(paths: NodePaths, *, now: datetime | None = None) -> NodeIdentity:
    """Create the node's first key pair; refuses to overwrite an existing identity."""
    if (paths.keys / IDENTITY_FILE).exists():
        raise Conflict(f"{paths.keys / IDENTITY_FILE} exists; rotate keys instead of recreating")
    created = ensure_utc(now) if now else datetime.now(UTC)
    signing = SigningKey.generate()
    encryption = PrivateKey.generate()
    identity = NodeIdentity(
        signing_key=signing,
        encryption_key=encryption,
        created_at=created,
        history=[_public_record(signing, encryption, created)],
    )
    _save(paths, identity)
    return identity


def load_identity(paths: NodePaths) -> NodeIdentity:
    path = paths.keys / IDENTITY_FILE
    if not path.exists():
        raise NotFound(f"no node identity at {path}; create one with `trailguard init`")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValidationFailed(
            f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        current = document["current"]
        signing = SigningKey(unb64(current["signing_seed"], "signing seed"))
        encryption = PrivateKey(unb64(current["encryption_key"], "encryption key"))
        history = [PublicKeyRecord.from_json(raw) for raw in document["history"]]
        created = parse_instant(document["created_at"], "created_at")
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{path} is not a trailguard identity file: {exc}") from exc
    retired: dict[str, PrivateKey] = {}
    retired_dir = paths.keys / RETIRED_DIR
    if retired_dir.is_dir():
        for file in sorted(retired_dir.glob("*.json")):
            raw = json.loads(file.read_text(encoding="utf-8"))
            retired[file.stem] = PrivateKey(unb64(raw["encryption_key"], "retired key"))
    return NodeIdentity(
        signing_key=signing,
        encryption_key=encryption,
        created_at=created,
        history=history,
        retired_encryption_keys=retired,
    )


def rotate_keys(paths: NodePaths, *, now: datetime | None = None) -> NodeIdentity:
    """Replace the current key pair. The old public keys stay in the history with
    ``valid_until`` set, so signatures made before now still verify; the old private
    encryption key is kept in ``retired/`` for envelopes already on their way."""
    identity = load_identity(paths)
    instant = ensure_utc(now) if now else datetime.now(UTC)
    current = identity.current
    if instant <= current.valid_from:
        raise ValidationFailed(
            f"rotation time {isoformat_z(instant)} must be after the current key's start "
            f"{isoformat_z(current.valid_from)}"
        )
    retired_dir = paths.keys / RETIRED_DIR
    _ensure_dir(retired_dir)
    _write_secret(
        retired_dir / f"{current.key_id}.json",
        json.dumps(_private_json(identity.signing_key, identity.encryption_key)),
    )
    signing = SigningKey.generate()
    encryption = PrivateKey.generate()
    history = [
        PublicKeyRecord(
            key_id=record.key_id,
            signing_key=record.signing_key,
            encryption_key=record.encryption_key,
            valid_from=record.valid_from,
            valid_until=record.valid_until or instant,
        )
        for record in identity.history
    ]
    history.append(_public_record(signing, encryption, instant))
    rotated = NodeIdentity(
        signing_key=signing,
        encryption_key=encryption,
        created_at=identity.created_at,
        history=history,
        retired_encryption_keys={
            **identity.retired_encryption_keys,
            current.key_id: identity.encryption_key,
        },
    )
    _save(paths, rotated)
    return rotated


_CACHE: dict[str, tuple[tuple[int, int, int], NodeIdentity]] = {}
_CACHE_LOCK = threading.Lock()


def node_identity(node: Node) -> NodeIdentity:
    """The node's identity, read once and re-read when the key files change (rotation)."""
    path = node.paths.keys / IDENTITY_FILE
    retired = node.paths.keys / RETIRED_DIR
    try:
        stat = path.stat()
        retired_mtime = retired.stat().st_mtime_ns if retired.exists() else 0
        stamp = (stat.st_mtime_ns, stat.st_ino, retired_mtime)
    except FileNotFoundError as exc:
        raise NotFound(f"no node identity at {path}; create one with `trailguard init`") from exc
    with _CACHE_LOCK:
        cached = _CACHE.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]
    identity = load_identity(node.paths)
    with _CACHE_LOCK:
        _CACHE[str(path)] = (stamp, identity)
    return identity
