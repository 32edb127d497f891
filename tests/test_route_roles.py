"""Walk every route of the app: each one is either on the short public list or checks a role,
and a user holding every role except the ones it accepts gets 403 (no session: 401).

The routes come from the app's own route table (``iter_routes`` walks included routers too),
so a new route is walked the day it is added. If this test names your new route, either give
it a role check (``Depends(require_roles(...))``, or ``ANY_USER`` for a person's own account)
or, if it must be reachable without a logged-in person, add it to ``PUBLIC`` with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from helpers import client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app, iter_routes

# Reachable without a logged-in person, each for a reason.
PUBLIC = {
    ("GET", "/login"),  # the login form
    ("POST", "/login"),
    ("POST", "/api/session"),  # password -> token
    ("POST", "/exchange/v1/messages"),  # other nodes: authenticated by their signature
    ("GET", "/exchange/v1/audit/head"),  # other nodes: a signed statement, public by design
    ("GET", "/exchange/v1/audit/witnessed/{node_id}"),  # countersigned heads, likewise
    ("GET", "/verify-document"),  # anyone holding a document checks who issued it
    ("POST", "/verify-document"),
    # other nodes: the transfer id came in a signed offer; chunks must open under its key
    ("GET", "/exchange/v1/evidence/{transfer_id}"),
    ("PUT", "/exchange/v1/evidence/{transfer_id}/chunks/{index}"),
    ("POST", "/exchange/v1/evidence/{transfer_id}/complete"),
    ("POST", "/exchange/v1/batches"),  # the same, several envelopes in one post
}
# Routes that were once missed by a hand-kept walk; the walk must always include them.
ONCE_MISSED = {
    ("POST", "/exchange/v1/messages"),
    ("POST", "/exchange/v1/batches"),
    ("GET", "/directory"),
    ("GET", "/exchange"),
    ("GET", "/exchange/messages/{message_id}"),
    ("POST", "/exchange/inbox/{message_id}/ack"),
    ("POST", "/exchange/ping"),
}
# Reachable by any logged-in person whatever their role (their own account).
ANY_USER = {("POST", "/logout"), ("GET", "/account/password"), ("POST", "/account/password")}


def _required_roles(route: APIRoute) -> frozenset[Role] | None:
    found: frozenset[Role] | None = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "required_roles", None)
        if roles is not None:
            found = roles if found is None else found & roles
        stack.extend(dep.dependencies)
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", path)


def _served(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, route in iter_routes(app)
        for method in route.methods - {"HEAD", "OPTIONS"}
    }


def test_the_walk_sees_every_route_the_app_serves(tmp_path: Path) -> None:
    """The walk's list is the app's: every operation in the OpenAPI document, every route
    once missed, and the public list holds only routes that exist."""
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    app = create_app(node)
    served = _served(app)
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= served, sorted(documented - served)
    assert served >= ONCE_MISSED, sorted(ONCE_MISSED - served)
    assert served >= (PUBLIC | ANY_USER), (
        f"not routes (remove them): {(PUBLIC | ANY_USER) - served}"
    )
    node.close()


def test_every_route_checks_a_role(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    app = create_app(node)
    anonymous = TestClient(app)
    clients: dict[frozenset[Role], TestClient] = {}
    walked: set[tuple[str, str]] = set()
    unguarded = []
    for full_path, route in iter_routes(app):
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            key = (method, full_path)
            walked.add(key)
            if key in PUBLIC:
                continue
            if key in ANY_USER:
                assert anonymous.request(method, _concrete(full_path)).status_code == 401
                continue
            roles = _required_roles(route)
            if roles is None:
                unguarded.append(key)
                continue
            others = frozenset(Role) - roles
            path = _concrete(full_path)
            assert anonymous.request(method, path).status_code == 401, key
            if not others:
                continue  # open to every role: nobody lacks it
            if others not in clients:
                clients[others] = client_for(node, others)
            answer = clients[others].request(method, path)
            assert answer.status_code == 403, (
                f"{key} answered {answer.status_code} to roles {sorted(others)}"
            )
    assert not unguarded, (
        f"routes without a role check: {unguarded}. Give each one "
        "Depends(require_roles(...)) (ANY_USER for a person's own account), or, if it must "
        "be reachable without a logged-in person, add it to PUBLIC in this file with the reason."
    )
    assert walked >= ONCE_MISSED, sorted(ONCE_MISSED - walked)
    node.close()
