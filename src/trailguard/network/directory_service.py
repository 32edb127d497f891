"""Directory services: keep entries in the node's database, publish the node's own entry,
export the signed directory and import one after checking its publisher's signature."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.config import NodeRole
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.network.directory import (
    DirectoryDocument,
    DirectoryEntry,
    EntryKind,
    Shift,
    merge_entries,
    parse_directory,
    sign_directory,
)
from trailguard.network.envelope import canonical_json
from trailguard.network.identity import PublicKeyRecord, b64, key_id_for, node_identity, unb64
from trailguard.network.orm import DirectoryEntryRow
from trailguard.node import Node

_KIND_FOR_ROLE = {
    NodeRole.POC: EntryKind.POC,
    NodeRole.CENTRAL_AUTHORITY: EntryKind.CENTRAL_AUTHORITY,
    NodeRole.AGENCY: EntryKind.AGENCY,
    NodeRole.PROVIDER: EntryKind.PROVIDER,
}


_PARSED: dict[str, DirectoryEntry] = {}
_PARSED_LOCK = threading.Lock()


def _entry(row: DirectoryEntryRow) -> DirectoryEntry:
    """Parse a stored entry; parsed entries are cached by their exact text (immutable)."""
    with _PARSED_LOCK:
        cached = _PARSED.get(row.document)
    if cached is not None:
        return cached
    entry = DirectoryEntry.from_json(json.loads(row.document))
    with _PARSED_LOCK:
        if len(_PARSED) > 10_000:
            _PARSED.clear()
        _PARSED[row.document] = entry
    return entry


def list_entries(session: Session) -> list[DirectoryEntry]:
    rows = session.execute(select(DirectoryEntryRow).order_by(DirectoryEntryRow.node_id)).scalars()
    return [_entry(row) for row in rows]


def find_entry(session: Session, node_id: str) -> DirectoryEntry | None:
    row = session.get(DirectoryEntryRow, node_id)
    return _entry(row) if row else None


def get_entry(session: Session, node_id: str) -> DirectoryEntry:
    entry = find_entry(session, node_id)
    if entry is None:
        raise NotFound(
            f"{node_id!r} is not in this node's directory; import the network's directory "
            "(`trailguard directory import`) or add the entry"
        )
    return entry


def save_entry(
    session: Session,
    node: Node,
    entry: DirectoryEntry,
    *,
    actor: str,
    source: str,
    is_self: bool = False,
) -> DirectoryEntry:
    """Insert or replace an entry (key history is merged, never shortened) and audit it.
    An entry of another network than the node's own is refused (issue 17): a live node's
    directory never lists an exercise node, nor an exercise node's a live one."""
    now = node.clock.now()
    if entry.network != node.config.network_name:
        raise ValidationFailed(
            f"{entry.node_id!r} is a node of network {entry.network!r}, this node belongs to "
            f"{node.config.network_name!r}; live and exercise nodes never list each other",
            [f"network: {entry.network!r} is not {node.config.network_name!r}"],
        )
    row = session.get(DirectoryEntryRow, entry.node_id)
    if row is not None and row.is_self and not is_self:
        raise ValidationFailed(
            f"{entry.node_id!r} is this node's own entry; change it with `directory self`"
        )
    merged = merge_entries(_entry(row) if row else None, replace(entry, updated_at=now))
    document = canonical_json(merged.to_json()).decode("utf-8")
    if row is None:
        row = DirectoryEntryRow(node_id=merged.node_id)
        session.add(row)
    row.kind = merged.kind.value
    row.country = merged.country
    row.organisation = merged.organisation
    row.document = document
    row.is_self = is_self
    row.source = source[:100]
    row.updated_at = now
    session.flush()
    record(
        session,
        actor=actor,
        action="directory.entry_saved",
        subject=f"directory:{merged.node_id}",
        details={
            "source": source,
            "kind": merged.kind.value,
            "country": merged.country,
            "keys": [key.key_id for key in merged.keys],
        },
        at=now,
    )
    return merged


def remove_entry(session: Session, node: Node, node_id: str, *, actor: str) -> None:
    row = session.get(DirectoryEntryRow, node_id)
    if row is None:
        raise NotFound(f"{node_id!r} is not in the directory")
    if row.is_self:
        raise ValidationFailed(f"{node_id!r} is this node's own entry and cannot be removed")
    session.delete(row)
    record(
        session,
        actor=actor,
        action="directory.entry_removed",
        subject=f"directory:{node_id}",
        at=node.clock.now(),
    )


def publish_self(
    session: Session,
    node: Node,
    *,
    actor: str,
    kind: EntryKind | None = None,
    roster: list[Shift] | None = None,
    phone: str | None = None,
    email: str | None = None,
    prefixes: list[str] | None = None,
) -> DirectoryEntry:
    """Write (or refresh) this node's own entry from its configuration and keys. Roster,
    channels and prefixes given here replace the stored ones; omitted ones are kept."""
    config = node.config
    identity = node_identity(node)
    existing = find_entry(session, config.node_id)
    raw: dict[str, Any] = {
        "node_id": config.node_id,
        "network": config.network_name,
        "kind": (kind or (existing.kind if existing else _KIND_FOR_ROLE[config.roles[0]])).value,
        "country": config.country,
        "organisation": config.name,
        "roles": [role.value for role in config.roles],
        "languages": list(config.languages),
        "timezone": config.timezone,
        "roster": [
            s.to_json()
            for s in (roster if roster is not None else (existing.roster if existing else ()))
        ],
        "channels": {
            "endpoint": config.base_url,
            "phone": phone
            if phone is not None
            else (existing.channels.phone if existing else None),
            "email": email
            if email is not None
            else (existing.channels.email if existing else None),
        },
        "keys": [key.to_json() for key in identity.history],
        "prefixes": prefixes
        if prefixes is not None
        else (list(existing.prefixes) if existing else []),
    }
    entry = DirectoryEntry.from_json(raw)
    return save_entry(session, node, entry, actor=actor, source="self", is_self=True)


def export_directory(session: Session, node: Node, *, actor: str) -> DirectoryDocument:
    """The directory as this node knows it (its own network's entries), signed with its
    current key and stating its network."""
    network = node.config.network_name
    entries = [entry for entry in list_entries(session) if entry.network == network]
    if not any(entry.node_id == node.config.node_id for entry in entries):
        entries.append(publish_self(session, node, actor=actor))
    now = node.clock.now()
    document = sign_directory(
        node_identity(node),
        publisher=node.config.node_id,
        entries=entries,
        at=now,
        network=network,
    )
    record(
        session,
        actor=actor,
        action="directory.exported",
        subject="directory",
        details={"entries": len(entries), "key_id": document.key_id},
        at=now,
    )
    return document


def trusted_key(signing_key_b64: str) -> PublicKeyRecord:
    """A publisher key given out of band (base64 Ed25519 verify key), valid for all time."""
    raw = unb64(signing_key_b64.strip(), "publisher key")
    if len(raw) != 32:
        raise ValidationFailed(f"publisher key must be 32 bytes of base64, got {len(raw)} bytes")
    return PublicKeyRecord(
        key_id=key_id_for(raw),
        signing_key=b64(raw),
        encryption_key=b64(bytes(32)),
        valid_from=datetime(1970, 1, 1, tzinfo=UTC),
    )


@dataclass(frozen=True)
class ImportReport:
    publisher: str
    published_at: datetime
    imported: list[str]
    skipped: list[str]


def import_directory(
    session: Session,
    node: Node,
    raw: Any,
    *,
    actor: str,
    publisher_key: str | None = None,
) -> ImportReport:
    """Verify a signed directory and merge its entries. The signature must verify against
    ``publisher_key`` (given out of band) or, when omitted, against the publisher's keys
    already in this node's directory; a document never vouches for its own publisher.
    Nothing is stored unless every entry is valid and the signature holds, and the
    directory is of this node's network (a live node never imports an exercise directory,
    nor an exercise node a live one or another exercise's: issue 17)."""
    document = parse_directory(raw)
    network = node.config.network_name
    if document.network != network:
        with node.db.session() as audit_session:  # the caller's transaction rolls back
            record(
                audit_session,
                actor=actor,
                action="directory.import_refused",
                subject="directory",
                details={
                    "publisher": document.publisher,
                    "reason": "wrong_network",
                    "network": document.network,
                    "own_network": network,
                },
                at=node.clock.now(),
            )
        raise ValidationFailed(
            f"the directory (publisher {document.publisher!r}) is of network "
            f"{document.network!r}, this node belongs to {network!r}; refusing to import: "
            "live and exercise nodes never list each other"
        )
    if publisher_key:
        history = [trusted_key(publisher_key)]
    else:
        known = find_entry(session, document.publisher)
        if known is None or not known.keys:
            raise ValidationFailed(
                f"publisher {document.publisher!r} is not in this node's directory; give its "
                "signing key with --publisher-key to trust it"
            )
        history = list(known.keys)
    if not document.verify(history):
        # recorded in its own transaction: the caller's rolls back with the refusal
        with node.db.session() as audit_session:
            record(
                audit_session,
                actor=actor,
                action="directory.import_refused",
                subject="directory",
                details={"publisher": document.publisher, "key_id": document.key_id},
                at=node.clock.now(),
            )
        raise ValidationFailed(
            f"the directory's signature (publisher {document.publisher!r}, key "
            f"{document.key_id!r}) does not verify against the trusted key; refusing to import"
        )
    imported, skipped = [], []
    for entry in document.entries:
        if entry.node_id == node.config.node_id:
            skipped.append(entry.node_id)
            continue
        save_entry(session, node, entry, actor=actor, source=f"import:{document.publisher}")
        imported.append(entry.node_id)
    record(
        session,
        actor=actor,
        action="directory.imported",
        subject="directory",
        details={"publisher": document.publisher, "imported": imported, "skipped": skipped},
        at=node.clock.now(),
    )
    return ImportReport(
        publisher=document.publisher,
        published_at=document.published_at,
        imported=imported,
        skipped=skipped,
    )
