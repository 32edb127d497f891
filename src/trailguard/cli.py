"""The ``trailguard`` command. Each capability contributes a sub-command group; this module
only wires them together and holds the node-level commands (init, serve, demo, users)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trailguard.core.config import NodeRole
from trailguard.core.errors import TrailguardError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    help="trailguard: cooperation on cybercrime investigations in minutes instead of months.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register_groups() -> None:
    from trailguard.accounts.cli import app as users_app
    from trailguard.audit.cli import app as audit_app
    from trailguard.evidence.cli import app as evidence_app
    from trailguard.evidence.cli import verify_document_command
    from trailguard.law.cli import app as law_app
    from trailguard.network.cli import app as network_app
    from trailguard.requests.cli import app as requests_app
    from trailguard.traffic.cli import app as traffic_app

    app.add_typer(users_app, name="users", help="People on this node: users, tokens, TOTP.")
    app.add_typer(audit_app, name="audit", help="Verify and read the hash-chained audit log.")
    app.add_typer(law_app, name="law", help="Legal engine: dual criminality, channels, sources.")
    app.add_typer(network_app, name="directory", help="The network's signed directory.")
    app.add_typer(requests_app, name="requests", help="Cooperation requests.")
    app.add_typer(traffic_app, name="traffic", help="Provider traffic data: ingest, look up, hold.")
    app.add_typer(evidence_app, name="evidence", help="Evidence packages with a chain of custody.")
    app.command("verify-document")(verify_document_command)


DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]


@app.command()
def init(
    data_dir: DataDir,
    name: Annotated[
        str, typer.Option(help="Organisation name, e.g. 'Netherlands 24/7 point of contact'.")
    ],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code of the node's country.")],
    role: Annotated[list[NodeRole], typer.Option(help="Node role; repeat for several.")],
    node_id: Annotated[
        str | None, typer.Option(help="Directory id; derived from country and role if omitted.")
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="URL other nodes use to reach this node.")
    ] = "http://127.0.0.1:8000",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the office.")] = "UTC",
    admin: Annotated[str, typer.Option(help="Username of the first administrator.")] = "admin",
) -> None:
    """Create a node: configuration, database, signing and encryption keys, first admin."""
    from trailguard.bootstrap import initialise_node

    try:
        result = initialise_node(
            data_dir,
            name=name,
            country=country.upper(),
            roles=role,
            node_id=node_id,
            base_url=base_url,
            timezone=timezone,
            admin_username=admin,
        )
    except TrailguardError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"[green]node {result.node_id} created[/green] in {data_dir}")
    console.print(f"admin user: [bold]{result.admin_username}[/bold]")
    console.print(
        f"one-time password (change it at first login): [bold]{result.admin_password}[/bold]"
    )


@app.command()
def serve(
    data_dir: DataDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the node's API, exchange endpoint and web pages."""
    import uvicorn

    from trailguard.app import create_app
    from trailguard.network import start_delivery_worker
    from trailguard.node import Node

    try:
        node = Node.open(data_dir)
    except TrailguardError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    worker = start_delivery_worker(node)
    console.print(
        f"node {node.config.node_id} serving on http://{host}:{port} "
        f"(exchange endpoint /exchange/v1/messages, API /openapi.json)"
    )
    try:
        uvicorn.run(create_app(node), host=host, port=port, log_level="warning")
    finally:
        worker.stop()
        node.close()


@app.command()
def demo(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Run non-interactively, verify every receipt, exit non-zero on any failure.",
        ),
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo nodes keep their data (a temporary folder if omitted)."),
    ] = None,
) -> None:
    """Operation Nightjar: a small network on loopback tells the reference scenario."""
    from trailguard.demo.runner import run_demo

    ok = run_demo(check=check, data_dir=data_dir, console=console)
    if not ok:
        raise typer.Exit(1)


_registered = False


def _ensure_registered() -> None:
    global _registered
    if not _registered:
        _register_groups()
        _registered = True


def main() -> None:
    _ensure_registered()
    app()
