"""Helpers for tests that need whole nodes: ``make_node`` and ``client_for``.

node = make_node(tmp_path, database_url, node_id="nl-poc", country="NL", roles=["poc"])
client = client_for(node, [Role.DUTY_OFFICER])        # logged in through the real API
client.get("/api/me").json()["roles"] == ["duty_officer"]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

from fastapi.testclient import TestClient

from trailguard.accounts.domain import Role
from trailguard.accounts.service import create_user
from trailguard.bootstrap import initialise_node
from trailguard.core.clock import Clock
from trailguard.core.config import NodeRole
from trailguard.node import Node
from trailguard.registry import open_node

TEST_PASSWORD = "correct horse battery staple"
_user_numbers = itertools.count(1)


def make_node(
    tmp_path: Path,
    database_url: str,
    *,
    node_id: str = "nl-poc",
    name: str | None = None,
    country: str = "NL",
    roles: Iterable[str] = ("poc",),
    base_url: str | None = None,
    timezone: str = "Europe/Amsterdam",
    clock: Clock | None = None,
) -> Node:
    data_dir = tmp_path / node_id
    initialise_node(
        data_dir,
        name=name or f"{country} node {node_id}",
        country=country,
        roles=[NodeRole(r) for r in roles],
        node_id=node_id,
        base_url=base_url or f"http://{node_id}.test",
        timezone=timezone,
        admin_password=TEST_PASSWORD,
        database_url=database_url,
        clock=clock,
    )
    return open_node(data_dir, clock=clock, database_url=database_url)


def add_user(node: Node, roles: Iterable[Role], username: str | None = None) -> str:
    username = username or f"user{next(_user_numbers)}"
    with node.db.session() as session:
        create_user(
            session,
            username=username,
            display_name=username.title(),
            roles=list(roles),
            now=node.clock.now(),
            actor="system:test",
            password=TEST_PASSWORD,
            one_time=False,
        )
    return username


def client_for(node: Node, roles: Iterable[Role], username: str | None = None) -> TestClient:
    """A TestClient holding a bearer token for a new user with ``roles``."""
    from trailguard.app import create_app

    username = add_user(node, roles, username)
    client = TestClient(create_app(node))
    answer = client.post("/api/session", json={"username": username, "password": TEST_PASSWORD})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


def browser_login(node: Node, roles: Iterable[Role], username: str | None = None) -> TestClient:
    """A TestClient logged in through the login form (cookie session + CSRF token)."""
    from trailguard.app import create_app

    username = add_user(node, roles, username)
    client = TestClient(create_app(node))
    answer = client.post(
        "/login", data={"username": username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client
