"""``trailguard users``: add users, issue API tokens, enrol a TOTP second factor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from trailguard.accounts import service
from trailguard.accounts.domain import Role
from trailguard.cli_support import fail
from trailguard.core.errors import TrailguardError
from trailguard.node import Node
from trailguard.registry import open_node

app = typer.Typer(help="People on this node.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
# Who the accounts service records as acting for these commands.
_ACTOR = "system:cli"


@contextmanager
def _session(data_dir: Path) -> Iterator[tuple[Node, Session]]:
    """The node in ``data_dir`` and one transaction on it, for one command: a refusal inside
    the block ends the command through ``fail`` (exit 2); the node is closed afterwards.
    Opening the node is left out of that translation (unlike ``cli_support.node_for``)."""
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            yield node, session
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()


@app.command()
def add(
    data_dir: DataDir,
    username: Annotated[str, typer.Option(help="Login name.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[list[Role], typer.Option(help="Role; repeat for several.")],
    email: Annotated[str | None, typer.Option(help="E-mail for reminders.")] = None,
) -> None:
    """Create a user with a one-time password (printed once)."""
    with _session(data_dir) as (node, session):
        _, password = service.create_user(
            session,
            username=username,
            display_name=name,
            roles=role,
            email=email,
            now=node.clock.now(),
            actor=_ACTOR,
        )
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
    with _session(data_dir) as (node, session):
        value = service.issue_api_token(
            session,
            service.get_user(session, username),
            name=label,
            now=node.clock.now(),
            actor=_ACTOR,
            lifetime=timedelta(days=days),
        )
    typer.echo(value)


@app.command("reset-password")
def reset_password(
    data_dir: DataDir, username: Annotated[str, typer.Option(help="Whose password.")]
) -> None:
    """Give a user a new one-time password (printed once); ends all their sessions and tokens."""
    with _session(data_dir) as (node, session):
        password = service.reset_password(
            session, service.get_user(session, username), now=node.clock.now(), actor=_ACTOR
        )
    console.print(
        f"user [bold]{username}[/bold]: sessions and API tokens ended; "
        f"one-time password: [bold]{password}[/bold]"
    )


@app.command()
def totp(
    data_dir: DataDir, username: Annotated[str, typer.Option(help="Whose second factor.")]
) -> None:
    """Enrol (or replace) a user's TOTP second factor; prints the otpauth:// URI."""
    with _session(data_dir) as (node, session):
        uri = service.enrol_totp(
            session, service.get_user(session, username), now=node.clock.now(), actor=_ACTOR
        )
    typer.echo(uri)
