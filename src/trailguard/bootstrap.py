"""Creating a node: the one place that writes a new data directory.

``initialise_node`` writes the configuration, creates the signing and encryption keys,
migrates the database, enters the node itself in its directory, and creates the first
administrator with a one-time password. It refuses to touch a directory that already holds
a node, so an existing node's keys are never overwritten."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from trailguard.accounts import Role, create_user
from trailguard.core.clock import Clock, default_clock
from trailguard.core.config import (
    ExerciseSettings,
    NodeConfig,
    NodePaths,
    NodeRole,
    config_problems,
    save_config,
)
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.network import create_identity, publish_self
from trailguard.node import Node
from trailguard.registry import open_node

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class InitResult:
    node_id: str
    admin_username: str
    admin_password: str


def default_node_id(country: str, roles: list[NodeRole]) -> str:
    return f"{country.lower()}-{roles[0].value}"


def initialise_node(
    data_dir: Path,
    *,
    name: str,
    country: str,
    roles: list[NodeRole],
    node_id: str | None = None,
    base_url: str = "http://127.0.0.1:8000",
    timezone: str = "UTC",
    admin_username: str = "admin",
    admin_password: str | None = None,
    database_url: str | None = None,
    languages: list[str] | None = None,
    clock: Clock | None = None,
    exercise: ExerciseSettings | None = None,
) -> InitResult:
    """Create a node in ``data_dir``. ``clock`` dates the first keys and records (the node's
    own clock by default): a node made under a test clock has keys valid from that clock's
    time, not from the wall clock's. ``exercise`` makes a training node (issue 17): its
    ``[exercise]`` table is written to ``node.toml`` before anything else, so its keys, its
    directory and its own entry belong to the exercise network from the first moment."""
    paths = NodePaths(data_dir)
    if paths.config.exists():
        raise Conflict(
            f"{data_dir} already holds a node ({paths.config.name}); refusing to overwrite it"
        )
    try:
        config = NodeConfig(
            node_id=node_id or default_node_id(country, roles),
            name=name,
            country=country,
            roles=roles,
            base_url=base_url.rstrip("/"),
            timezone=timezone,
            languages=languages or ["en"],
            # the database named by the environment at init is the node's database from now on:
            # a later command run without that variable must not open an empty SQLite file
            database_url=database_url or os.environ.get("TRAILGUARD_DATABASE_URL") or None,
            exercise=exercise,
        )
    except ValidationError as exc:
        problems = config_problems(exc)
        raise ValidationFailed(
            "the node's settings are invalid: " + "; ".join(problems), problems
        ) from exc
    existed = data_dir.exists()
    before = set(data_dir.iterdir()) if existed and data_dir.is_dir() else set()
    try:
        check_database(config.database_url)
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        clock = clock or default_clock()
        create_identity(paths, now=clock.now())
        save_config(data_dir, config)
        node = open_node(data_dir, clock=clock)
        try:
            with node.db.session() as session:
                _register_self(session, node)
                _, password = create_user(
                    session,
                    username=admin_username,
                    display_name="Node administrator",
                    roles=[Role.ADMIN],
                    now=node.clock.now(),
                    actor="system:init",
                    password=admin_password,
                    one_time=admin_password is None,
                )
        finally:
            node.close()
    except BaseException:
        # nothing half-made is left behind: a later `init` starts from a clean slate
        _undo(data_dir, existed, before)
        raise
    return InitResult(
        node_id=config.node_id, admin_username=admin_username, admin_password=password
    )


def check_database(url: str | None) -> None:
    """Refuse, with the reason, a database the node cannot reach (before anything is written).
    SQLite files are made by the node itself and need no check."""
    if not url or url.startswith("sqlite"):
        return
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValidationFailed(
            f"database_url is not a database URL: {exc}",
            ["database_url: e.g. postgresql://user@host:5432/dbname"],
        ) from exc
    shown = parsed.render_as_string(hide_password=True)
    connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    engine = create_engine(parsed, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ValidationFailed(
            f"cannot reach the database {shown}: {reason}",
            [f"database_url: create the database or correct the URL ({reason})"],
        ) from exc
    finally:
        engine.dispose()


def _undo(data_dir: Path, existed: bool, before: set[Path]) -> None:
    if not data_dir.exists():
        return
    if not existed:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for path in data_dir.iterdir():
        if path not in before:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _register_self(session: Session, node: Node) -> None:
    """Put the node's own entry (with its public keys) in its directory; other nodes learn of
    it from the directory this node exports."""
    publish_self(session, node, actor="system:init")
