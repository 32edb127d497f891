"""network: command-line entry points (``trailguard directory ...``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trailguard.cli_support import fail, node_for
from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed
from trailguard.core.jsonsafe import loads_bounded
from trailguard.network.clocks import escalate_overdue
from trailguard.network.directory import DirectoryEntry, Shift, lookup_prefix, search
from trailguard.network.directory_service import (
    export_directory,
    import_directory,
    list_entries,
    publish_self,
    save_entry,
)
from trailguard.network.exchange import deliver_pending
from trailguard.network.identity import load_identity, rotate_keys

app = typer.Typer(help="The network's signed directory, keys and exchange.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
ACTOR = "cli:admin"
DIRECTORY_DEPTH = 32  # files from peers (directories, entries, rosters) nest a few levels


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValidationFailed(
            f"time {text!r} is not an ISO 8601 instant with an offset, e.g. 2026-11-20T08:14:07Z"
        ) from exc


@app.command("export")
def export_(
    data_dir: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed directory.")],
) -> None:
    """Write the directory this node knows, signed with its key."""
    with node_for(data_dir) as node, node.db.session() as session:
        document = export_directory(session, node, actor=ACTOR)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(document.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    console.print(
        f"wrote {len(document.entries)} entries signed by {document.publisher} "
        f"(key {document.key_id}) to {out}"
    )


@app.command("import")
def import_(
    data_dir: DataDir,
    file: Annotated[Path, typer.Argument(help="A signed directory document (JSON).")],
    publisher_key: Annotated[
        str | None,
        typer.Option(
            "--publisher-key",
            help="Base64 Ed25519 key of the publisher (see `directory key`), when the publisher "
            "is not yet in this node's directory.",
        ),
    ] = None,
) -> None:
    """Import a signed directory after verifying its publisher's signature."""
    with node_for(data_dir) as node:
        try:
            raw: Any = loads_bounded(file.read_bytes(), max_depth=DIRECTORY_DEPTH)
        except (OSError, ValueError) as exc:
            raise fail(ValidationFailed(f"cannot read {file} as JSON: {exc}")) from exc
        with node.db.session() as session:
            report = import_directory(session, node, raw, actor=ACTOR, publisher_key=publisher_key)
    console.print(
        f"imported {len(report.imported)} entries from {report.publisher} "
        f"(published {isoformat_z(report.published_at)}): {', '.join(report.imported)}"
    )
    if report.skipped:
        console.print(f"kept this node's own entry: {', '.join(report.skipped)}")


@app.command("key")
def key(data_dir: DataDir) -> None:
    """Print this node's current public signing key (to give to peers out of band)."""
    with node_for(data_dir) as node:
        identity = load_identity(node.paths)
        current = identity.current
    console.print(f"node {node.config.node_id} key {current.key_id}")
    console.print(current.signing_key, soft_wrap=True)


@app.command("rotate-keys")
def rotate(data_dir: DataDir) -> None:
    """Replace the node's key pair; old public keys stay verifiable in the directory."""

    with node_for(data_dir) as node:
        identity = rotate_keys(node.paths, now=node.clock.now())
        with node.db.session() as session:
            publish_self(session, node, actor=ACTOR)
    console.print(
        f"new key {identity.key_id}; {len(identity.history) - 1} older key(s) kept; "
        "export the directory so that peers learn the new key"
    )


@app.command("self")
def self_(
    data_dir: DataDir,
    roster: Annotated[Path | None, typer.Option(help="JSON file with a list of shifts.")] = None,
    phone: Annotated[str | None, typer.Option(help="Duty phone, international format.")] = None,
    email: Annotated[str | None, typer.Option(help="Duty e-mail address.")] = None,
    prefix: Annotated[
        list[str] | None, typer.Option(help="Address space operated (providers); repeat.")
    ] = None,
) -> None:
    """Write this node's own entry from its configuration and keys."""

    with node_for(data_dir) as node:
        shifts = None
        if roster is not None:
            try:
                raw = loads_bounded(roster.read_bytes(), max_depth=DIRECTORY_DEPTH)
            except (OSError, ValueError) as exc:
                raise ValidationFailed(f"cannot read roster {roster}: {exc}") from exc
            if not isinstance(raw, list):
                raise ValidationFailed(f"roster {roster} must hold a JSON list of shifts")
            shifts = [Shift.from_json(item, f"shift {i}") for i, item in enumerate(raw)]
        with node.db.session() as session:
            entry = publish_self(
                session, node, actor=ACTOR, roster=shifts, phone=phone, email=email, prefixes=prefix
            )
    console.print(
        f"entry {entry.node_id} updated: {len(entry.roster)} shifts, "
        f"{len(entry.prefixes)} prefixes, key {entry.keys[-1].key_id}"
    )


@app.command("add")
def add(
    data_dir: DataDir,
    file: Annotated[Path, typer.Argument(help="JSON file with one entry (or a list).")],
) -> None:
    """Add or replace entries by hand (e.g. a liaison officer or an INTERPOL bureau)."""

    with node_for(data_dir) as node:
        try:
            raw = loads_bounded(file.read_bytes(), max_depth=DIRECTORY_DEPTH)
        except (OSError, ValueError) as exc:
            raise ValidationFailed(f"cannot read {file} as JSON: {exc}") from exc
        own = {"network": node.config.network_name}  # an entry without one is of this node's
        entries = [
            DirectoryEntry.from_json({**own, **item} if isinstance(item, dict) else item)
            for item in (raw if isinstance(raw, list) else [raw])
        ]
        with node.db.session() as session:
            for entry in entries:
                save_entry(session, node, entry, actor=ACTOR, source="manual")
    console.print(f"saved {', '.join(entry.node_id for entry in entries)}")


@app.command("search")
def search_(
    data_dir: DataDir,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2, e.g. NL.")] = None,
    language: Annotated[str | None, typer.Option(help="ISO 639-1, e.g. en.")] = None,
    at: Annotated[str | None, typer.Option(help="ISO 8601 instant; default now.")] = None,
) -> None:
    """Who can help in COUNTRY now (or AT), in LANGUAGE: on duty first, then backup."""

    with node_for(data_dir) as node:
        instant = _instant(at) or node.clock.now()
        with node.db.session() as session:
            entries = list_entries(session)
        hits = search(
            entries,
            at=instant,
            country=country.upper() if country else None,
            language=language.lower() if language else None,
        )
    table = Table(title=f"directory at {isoformat_z(instant)}")
    for column in (
        "node",
        "kind",
        "country",
        "organisation",
        "local time",
        "on duty",
        "backup",
        "phone",
        "endpoint",
    ):
        table.add_column(column)
    for hit in hits:
        entry, duty = hit.entry, hit.on_duty
        table.add_row(
            entry.node_id,
            entry.kind.value,
            entry.country,
            entry.organisation,
            hit.local_time.strftime("%a %H:%M %Z"),
            duty.primary.person if duty.primary else "-",
            duty.backup.person if duty.backup else "-",
            (duty.contact.phone if duty.contact and duty.contact.phone else entry.channels.phone)
            or "-",
            entry.channels.endpoint or "-",
        )
    console.print(table)
    if not hits:
        raise typer.Exit(1)


@app.command("lookup")
def lookup(
    data_dir: DataDir,
    ip: Annotated[str, typer.Argument(help="IPv4 or IPv6 address.")],
) -> None:
    """Which provider in the directory operates IP (longest prefix match)."""

    with node_for(data_dir) as node:
        with node.db.session() as session:
            found = lookup_prefix(list_entries(session), ip)
        if found is None:
            console.print(f"no provider in the directory operates {ip}")
            raise typer.Exit(1)
    entry, network = found
    console.print(f"{ip} is in {network}: {entry.organisation} ({entry.node_id}, {entry.country})")


@app.command("deliver")
def deliver(data_dir: DataDir) -> None:
    """Deliver due outbox messages once and escalate overdue acknowledgements."""

    with node_for(data_dir) as node:
        report = deliver_pending(node)
        escalations = escalate_overdue(node)
    console.print(
        f"attempted {report.attempted}, delivered {len(report.delivered)}, "
        f"rejected {len(report.rejected)}, retrying {len(report.retrying)}, "
        f"failed {len(report.failed)}, escalated {len(escalations)}"
    )
