"""Helpers for network tests: an httpx transport that routes to in-process apps by host
name (and can take a host "down"), and a two-node network linked by signed directories."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import make_node
from trailguard.app import create_app
from trailguard.core.clock import FixedClock
from trailguard.network.directory_service import export_directory, import_directory
from trailguard.network.identity import node_identity
from trailguard.network.orm import ExchangeMessageRow, ExchangeReceiptRow, OutboxRow
from trailguard.network.transport import BATCH_PATH, HttpTransport
from trailguard.node import Node


def second_database_url(database_url: str, tmp_path: Path, name: str = "second") -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / (name + '.db')}"
        return
    yield from postgres_schema(os.environ["TRAILGUARD_TEST_POSTGRES_URL"])


def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema in the test PostgreSQL, dropped afterwards (like the root conftest)."""
    import sqlalchemy as sa

    from trailguard.core.db import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class Router(httpx.BaseTransport):
    """Routes each request to the TestClient of its host; hosts in ``down`` refuse."""

    def __init__(self) -> None:
        self.clients: dict[str, TestClient] = {}
        self.down: set[str] = set()
        self.lose_answers: set[str] = set()  # deliver, then drop the answer (as a timeout)
        self.no_batches: set[str] = set()  # hosts that answer 404 on the batch endpoint
        self.posts: list[str] = []
        self.paths: list[str] = []

    def add(self, node: Node) -> None:
        host = httpx.URL(node.config.base_url).host
        self.clients[host] = TestClient(create_app(node), raise_server_exceptions=True)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down or host not in self.clients:
            raise httpx.ConnectError(f"connection refused by {host}", request=request)
        self.posts.append(host)
        self.paths.append(request.url.path)
        if host in self.no_batches and request.url.path == BATCH_PATH:
            return httpx.Response(404, json={"detail": "Not Found"})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        answer = self.clients[host].request(
            request.method, request.url.raw_path.decode(), content=request.read(), headers=headers
        )
        if host in self.lose_answers:
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def link(publisher: Node, importer: Node) -> None:
    """The importer trusts the publisher's key (given out of band) and imports its directory."""
    with publisher.db.session() as session:
        document = export_directory(session, publisher, actor="system:test").to_json()
    with importer.db.session() as session:
        import_directory(
            session,
            importer,
            document,
            actor="system:test",
            publisher_key=node_identity(publisher).current.signing_key,
        )


def count(node: Node, model: Any, **where: Any) -> int:
    with node.db.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def stored(node: Node) -> dict[str, int]:
    return {
        "messages": count(node, ExchangeMessageRow),
        "receipts": count(node, ExchangeReceiptRow),
        "outbox": count(node, OutboxRow),
    }


@dataclass
class Net:
    us: Node
    nl: Node
    clock: FixedClock
    router: Router
    transport: HttpTransport
    extra: list[Node] = field(default_factory=list)

    @classmethod
    def build(cls, tmp_path: Path, us_url: str, nl_url: str, *, start: datetime) -> Net:
        clock = FixedClock(start)
        us = make_node(
            tmp_path,
            us_url,
            node_id="us-poc",
            country="US",
            roles=["poc"],
            timezone="America/New_York",
            clock=clock,
        )
        nl = make_node(
            tmp_path,
            nl_url,
            node_id="nl-poc",
            country="NL",
            roles=["poc"],
            timezone="Europe/Amsterdam",
            clock=clock,
        )
        link(us, nl)
        link(nl, us)
        router = Router()
        router.add(us)
        router.add(nl)
        transport = HttpTransport(httpx.Client(transport=router, timeout=5))
        return cls(us=us, nl=nl, clock=clock, router=router, transport=transport)

    def inbox_client(self, node: Node) -> TestClient:
        return self.router.clients[httpx.URL(node.config.base_url).host]

    def close(self) -> None:
        self.transport.close()
        for node in (self.us, self.nl, *self.extra):
            node.close()


def new_id() -> str:
    return str(uuid.uuid4())
