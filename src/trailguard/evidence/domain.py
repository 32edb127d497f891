"""Evidence in plain typed Python: items and their digests, the acquisition record, the legal
basis, and the custody chain (one hash chain per item, each event signed by the acting node).

No web or database imports. Signing and key lookup are passed in as callables so that the
chain can be checked by a node, by a court with a public key file, or by a test.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import mmap
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed
from trailguard.core.handling import HandlingCode, Tlp

GENESIS = "0" * 64
CHUNK = 8 << 20  # bytes read at a time: nothing is ever held whole in memory
BUFFERS = 3  # chunks in the pipeline at once (read, hashed and written, being freed)
FLUSH_EVERY = 64 << 20  # a durable copy is synced in the background every this many bytes
MAX_TEXT = 2000


def canonical_json(value: Any) -> bytes:
    """The one byte form that is hashed and signed (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --- digests -----------------------------------------------------------------------------

STRONG = ("sha256", "sha512")
LEGACY = ("md5", "sha1")  # only as extras, for tools that still ask for them


@dataclass(frozen=True)
class Digests:
    """The size and digests of one file. SHA-256 and SHA-512 always; MD5 and SHA-1 only when
    asked for, as legacy extras that never decide whether something verifies."""

    size: int
    sha256: str
    sha512: str
    md5: str | None = None
    sha1: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "sha256": self.sha256, "sha512": self.sha512}
        if self.md5:
            out["md5"] = self.md5
        if self.sha1:
            out["sha1"] = self.sha1
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Digests:
        return cls(
            size=int(raw["size"]),
            sha256=str(raw["sha256"]),
            sha512=str(raw["sha512"]),
            md5=raw.get("md5"),
            sha1=raw.get("sha1"),
        )


def _hashers(legacy: bool) -> dict[str, Any]:
    names = STRONG + (LEGACY if legacy else ())
    return {name: hashlib.new(name) for name in names}


def _digests(size: int, hashers: dict[str, Any]) -> Digests:
    return Digests(
        size=size,
        sha256=hashers["sha256"].hexdigest(),
        sha512=hashers["sha512"].hexdigest(),
        md5=hashers["md5"].hexdigest() if "md5" in hashers else None,
        sha1=hashers["sha1"].hexdigest() if "sha1" in hashers else None,
    )


ALIGN = 4096  # O_DIRECT wants aligned memory, offsets and lengths (the chunks are)


def open_for_copy(path: Path) -> BinaryIO:
    """A new file (never an existing one) for a streamed copy, written around the page cache
    (``O_DIRECT``) where the filesystem allows it: a copy of a large item then costs no kernel
    memory copy and leaves no gigabyte of dirty pages to sync. Where it does not, an ordinary
    file. Unaligned writes (the last chunk) switch the file to ordinary writes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    direct = getattr(os, "O_DIRECT", 0)
    try:
        fd = os.open(path, flags | direct, 0o644)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            raise
        # the filesystem refused O_DIRECT after creating the (new, empty) file
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    return open(fd, "wb", buffering=0)


def _ordinary_writes(out: BinaryIO) -> bool:
    """Switch ``out`` from O_DIRECT to ordinary writes; False if it was not O_DIRECT."""
    direct = getattr(os, "O_DIRECT", 0)
    try:
        fd = out.fileno()
    except (OSError, ValueError):  # not a file (a buffer in memory)
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not direct or not flags & direct:
        return False
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
    return True


def _write_all(out: BinaryIO, chunk: memoryview) -> None:
    if len(chunk) % ALIGN:
        _ordinary_writes(out)
    while chunk:
        try:
            written = out.write(chunk)
        except OSError as exc:
            if exc.errno == errno.EINVAL and _ordinary_writes(out):
                continue  # O_DIRECT refused this write: the rest goes the ordinary way
            raise
        chunk = chunk[written if written is not None else 0 :]
        if chunk and len(chunk) % ALIGN:
            _ordinary_writes(out)


def hash_stream(
    source: BinaryIO,
    *,
    sink: BinaryIO | None = None,
    sinks: Sequence[BinaryIO] = (),
    legacy: bool = False,
    durable: bool = False,
) -> Digests:
    """Digest ``source`` in chunks of ``CHUNK`` bytes, copying each chunk to every sink on the
    way: one read for the copies and every digest. A pipeline over a few buffers: while the
    next chunk is read, each digest and each sink's write of the chunks before run in their own
    thread, in order (hashlib and file writes release the GIL on large buffers), so digests and
    copies cost about the slowest of them in wall time, not their sum.

    ``durable``: the first sink is synced to disk as the copy goes (``fdatasync`` in the
    background every ``FLUSH_EVERY`` bytes) and fsync'ed at the end, so the final sync does not
    write the whole file after the last chunk."""
    hashers = _hashers(legacy)
    outputs = ([sink] if sink is not None else []) + list(sinks)
    tasks: list[Callable[[memoryview], Any]] = [h.update for h in hashers.values()]
    tasks += [partial(_write_all, out) for out in outputs]
    lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-hash") for _ in tasks]
    syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-sync")
    buffers = [mmap.mmap(-1, CHUNK) for _ in range(BUFFERS)]  # page-aligned (O_DIRECT)
    pending: list[list[Future[Any]]] = [[] for _ in range(BUFFERS)]
    size = flushed = 0
    flushing: Future[Any] | None = None
    try:
        turn = 0
        while True:
            for waiting in pending[turn]:  # the buffer is free once its chunk is done
                waiting.result()
            view = memoryview(buffers[turn])
            count = source.readinto(view)  # type: ignore[attr-defined]
            if not count:
                break
            chunk = view[:count]
            # one thread per digest and per sink: each sees the chunks in order
            pending[turn] = [
                lane.submit(task, chunk) for lane, task in zip(lanes, tasks, strict=True)
            ]
            size += count
            idle = flushing is None or flushing.done()
            if durable and outputs and size - flushed >= FLUSH_EVERY and idle:
                if flushing is not None:
                    flushing.result()  # raises a failed sync
                flushing = syncer.submit(os.fdatasync, outputs[0].fileno())
                flushed = size
            turn = (turn + 1) % BUFFERS
    finally:
        for lane in lanes:
            lane.shutdown(wait=True)
        syncer.shutdown(wait=True)
    for waiting_list in pending:  # raise the first write error, if any
        for waiting in waiting_list:
            waiting.result()
    if flushing is not None:
        flushing.result()
    if durable and outputs:
        outputs[0].flush()
        os.fsync(outputs[0].fileno())
    return _digests(size, hashers)


def hash_file(path: Path, *, legacy: bool = False) -> Digests:
    with path.open("rb", buffering=0) as source:
        return hash_stream(source, legacy=legacy)


# --- legal basis and acquisition ----------------------------------------------------------


class BasisKind(StrEnum):
    """Why the node may hold and hand over the data."""

    COURT_ORDER = "court-order"  # an order or warrant of a court or competent authority
    PRESERVATION = "preservation"  # a preservation reference (Convention Art. 29 / EPOC-PR)
    PRODUCTION = "production"  # a production reference (Art. 18, Protocol Art. 7, EPOC)
    ART32A = "art32a"  # Convention Art. 32(a): publicly available (open source) data
    ART32B = "art32b"  # Convention Art. 32(b): lawful and voluntary consent of the person
    MLA = "mla"  # a mutual legal assistance reference (Art. 31)


BASIS_LABELS = {
    BasisKind.COURT_ORDER: "Court order",
    BasisKind.PRESERVATION: "Preservation reference",
    BasisKind.PRODUCTION: "Production reference",
    BasisKind.ART32A: "Convention Art. 32(a): publicly available",
    BasisKind.ART32B: "Convention Art. 32(b): lawful and voluntary consent",
    BasisKind.MLA: "Mutual legal assistance reference",
}


@dataclass(frozen=True)
class LegalBasis:
    kind: BasisKind
    reference: str
    consent_record: str | None = None  # Art. 32(b): who consented, when, how it is recorded

    @classmethod
    def parse(cls, text: str, *, consent_record: str | None = None) -> LegalBasis:
        """``KIND: reference`` (e.g. ``preservation: NL-PR-2026-0042``), KIND one of
        court-order, preservation, production, art32a, art32b, mla."""
        kind_text, sep, reference = text.partition(":")
        kinds = ", ".join(kind.value for kind in BasisKind)
        if not sep:
            raise ValidationFailed(
                f"legal basis {text[:80]!r} must read KIND: reference, KIND one of {kinds}",
                ["basis"],
            )
        try:
            kind = BasisKind(kind_text.strip().lower())
        except ValueError as exc:
            raise ValidationFailed(
                f"unknown legal basis kind {kind_text.strip()!r}; use one of {kinds}", ["basis"]
            ) from exc
        basis = cls(kind=kind, reference=reference.strip(), consent_record=consent_record)
        basis.check()
        return basis

    def check(self) -> None:
        problems = []
        if not self.reference or len(self.reference) > MAX_TEXT:
            problems.append(f"basis: the {self.kind.value} basis needs a reference (1-2000 chars)")
        if self.kind is BasisKind.ART32B and not (self.consent_record or "").strip():
            problems.append(
                "consent_record: Art. 32(b) needs the record of the lawful and voluntary consent"
            )
        if self.kind is not BasisKind.ART32B and self.consent_record:
            problems.append("consent_record: only an Art. 32(b) basis carries a consent record")
        if problems:
            raise ValidationFailed("the legal basis is incomplete", problems)

    def label(self) -> str:
        return f"{BASIS_LABELS[self.kind]}: {self.reference}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "reference": self.reference}
        if self.consent_record:
            out["consent_record"] = self.consent_record
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LegalBasis:
        return cls(BasisKind(raw["kind"]), str(raw["reference"]), raw.get("consent_record"))


@dataclass(frozen=True)
class Acquisition:
    """Who acquired the item, when (UTC and the office's local time), where (node and host),
    with which tool and version, how, and under which legal basis."""

    acquired_by: str
    acquired_at: datetime
    local_time: str  # ISO 8601 with the office's offset, e.g. 2026-11-20T09:14:07+01:00
    zone: str
    node_id: str
    host: str
    tool: str
    tool_version: str
    method: str
    basis: LegalBasis
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "acquired_by": self.acquired_by,
            "acquired_at": isoformat_z(self.acquired_at),
            "local_time": self.local_time,
            "zone": self.zone,
            "node_id": self.node_id,
            "host": self.host,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "method": self.method,
            "basis": self.basis.to_json(),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Acquisition:
        return cls(
            acquired_by=raw["acquired_by"],
            acquired_at=ensure_utc(
                datetime.fromisoformat(raw["acquired_at"].replace("Z", "+00:00"))
            ),
            local_time=raw["local_time"],
            zone=raw["zone"],
            node_id=raw["node_id"],
            host=raw["host"],
            tool=raw["tool"],
            tool_version=raw["tool_version"],
            method=raw["method"],
            basis=LegalBasis.from_json(raw["basis"]),
            source=raw.get("source", ""),
        )


# --- custody -----------------------------------------------------------------------------


class CustodyAction(StrEnum):
    ACQUIRED = "acquired"
    SEALED = "sealed"
    PACKAGED = "packaged"
    SENT = "sent"
    RECEIVED = "received"
    VERIFIED = "verified"
    OPENED = "opened"
    RELEASED = "released"
    RETURNED = "returned"
    DESTROYED = "destroyed"


@dataclass(frozen=True)
class CustodyEvent:
    """One link of an item's custody chain. ``event_hash`` is the SHA-256 of the canonical
    JSON of every other field but the signature (``prev_hash`` included), so that an event
    removed, changed or moved breaks the chain; ``signature`` is the acting node's Ed25519
    signature over ``event_hash``."""

    item_id: str
    seq: int
    action: CustodyAction
    at: datetime
    local_time: str
    node_id: str
    user: str
    key_id: str
    item_sha256: str
    details: dict[str, Any]
    prev_hash: str
    event_hash: str = ""
    signature: str = ""

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "seq": self.seq,
            "action": self.action.value,
            "at": isoformat_z(self.at),
            "local_time": self.local_time,
            "node_id": self.node_id,
            "user": self.user,
            "key_id": self.key_id,
            "item_sha256": self.item_sha256,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_fields())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {**self.hashed_fields(), "event_hash": self.event_hash, "signature": self.signature}

    @classmethod
    def from_json(cls, raw: Any) -> CustodyEvent:
        if not isinstance(raw, dict):
            raise ValidationFailed(f"a custody event must be an object, not {raw!r:.60}")
        try:
            return cls(
                item_id=str(raw["item_id"]),
                seq=int(raw["seq"]),
                action=CustodyAction(raw["action"]),
                at=ensure_utc(datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00"))),
                local_time=str(raw["local_time"]),
                node_id=str(raw["node_id"]),
                user=str(raw["user"]),
                key_id=str(raw["key_id"]),
                item_sha256=str(raw["item_sha256"]),
                details=dict(raw.get("details") or {}),
                prev_hash=str(raw["prev_hash"]),
                event_hash=str(raw["event_hash"]),
                signature=str(raw["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"malformed custody event: {exc}") from exc


@dataclass(frozen=True)
class Signer:
    """A node's signing key as the domain sees it: who signs, with which key, and how."""

    node_id: str
    key_id: str
    sign: Callable[[bytes], str]  # message -> base64 Ed25519 signature


# (node_id, key_id, message, signature_b64, signed_at) -> None if good, else the reason
SignatureCheck = Callable[[str, str, bytes, str, datetime], str | None]


def next_event(
    previous: CustodyEvent | None,
    *,
    item_id: str,
    action: CustodyAction,
    at: datetime,
    local_time: str,
    node_id: str,
    user: str,
    item_sha256: str,
    details: dict[str, Any] | None,
    key_id: str,
    sign: Callable[[bytes], str],
) -> CustodyEvent:
    """The event that follows ``previous`` in the item's chain (the first if None)."""
    if not user or len(user) > 200:
        raise ValidationFailed("a custody event names the acting user (1-200 characters)")
    event = CustodyEvent(
        item_id=item_id,
        seq=(previous.seq + 1) if previous else 1,
        action=action,
        at=ensure_utc(at),
        local_time=local_time,
        node_id=node_id,
        user=user,
        key_id=key_id,
        item_sha256=item_sha256,
        details=dict(details or {}),
        prev_hash=previous.event_hash if previous else GENESIS,
    )
    digest = event.compute_hash()
    return replace(event, event_hash=digest, signature=sign(digest.encode("ascii")))


def check_chain(
    item_id: str,
    item_sha256: str,
    events: Iterable[CustodyEvent],
    check_signature: SignatureCheck,
) -> str | None:
    """None when the item's chain is whole, else the first broken event and why."""
    previous: CustodyEvent | None = None
    count = 0
    for position, event in enumerate(events, start=1):
        count += 1
        where = f"item {item_id}: custody event {event.seq} ({event.action.value})"
        if event.item_id != item_id:
            return f"{where} belongs to item {event.item_id}"
        if event.seq != position:
            return (
                f"{where} is at position {position}: an event was removed or the events were "
                "reordered"
            )
        expected_prev = previous.event_hash if previous else GENESIS
        if event.prev_hash != expected_prev:
            return f"{where} does not follow event {position - 1}: the chain is broken"
        if event.compute_hash() != event.event_hash:
            return f"{where} was altered: its hash does not match its content"
        if previous is not None and event.at < previous.at:
            return f"{where} is dated before the event it follows"
        if event.item_sha256 != item_sha256:
            return (
                f"{where} records digest {event.item_sha256[:16]}..., the item's is "
                f"{item_sha256[:16]}..."
            )
        reason = check_signature(
            event.node_id, event.key_id, event.event_hash.encode("ascii"), event.signature, event.at
        )
        if reason is not None:
            return f"{where}: signature does not verify ({reason})"
        previous = event
    if count == 0:
        return f"item {item_id}: no custody events"
    return None


@dataclass(frozen=True)
class ItemRecord:
    """An item as the package describes it."""

    item_id: str
    path: str  # payload path inside the bag, e.g. data/<item_id>/records.csv
    file_name: str
    digests: Digests
    acquisition: Acquisition
    handling_code: str = "H0"
    tlp: str = "TLP:AMBER"
    description: str = ""
    custody: list[CustodyEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "path": self.path,
            "file_name": self.file_name,
            "digests": self.digests.to_json(),
            "acquisition": self.acquisition.to_json(),
            "handling_code": self.handling_code,
            "tlp": self.tlp,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ItemRecord:
        return cls(
            item_id=str(raw["item_id"]),
            path=str(raw["path"]),
            file_name=str(raw["file_name"]),
            digests=Digests.from_json(raw["digests"]),
            acquisition=Acquisition.from_json(raw["acquisition"]),
            handling_code=str(raw.get("handling_code", "H0")),
            tlp=str(raw.get("tlp", "TLP:AMBER")),
            description=str(raw.get("description", "")),
        )


HANDLING_CODES = tuple(code.value for code in HandlingCode)
TLP_LABELS = tuple(label.value for label in Tlp)


def check_handling(code: str, tlp: str) -> None:
    """The same SIENA-like handling codes and TLP 2.0 labels as requests carry."""
    problems = []
    if code not in HANDLING_CODES:
        problems.append(f"handling: {code!r} is not one of {', '.join(HANDLING_CODES)}")
    if tlp not in TLP_LABELS:
        problems.append(f"tlp: {tlp!r} is not one of {', '.join(TLP_LABELS)}")
    if problems:
        raise ValidationFailed("bad handling code", problems)
