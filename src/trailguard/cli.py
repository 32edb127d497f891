"""The ``trailguard`` command. Each capability contributes a sub-command group; this module
only wires them together and holds the node-level commands (init, serve, demo, users)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from typer.core import TyperGroup

from trailguard.bootstrap import initialise_node
from trailguard.cli_support import announce_for_args
from trailguard.core.capability import load
from trailguard.core.config import ExerciseSettings, NodeRole, config_problems
from trailguard.core.errors import TrailguardError, ValidationFailed
from trailguard.network import start_delivery_worker
from trailguard.registry import CAPABILITIES, open_node

console = Console()
err_console = Console(stderr=True)


class _Root(TyperGroup):
    """The root command: before any command runs, an exercise node named by ``--data-dir``
    is announced with its EXERCISE line on stderr, whatever the command (issue 17)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # a click.Context
        announce_for_args(args)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_Root,
    help="trailguard: cooperation on cybercrime investigations in minutes instead of months.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register_groups() -> None:
    """One sub-command group per registered capability that declares one."""
    for capability in CAPABILITIES:
        if capability.cli is not None:
            group = capability.cli
            app.add_typer(load(group.app), name=group.name, help=group.help)
        for name, ref in capability.commands:
            app.command(name)(load(ref))


DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]


def _exercise_settings(network: str | None) -> ExerciseSettings | None:
    if network is None:
        return None
    try:
        return ExerciseSettings(network=network)
    except ValidationError as exc:
        problems = config_problems(exc)
        raise ValidationFailed(f"--exercise: {'; '.join(problems)}", problems) from exc


@app.command()
def init(
    data_dir: DataDir,
    name: Annotated[
        str, typer.Option(help="Organisation name, e.g. 'Netherlands 24/7 point of contact'.")
    ],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code of the node's country.")],
    role: Annotated[
        list[NodeRole],
        typer.Option(
            metavar="ROLE",
            help="Node role: poc, central-authority, agency or provider; repeat for several.",
        ),
    ],
    node_id: Annotated[
        str | None, typer.Option(help="Directory id; derived from country and role if omitted.")
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="URL other nodes use to reach this node.")
    ] = "http://127.0.0.1:8000",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the office.")] = "UTC",
    admin: Annotated[str, typer.Option(help="Username of the first administrator.")] = "admin",
    exercise: Annotated[
        str | None,
        typer.Option(
            metavar="NETWORK",
            help="Make a training node of this exercise network ('exercise-...'): it talks "
            "only to nodes of the same exercise network and marks everything EXERCISE.",
        ),
    ] = None,
) -> None:
    """Create a node: configuration, database, signing and encryption keys, first admin."""
    try:
        settings = _exercise_settings(exercise)
        result = initialise_node(
            data_dir,
            name=name,
            country=country.upper(),
            roles=role,
            node_id=node_id,
            base_url=base_url,
            timezone=timezone,
            admin_username=admin,
            exercise=settings,
        )
    except TrailguardError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if settings is not None:
        console.print(
            f"[bold red]EXERCISE[/bold red] node of network {settings.network}: "
            "training only, it never talks to real nodes"
        )
    console.print(f"[green]node {result.node_id} created[/green] in {data_dir}")
    console.print(f"admin user: [bold]{result.admin_username}[/bold]")
    console.print(
        f"one-time password (change it at first login): [bold]{result.admin_password}[/bold]"
    )


def base_url_mismatch(base_url: str, host: str, port: int) -> list[str]:
    """Why other nodes would not reach this node at the ``base_url`` it publishes."""
    parsed = urlsplit(base_url)
    published = parsed.port or (443 if parsed.scheme == "https" else 80)
    if published == port:
        return []
    return [
        f"node.toml publishes base_url {base_url} (port {published}) but this serves on port "
        f"{port}: other nodes will send to {published}. Serve with --port {published}, or set "
        f"base_url in node.toml to this port and export the directory again."
    ]


@app.command()
def serve(
    data_dir: DataDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the node's API, exchange endpoint and web pages."""
    # the server loads only for `trailguard serve`
    import uvicorn

    # the web app (FastAPI, every router) loads only for `trailguard serve`
    from trailguard.app import create_app

    try:
        node = open_node(data_dir)
    except TrailguardError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    for warning in base_url_mismatch(node.config.base_url, host, port):
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
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
    # the demo loads only for `trailguard demo`
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
