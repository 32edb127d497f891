"""Signed and witnessed chain heads, as plain data and checks (no web, database or keys).

A **signed head** is a node's statement "my audit log had ``seq`` entries, the last one hashing
to ``entry_hash``, at ``signed_at``", signed with the node's Ed25519 key (as a Certificate
Transparency log signs its tree heads, RFC 6962 s. 3.5). A **witnessed head** is a peer's
countersignature over such a statement: the peer saw it and keeps it (as CT monitors and
witnesses do). Since the log is a hash chain, a head commits to every entry up to ``seq``:

- a log that now ends before a known head's ``seq`` was truncated (its head rewound);
- a log whose entry ``seq`` now hashes to something else was rewritten (an entry was edited
  and every later hash recomputed), whatever its own head row says.

``check_heads`` compares a chain with the heads known to it and names what fails.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trailguard.audit.chain import ChainProblem, canonical_json

HEAD_TYPE = "trailguard.audit-head.v1"
WITNESS_TYPE = "trailguard.audit-witness.v1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,62}$")


class HeadFormatError(ValueError):
    """A signed or witnessed head that is not well formed (names the field)."""


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_instant(raw: Any, what: str) -> datetime:
    if not isinstance(raw, str) or not raw.endswith("Z"):
        raise HeadFormatError(f"{what} must be an ISO 8601 UTC instant ending in Z")
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00")
    except ValueError as exc:
        raise HeadFormatError(f"{what} is not an ISO 8601 instant: {raw[:40]!r}") from exc
    if _instant(value) != raw:
        raise HeadFormatError(f"{what} is not in canonical form: {raw[:40]!r}")
    return value


def _signature(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise HeadFormatError(f"{what} must be base64 text")
    try:
        decoded = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise HeadFormatError(f"{what} is not valid base64") from exc
    if len(decoded) != 64 or base64.b64encode(decoded).decode("ascii") != raw:
        raise HeadFormatError(f"{what} must be the canonical base64 of 64 bytes")
    return raw


def _field(raw: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise HeadFormatError(f"{name} is missing or malformed")
    return value


@dataclass(frozen=True)
class SignedHead:
    node_id: str
    seq: int
    entry_hash: str
    signed_at: datetime
    key_id: str
    signature: str  # base64 Ed25519 signature over ``message()``

    def statement(self) -> dict[str, Any]:
        return {
            "type": HEAD_TYPE,
            "node_id": self.node_id,
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "signed_at": _instant(self.signed_at),
        }

    def message(self) -> bytes:
        return canonical_json(self.statement()).encode("utf-8")

    @staticmethod
    def message_for(node_id: str, seq: int, entry_hash: str, signed_at: datetime) -> bytes:
        return SignedHead(node_id, seq, entry_hash, signed_at, "", "").message()

    def to_json(self) -> dict[str, Any]:
        return {**self.statement(), "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_json(cls, raw: Any) -> SignedHead:
        if not isinstance(raw, dict):
            raise HeadFormatError("a signed head must be a JSON object")
        if raw.get("type") != HEAD_TYPE:
            raise HeadFormatError(f"type must be {HEAD_TYPE!r}")
        seq = raw.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise HeadFormatError("seq must be a whole number >= 0")
        return cls(
            node_id=_field(raw, "node_id", _NODE_ID),
            seq=seq,
            entry_hash=_field(raw, "entry_hash", _HEX64),
            signed_at=_parse_instant(raw.get("signed_at"), "signed_at"),
            key_id=_field(raw, "key_id", _KEY_ID),
            signature=_signature(raw.get("signature"), "signature"),
        )


@dataclass(frozen=True)
class WitnessedHead:
    head: SignedHead
    witness_node: str
    witnessed_at: datetime
    witness_key_id: str
    witness_signature: str  # base64 Ed25519 signature of the witness over ``message()``

    def statement(self) -> dict[str, Any]:
        return {
            "type": WITNESS_TYPE,
            "head": self.head.to_json(),
            "witness_node": self.witness_node,
            "witnessed_at": _instant(self.witnessed_at),
        }

    def message(self) -> bytes:
        return canonical_json(self.statement()).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            **self.statement(),
            "witness_key_id": self.witness_key_id,
            "witness_signature": self.witness_signature,
        }

    @classmethod
    def from_json(cls, raw: Any) -> WitnessedHead:
        if not isinstance(raw, dict):
            raise HeadFormatError("a witnessed head must be a JSON object")
        if raw.get("type") != WITNESS_TYPE:
            raise HeadFormatError(f"type must be {WITNESS_TYPE!r}")
        return cls(
            head=SignedHead.from_json(raw.get("head")),
            witness_node=_field(raw, "witness_node", _NODE_ID),
            witnessed_at=_parse_instant(raw.get("witnessed_at"), "witnessed_at"),
            witness_key_id=_field(raw, "witness_key_id", _KEY_ID),
            witness_signature=_signature(raw.get("witness_signature"), "witness_signature"),
        )


@dataclass(frozen=True)
class KnownHead:
    """A head the verifier trusts (its signatures were checked), and who vouches for it."""

    source: str  # "this node's signed head" or "witness nl-poc"
    seq: int
    entry_hash: str
    signed_at: datetime


def check_heads(
    chain_end: int, hashes_at: Mapping[int, str], heads: Iterable[KnownHead]
) -> list[ChainProblem]:
    """Compare the chain (its last entry ``chain_end`` and the entry hashes at the heads'
    positions) with trusted heads. One problem per source and kind: the highest head past the
    end (truncation) and the lowest head whose entry differs (rewrite)."""
    truncated: dict[str, KnownHead] = {}
    rewritten: dict[str, tuple[KnownHead, str]] = {}
    for head in heads:
        if head.seq == 0:
            continue  # the genesis head commits to nothing
        if head.seq > chain_end:
            if head.source not in truncated or head.seq > truncated[head.source].seq:
                truncated[head.source] = head
            continue
        actual = hashes_at.get(head.seq)
        if actual is not None and actual != head.entry_hash:
            best = rewritten.get(head.source)
            if best is None or head.seq < best[0].seq:
                rewritten[head.source] = (head, actual)
    problems = []
    for source, head in sorted(truncated.items()):
        gone = (
            f"entry {head.seq} is gone"
            if head.seq == chain_end + 1
            else f"entries {chain_end + 1}-{head.seq} are gone"
        )
        problems.append(
            ChainProblem(
                head.seq,
                f"truncated: the log ends at entry {chain_end} but {source} holds a head at "
                f"entry {head.seq} (hash {head.entry_hash[:16]}, signed "
                f"{_instant(head.signed_at)}): the head was rewound and {gone}",
            )
        )
    for source, (head, actual) in sorted(rewritten.items()):
        problems.append(
            ChainProblem(
                head.seq,
                f"rewritten: entry {head.seq} now hashes to {actual[:16]} but {source} holds "
                f"{head.entry_hash[:16]} for it (signed {_instant(head.signed_at)}): entries up "
                "to it were changed and the later hashes recomputed",
            )
        )
    return problems
