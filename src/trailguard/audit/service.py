"""Writing and checking the audit log. ``record`` runs inside the caller's transaction, so an
audited change and its audit entry are committed together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from trailguard.audit.chain import (
    AuditEntry,
    ChainReport,
    canonical_json,
    compute_hash,
    verify_chain,
)
from trailguard.audit.orm import AuditEntryRow, AuditHeadRow
from trailguard.core.clock import ensure_utc

_HELD_KEY = "trailguard.audit.head_held"


@dataclass
class _Held:
    """The chain's head row, once this transaction holds the chain's lock. The reference
    keeps the row alive (the session's identity map alone would let it be collected)."""

    transaction: SessionTransaction
    head: AuditHeadRow
    stale: bool = False  # a savepoint was rolled back: read the head again


@event.listens_for(Session, "after_soft_rollback")
def _forget_head_after_rollback(session: Session, previous: SessionTransaction) -> None:
    held = session.info.get(_HELD_KEY)
    if held is not None:
        held.stale = True  # a rolled-back savepoint may have taken entries back with it


def lock_chain(session: Session) -> None:
    """Take the chain's write lock for the rest of the transaction.

    ``record`` does it itself; callers that use savepoints call it before the first one, so
    that SQLite's write transaction begins outside them and the lock outlives them (a lock
    taken inside a savepoint is released on PostgreSQL when the savepoint is rolled back)."""
    _head(session)


def _head(session: Session) -> AuditHeadRow:
    held: _Held | None = session.info.get(_HELD_KEY)
    if held is not None and held.transaction is session.get_transaction():
        if held.stale:  # still locked by this transaction; only the values may differ
            session.refresh(held.head)
            held.stale = False
        return held.head
    # A no-op UPDATE makes SQLite start the write transaction now (its driver would otherwise
    # read the head outside any transaction) and locks the row on PostgreSQL; two writers can
    # then never both append after the same head. The lock lasts until the transaction ends.
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq))
    head = session.execute(
        select(AuditHeadRow)
        .where(AuditHeadRow.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if not session.in_nested_transaction():
        root = session.get_transaction()
        assert root is not None
        session.info[_HELD_KEY] = _Held(root, head)
    return head


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
    at: datetime,
) -> AuditEntry:
    """Append one entry. ``actor`` is ``user:<name>``, ``node:<id>`` or ``system``; ``action``
    a dotted verb (``request.approved``); ``subject`` what it acted on (``request:<id>``).
    A transaction that appends many entries takes the chain's lock once, and its entries go
    in with its other writes at the next flush (a query, a savepoint or the commit), in one
    batch per table."""
    if not actor or not action or not subject:
        raise ValueError("audit entries need an actor, an action and a subject")
    at = ensure_utc(at)
    # truncated to the columns' sizes before hashing, so the stored entry verifies
    actor, action, subject = actor[:200], action[:100], subject[:300]
    head = _head(session)
    seq = head.seq + 1
    details_text = canonical_json(details or {})
    entry_hash = compute_hash(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=details_text,
        prev_hash=head.entry_hash,
    )
    row = AuditEntryRow(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=details_text,
        prev_hash=head.entry_hash,
        entry_hash=entry_hash,
    )
    session.add(row)
    head.seq = seq
    head.entry_hash = entry_hash
    return _entry(row)


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


def iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntryRow)
                .where(AuditEntryRow.seq > last)
                .order_by(AuditEntryRow.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        last = rows[-1].seq


def verify(session: Session) -> ChainReport:
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1)).scalar_one()
    return verify_chain(iter_entries(session), (head.seq, head.entry_hash))


def recent(
    session: Session, *, limit: int = 100, subject: str | None = None, action: str | None = None
) -> list[AuditEntry]:
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(limit)
    if subject:
        query = query.where(AuditEntryRow.subject == subject)
    if action:
        query = query.where(AuditEntryRow.action == action)
    return [_entry(row) for row in session.execute(query).scalars()]
