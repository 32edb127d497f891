"""Creating a node: the one place that writes a new data directory.

``initialise_node`` writes the configuration, creates the signing and encryption keys,
migrates the database, enters the node itself in its directory, and creates the first
administrator with a one-time password. It refuses to touch a directory that already holds
a node, so an existing node's keys are never overwritten."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from trailguard.accounts import Role, create_user
from trailguard.core.config import NodeConfig, NodePaths, NodeRole, save_config
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
) -> InitResult:
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
            database_url=database_url,
        )
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ValidationFailed("the node configuration is invalid", problems) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    create_identity(paths)
    save_config(data_dir, config)
    node = open_node(data_dir)
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
    return InitResult(
        node_id=config.node_id, admin_username=admin_username, admin_password=password
    )


def _register_self(session: Session, node: Node) -> None:
    """Put the node's own entry (with its public keys) in its directory; other nodes learn of
    it from the directory this node exports."""
    publish_self(session, node, actor="system:init")
