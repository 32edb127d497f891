"""Packages between nodes over the exchange: encrypted to the recipient, in chunks, resumable.

1. The sender tars the bag (streamed to disk), draws a random 256-bit key, seals it to the
   recipient's X25519 key (and to its own, to resume later), and sends a signed offer over the
   exchange (``evidence.transfer_offer``: transfer id, package id, recipient, size, chunk
   size and count, SHA-256 of the archive, the sealed key). The recipient's handler records
   the transfer; the offer is authenticated like every exchange message.
2. Each chunk travels as ``PUT /exchange/v1/evidence/<transfer>/chunks/<index>``, encrypted
   with XChaCha20-Poly1305 (libsodium, via PyNaCl) under that key, with the transfer id and
   the chunk index as associated data: a chunk that is altered, from another transfer or
   moved to another index does not open. A chunk sent twice is accepted once; chunks may
   arrive in any order. ``GET /exchange/v1/evidence/<transfer>`` lists what arrived, so a
   cut transfer resumes with the missing chunks only.
3. ``POST /exchange/v1/evidence/<transfer>/complete`` makes the recipient unpack the chunks
   in order (streamed, hashed, with tarfile's "data" filter), check the archive's digest,
   verify the bag against its directory and import it (signed "received" and "verified"
   custody events) in one transaction, or refuse it whole, naming why. Nothing is held
   whole in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import shutil
import tarfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.utils import random as random_bytes
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.evidence.domain import CustodyAction
from trailguard.evidence.orm import EvidenceItemRow, EvidenceTransferRow
from trailguard.evidence.service import (
    add_custody_event,
    evidence_dir,
    import_package,
    verify_package,
)
from trailguard.network import (
    ReceivedMessage,
    deliver_pending,
    find_entry,
    node_identity,
    send_message,
)
from trailguard.node import Node

OFFER_TYPE = "evidence.transfer_offer"
CHUNK_SIZE = 4 * 1024 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_PACKAGE_BYTES = 1 << 40
NONCE_BYTES = 24
PATH = "/exchange/v1/evidence"


def _aad(transfer_id: str, index: int) -> bytes:
    return f"trailguard-evidence-chunk/1:{transfer_id}:{index}".encode("ascii")


def encrypt_chunk(key: bytes, transfer_id: str, index: int, plain: bytes) -> bytes:
    nonce = random_bytes(NONCE_BYTES)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(plain, _aad(transfer_id, index), nonce, key)
    return nonce + sealed


def decrypt_chunk(key: bytes, transfer_id: str, index: int, body: bytes) -> bytes:
    if len(body) <= NONCE_BYTES:
        raise CryptoError("too short")
    nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
    return crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, _aad(transfer_id, index), nonce, key)


# --- sender ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    transfer_id: str
    package_id: str
    recipient: str
    size: int
    chunk_count: int


class _HashingWriter:
    """A write-only file that hashes what passes through it (tar streams into it)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return int(self.handle.write(data))


def _tar_bag(bag: Path, archive: Path) -> tuple[int, str]:
    """Archive the bag (streamed) and return its size and SHA-256 from the same pass."""
    with archive.open("wb") as handle:
        writer = _HashingWriter(handle)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            tar.add(bag, arcname="bag", recursive=True)
    return writer.size, writer.digest.hexdigest()


class _ChunkReader:
    """The received chunks read back in order as one stream, hashed on the way."""

    def __init__(self, folder: Path, count: int) -> None:
        self.paths = [folder / f"chunk-{index:08d}" for index in range(count)]
        self.current: Any = None
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                if not self.paths:
                    return b""
                self.current = self.paths.pop(0).open("rb")
            data = self.current.read(size if size and size > 0 else 1 << 20)
            if data:
                self.digest.update(data)
                return bytes(data)
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


def offer_package(
    node: Node,
    bag: Path,
    *,
    recipient: str,
    user: str,
    chunk_size: int = CHUNK_SIZE,
) -> Offer:
    """Check the package (it must verify here and name ``recipient``), archive it, and send
    the signed offer through the outbox (delivered by ``deliver_pending``)."""
    if not 1024 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValidationFailed(f"chunk size must be 1 KiB to 16 MiB, not {chunk_size}")
    report = verify_package(bag, node=node)
    if not report.ok:
        raise ValidationFailed(
            f"package {bag.name} does not verify: {report.problems[0]}", report.problems
        )
    named = report.info.get("Trailguard-Recipient-Node") or None
    if named != recipient:
        raise ValidationFailed(
            f"package {bag.name} is for {named or 'no named recipient'}, not for {recipient}; "
            "make a package for that recipient",
            ["recipient"],
        )
    package_id = report.info["Trailguard-Package-Id"]
    transfer_id = str(uuid.uuid4())
    outgoing = evidence_dir(node) / "outgoing"
    outgoing.mkdir(parents=True, exist_ok=True)
    archive = outgoing / f"{transfer_id}.tar"
    try:
        size, archive_sha256 = _tar_bag(bag, archive)
        key = random_bytes(32)
        identity = node_identity(node)
        with node.db.session() as session:
            entry = find_entry(session, recipient)
            peer_key = entry.current_key() if entry else None
            if peer_key is None:
                raise NotFound(f"no encryption key for {recipient!r} in the directory")
            for_peer = base64.b64encode(SealedBox(peer_key.public_key()).encrypt(key)).decode()
            for_self = base64.b64encode(
                SealedBox(identity.encryption_key.public_key).encrypt(key)
            ).decode()
            chunk_count = max(1, math.ceil(size / chunk_size))
            now = node.clock.now()
            session.add(
                EvidenceTransferRow(
                    id=transfer_id,
                    package_id=package_id,
                    direction="out",
                    peer_node=recipient,
                    size=size,
                    chunk_size=chunk_size,
                    chunk_count=chunk_count,
                    archive_sha256=archive_sha256,
                    sealed_key=for_self,
                    archive_path=str(archive),
                    state="offered",
                    problems="[]",
                    created_by=user,
                    created_at=now,
                    updated_at=now,
                )
            )
            send_message(
                session,
                node,
                recipient=recipient,
                message_type=OFFER_TYPE,
                payload={
                    "transfer_id": transfer_id,
                    "package_id": package_id,
                    "recipient": recipient,
                    "size": size,
                    "chunk_size": chunk_size,
                    "chunk_count": chunk_count,
                    "archive_sha256": archive_sha256,
                    "sealed_key": for_peer,
                },
                actor=user if ":" in user else f"user:{user}",
            )
            for record_ in report.records:
                if session.get(EvidenceItemRow, record_.item_id) is not None:
                    add_custody_event(
                        session,
                        node,
                        record_.item_id,
                        CustodyAction.SENT,
                        user=user,
                        details={"transfer_id": transfer_id, "to": recipient},
                    )
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    return Offer(transfer_id, package_id, recipient, size, chunk_count)


@dataclass
class PushResult:
    transfer_id: str
    sent: list[int]
    skipped: int
    complete: bool
    ok: bool
    problems: list[str]


def _endpoint(session: Session, node_id: str) -> str:
    entry = find_entry(session, node_id)
    if entry is None or not entry.channels.endpoint:
        raise NotFound(f"no endpoint for {node_id!r} in the directory")
    return entry.channels.endpoint.rstrip("/")


def push_chunks(
    node: Node,
    transfer_id: str,
    client: httpx.Client,
    *,
    transport: Any = None,
    only: list[int] | None = None,
    finish: bool = True,
    concurrency: int = 4,
) -> PushResult:
    """Deliver the offer if it still waits, ask the recipient which chunks it holds, send the
    missing ones (``only``: just these, to test a cut transfer), then ask it to complete."""
    deliver_pending(node, transport=transport)
    with node.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer_id)
        if row is None or row.direction != "out":
            raise NotFound(f"no outgoing transfer {transfer_id}")
        if row.state != "offered":
            raise Conflict(f"transfer {transfer_id} is {row.state}; make a new offer")
        base = f"{_endpoint(session, row.peer_node)}{PATH}/{transfer_id}"
        archive, chunk_size, count = Path(row.archive_path), row.chunk_size, row.chunk_count
        key = node_identity(node).decrypt(base64.b64decode(row.sealed_key))
        row.updated_at = node.clock.now()  # still being sent: not stale
    status = client.get(base)
    if status.status_code != 200:
        raise Conflict(f"the recipient does not know transfer {transfer_id}: {status.text[:200]}")
    have = set(status.json().get("received", []))
    wanted = [i for i in range(count) if i not in have and (only is None or i in only)]
    fd = os.open(archive, os.O_RDONLY)

    def send(index: int) -> int:
        body = encrypt_chunk(key, transfer_id, index, os.pread(fd, chunk_size, index * chunk_size))
        answer = client.put(f"{base}/chunks/{index}", content=body)
        if answer.status_code not in (200, 201):
            raise Conflict(f"chunk {index} refused: {answer.text[:300]}")
        return index

    try:  # ``concurrency`` chunks in flight: at most that many chunks in memory
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            sent = sorted(pool.map(send, wanted))
    finally:
        os.close(fd)
    result = PushResult(transfer_id, sent, len(have), False, False, [])
    if not finish:
        return result
    answer = client.post(f"{base}/complete")
    body = answer.json()
    result.complete = True
    result.ok = bool(body.get("ok"))
    result.problems = list(body.get("problems", []))
    # not imported and not ended by the recipient (chunks still missing): stays resumable
    final = result.ok or body.get("state") in ("refused", "expired")
    with node.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer_id)
        assert row is not None
        row.state = ("delivered" if result.ok else "refused") if final else "offered"
        row.problems = json.dumps(result.problems)
        row.updated_at = node.clock.now()
        record(
            session,
            actor="system:evidence-exchange",
            action=f"evidence.transfer.{row.state if final else 'incomplete'}",
            subject=f"evidence-transfer:{transfer_id}",
            details={"to": row.peer_node, "problems": result.problems[:5]},
            at=row.updated_at,
        )
    if final:
        archive.unlink(missing_ok=True)  # delivered, or refused for good: nothing to resume
    return result


# --- recipient ---------------------------------------------------------------------------


def handle_offer(session: Session, node: Node, message: ReceivedMessage) -> None:
    payload = message.payload
    problems = []
    transfer_id = str(payload.get("transfer_id", ""))
    try:
        uuid.UUID(transfer_id)
    except ValueError:
        problems.append("transfer_id: not a UUID")
    size, chunk_size, count = (
        payload.get("size"),
        payload.get("chunk_size"),
        payload.get("chunk_count"),
    )
    if not (isinstance(size, int) and 0 < size <= MAX_PACKAGE_BYTES):
        problems.append("size: out of range")
    if not (isinstance(chunk_size, int) and 1024 <= chunk_size <= MAX_CHUNK_SIZE):
        problems.append("chunk_size: out of range")
    if (
        not problems
        and isinstance(size, int)
        and isinstance(chunk_size, int)
        and count != max(1, math.ceil(size / chunk_size))
    ):
        problems.append("chunk_count: does not match size and chunk_size")
    if payload.get("recipient") != node.config.node_id:
        problems.append(f"recipient: the package is for {payload.get('recipient')!r}")
    for name in ("package_id", "archive_sha256", "sealed_key"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            problems.append(f"{name}: missing")
    if problems:
        raise ValidationFailed("bad evidence transfer offer", problems)
    if session.get(EvidenceTransferRow, transfer_id) is not None:
        raise ValidationFailed(f"transfer {transfer_id} was offered before")
    now = node.clock.now()
    session.add(
        EvidenceTransferRow(
            id=transfer_id,
            package_id=str(payload["package_id"])[:36],
            direction="in",
            peer_node=message.sender,
            size=int(size),  # type: ignore[arg-type]
            chunk_size=int(chunk_size),  # type: ignore[arg-type]
            chunk_count=int(count),  # type: ignore[arg-type]
            archive_sha256=str(payload["archive_sha256"]),
            sealed_key=str(payload["sealed_key"]),
            archive_path=str(evidence_dir(node) / "incoming" / transfer_id),
            state="receiving",
            problems="[]",
            created_by=f"node:{message.sender}",
            created_at=now,
            updated_at=now,
        )
    )
    record(
        session,
        actor=f"node:{message.sender}",
        action="evidence.transfer.offered",
        subject=f"evidence-transfer:{transfer_id}",
        details={"package_id": payload["package_id"], "size": size, "chunks": count},
        at=now,
    )


@dataclass(frozen=True)
class Incoming:
    transfer_id: str
    peer: str
    folder: Path
    chunk_count: int
    chunk_size: int
    size: int
    archive_sha256: str
    sealed_key: str
    state: str


def incoming(node: Node, transfer_id: str) -> Incoming:
    with node.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer_id[:36])
        if row is None or row.direction != "in":
            raise NotFound(f"no incoming transfer {transfer_id[:36]}")
        return Incoming(
            row.id,
            row.peer_node,
            Path(row.archive_path),
            row.chunk_count,
            row.chunk_size,
            row.size,
            row.archive_sha256,
            row.sealed_key,
            row.state,
        )


def received_chunks(transfer: Incoming) -> list[int]:
    if not transfer.folder.is_dir():
        return []
    return sorted(
        int(path.name.removeprefix("chunk-"))
        for path in transfer.folder.glob("chunk-*")
        if not path.name.endswith(".part")
    )


def store_chunk(node: Node, transfer_id: str, index: int, body: bytes) -> bool:
    """Decrypt and keep one chunk; True if new, False if the same chunk came before."""
    transfer = incoming(node, transfer_id)
    if transfer.state != "receiving":
        raise Conflict(f"transfer {transfer_id} is {transfer.state}")
    if not 0 <= index < transfer.chunk_count:
        raise ValidationFailed(f"chunk {index} is outside 0-{transfer.chunk_count - 1}")
    key = node_identity(node).decrypt(base64.b64decode(transfer.sealed_key))
    try:
        plain = decrypt_chunk(key, transfer_id, index, body)
    except (CryptoError, ValueError) as exc:
        raise ValidationFailed(
            f"chunk {index} does not open: altered, from another transfer or another index"
        ) from exc
    last = index == transfer.chunk_count - 1
    expected = transfer.size - index * transfer.chunk_size if last else transfer.chunk_size
    if len(plain) != expected:
        raise ValidationFailed(f"chunk {index} has {len(plain)} bytes, expected {expected}")
    transfer.folder.mkdir(parents=True, exist_ok=True)
    target = transfer.folder / f"chunk-{index:08d}"
    if target.exists():
        if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(plain).digest():
            return False
        raise Conflict(f"chunk {index} arrived before with other content")
    part = target.with_name(target.name + f".{uuid.uuid4().hex[:6]}.part")
    part.write_bytes(plain)
    os.replace(part, target)
    with node.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer.transfer_id, with_for_update=True)
        if row is None or row.state != "receiving":  # refused or expired meanwhile
            shutil.rmtree(transfer.folder, ignore_errors=True)
            raise Conflict(f"transfer {transfer_id} is {row.state if row else 'gone'}")
        row.updated_at = node.clock.now()  # still arriving: not stale
    return True


def complete(node: Node, transfer_id: str) -> dict[str, Any]:
    """Join, check, unpack, verify and import; refused whole with the reasons otherwise."""
    transfer = incoming(node, transfer_id)
    if transfer.state == "imported":
        return {"ok": True, "problems": [], "state": "imported"}
    if transfer.state != "receiving":
        return {
            "ok": False,
            "state": transfer.state,
            "problems": [f"the transfer was {transfer.state}"],
        }
    have = set(received_chunks(transfer))
    missing = [i for i in range(transfer.chunk_count) if i not in have]
    if missing:
        return {
            "ok": False,
            "state": "receiving",
            "problems": [f"chunks missing: {', '.join(map(str, missing[:20]))}"],
        }
    staging = transfer.folder / "unpacked"
    problems: list[str] = []
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        reader = _ChunkReader(transfer.folder, transfer.chunk_count)
        unreadable: Exception | None = None
        try:
            # unpacked straight from the chunks (no joined copy); the "data" filter refuses
            # links, absolute paths and anything outside the staging folder
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError) as exc:
            unreadable = exc
        try:
            while reader.read(1 << 20):  # hash the rest (padding, or what was not unpacked)
                pass
        finally:
            reader.close()
        if reader.digest.hexdigest() != transfer.archive_sha256:
            raise ValidationFailed("the joined archive does not match the offer's SHA-256")
        if unreadable is not None:
            raise ValidationFailed(f"the archive cannot be unpacked: {unreadable}")
        bag = staging / "bag"
        if not bag.is_dir():
            raise ValidationFailed("the archive holds no bag")
        kept = evidence_dir(node) / "packages" / "received" / transfer_id
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(bag), kept)
        try:
            import_package(
                node,
                kept,
                user="system:evidence-exchange",
                sender=transfer.peer,
                link_payload=True,
            )
        except BaseException:
            shutil.rmtree(kept, ignore_errors=True)
            raise
        state = "imported"
    except (ValidationFailed, Conflict, tarfile.TarError, OSError) as exc:
        problems = list(getattr(exc, "problems", [])) or [str(exc)]
        if str(exc) not in problems:
            problems.insert(0, str(exc))
        state = "refused"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with node.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer_id)
        assert row is not None
        row.state = state
        row.problems = json.dumps(problems)
        row.updated_at = node.clock.now()
        record(
            session,
            actor=f"node:{transfer.peer}",
            action=f"evidence.transfer.{state}",
            subject=f"evidence-transfer:{transfer_id}",
            details={"problems": problems[:5]},
            at=row.updated_at,
        )
    # imported, or refused for good (a refused transfer takes no more chunks): either way no
    # chunk stays on disk
    shutil.rmtree(transfer.folder, ignore_errors=True)
    return {"ok": state == "imported", "state": state, "problems": problems}


# --- stale transfers ---------------------------------------------------------------------

STALE_AFTER = timedelta(days=7)  # the default: a transfer untouched this long is abandoned


@dataclass(frozen=True)
class Expired:
    transfer_id: str
    direction: str
    peer: str


def expire_transfers(node: Node, *, older_than: timedelta = STALE_AFTER) -> list[Expired]:
    """End every transfer nothing happened to for ``older_than`` (by the node's clock):
    incoming ones still receiving lose their chunks, outgoing offers not delivered lose
    their archive; each becomes "expired" (audited) and takes no more chunks. Chunk folders
    of transfers that ended (imported, refused, expired) but were left by a crash go too."""
    if older_than <= timedelta(0):
        raise ValidationFailed("the expiry must be a positive duration", ["older_than"])
    now = node.clock.now()
    cutoff = now - older_than
    ended: list[Expired] = []
    with node.db.session() as session:
        rows = session.scalars(
            select(EvidenceTransferRow)
            .where(
                EvidenceTransferRow.state.in_(("receiving", "offered")),
                EvidenceTransferRow.updated_at < cutoff,
            )
            .order_by(EvidenceTransferRow.updated_at)
            .with_for_update()
        ).all()
        for row in rows:
            row.state = "expired"
            row.problems = json.dumps([f"nothing happened for {older_than}; expired"])
            row.updated_at = now
            record(
                session,
                actor="system:evidence-exchange",
                action="evidence.transfer.expired",
                subject=f"evidence-transfer:{row.id}",
                details={"direction": row.direction, "peer": row.peer_node},
                at=now,
            )
            ended.append(Expired(row.id, row.direction, row.peer_node))
        paths = [Path(row.archive_path) for row in rows]
        finished = set(
            session.scalars(
                select(EvidenceTransferRow.id).where(
                    EvidenceTransferRow.direction == "in",
                    EvidenceTransferRow.state.in_(("imported", "refused", "expired")),
                )
            )
        )
    for path in paths:  # after the commit: a chunk arriving now finds the transfer expired
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    folder = evidence_dir(node) / "incoming"
    if folder.is_dir():
        for leftover in folder.iterdir():
            if leftover.name in finished:
                shutil.rmtree(leftover, ignore_errors=True)
    return ended
