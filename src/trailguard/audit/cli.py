"""``trailguard audit``: verify the chain; list recent entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trailguard.audit import service
from trailguard.cli_support import fail
from trailguard.core.errors import TrailguardError
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


@app.command()
def verify(data_dir: DataDir, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute every entry's hash; exit 1 and name the entries that no longer fit."""
    node = _open(data_dir)
    try:
        with node.db.session() as session:
            report = service.verify(session)
    finally:
        node.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "head_hash": report.head_hash,
                    "problems": [{"seq": p.seq, "reason": p.reason} for p in report.problems],
                }
            )
        )
    elif report.ok:
        console.print(
            f"[green]audit log intact[/green]: {report.entries} entries, "
            f"head {report.head_hash[:16]}"
        )
    else:
        console.print(
            f"[red]audit log broken[/red]: {len(report.problems)} problem(s) "
            f"in {report.entries} entries"
        )
        for problem in report.problems:
            console.print(f"  entry {problem.seq}: {problem.reason}")
    if not report.ok:
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
