"""The hash chain, as plain functions: how an entry's hash is computed and checked.

entry_hash = SHA-256 over the canonical JSON of (seq, at, actor, action, subject, details,
prev_hash). Changing any field of any entry, removing one, or reordering them breaks every
hash from that point on, and ``verify_chain`` names the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: str  # canonical JSON text, exactly as stored
    prev_hash: str
    entry_hash: str


def compute_hash(
    *, seq: int, at: datetime, actor: str, action: str, subject: str, details: str, prev_hash: str
) -> str:
    material = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_hash: str
    problems: list[ChainProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    entries: Iterable[AuditEntry], expected_head: tuple[int, str] | None
) -> ChainReport:
    problems: list[ChainProblem] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                ChainProblem(
                    entry.seq, f"sequence gap: expected entry {expected_seq}, found {entry.seq}"
                )
            )
            expected_seq = entry.seq
        if entry.prev_hash != prev_hash:
            problems.append(ChainProblem(entry.seq, "prev_hash does not match the previous entry"))
        recomputed = compute_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.entry_hash:
            problems.append(ChainProblem(entry.seq, "content was changed: its hash does not match"))
        prev_hash = entry.entry_hash
        expected_seq += 1
    if expected_head is not None:
        head_seq, head_hash = expected_head
        if head_seq != expected_seq - 1 or (head_seq > 0 and head_hash != prev_hash):
            problems.append(
                ChainProblem(
                    head_seq,
                    f"the chain head says entry {head_seq} but the log ends at {expected_seq - 1}: "
                    "entries were removed or added outside the audit service",
                )
            )
    return ChainReport(entries=count, head_hash=prev_hash, problems=problems)
