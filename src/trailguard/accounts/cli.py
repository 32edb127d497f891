"""``trailguard users``: add users, issue API tokens, enrol a TOTP second factor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from trailguard.accounts import service
from trailguard.accounts.domain import Role
from trailguard.cli_support import fail
from trailguard.core.errors import TrailguardError
from trailguard.registry import open_node

app = typer.Typer(help="People on this node.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]


@app.command()
def add(
    data_dir: DataDir,
    username: Annotated[str, typer.Option(help="Login name.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[list[Role], typer.Option(help="Role; repeat for several.")],
    email: Annotated[str | None, typer.Option(help="E-mail for reminders.")] = None,
) -> None:
    """Create a user with a one-time password (printed once)."""
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            _, password = service.create_user(
                session,
                username=username,
                display_name=name,
                roles=role,
                email=email,
                now=node.clock.now(),
                actor="system:cli",
            )
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    console.print(
        f"user [bold]{username}[/bold] created; one-time password: [bold]{password}[/bold]"
    )


@app.command()
def token(
    data_dir: DataDir,
    username: Annotated[str, typer.Option(help="Whose token.")],
    label: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    days: Annotated[int, typer.Option(min=1, max=365)] = 90,
) -> None:
    """Issue an API token (printed once; only its digest is stored)."""
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            user = service.get_user(session, username)
            value = service.issue_api_token(
                session,
                user,
                name=label,
                now=node.clock.now(),
                actor="system:cli",
                lifetime=timedelta(days=days),
            )
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    typer.echo(value)


@app.command("reset-password")
def reset_password(
    data_dir: DataDir, username: Annotated[str, typer.Option(help="Whose password.")]
) -> None:
    """Give a user a new one-time password (printed once); ends all their sessions and tokens."""
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            password = service.reset_password(
                session,
                service.get_user(session, username),
                now=node.clock.now(),
                actor="system:cli",
            )
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    console.print(
        f"user [bold]{username}[/bold]: sessions and API tokens ended; "
        f"one-time password: [bold]{password}[/bold]"
    )


@app.command()
def totp(
    data_dir: DataDir, username: Annotated[str, typer.Option(help="Whose second factor.")]
) -> None:
    """Enrol (or replace) a user's TOTP second factor; prints the otpauth:// URI."""
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            uri = service.enrol_totp(
                session,
                service.get_user(session, username),
                now=node.clock.now(),
                actor="system:cli",
            )
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    typer.echo(uri)
