"""Evidence services: acquire files as items, extend their custody chains, make, verify and
import packages. Every change is audited in the same transaction; every custody event is
signed with the node's Ed25519 key (network identity) and names the acting user.

Files: ``<data-dir>/evidence/items/<item-id>/<file-name>`` (read-only once sealed) and
``<data-dir>/evidence/packages/``; nothing is ever read whole into memory.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard import __version__
from trailguard.accounts import Principal, Role
from trailguard.audit import record
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.evidence.bag import (
    BagReport,
    PackageMeta,
    PartialBag,
    PayloadMode,
    read_custody,
    verify_bag,
    write_bag,
)
from trailguard.evidence.caseuco import Connection, Organisation, describe_package
from trailguard.evidence.domain import (
    Acquisition,
    CustodyAction,
    CustodyEvent,
    Digests,
    ItemRecord,
    LegalBasis,
    SignatureCheck,
    Signer,
    check_chain,
    check_handling,
    hash_stream,
    next_event,
    open_for_copy,
)
from trailguard.evidence.orm import EvidenceCustodyRow, EvidenceItemRow, EvidencePackageRow
from trailguard.network import (
    PublicKeyRecord,
    find_entry,
    node_identity,
    verify_b64_signature,
)
from trailguard.node import Node
from trailguard.trace import case_of, traces_of

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

# who may see and handle evidence items (the web pages, the API and the CLI check this)
EVIDENCE_ROLES = (
    Role.INVESTIGATOR,
    Role.DUTY_OFFICER,
    Role.PROVIDER_LIAISON,
    Role.CENTRAL_AUTHORITY,
)


def evidence_dir(node: Node) -> Path:
    return node.paths.data_dir / "evidence"


def node_signer(node: Node) -> Signer:
    identity = node_identity(node)

    def sign(message: bytes) -> str:
        return base64.b64encode(identity.sign(message)).decode("ascii")

    return Signer(node_id=node.config.node_id, key_id=identity.key_id, sign=sign)


def local_time(node: Node, instant: datetime) -> str:
    return instant.astimezone(ZoneInfo(node.config.timezone)).isoformat()


# --- keys --------------------------------------------------------------------------------


class KeyRing:
    """Which signing keys belong to which node: from this node's signed directory (and its
    own identity), or from a public key file for someone without a node."""

    def __init__(self, keys: dict[str, list[PublicKeyRecord]], source: str) -> None:
        self.keys = keys
        self.source = source

    def check(
        self, node_id: str, key_id: str, message: bytes, signature: str, at: datetime
    ) -> str | None:
        history = self.keys.get(node_id)
        if history is None:
            return f"node {node_id} is not known to {self.source}"
        if not any(record.key_id == key_id for record in history):
            return f"key {key_id} of {node_id} is not known to {self.source}"
        if not verify_b64_signature(history, key_id, message, signature, signed_at=at):
            return f"bad signature by {node_id} key {key_id}"
        return None


def directory_keys(session: Session, node: Node, node_ids: Sequence[str] = ()) -> KeyRing:
    keys: dict[str, list[PublicKeyRecord]] = {
        node.config.node_id: list(node_identity(node).history)
    }
    for node_id in node_ids:
        if node_id in keys:
            continue
        entry = find_entry(session, node_id)
        if entry is not None:
            keys[node_id] = list(entry.keys)
    return KeyRing(keys, f"the directory of {node.config.node_id}")


PUBLIC_KEY_FORMAT = "trailguard-public-keys/1"


def export_public_keys(node: Node) -> dict[str, Any]:
    """The node's public signing keys (every one it has held), for a court or expert."""
    identity = node_identity(node)
    return {
        "format": PUBLIC_KEY_FORMAT,
        "node_id": node.config.node_id,
        "organisation": node.config.name,
        "keys": [record.to_json() for record in identity.history],
    }


def keys_from_file(path: Path) -> KeyRing:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != PUBLIC_KEY_FORMAT:
            raise ValueError(f"not a {PUBLIC_KEY_FORMAT} file")
        history = [PublicKeyRecord.from_json(item) for item in raw["keys"]]
        node_id = str(raw["node_id"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed(f"{path}: not a public key file ({exc})") from exc
    return KeyRing({node_id: history}, f"the public key file {path.name}")


# --- items and custody -------------------------------------------------------------------


def _row_record(session: Session, row: EvidenceItemRow) -> ItemRecord:
    return ItemRecord(
        item_id=row.id,
        path=f"data/{row.id}/{row.file_name}",
        file_name=row.file_name,
        digests=Digests(row.size, row.sha256, row.sha512, row.md5, row.sha1),
        acquisition=Acquisition.from_json(json.loads(row.acquisition)),
        handling_code=row.handling_code,
        tlp=row.tlp,
        description=row.description,
        custody=custody_events(session, row.id),
    )


def custody_events(session: Session, item_id: str) -> list[CustodyEvent]:
    rows = session.execute(
        select(EvidenceCustodyRow)
        .where(EvidenceCustodyRow.item_id == item_id)
        .order_by(EvidenceCustodyRow.seq)
    ).scalars()
    return [CustodyEvent.from_json(json.loads(row.event)) for row in rows]


def _store_event(session: Session, event: CustodyEvent) -> None:
    session.add(
        EvidenceCustodyRow(
            item_id=event.item_id,
            seq=event.seq,
            action=event.action.value,
            at=event.at,
            node_id=event.node_id,
            user_name=event.user,
            event=json.dumps(event.to_json(), sort_keys=True),
            event_hash=event.event_hash,
        )
    )


def add_custody_event(
    session: Session,
    node: Node,
    item_id: str,
    action: CustodyAction,
    *,
    user: str,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Append a signed event to the item's chain and to the audit log."""
    row = session.get(EvidenceItemRow, item_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no evidence item {item_id}")
    if row.state == "destroyed":
        raise Conflict(f"item {item_id} was destroyed; its chain is closed")
    events = custody_events(session, item_id)
    previous = events[-1] if events else None
    now = node.clock.now()
    signer = node_signer(node)
    event = next_event(
        previous,
        item_id=item_id,
        action=action,
        at=now,
        local_time=local_time(node, now),
        node_id=node.config.node_id,
        user=user,
        item_sha256=row.sha256,
        details=details,
        key_id=signer.key_id,
        sign=signer.sign,
    )
    _store_event(session, event)
    if action is CustodyAction.DESTROYED:
        row.state = "destroyed"
    elif action is CustodyAction.RELEASED:
        row.state = "released"
    record(
        session,
        actor=_actor(user),
        action=f"evidence.custody.{action.value}",
        subject=f"evidence-item:{item_id}",
        details={"seq": event.seq, "event_hash": event.event_hash, **(details or {})},
        at=now,
    )
    return event


def _actor(user: str) -> str:
    return user if ":" in user else f"user:{user}"


def safe_file_name(name: str) -> str:
    cleaned = _SAFE_NAME.sub("_", name).strip("._") or "item"
    return cleaned[:200]


@dataclass(frozen=True)
class AcquireOptions:
    reference: str
    basis: LegalBasis
    user: str
    investigation: str | None = None
    method: str = "file copy, hashed while streaming"
    tool: str = "trailguard"
    tool_version: str = __version__
    handling_code: str = "H0"
    tlp: str = "TLP:AMBER"
    description: str = ""
    legacy_hashes: bool = False


def _check_reference(reference: str) -> None:
    if not reference.strip() or len(reference) > 200:
        raise ValidationFailed("a reference of 1-200 characters is needed", ["reference"])


def acquire_file(
    session: Session,
    node: Node,
    source: Path,
    options: AcquireOptions,
    *,
    into_bag: PartialBag | None = None,
) -> ItemRecord:
    """Copy ``source`` into the node's evidence store while hashing it, record who, when,
    where, how and why, and open the item's custody chain (acquired, sealed). ``into_bag``:
    the same read also writes the bag's payload copy (one pass for both copies and both
    digests)."""
    _check_reference(options.reference)
    check_handling(options.handling_code, options.tlp)
    options.basis.check()
    if not source.is_file():
        raise ValidationFailed(f"{source}: not a readable file", [str(source)])
    item_id = str(uuid.uuid4())
    name = safe_file_name(source.name)
    folder = evidence_dir(node) / "items" / item_id
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / name
    try:
        with contextlib.ExitStack() as files:
            reader = files.enter_context(source.open("rb", buffering=0))
            writer = files.enter_context(open_for_copy(target))
            extra = []
            if into_bag is not None:
                bag_copy = into_bag.payload_path(f"data/{item_id}/{name}")
                extra.append(files.enter_context(open_for_copy(bag_copy)))
            # the store's copy is synced to disk as it goes (durable); the bag's is not
            digests = hash_stream(
                reader, sink=writer, sinks=extra, legacy=options.legacy_hashes, durable=True
            )
        os.chmod(target, 0o444)
        now = node.clock.now()
        acquisition = Acquisition(
            acquired_by=options.user,
            acquired_at=now,
            local_time=local_time(node, now),
            zone=node.config.timezone,
            node_id=node.config.node_id,
            host=socket.gethostname(),
            tool=options.tool,
            tool_version=options.tool_version,
            method=options.method,
            basis=options.basis,
            source=str(source.name),
        )
        session.add(
            EvidenceItemRow(
                id=item_id,
                reference=options.reference,
                investigation=options.investigation,
                file_name=name,
                stored_path=str(target.relative_to(evidence_dir(node))),
                size=digests.size,
                sha256=digests.sha256,
                sha512=digests.sha512,
                md5=digests.md5,
                sha1=digests.sha1,
                acquisition=json.dumps(acquisition.to_json(), sort_keys=True),
                handling_code=options.handling_code,
                tlp=options.tlp,
                description=options.description,
                origin_node=node.config.node_id,
                package_id=None,
                state="held",
                created_at=now,
            )
        )
        session.flush()
        add_custody_event(
            session,
            node,
            item_id,
            CustodyAction.ACQUIRED,
            user=options.user,
            details={"size": digests.size, "sha512": digests.sha512, "source": source.name},
        )
        add_custody_event(
            session,
            node,
            item_id,
            CustodyAction.SEALED,
            user=options.user,
            details={"stored_as": name, "read_only": True},
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    row = session.get(EvidenceItemRow, item_id)
    assert row is not None
    return _row_record(session, row)


def item_file(node: Node, row: EvidenceItemRow) -> Path:
    return evidence_dir(node) / row.stored_path


def list_items(session: Session, reference: str | None = None) -> list[EvidenceItemRow]:
    query = select(EvidenceItemRow).order_by(EvidenceItemRow.created_at, EvidenceItemRow.id)
    if reference:
        query = query.where(EvidenceItemRow.reference == reference)
    return list(session.execute(query).scalars())


def get_item(session: Session, item_id: str) -> EvidenceItemRow:
    row = session.get(EvidenceItemRow, item_id)
    if row is None:
        raise NotFound(f"no evidence item {item_id}")
    return row


def verify_item_chain(session: Session, node: Node, item_id: str) -> str | None:
    row = get_item(session, item_id)
    events = custody_events(session, item_id)
    ring = directory_keys(session, node, sorted({event.node_id for event in events}))
    return check_chain(item_id, row.sha256, events, ring.check)


# --- packages ----------------------------------------------------------------------------


def onward_sharing_problem(row: EvidenceItemRow, node_id: str, recipient: str | None) -> str | None:
    """Handling codes apply to items as to requests: an item another node sent with H2 or
    TLP:RED is not passed on to a third node (nor exported without a recipient) without
    that node's permission (a new package from it)."""
    if row.origin_node == node_id or recipient == row.origin_node:
        return None
    if row.tlp == "TLP:RED" or row.handling_code == "H2":
        return (
            f"item {row.id} came from {row.origin_node} with {row.handling_code} {row.tlp}: "
            "it is not shared onward without that node's permission"
        )
    return None


@dataclass(frozen=True)
class PackageResult:
    package_id: str
    path: Path
    item_ids: list[str]


def create_package(
    node: Node,
    *,
    out: Path,
    reference: str,
    basis: LegalBasis,
    user: str,
    files: Sequence[Path] = (),
    item_ids: Sequence[str] = (),
    recipient: str | None = None,
    investigation: str | None = None,
    handling_code: str = "H0",
    tlp: str = "TLP:AMBER",
    legacy_hashes: bool = False,
    connections: Sequence[Connection] = (),
    payload: PayloadMode = PayloadMode.COPY,
    trace_bundles: Sequence[dict[str, Any]] = (),
) -> PackageResult:
    """Acquire ``files`` (if any), add the items ``item_ids``, and write one signed BagIt
    package at ``out`` with a "packaged" custody event per item, all in one transaction: if
    anything fails, neither the bag nor any row remains.

    One pass per new file: it is read once, hashed (SHA-256 and SHA-512 together) and written
    to the store (synced) and, with ``PayloadMode.COPY``, to the bag in the same pass; with
    ``PayloadMode.LINK`` the bag's file is a hard link to the store's read-only copy (a
    clone where the filesystem can make one). Stored items (``item_ids``) are re-hashed as
    they are placed, so a changed store copy is never packaged."""
    _check_reference(reference)
    basis.check()
    if not files and not item_ids:
        raise ValidationFailed("a package needs at least one file or item", ["files"])
    if out.exists():
        raise Conflict(f"{out} exists; a package is never overwritten")
    package_id = str(uuid.uuid4())
    written: Path | None = None
    partial = PartialBag(out)
    try:
        with partial, node.db.session() as session:
            if (
                recipient is not None
                and recipient != node.config.node_id
                and find_entry(session, recipient) is None
            ):
                raise NotFound(f"recipient {recipient!r} is not in this node's directory")
            options = AcquireOptions(
                reference=reference,
                basis=basis,
                user=user,
                investigation=investigation,
                handling_code=handling_code,
                tlp=tlp,
                legacy_hashes=legacy_hashes,
            )
            rows: list[EvidenceItemRow] = []
            tee = partial if payload is PayloadMode.COPY else None
            for file in files:
                acquired = acquire_file(session, node, file, options, into_bag=tee)
                rows.append(get_item(session, acquired.item_id))
            fresh = {row.id for row in rows}
            for item_id in item_ids:
                row = get_item(session, item_id)
                if row.state != "held":
                    raise Conflict(f"item {item_id} is {row.state}; only held items are packaged")
                problem = onward_sharing_problem(row, node.config.node_id, recipient)
                if problem is not None:
                    raise ValidationFailed(problem, [f"item {item_id}"])
                rows.append(row)
            if len({row.id for row in rows}) != len(rows):
                raise ValidationFailed("an item is named twice", ["items"])
            for row in rows:
                add_custody_event(
                    session,
                    node,
                    row.id,
                    CustodyAction.PACKAGED,
                    user=user,
                    details={"package_id": package_id, "recipient": recipient},
                )
            records = [_row_record(session, row) for row in rows]
            now = node.clock.now()
            organisations = [Organisation(node.config.node_id, node.config.name, "issuing node")]
            if recipient:
                entry = find_entry(session, recipient)
                organisations.append(
                    Organisation(recipient, entry.organisation if entry else recipient, "recipient")
                )
            case_document = describe_package(
                package_id=package_id,
                reference=reference,
                investigation=investigation,
                basis_kind=basis.kind.value,
                basis_reference=basis.reference,
                created_at=now,
                tool_version=__version__,
                organisations=organisations,
                items=records,
                connections=connections,
                trace_bundles=trace_bundles,
            )
            meta = PackageMeta(
                package_id=package_id,
                reference=reference,
                issuer_node=node.config.node_id,
                issuer_name=node.config.name,
                recipient_node=recipient,
                basis=basis.label(),
                created_at=now,
                investigation=investigation,
            )
            written = write_bag(
                partial,
                meta=meta,
                items=[(rec, item_file(node, row)) for rec, row in zip(records, rows, strict=True)],
                case_document=case_document,
                signer=node_signer(node),
                mode=payload,
                fresh=fresh,
            )
            session.add(
                EvidencePackageRow(
                    id=package_id,
                    reference=reference,
                    direction="issued",
                    issuer_node=node.config.node_id,
                    recipient_node=recipient,
                    basis=basis.label(),
                    path=str(out.resolve()),
                    item_ids=json.dumps([row.id for row in rows]),
                    created_by=user,
                    created_at=now,
                )
            )
            record(
                session,
                actor=_actor(user),
                action="evidence.package.created",
                subject=f"evidence-package:{package_id}",
                details={
                    "reference": reference,
                    "items": [row.id for row in rows],
                    "recipient": recipient,
                    "path": str(out),
                },
                at=now,
            )
    except BaseException:
        if written is not None:
            shutil.rmtree(written, ignore_errors=True)
        raise
    return PackageResult(package_id, out, [row.id for row in rows])


def verify_package(
    path: Path,
    *,
    node: Node | None = None,
    public_key: Path | None = None,
) -> BagReport:
    """Verify a package anywhere: against a public key file, or against the node's signed
    directory (and its own keys)."""
    check: SignatureCheck
    if public_key is not None:
        check = keys_from_file(public_key).check
    elif node is not None:
        with node.db.session() as session:
            node_ids = _signers_named(path)
            check = directory_keys(session, node, node_ids).check
    else:

        def check(node_id: str, key_id: str, message: bytes, sig: str, at: datetime) -> str:
            return "no key to check against: give --public-key FILE or --data-dir DIR"

    return verify_bag(path, check)


def _signers_named(path: Path) -> list[str]:
    """Every node id a package claims signed something (looked up, never trusted)."""
    names: set[str] = set()
    try:
        raw = json.loads((path / "signature.json").read_text(encoding="utf-8"))
        names.add(str(raw.get("signer_node")))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        for item in read_custody(path):
            names.update(event.node_id for event in item.custody)
    except (OSError, ValueError, KeyError, TypeError, ValidationFailed):
        pass
    return sorted(names)


def import_package(
    node: Node,
    path: Path,
    *,
    user: str,
    sender: str | None = None,
    link_payload: bool = False,
) -> BagReport:
    """Take a verified package into this node's store: every item with its chain so far, a
    signed "received" and a "verified" event. Refused whole (nothing stored) if anything
    does not verify, if the package names another recipient, or if it was imported before.
    ``link_payload``: the bag is the node's own received copy (made read-only), so its
    payload files are hard-linked into the store instead of copied (just verified)."""
    report = verify_package(path, node=node)
    if not report.ok:
        raise ValidationFailed(
            f"package {path.name} does not verify: {report.problems[0]}", report.problems
        )
    package_id = report.info.get("Trailguard-Package-Id", "")
    recipient = report.info.get("Trailguard-Recipient-Node") or None
    if recipient is not None and recipient != node.config.node_id:
        raise ValidationFailed(
            f"package {package_id} is for {recipient}, not for {node.config.node_id}",
            [f"recipient: {recipient}"],
        )
    if sender is not None and report.signer_node != sender:
        raise ValidationFailed(
            f"package {package_id} is signed by {report.signer_node}, it came from {sender}"
        )
    store = evidence_dir(node) / "items"
    staging = evidence_dir(node) / f".import-{uuid.uuid4().hex[:8]}"
    moved: list[Path] = []
    try:
        with node.db.session() as session:
            if session.get(EvidencePackageRow, package_id) is not None:
                raise Conflict(f"package {package_id} was already imported")
            for rec in report.records:
                if session.get(EvidenceItemRow, rec.item_id) is not None:
                    raise Conflict(f"item {rec.item_id} is already on this node")
            staging.mkdir(parents=True)
            for rec in report.records:
                target = staging / rec.item_id / rec.file_name
                target.parent.mkdir(parents=True)
                if link_payload and _try_link(path / rec.path, target):
                    continue
                with (path / rec.path).open("rb", buffering=0) as reader, target.open("xb") as w:
                    digests = hash_stream(reader, sink=w)
                if digests.sha256 != rec.digests.sha256:
                    raise ValidationFailed(
                        f"item {rec.item_id}: changed while it was imported", [rec.item_id]
                    )
                os.chmod(target, 0o444)
            now = node.clock.now()
            for rec in report.records:
                session.add(
                    EvidenceItemRow(
                        id=rec.item_id,
                        reference=report.info.get("External-Identifier", ""),
                        investigation=report.info.get("Trailguard-Investigation") or None,
                        file_name=rec.file_name,
                        stored_path=f"items/{rec.item_id}/{rec.file_name}",
                        size=rec.digests.size,
                        sha256=rec.digests.sha256,
                        sha512=rec.digests.sha512,
                        md5=rec.digests.md5,
                        sha1=rec.digests.sha1,
                        acquisition=json.dumps(rec.acquisition.to_json(), sort_keys=True),
                        handling_code=rec.handling_code,
                        tlp=rec.tlp,
                        description=rec.description,
                        origin_node=rec.acquisition.node_id,
                        package_id=package_id,
                        state="held",
                        created_at=now,
                    )
                )
                for event in rec.custody:
                    _store_event(session, event)
            session.flush()
            for rec in report.records:
                add_custody_event(
                    session,
                    node,
                    rec.item_id,
                    CustodyAction.RECEIVED,
                    user=user,
                    details={"package_id": package_id, "from": report.signer_node},
                )
                add_custody_event(
                    session,
                    node,
                    rec.item_id,
                    CustodyAction.VERIFIED,
                    user=user,
                    details={"package_id": package_id, "signature_key": report.key_id},
                )
            session.add(
                EvidencePackageRow(
                    id=package_id,
                    reference=report.info.get("External-Identifier", ""),
                    direction="received",
                    issuer_node=report.signer_node or "",
                    recipient_node=recipient,
                    basis=report.info.get("Trailguard-Legal-Basis", ""),
                    path=str(path.resolve()),
                    item_ids=json.dumps([rec.item_id for rec in report.records]),
                    created_by=user,
                    created_at=now,
                )
            )
            record(
                session,
                actor=_actor(user),
                action="evidence.package.imported",
                subject=f"evidence-package:{package_id}",
                details={"from": report.signer_node, "items": len(report.records)},
                at=now,
            )
            session.flush()
            store.mkdir(parents=True, exist_ok=True)
            for folder in sorted(staging.iterdir()):
                folder.rename(store / folder.name)
                moved.append(store / folder.name)
    except BaseException:
        for folder in moved:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _try_link(source: Path, target: Path) -> bool:
    try:
        os.chmod(source, 0o444)
        os.link(source, target)
    except OSError:
        return False
    return True


def records_for(session: Session, item_ids: Sequence[str]) -> list[ItemRecord]:
    return [_row_record(session, get_item(session, item_id)) for item_id in item_ids]


def with_custody(record_: ItemRecord, events: list[CustodyEvent]) -> ItemRecord:
    return replace(record_, custody=events)


def investigation_traces(node: Node, principal: Principal, investigation: str) -> list[Any]:
    """The CASE/UCO exports of the traces of ``investigation`` (id or reference on this node:
    its network connections with their relationships), for ``create_package(trace_bundles=
    ...)``; none when no investigation has that name (a package's investigation may be plain
    text). The person must be on the investigation (PermissionDenied otherwise)."""
    try:
        views = traces_of(node, principal, investigation)
    except NotFound:
        return []
    return [case_of(node, principal, view.id) for view in views]
