"""requests: command-line entry points (``trailguard requests ...``)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trailguard.core.errors import TrailguardError
from trailguard.registry import open_node
from trailguard.requests import service
from trailguard.requests.documents import render_html, render_pdf
from trailguard.requests.domain.types import missing_elements, parse_request

app = typer.Typer(
    help="Cooperation requests: validate, render, list, clocks.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(data, dict):
        err.print(f"[red]error:[/red] {path} must hold a JSON object")
        raise typer.Exit(2)
    return data


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="A request body as JSON.")]) -> None:
    """Check a request body and name every missing or bad element (exit 1 if any)."""
    problems = missing_elements(_load(path))
    if not problems:
        console.print("[green]valid[/green]: every required element is there")
        return
    for problem in problems:
        console.print(f"[red]✗[/red] {problem}")
    raise typer.Exit(1)


@app.command()
def render(
    path: Annotated[Path, typer.Argument(help="A request body as JSON.")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .pdf or .html")],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Issue the PDF from this node (signed verification block); without it the "
            "PDF is an unsigned draft.",
        ),
    ] = None,
) -> None:
    """Render a request body as a PDF or printable HTML document."""

    try:
        request = parse_request(_load(path))
    except TrailguardError as exc:
        err.print(f"[red]error:[/red] {exc}")
        for problem in getattr(exc, "problems", []):
            err.print(f"  - {problem}")
        raise typer.Exit(1) from exc
    if out.suffix.lower() == ".pdf" and data_dir is not None:
        try:
            node = open_node(data_dir)
        except TrailguardError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        try:
            out.write_bytes(render_pdf(request, node=node, actor=f"os:{getpass.getuser()}"))
        finally:
            node.close()
    elif out.suffix.lower() == ".pdf":
        out.write_bytes(render_pdf(request))
        console.print("unsigned draft (give --data-dir to issue it signed by the node)")
    elif out.suffix.lower() in (".html", ".htm"):
        out.write_text(render_html(request), encoding="utf-8")
    else:
        err.print(f"[red]error:[/red] --out must end in .pdf or .html, not {out.suffix!r}")
        raise typer.Exit(2)
    console.print(f"wrote {out}")


@app.command("list")
def list_requests(
    data_dir: DataDir,
    direction: Annotated[str | None, typer.Option(help="inbound or outbound")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Requests on this node, nearest deadline first."""
    node = open_node(data_dir)
    try:
        views = service.list_requests(node, direction=direction)
    except TrailguardError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        node.close()
    if as_json:
        console.print_json(json.dumps([v.to_json() for v in views]))
        return
    table = Table("nearest deadline (UTC)", "what", "request", "state", "parties", "other side")
    for v in views:
        table.add_row(
            v.nearest.due_at.isoformat() if v.nearest else "-",
            v.nearest.label if v.nearest else "",
            f"{v.kind.value} {v.reference}",
            v.state.value,
            f"{v.requesting_party}→{v.requested_party}",
            v.counterpart_node or "",
        )
    console.print(table)


@app.command()
def clocks(data_dir: DataDir) -> None:
    """Raise due reminders and flag missed deadlines now (run it from cron or a timer)."""
    node = open_node(data_dir)
    try:
        raised = service.scan_deadlines(node)
    finally:
        node.close()
    for r in raised:
        flag = "[red]MISSED[/red]" if r.missed else "[yellow]due[/yellow]"
        console.print(f"{flag} {r.due_at.isoformat()} {r.label} ({r.reference})")
    console.print(f"{len(raised)} new reminder(s)")
