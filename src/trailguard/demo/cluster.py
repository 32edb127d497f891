"""A small network of real nodes on loopback: each with its own data directory and SQLite
database, served by uvicorn on its own port, with its own outbox worker, reached only
through HTTP (people through the JSON API, nodes through the exchange endpoint)."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from trailguard.accounts import Role, create_user
from trailguard.app import create_app
from trailguard.bootstrap import initialise_node
from trailguard.core.config import NodeRole
from trailguard.network import start_delivery_worker
from trailguard.network.directory_service import export_directory, import_directory, publish_self
from trailguard.network.identity import node_identity
from trailguard.node import Node
from trailguard.registry import open_node


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    name: str
    country: str
    roles: tuple[NodeRole, ...]
    timezone: str
    languages: tuple[str, ...] = ("en",)
    prefixes: tuple[str, ...] = ()
    people: tuple[tuple[str, str, tuple[Role, ...]], ...] = ()  # username, name, roles
    phone: str | None = None
    email: str | None = None


@dataclass
class Person:
    username: str
    display_name: str
    password: str
    roles: tuple[Role, ...]
    client: httpx.Client | None = None


@dataclass
class DemoNode:
    spec: NodeSpec
    node: Node
    port: int
    people: dict[str, Person] = field(default_factory=dict)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    worker: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def as_user(self, username: str) -> httpx.Client:
        person = self.people[username]
        if person.client is None:
            client = httpx.Client(base_url=self.url, timeout=30)
            answer = client.post(
                "/api/session", json={"username": username, "password": person.password}
            )
            answer.raise_for_status()
            client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
            person.client = client
        return person.client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoCluster:
    ACTOR = "system:demo"  # how the audit log names the cluster's own setting-up

    def __init__(self, root: Path, specs: list[NodeSpec]) -> None:
        self.root = root
        self.specs = specs
        self.nodes: dict[str, DemoNode] = {}

    def __getitem__(self, node_id: str) -> DemoNode:
        return self.nodes[node_id]

    def create(self) -> None:
        for spec in self.specs:
            port = free_port()
            data_dir = self.root / spec.node_id
            initialise_node(
                data_dir,
                name=spec.name,
                country=spec.country,
                roles=list(spec.roles),
                node_id=spec.node_id,
                base_url=f"http://127.0.0.1:{port}",
                timezone=spec.timezone,
                languages=list(spec.languages),
            )
            self.configure(data_dir)
            node = open_node(data_dir)
            demo_node = DemoNode(spec=spec, node=node, port=port)
            with node.db.session() as session:
                for username, display_name, roles in spec.people:
                    password = secrets.token_urlsafe(12)
                    create_user(
                        session,
                        username=username,
                        display_name=display_name,
                        roles=list(roles),
                        now=node.clock.now(),
                        actor=self.ACTOR,
                        password=password,
                        one_time=False,
                    )
                    demo_node.people[username] = Person(username, display_name, password, roles)
                publish_self(
                    session,
                    node,
                    actor=self.ACTOR,
                    prefixes=list(spec.prefixes),
                    phone=spec.phone,
                    email=spec.email,
                )
            self.nodes[spec.node_id] = demo_node

    def configure(self, data_dir: Path) -> None:
        """A hook between a node's creation and its first opening (a subclass adds settings to
        its node.toml); the demo's nodes need none."""

    def exchange_directories(self) -> int:
        """Every node imports every other node's signed directory, trusting the publisher's
        signing key as handed over out of band (here: read from the publisher's keys)."""

        imported = 0
        documents = {}
        for node_id, demo_node in self.nodes.items():
            with demo_node.node.db.session() as session:
                documents[node_id] = export_directory(
                    session, demo_node.node, actor=self.ACTOR
                ).to_json()
        for node_id, demo_node in self.nodes.items():
            for publisher, document in documents.items():
                if publisher == node_id:
                    continue
                key = node_identity(self.nodes[publisher].node).current.signing_key
                with demo_node.node.db.session() as session:
                    report = import_directory(
                        session, demo_node.node, document, actor=self.ACTOR, publisher_key=key
                    )
                imported += len(report.imported)
        return imported

    def start(self) -> None:
        for demo_node in self.nodes.values():
            config = uvicorn.Config(
                create_app(demo_node.node),
                host="127.0.0.1",
                port=demo_node.port,
                log_level="warning",
                timeout_keep_alive=60,  # a busy run reuses idle connections (benchmarks)
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, daemon=True, name=f"demo-{demo_node.spec.node_id}"
            )
            thread.start()
            demo_node.server, demo_node.thread = server, thread
        deadline = time.monotonic() + 30
        for demo_node in self.nodes.values():
            assert demo_node.server is not None
            while not demo_node.server.started:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{demo_node.spec.node_id} did not start")
                time.sleep(0.05)
            demo_node.worker = start_delivery_worker(demo_node.node, interval=0.2)

    def stop(self) -> None:
        for demo_node in self.nodes.values():
            if demo_node.worker is not None:
                demo_node.worker.stop()
            for person in demo_node.people.values():
                if person.client is not None:
                    person.client.close()
            if demo_node.server is not None:
                demo_node.server.should_exit = True
        for demo_node in self.nodes.values():
            if demo_node.thread is not None:
                demo_node.thread.join(timeout=10)
            demo_node.node.close()


def wait_for(predicate: Any, *, timeout: float = 60.0, what: str) -> Any:
    """Poll until ``predicate()`` returns something truthy; the workers deliver meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out waiting for {what}")
        time.sleep(0.1)


class StepFailed(Exception):
    """An expectation of the scenario did not hold."""
