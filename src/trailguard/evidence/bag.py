"""The package on disk: a BagIt bag (RFC 8493, https://www.rfc-editor.org/rfc/rfc8493) whose
tag files carry ``case-uco.jsonld`` (CASE/UCO), ``custody-log.json`` (every item with its
acquisition record and its signed custody chain) and ``signature.json``: the issuing node's
detached Ed25519 signature over the tag manifests (which cover every other tag file, and
through the payload manifests every payload byte).

Writing puts every payload file in place once (a new file is written into the bag while it is
acquired, read once for both digests and both copies; a stored item is cloned, linked or
copied and hashed in one pass, ``PayloadMode``) in a hidden folder beside the target, writes
the manifests from the digests already computed, and renames the folder into place at the
end, so a package is either whole or absent. Reading uses the ``bagit`` library for the RFC
structure and completeness checks and streams every file listed in a manifest through the
digests again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import bagit

from trailguard.core.clock import isoformat_z
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.evidence.domain import (
    CustodyEvent,
    ItemRecord,
    SignatureCheck,
    Signer,
    canonical_json,
    check_chain,
    hash_file,
    hash_stream,
    open_for_copy,
)

CASE_FILE = "case-uco.jsonld"
CUSTODY_FILE = "custody-log.json"
SIGNATURE_FILE = "signature.json"
CUSTODY_FORMAT = "trailguard-custody/1"
SIGNATURE_FORMAT = "trailguard-bag-signature/1"
ALGORITHMS = ("sha256", "sha512")
TAG_MANIFESTS = tuple(f"tagmanifest-{alg}.txt" for alg in ALGORITHMS)


@dataclass(frozen=True)
class BagSignature:
    signer_node: str
    key_id: str
    signed_at: datetime
    tag_manifests: dict[str, str]  # file name -> its SHA-512
    signature: str = ""

    def signed_fields(self) -> dict[str, Any]:
        return {
            "format": SIGNATURE_FORMAT,
            "signer_node": self.signer_node,
            "key_id": self.key_id,
            "signed_at": isoformat_z(self.signed_at),
            "algorithm": "Ed25519",
            "tag_manifests_sha512": self.tag_manifests,
        }

    def message(self) -> bytes:
        return canonical_json(self.signed_fields())


@dataclass(frozen=True)
class PackageMeta:
    package_id: str
    reference: str
    issuer_node: str
    issuer_name: str
    recipient_node: str | None
    basis: str
    created_at: datetime
    investigation: str | None = None


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _manifest_line(digest: str, rel_path: str) -> str:
    return f"{digest}  {rel_path}\n"


class PayloadMode(StrEnum):
    """How a payload file gets into the bag. A copy-on-write clone (reflink) is tried first
    in every mode: it is a separate file that shares blocks until one side is written.

    - ``copy``: otherwise a full copy (the bag's files are independent of the store).
    - ``link``: otherwise a hard link when the bag is on the store's filesystem (no second
      write: the bag's payload file *is* the read-only evidence copy, so changing it in place
      changes the store's copy too; packaging the item again re-hashes it and refuses it,
      but the copy is gone). A policy choice for bags that stay on the node or are copied
      off it; a copy across filesystems.
    """

    COPY = "copy"
    LINK = "link"


FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int), clone a whole file (btrfs, XFS)


def _clone(source: Path, target: Path) -> bool:
    """A copy-on-write clone of ``source`` at ``target`` where the filesystem can make one."""
    try:
        with source.open("rb") as reader, target.open("xb") as writer:
            fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
    except OSError:
        target.unlink(missing_ok=True)
        return False
    return True


def _hard_link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _place_payload(
    item: ItemRecord, source: Path, target: Path, mode: PayloadMode, fresh: bool
) -> None:
    """Put one payload file in place; its digests are checked against the item record by a
    read of the placed file unless it was just hashed in this same packaging (``fresh``) and
    placed without copying bytes. A copy is made and hashed in one pass."""
    target.parent.mkdir(parents=True, exist_ok=True)
    placed = _clone(source, target) or (mode is PayloadMode.LINK and _hard_link(source, target))
    if placed:
        if fresh:
            return
        digests = hash_file(target)
    else:
        with source.open("rb", buffering=0) as reader, open_for_copy(target) as writer:
            digests = hash_stream(reader, sink=writer)
    if (digests.sha256, digests.sha512, digests.size) != (
        item.digests.sha256,
        item.digests.sha512,
        item.digests.size,
    ):
        raise ValidationFailed(
            f"item {item.item_id} ({item.file_name}) no longer matches the digest "
            "recorded at acquisition; it is not packaged",
            [f"item {item.item_id}"],
        )


class PartialBag:
    """A bag being written: a hidden folder beside ``out``, renamed into place by
    ``write_bag`` at the end, removed if anything fails. Payload files may be written into
    it while they are acquired (``payload_path``), so a new file is read once."""

    def __init__(self, out: Path) -> None:
        if out.exists():
            raise Conflict(f"{out} exists; a package is never overwritten")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.work = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
        self.work.mkdir()
        self.written: set[str] = set()

    def payload_path(self, rel_path: str) -> Path:
        """Where the payload file ``rel_path`` (``data/...``) goes; the caller writes it and
        vouches for its digests (they were computed from the bytes written)."""
        if not rel_path.startswith("data/") or ".." in Path(rel_path).parts:
            raise ValidationFailed(f"{rel_path}: not a payload path")
        target = self.work / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        self.written.add(rel_path)
        return target

    def discard(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> PartialBag:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is not None:
            self.discard()


def write_bag(
    out: Path | PartialBag,
    *,
    meta: PackageMeta,
    items: Sequence[tuple[ItemRecord, Path]],
    case_document: dict[str, Any],
    signer: Signer,
    mode: PayloadMode = PayloadMode.COPY,
    fresh: Collection[str] = (),
) -> Path:
    """Write the bag at ``out`` (which must not exist), signed by ``signer``, and return its
    path. Payload files already written into a ``PartialBag`` are kept; each other one is
    placed from its source (``PayloadMode``) and checked against its item record: a file whose
    digest no longer matches is refused (nothing is written). ``fresh``: the ids of items
    whose source was hashed in this same packaging (not read again when linked or cloned).
    The manifests are written from the item records' digests (already computed): the payload
    is never read again to write them."""
    partial = out if isinstance(out, PartialBag) else PartialBag(out)
    work = partial.work
    try:
        manifests: dict[str, list[str]] = {alg: [] for alg in ALGORITHMS}
        total = 0
        for item, source in items:
            if item.path not in partial.written:
                _place_payload(item, source, work / item.path, mode, item.item_id in fresh)
            manifests["sha256"].append(_manifest_line(item.digests.sha256, item.path))
            manifests["sha512"].append(_manifest_line(item.digests.sha512, item.path))
            total += item.digests.size
        _write_text(work / "bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        for alg, lines in manifests.items():
            _write_text(work / f"manifest-{alg}.txt", "".join(sorted(lines)))
        info = [
            ("Source-Organization", f"{meta.issuer_name} ({meta.issuer_node})"),
            ("Bagging-Date", meta.created_at.date().isoformat()),
            ("Payload-Oxum", f"{total}.{len(items)}"),
            ("External-Identifier", meta.reference),
            ("Internal-Sender-Identifier", meta.package_id),
            ("Trailguard-Package-Id", meta.package_id),
            ("Trailguard-Issuer-Node", meta.issuer_node),
            ("Trailguard-Recipient-Node", meta.recipient_node or ""),
            ("Trailguard-Legal-Basis", meta.basis),
            ("Trailguard-Investigation", meta.investigation or ""),
            ("Trailguard-Created-At", isoformat_z(meta.created_at)),
        ]
        _write_text(
            work / "bag-info.txt",
            "".join(f"{k}: {' '.join(v.split())}\n" for k, v in info if v),
        )
        _write_text(work / CASE_FILE, json.dumps(case_document, indent=1, ensure_ascii=False))
        custody = {
            "format": CUSTODY_FORMAT,
            "package_id": meta.package_id,
            "items": [
                {**item.to_json(), "events": [event.to_json() for event in item.custody]}
                for item, _ in items
            ],
        }
        _write_text(work / CUSTODY_FILE, json.dumps(custody, indent=1, ensure_ascii=False))
        tag_files = sorted(
            ["bagit.txt", "bag-info.txt", CASE_FILE, CUSTODY_FILE]
            + [f"manifest-{alg}.txt" for alg in ALGORITHMS]
        )
        for alg in ALGORITHMS:
            lines = []
            for name in tag_files:
                digests = hash_file(work / name)
                lines.append(_manifest_line(getattr(digests, alg), name))
            _write_text(work / f"tagmanifest-{alg}.txt", "".join(lines))
        signed = {name: hash_file(work / name).sha512 for name in TAG_MANIFESTS}
        draft = BagSignature(signer.node_id, signer.key_id, meta.created_at, signed)
        signature = signer.sign(draft.message())
        _write_text(
            work / SIGNATURE_FILE,
            json.dumps({**draft.signed_fields(), "signature": signature}, indent=1),
        )
        work.rename(partial.out)
    except BaseException:
        partial.discard()
        raise
    return partial.out


# --- verification ------------------------------------------------------------------------


@dataclass
class ItemResult:
    item_id: str
    path: str
    file_name: str
    sha256: str
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "path": self.path,
            "file_name": self.file_name,
            "sha256": self.sha256,
            "ok": self.ok,
        }


@dataclass
class BagReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    items: list[ItemResult] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    signer_node: str | None = None
    key_id: str | None = None
    records: list[ItemRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "package": str(self.path),
            "package_id": self.info.get("Trailguard-Package-Id"),
            "reference": self.info.get("External-Identifier"),
            "issuer": self.signer_node,
            "key_id": self.key_id,
            "recipient": self.info.get("Trailguard-Recipient-Node") or None,
            "items": [item.to_json() for item in self.items],
            "problems": list(self.problems),
        }


def _bag_info(bag: bagit.Bag) -> dict[str, str]:
    return {str(k): str(v) for k, v in bag.info.items() if isinstance(v, str)}


def verify_bag(path: Path, check_signature: SignatureCheck) -> BagReport:
    """Check every payload and tag file, the signature over the tag manifests and every
    item's custody chain. Every problem is named (file, item or event); none is fatal to the
    others, so the report lists them all, the first one first."""
    report = BagReport(path=path)
    if not path.is_dir():
        report.problems.append(f"{path}: not a bag folder")
        return report
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as exc:
        report.problems.append(f"{path}: not a valid BagIt bag ({exc})")
        return report
    report.info = _bag_info(bag)
    only_in_manifests, only_on_disk = bag.compare_manifests_with_fs()
    for rel in only_in_manifests:
        report.problems.append(f"{rel}: missing (listed in the manifest, not in the bag)")
    for rel in only_on_disk:
        report.problems.append(f"{rel}: extra file (in the bag, not in the manifest)")
    bad_files: set[str] = set(only_in_manifests)
    for rel, expected in sorted(bag.entries.items()):
        file = path / rel
        if not file.is_file():
            if rel not in bad_files:
                report.problems.append(f"{rel}: missing (listed in a manifest, not in the bag)")
                bad_files.add(rel)
            continue
        digests = hash_file(file)
        for alg, value in sorted(expected.items()):
            if alg in ALGORITHMS and getattr(digests, alg) != value.lower():
                report.problems.append(f"{rel}: {alg} digest does not match the manifest (changed)")
                bad_files.add(rel)
                break
    listed_tags = {rel for rel in bag.entries if not rel.startswith("data/")}
    allowed = listed_tags | set(TAG_MANIFESTS) | {SIGNATURE_FILE}
    for file in sorted(path.iterdir()):
        if file.name == "data":
            continue
        if file.name not in allowed:
            report.problems.append(f"{file.name}: extra file (not covered by the tag manifest)")
    for name in ("bag-info.txt", CASE_FILE, CUSTODY_FILE):
        if name not in listed_tags and (path / name).exists():
            report.problems.append(f"{name}: not listed in the tag manifest")
    try:
        bag.validate(fast=True)  # the library's RFC checks: structure, bagit.txt, Payload-Oxum
    except bagit.BagError as exc:
        if not report.problems:
            report.problems.append(f"{path.name}: {exc}")
    _check_signature(path, report, check_signature)
    _check_custody(path, bag, report, check_signature, bad_files)
    return report


def _check_signature(path: Path, report: BagReport, check: SignatureCheck) -> None:
    file = path / SIGNATURE_FILE
    if not file.is_file():
        report.problems.append(f"{SIGNATURE_FILE}: missing; the bag is not signed")
        return
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        signature = BagSignature(
            signer_node=str(raw["signer_node"]),
            key_id=str(raw["key_id"]),
            signed_at=datetime.fromisoformat(str(raw["signed_at"]).replace("Z", "+00:00")),
            tag_manifests={str(k): str(v) for k, v in raw["tag_manifests_sha512"].items()},
            signature=str(raw["signature"]),
        )
        if raw.get("format") != SIGNATURE_FORMAT or raw.get("algorithm") != "Ed25519":
            raise ValueError("unknown signature format")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        report.problems.append(f"{SIGNATURE_FILE}: unreadable ({exc})")
        return
    report.signer_node, report.key_id = signature.signer_node, signature.key_id
    issuer = report.info.get("Trailguard-Issuer-Node")
    if issuer and issuer != signature.signer_node:
        report.problems.append(
            f"{SIGNATURE_FILE}: signed by {signature.signer_node}, the bag names {issuer} as issuer"
        )
    if set(signature.tag_manifests) != set(TAG_MANIFESTS):
        report.problems.append(f"{SIGNATURE_FILE}: does not cover {', '.join(TAG_MANIFESTS)}")
        return
    for name, digest in sorted(signature.tag_manifests.items()):
        if not (path / name).is_file():
            report.problems.append(f"{name}: missing")
        elif hash_file(path / name).sha512 != digest:
            report.problems.append(f"{name}: changed after it was signed")
    reason = check(
        signature.signer_node,
        signature.key_id,
        signature.message(),
        signature.signature,
        signature.signed_at,
    )
    if reason is not None:
        report.problems.append(f"{SIGNATURE_FILE}: signature does not verify ({reason})")


def read_custody(path: Path) -> list[ItemRecord]:
    raw = json.loads((path / CUSTODY_FILE).read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("format") != CUSTODY_FORMAT:
        raise ValidationFailed(f"{CUSTODY_FILE}: not a {CUSTODY_FORMAT} document")
    records = []
    for entry in raw["items"]:
        record = ItemRecord.from_json(entry)
        events = [CustodyEvent.from_json(event) for event in entry.get("events", [])]
        records.append(ItemRecord(**{**record.__dict__, "custody": events}))
    return records


def _check_custody(
    path: Path,
    bag: bagit.Bag,
    report: BagReport,
    check: SignatureCheck,
    bad_files: set[str],
) -> None:
    try:
        records = read_custody(path)
    except (OSError, ValueError, KeyError, TypeError, ValidationFailed) as exc:
        report.problems.append(f"{CUSTODY_FILE}: unreadable ({exc})")
        return
    report.records = records
    payload = {rel for rel in bag.entries if rel.startswith("data/")}
    described = set()
    for record in records:
        described.add(record.path)
        ok = True
        listed = bag.entries.get(record.path, {})
        if record.path not in payload:
            report.problems.append(f"item {record.item_id}: {record.path} is not in the bag")
            ok = False
        elif listed.get("sha256", "").lower() != record.digests.sha256:
            report.problems.append(
                f"item {record.item_id}: the manifest's digest of {record.path} differs from "
                "the custody record's"
            )
            ok = False
        if record.path in bad_files:
            ok = False
        problem = check_chain(record.item_id, record.digests.sha256, record.custody, check)
        if problem is not None:
            report.problems.append(problem)
            ok = False
        report.items.append(
            ItemResult(record.item_id, record.path, record.file_name, record.digests.sha256, ok)
        )
    for rel in sorted(payload - described):
        report.problems.append(f"{rel}: payload file without an item in {CUSTODY_FILE}")
