"""Signed heads and peer witnesses: the audit log cannot be rewritten quietly (issue 11).

- ``sign_head``: this node signs its current chain head with its Ed25519 key (the network
  identity's key, PyNaCl) and stores the signed head. A peer asks for it with
  ``GET /exchange/v1/audit/head``; ``trailguard audit witness`` signs it too.
- ``witness_peers``: this node fetches every directory peer's signed head, checks it against
  the peer's keys from the signed directory, compares it with the heads it saw before (a head
  that went back or forked is reported), countersigns it and stores it. Peers read what this
  node witnessed of them at ``GET /exchange/v1/audit/witnessed/{node_id}``.
- ``verify_node``: the chain itself (``chain.verify_chain``), then every signed head this node
  stored and every countersigned head it collected, and (``client`` given) what each peer
  witnessed now. A log that ends before a known head was truncated; a log whose entry at a
  known head hashes differently was rewritten (see ``heads.check_heads``).

Witnessing writes no audit entry of its own: two peers witnessing each other would otherwise
move each other's heads on every round. The heads tables are append-only evidence instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit import (
    AuditEntry,
    AuditHeadRow,
    AuditSignedHeadRow,
    AuditWitnessedHeadRow,
    ChainProblem,
    HeadFormatError,
    KnownHead,
    SignedHead,
    WitnessedHead,
    check_heads,
    iter_entries,
    verify_chain,
)
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.network.directory_service import find_entry, list_entries
from trailguard.network.identity import (
    PublicKeyRecord,
    b64,
    node_identity,
    verify_b64_signature,
)

if TYPE_CHECKING:
    from trailguard.node import Node

HEAD_PATH = "/exchange/v1/audit/head"
WITNESSED_PATH = "/exchange/v1/audit/witnessed/{node_id}"
MAX_ANSWER_BYTES = 1024 * 1024  # a peer's answer is read up to this size, no further
OWN_SOURCE = "this node's signed head"


# --- this node's heads ----------------------------------------------------------------------


def _signed(row: AuditSignedHeadRow, node_id: str) -> SignedHead:
    return SignedHead(node_id, row.seq, row.entry_hash, row.signed_at, row.key_id, row.signature)


def sign_head(node: Node) -> SignedHead:
    """Sign the chain's current head (once per head: an unchanged head returns the stored
    signature) and store it."""

    identity = node_identity(node)
    me = node.config.node_id
    with node.db.session() as session:
        head = session.get(AuditHeadRow, 1)
        if head is None:
            raise NotFound("this database has no audit chain head; run `trailguard init`")
        latest = session.execute(
            select(AuditSignedHeadRow).order_by(AuditSignedHeadRow.id.desc()).limit(1)
        ).scalar_one_or_none()
        if (
            latest is not None
            and latest.seq == head.seq
            and latest.entry_hash == head.entry_hash
            and latest.key_id == identity.key_id
        ):
            return _signed(latest, me)
        now = node.clock.now()
        message = SignedHead.message_for(me, head.seq, head.entry_hash, now)
        row = AuditSignedHeadRow(
            seq=head.seq,
            entry_hash=head.entry_hash,
            signed_at=now,
            key_id=identity.key_id,
            signature=b64(identity.sign(message)),
        )
        session.add(row)
        session.flush()
        return _signed(row, me)


# --- witnessing peers' heads ------------------------------------------------------------------


def _peer_keys(session: Session, node_id: str) -> list[PublicKeyRecord]:

    entry = find_entry(session, node_id)
    if entry is None:
        raise NotFound(f"{node_id!r} is not in this node's directory")
    return list(entry.keys)


def _verifies(
    keys: list[PublicKeyRecord], key_id: str, message: bytes, signature: str, at: datetime
) -> bool:

    return verify_b64_signature(keys, key_id, message, signature, signed_at=at)


def _witnessed(row: AuditWitnessedHeadRow) -> WitnessedHead:
    head = SignedHead(
        row.subject_node, row.seq, row.entry_hash, row.signed_at, row.key_id, row.signature
    )
    return WitnessedHead(
        head, row.witness_node, row.witnessed_at, row.witness_key_id, row.witness_signature
    )


def _store(session: Session, subject: str, witnessed: WitnessedHead) -> bool:
    head = witnessed.head
    exists = session.execute(
        select(AuditWitnessedHeadRow.id).where(
            AuditWitnessedHeadRow.subject_node == subject,
            AuditWitnessedHeadRow.witness_node == witnessed.witness_node,
            AuditWitnessedHeadRow.seq == head.seq,
            AuditWitnessedHeadRow.entry_hash == head.entry_hash,
            AuditWitnessedHeadRow.signed_at == head.signed_at,
        )
    ).first()
    if exists:
        return False
    session.add(
        AuditWitnessedHeadRow(
            subject_node=subject,
            witness_node=witnessed.witness_node,
            seq=head.seq,
            entry_hash=head.entry_hash,
            signed_at=head.signed_at,
            key_id=head.key_id,
            signature=head.signature,
            witnessed_at=witnessed.witnessed_at,
            witness_key_id=witnessed.witness_key_id,
            witness_signature=witnessed.witness_signature,
        )
    )
    session.flush()
    return True


def witness_head(node: Node, head: SignedHead) -> tuple[WitnessedHead, list[str]]:
    """Check a peer's signed head against its directory keys, compare it with the heads of
    that peer seen before, countersign and store it. Returns the countersigned head and the
    inconsistencies found (a head that went back, or two hashes for one entry)."""

    me = node.config.node_id
    if head.node_id == me:
        raise ValidationFailed("a node does not witness its own head")
    identity = node_identity(node)
    with node.db.session() as session:
        keys = _peer_keys(session, head.node_id)
        if not _verifies(keys, head.key_id, head.message(), head.signature, head.signed_at):
            raise ValidationFailed(
                f"{head.node_id}'s head at entry {head.seq}: the signature does not verify "
                "with its keys in the directory"
            )
        earlier = [
            _witnessed(row).head
            for row in session.execute(
                select(AuditWitnessedHeadRow).where(
                    AuditWitnessedHeadRow.subject_node == head.node_id,
                    AuditWitnessedHeadRow.witness_node == me,
                )
            ).scalars()
        ]
        problems = []
        highest = max(earlier, key=lambda h: h.seq, default=None)
        if highest is not None and highest.seq > head.seq:
            problems.append(
                f"{head.node_id}'s head went back from entry {highest.seq} to {head.seq}"
            )
        for old in earlier:
            if old.seq == head.seq and old.entry_hash != head.entry_hash:
                problems.append(
                    f"{head.node_id} signed two hashes for entry {head.seq}: "
                    f"{old.entry_hash[:16]} and {head.entry_hash[:16]}"
                )
                break
        now = node.clock.now()
        unsigned = WitnessedHead(head, me, now, identity.key_id, "")
        witnessed = WitnessedHead(
            head, me, now, identity.key_id, b64(identity.sign(unsigned.message()))
        )
        _store(session, head.node_id, witnessed)
    return witnessed, problems


def _valid(
    item: WitnessedHead, witness_keys: list[PublicKeyRecord], own_keys: list[PublicKeyRecord]
) -> bool:
    """Both signatures hold: the witness's countersignature and the subject's own."""
    return _verifies(
        witness_keys,
        item.witness_key_id,
        item.message(),
        item.witness_signature,
        item.witnessed_at,
    ) and _verifies(
        own_keys,
        item.head.key_id,
        item.head.message(),
        item.head.signature,
        item.head.signed_at,
    )


def witnessed_of(node: Node, subject: str, *, limit: int = 1000) -> list[WitnessedHead]:
    """The heads of ``subject`` this node witnessed, newest first."""
    with node.db.session() as session:
        rows = session.execute(
            select(AuditWitnessedHeadRow)
            .where(
                AuditWitnessedHeadRow.subject_node == subject,
                AuditWitnessedHeadRow.witness_node == node.config.node_id,
            )
            .order_by(AuditWitnessedHeadRow.seq.desc(), AuditWitnessedHeadRow.id.desc())
            .limit(limit)
        ).scalars()
        return [_witnessed(row) for row in rows]


def _get_json(client: httpx.Client, url: str) -> Any:
    try:
        response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ValidationFailed(f"{url}: {type(exc).__name__}: {exc}"[:300]) from exc
    if response.status_code != 200:
        raise ValidationFailed(f"{url}: HTTP {response.status_code}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise ValidationFailed(f"{url}: answer over {MAX_ANSWER_BYTES} bytes")
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(f"{url}: not JSON") from exc


def _peers(node: Node) -> list[tuple[str, str]]:

    with node.db.session() as session:
        return [
            (entry.node_id, entry.channels.endpoint.rstrip("/"))
            for entry in list_entries(session)
            if entry.node_id != node.config.node_id and entry.channels.endpoint and entry.keys
        ]


@dataclass
class WitnessReport:
    witnessed: dict[str, int] = field(default_factory=dict)  # peer -> seq of its head
    problems: list[str] = field(default_factory=list)


def witness_peers(node: Node, client: httpx.Client) -> WitnessReport:
    """Sign this node's head, then fetch, check, countersign and store every peer's head."""
    sign_head(node)
    report = WitnessReport()
    for peer, endpoint in _peers(node):
        try:
            head = SignedHead.from_json(_get_json(client, endpoint + HEAD_PATH))
            if head.node_id != peer:
                raise ValidationFailed(f"{peer} answered with the head of {head.node_id!r}")
            witnessed, problems = witness_head(node, head)
        except (ValidationFailed, NotFound, HeadFormatError) as exc:
            report.problems.append(f"{peer}: {exc}")
            continue
        report.witnessed[peer] = witnessed.head.seq
        report.problems.extend(problems)
    return report


def collect_witnessed(node: Node, client: httpx.Client) -> list[str]:
    """Fetch from every peer the heads of this node it witnessed; store those whose
    signatures (the peer's countersignature, this node's own) verify. Returns problems."""

    me = node.config.node_id
    own_keys = list(node_identity(node).history)
    problems = []
    for peer, endpoint in _peers(node):
        try:
            raw = _get_json(client, endpoint + WITNESSED_PATH.format(node_id=me))
            if not isinstance(raw, list):
                raise ValidationFailed("the answer is not a list")
            answers = [WitnessedHead.from_json(item) for item in raw]
        except (ValidationFailed, HeadFormatError) as exc:
            problems.append(f"witness {peer}: {exc}")
            continue
        with node.db.session() as session:
            keys = _peer_keys(session, peer)
            for witnessed in answers:
                if witnessed.witness_node != peer or witnessed.head.node_id != me:
                    problems.append(f"witness {peer}: answered a head of someone else")
                    continue
                if not _valid(witnessed, keys, own_keys):
                    # kept out: a peer must not be able to plant rows that fail every check
                    problems.append(
                        f"witness {peer}: the head at entry {witnessed.head.seq} does not carry "
                        "valid signatures (not kept)"
                    )
                    continue
                _store(session, me, witnessed)
    return problems


# --- verification -----------------------------------------------------------------------------


@dataclass
class AuditVerification:
    entries: int
    head_hash: str
    chain_end: int
    signed_heads: int
    witnessed_heads: int
    witnesses: list[str]
    problems: list[ChainProblem]
    notes: list[str] = field(default_factory=list)  # fetching problems (not chain problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def empty(self) -> bool:
        return self.entries == 0


def verify_node(node: Node, client: httpx.Client | None = None) -> AuditVerification:
    """The chain, checked against every signed head and witnessed head this node knows (and,
    with ``client``, what its peers witnessed now). Names each failure."""

    me = node.config.node_id
    notes = collect_witnessed(node, client) if client is not None else []
    own_keys = list(node_identity(node).history)
    problems: list[ChainProblem] = []
    known: list[KnownHead] = []
    witnesses: set[str] = set()
    with node.db.session() as session:
        head = session.get(AuditHeadRow, 1)
        if head is None:
            problems.append(
                ChainProblem(
                    0,
                    "the chain's head row is missing: it was deleted, or this "
                    "database was never initialised",
                )
            )
        signed = 0
        for own in session.execute(select(AuditSignedHeadRow)).scalars():
            mine = _signed(own, me)
            if _verifies(own_keys, mine.key_id, mine.message(), mine.signature, mine.signed_at):
                known.append(KnownHead(OWN_SOURCE, mine.seq, mine.entry_hash, mine.signed_at))
                signed += 1
            else:
                problems.append(
                    ChainProblem(
                        mine.seq,
                        f"{OWN_SOURCE} at entry {mine.seq}: its signature "
                        "does not verify with this node's keys (forged or altered)",
                    )
                )
        witnessed_count = 0
        rows = session.execute(
            select(AuditWitnessedHeadRow).where(AuditWitnessedHeadRow.subject_node == me)
        ).scalars()
        for row in rows:
            item = _witnessed(row)
            source = f"witness {item.witness_node}"
            try:
                keys = _peer_keys(session, item.witness_node)
            except NotFound:
                problems.append(ChainProblem(item.head.seq, f"{source} is not in the directory"))
                continue
            if not _valid(item, keys, own_keys):
                problems.append(
                    ChainProblem(
                        item.head.seq,
                        f"{source}: the head at entry {item.head.seq} "
                        "does not carry valid signatures",
                    )
                )
                continue
            known.append(
                KnownHead(source, item.head.seq, item.head.entry_hash, item.head.signed_at)
            )
            witnesses.add(item.witness_node)
            witnessed_count += 1
        needed = {h.seq for h in known}
        hashes: dict[int, str] = {}
        last = [0]

        def entries() -> Iterator[AuditEntry]:
            for entry in iter_entries(session):
                if entry.seq in needed:
                    hashes[entry.seq] = entry.entry_hash
                last[0] = entry.seq
                yield entry

        report = verify_chain(entries(), (head.seq, head.entry_hash) if head else None)
        problems = report.problems + problems + check_heads(last[0], hashes, known)
    return AuditVerification(
        entries=report.entries,
        head_hash=report.head_hash,
        chain_end=last[0],
        signed_heads=signed,
        witnessed_heads=witnessed_count,
        witnesses=sorted(witnesses),
        problems=problems,
        notes=notes,
    )
