"""``trailguard audit``: verify the chain; list recent entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from trailguard.audit import service
from trailguard.cli_support import fail
from trailguard.core.errors import TrailguardError
from trailguard.network import verify_node, witness_peers
from trailguard.node import Node
from trailguard.registry import open_node

app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]


def _open(data_dir: Path) -> Node:
    try:
        return open_node(data_dir)
    except TrailguardError as exc:
        raise fail(exc) from exc


def _client() -> httpx.Client:
    return httpx.Client(timeout=10.0)


@app.command()
def verify(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    witnesses: Annotated[
        bool,
        typer.Option(
            "--witnesses",
            help="Also ask every directory peer for the heads of this node it witnessed.",
        ),
    ] = False,
) -> None:
    """Recompute every entry's hash and check the chain against this node's signed heads and
    the heads its peers witnessed; exit 1 and name what no longer fits."""
    node = _open(data_dir)
    client = _client() if witnesses else None
    try:
        report = verify_node(node, client)
    except SQLAlchemyError as exc:
        Console(stderr=True).print(
            "[red]error:[/red] this database holds no audit log (no audit tables): "
            f"initialise the node with `trailguard init` ({type(exc).__name__})"
        )
        raise typer.Exit(2) from exc
    finally:
        if client is not None:
            client.close()
        node.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "head_hash": report.head_hash,
                    "problems": [{"seq": p.seq, "reason": p.reason} for p in report.problems],
                    "signed_heads": report.signed_heads,
                    "witnessed_heads": report.witnessed_heads,
                    "witnesses": report.witnesses,
                    "notes": report.notes,
                }
            )
        )
    elif report.ok and report.empty:
        console.print(
            "audit log is empty: no entries yet, and no signed or witnessed head says "
            "there were any"
        )
    elif report.ok:
        console.print(
            f"[green]audit log intact[/green]: {report.entries} entries, "
            f"head {report.head_hash[:16]}; checked against {report.signed_heads} signed "
            f"head(s) and {report.witnessed_heads} witnessed head(s)"
            + (f" (witnesses: {', '.join(report.witnesses)})" if report.witnesses else "")
        )
    else:
        console.print(
            f"[red]audit log broken[/red]: {len(report.problems)} problem(s) "
            f"in {report.entries} entries"
        )
        for problem in report.problems:
            console.print(f"  entry {problem.seq}: {problem.reason}", markup=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("witness")
def witness_command(data_dir: DataDir) -> None:
    """Sign this node's head, then fetch, check, countersign and keep every peer's head (run
    it regularly, e.g. from cron)."""
    node = _open(data_dir)
    client = _client()
    try:
        report = witness_peers(node, client)
    except TrailguardError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        client.close()
        node.close()
    for peer, seq in sorted(report.witnessed.items()):
        console.print(f"witnessed {peer}: head at entry {seq}")
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {problem}")
    if report.problems:
        raise typer.Exit(1)


@app.command("list")
def list_entries(
    data_dir: DataDir,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    subject: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Show the newest entries."""
    node = _open(data_dir)
    try:
        with node.db.session() as session:
            entries = service.recent(session, limit=limit, subject=subject)
    finally:
        node.close()
    table = Table("seq", "at (UTC)", "actor", "action", "subject")
    for entry in entries:
        table.add_row(
            str(entry.seq), entry.at.isoformat(), entry.actor, entry.action, entry.subject
        )
    console.print(table)
