"""Writing and checking the audit log. ``record`` runs inside the caller's transaction, so an
audited change and its audit entry are committed together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trailguard.audit.chain import (
    AuditEntry,
    ChainReport,
    canonical_json,
    compute_hash,
    verify_chain,
)
from trailguard.audit.orm import AuditEntryRow, AuditHeadRow
from trailguard.core.clock import ensure_utc


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
    a dotted verb (``request.approved``); ``subject`` what it acted on (``request:<id>``)."""
    if not actor or not action or not subject:
        raise ValueError("audit entries need an actor, an action and a subject")
    at = ensure_utc(at)
    # Take the chain's write lock before reading its head: a no-op UPDATE makes SQLite start
    # the write transaction now (its driver would otherwise read the head outside any
    # transaction) and locks the row on PostgreSQL; two writers can then never both append
    # after the same head.
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq))
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
    ).scalar_one()
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
        actor=actor[:200],
        action=action[:100],
        subject=subject[:300],
        details=details_text,
        prev_hash=head.entry_hash,
        entry_hash=entry_hash,
    )
    session.add(row)
    head.seq = seq
    head.entry_hash = entry_hash
    session.flush()
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
