"""``trailguard evidence ...`` and ``trailguard verify-document``: thin entry points.

Contracts (issue 14, kept exactly):
- ``evidence package --data-dir DIR --reference REF --basis TEXT --out BAG FILE...``: exit 0,
  prints the bag's path.
- ``evidence verify BAG [--public-key FILE] [--json]``: exit 0 when everything verifies,
  exit 1 naming the failing item otherwise; ``--json`` gives ``ok``, ``items``, ``problems``.
"""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console

from trailguard.accounts import Principal, get_user, principal_of
from trailguard.core.errors import PermissionDenied, TrailguardError, ValidationFailed
from trailguard.evidence.bag import PayloadMode
from trailguard.evidence.certificate import issue_certificate
from trailguard.evidence.documents import check_for_document, verify_document
from trailguard.evidence.domain import CustodyAction, LegalBasis
from trailguard.evidence.service import (
    EVIDENCE_ROLES,
    add_custody_event,
    create_package,
    custody_events,
    export_public_keys,
    import_package,
    investigation_traces,
    verify_item_chain,
    verify_package,
)
from trailguard.evidence.service import list_items as service_list
from trailguard.evidence.transfer import STALE_AFTER, expire_transfers, offer_package, push_chunks
from trailguard.registry import open_node

app = typer.Typer(
    help="Evidence: items with a chain of custody, signed BagIt packages, verification.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
OptionalDataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="A node's data directory (its signed directory is used)."),
]
User = Annotated[
    str | None,
    typer.Option(
        "--user",
        help="The acting user on the node (investigator, duty officer, provider liaison or "
        "central authority); the operating-system user if omitted.",
    ),
]


def _fail(exc: TrailguardError, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}")
    for problem in getattr(exc, "problems", []):
        err.print(f"  - {problem}")
    raise typer.Exit(code)


def _open(data_dir: Path) -> Any:
    try:
        return open_node(data_dir)
    except TrailguardError as exc:
        _fail(exc)


def _principal(node: Any, user: str) -> Principal:
    with node.db.session() as session:
        principal = principal_of(get_user(session, user))
    if not set(principal.roles) & set(EVIDENCE_ROLES):
        _fail(PermissionDenied(f"{user} holds none of the roles {', '.join(EVIDENCE_ROLES)}"))
    return principal


def _acting_user(node: Any, user: str | None) -> str:
    if user is None:
        return f"os:{getpass.getuser()}"
    _principal(node, user)
    return user


@app.command()
def package(
    data_dir: DataDir,
    reference: Annotated[str, typer.Option("--reference", help="Case or request reference.")],
    basis: Annotated[
        str,
        typer.Option(
            "--basis",
            help="Legal basis as KIND: reference; KIND is court-order, preservation, "
            "production, art32a, art32b (with --consent-record) or mla.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the bag (a new folder).")],
    files: Annotated[list[Path], typer.Argument(help="The files to package.")],
    user: User = None,
    recipient: Annotated[
        str | None, typer.Option(help="The node the package is for (directory id).")
    ] = None,
    investigation: Annotated[
        str | None,
        typer.Option(
            help="Investigation reference (plain text). With --user, an investigation of this "
            "node (id or reference) the user is on: its traces' network connections join the "
            "package's CASE/UCO description."
        ),
    ] = None,
    consent_record: Annotated[
        str | None, typer.Option(help="Art. 32(b): the record of the consent.")
    ] = None,
    handling: Annotated[str, typer.Option(help="Handling code H0-H3.")] = "H0",
    tlp: Annotated[str, typer.Option(help="TLP 2.0 label.")] = "TLP:AMBER",
    legacy_hashes: Annotated[
        bool, typer.Option("--legacy-hashes", help="Also record MD5 and SHA-1.")
    ] = False,
    link_payload: Annotated[
        bool,
        typer.Option(
            "--link-payload",
            help="Hard-link the store's read-only copy into the bag when both are on one "
            "filesystem (no second write; changing the bag's file in place then changes the "
            "store's copy too). Default: a separate copy (a copy-on-write clone where the "
            "filesystem can make one).",
        ),
    ] = False,
) -> None:
    """Make a signed package (BagIt + CASE/UCO + custody log) of the given files."""

    node = _open(data_dir)
    try:
        acting = _acting_user(node, user)
        traces = (
            investigation_traces(node, _principal(node, user), investigation)
            if user is not None and investigation
            else []
        )
        result = create_package(
            node,
            out=out,
            reference=reference,
            basis=LegalBasis.parse(basis, consent_record=consent_record),
            user=acting,
            files=files,
            recipient=recipient,
            investigation=investigation,
            handling_code=handling,
            tlp=tlp,
            legacy_hashes=legacy_hashes,
            trace_bundles=traces,
            payload=PayloadMode.LINK if link_payload else PayloadMode.COPY,
        )
    except TrailguardError as exc:
        _fail(exc)
    finally:
        node.close()
    print(result.path)


@app.command()
def verify(
    bag: Annotated[Path, typer.Argument(help="The package (bag folder).")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="The issuing node's public key file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Answer as JSON.")] = False,
    data_dir: OptionalDataDir = None,
) -> None:
    """Check every payload and tag file, the signature and the custody chain."""

    node = _open(data_dir) if data_dir is not None and public_key is None else None
    try:
        report = verify_package(bag, node=node, public_key=public_key)
    except TrailguardError as exc:
        _fail(exc)
    finally:
        if node is not None:
            node.close()
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for item in report.items:
            mark = "[green]ok[/green]" if item.ok else "[red]FAILED[/red]"
            console.print(f"{mark} item {item.item_id} {item.file_name} sha256 {item.sha256}")
        if report.ok:
            console.print(
                f"[green]verified[/green]: {bag} signed by {report.signer_node} "
                f"(key {report.key_id}); every file, the signature and the custody chain hold"
            )
        else:
            for problem in report.problems:
                console.print(f"[red]✗[/red] {problem}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("import")
def import_(
    data_dir: DataDir,
    bag: Annotated[Path, typer.Argument(help="The package (bag folder).")],
    user: User = None,
) -> None:
    """Take a verified package into this node's store (signed "received" custody event)."""

    node = _open(data_dir)
    try:
        report = import_package(node, bag, user=_acting_user(node, user))
    except TrailguardError as exc:
        _fail(exc, 1)
    finally:
        node.close()
    console.print(f"imported {len(report.records)} item(s) from {report.signer_node}")


@app.command("public-key")
def public_key(
    data_dir: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Where to write the key file.")],
) -> None:
    """Write this node's public signing keys, for someone verifying without a node."""

    node = _open(data_dir)
    try:
        out.write_text(json.dumps(export_public_keys(node), indent=2), encoding="utf-8")
    finally:
        node.close()
    print(out)


@app.command("list")
def list_items(
    data_dir: DataDir,
    reference: Annotated[str | None, typer.Option(help="Only this reference.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evidence items on this node."""

    node = _open(data_dir)
    try:
        with node.db.session() as session:
            rows = [
                {
                    "item_id": row.id,
                    "reference": row.reference,
                    "file_name": row.file_name,
                    "size": row.size,
                    "sha256": row.sha256,
                    "state": row.state,
                    "origin_node": row.origin_node,
                }
                for row in service_list(session, reference)
            ]
    finally:
        node.close()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        console.print(
            f"{row['item_id']} {row['reference']} {row['file_name']} {row['size']} B "
            f"{row['state']} sha256 {row['sha256']}"
        )


@app.command()
def custody(
    data_dir: DataDir,
    item_id: Annotated[str, typer.Argument(help="The item.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """An item's custody chain, checked (exit 1 if it is broken)."""

    node = _open(data_dir)
    try:
        with node.db.session() as session:
            events = custody_events(session, item_id)
            problem = verify_item_chain(session, node, item_id)
    except TrailguardError as exc:
        _fail(exc)
    finally:
        node.close()
    if as_json:
        print(
            json.dumps(
                {
                    "ok": problem is None,
                    "events": [e.to_json() for e in events],
                    "problem": problem,
                },
                indent=2,
            )
        )
    else:
        for event in events:
            console.print(
                f"{event.seq:>3} {event.action.value:<10} {event.at.isoformat()} "
                f"{event.user} at {event.node_id} (key {event.key_id})"
            )
        console.print(
            "[green]chain whole[/green]" if problem is None else f"[red]✗[/red] {problem}"
        )
    if problem is not None:
        raise typer.Exit(1)


@app.command()
def certificate(
    data_dir: DataDir,
    bag: Annotated[Path, typer.Argument(help="The package (bag folder).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")],
    user: User = None,
) -> None:
    """Issue the signed hash certificate (PDF) of a package that verifies."""

    node = _open(data_dir)
    try:
        pdf = issue_certificate(node, bag, actor=_actor_of(_acting_user(node, user)))
    except TrailguardError as exc:
        _fail(exc, 1)
    finally:
        node.close()
    out.write_bytes(pdf)
    print(out)


def _actor_of(user: str) -> str:
    return user if ":" in user else f"user:{user}"


def verify_document_command(
    file: Annotated[Path, typer.Argument(help="A document (PDF) a trailguard node issued.")],
    data_dir: OptionalDataDir = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The issuer's public key file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Answer as JSON.")] = False,
) -> None:
    """Who issued a document, whether the directory knows that key, whether it is unchanged
    (exit 0 only when all three hold)."""

    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc}")
        raise typer.Exit(2) from exc
    node = _open(data_dir) if data_dir is not None and public_key is None else None
    try:
        verdict = verify_document(data, check_for_document(node, public_key, data))
    except TrailguardError as exc:
        _fail(exc)
    finally:
        if node is not None:
            node.close()
    if as_json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        if verdict.issuer_node:
            console.print(
                f"issued by {verdict.issuer_name} (node {verdict.issuer_node}), key "
                f"{verdict.key_id}: {'known' if verdict.key_known else 'NOT known'} to the "
                f"directory; content {'unchanged' if verdict.content_unchanged else 'ALTERED'}"
            )
        if verdict.ok:
            console.print("[green]verified[/green]")
        for reason in verdict.reasons:
            console.print(f"[red]✗[/red] {reason}")
    if not verdict.ok:
        raise typer.Exit(1)


@app.command()
def send(
    data_dir: DataDir,
    bag: Annotated[Path, typer.Argument(help="The package (made for the recipient).")],
    to: Annotated[str, typer.Option("--to", help="The recipient node (directory id).")],
    user: User = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume this transfer id instead.")
    ] = None,
) -> None:
    """Send a package to another node: encrypted to it, in chunks; resumable with --resume."""

    node = _open(data_dir)
    try:
        transfer_id = resume
        if transfer_id is None:
            offer = offer_package(node, bag, recipient=to, user=_acting_user(node, user))
            transfer_id = offer.transfer_id
            console.print(f"offered transfer {transfer_id} ({offer.chunk_count} chunks)")
        with httpx.Client(timeout=60) as client:
            result = push_chunks(node, transfer_id, client)
    except (TrailguardError, httpx.HTTPError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        err.print(
            f"resume with: trailguard evidence send --data-dir {data_dir} --to {to} "
            f"--resume {transfer_id} {bag}"
            if transfer_id
            else ""
        )
        raise typer.Exit(1) from exc
    finally:
        node.close()
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]✗[/red] {problem}")
        raise typer.Exit(1)
    console.print(f"[green]delivered[/green]: {len(result.sent)} chunk(s) sent, imported by {to}")


@app.command()
def event(
    data_dir: DataDir,
    item_id: Annotated[str, typer.Argument(help="The item.")],
    action: Annotated[
        str,
        typer.Argument(help="opened, verified, released, returned or destroyed."),
    ],
    user: User = None,
    note: Annotated[str, typer.Option(help="What was done and why.")] = "",
) -> None:
    """Record a custody event on an item (signed by this node, audited)."""

    allowed = ("opened", "verified", "released", "returned", "destroyed")
    if action not in allowed:
        _fail(ValidationFailed(f"action must be one of {', '.join(allowed)}, not {action!r}"))
    node = _open(data_dir)
    try:
        acting = _acting_user(node, user)
        with node.db.session() as session:
            recorded = add_custody_event(
                session,
                node,
                item_id,
                CustodyAction(action),
                user=acting,
                details={"note": note[:2000]} if note else None,
            )
    except TrailguardError as exc:
        _fail(exc)
    finally:
        node.close()
    console.print(f"event {recorded.seq} ({recorded.action.value}) recorded: {recorded.event_hash}")


@app.command("expire-transfers")
def expire_transfers_command(
    data_dir: DataDir,
    older_than_hours: Annotated[
        float,
        typer.Option(
            "--older-than-hours",
            min=0.01,
            help="A transfer nothing happened to for this long is abandoned.",
        ),
    ] = STALE_AFTER.total_seconds() / 3600,
) -> None:
    """End stale incomplete transfers: their chunks (incoming) or archive (outgoing) are
    removed and they take no more chunks (audited)."""
    node = _open(data_dir)
    try:
        ended = expire_transfers(node, older_than=timedelta(hours=older_than_hours))
    except TrailguardError as exc:
        _fail(exc)
    finally:
        node.close()
    for item in ended:
        console.print(f"expired {item.direction} transfer {item.transfer_id} ({item.peer})")
    console.print(f"{len(ended)} transfer(s) expired")
