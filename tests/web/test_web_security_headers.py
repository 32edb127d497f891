"""Security headers on every answer (issue 11, point 3): walk every route of the app as an
anonymous client, an API token holder with every role and a cookie session with every role,
and check each answer, whatever its status, carries the headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from helpers import browser_login, client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app, iter_routes
from trailguard.node import Node
from trailguard.web.security import HSTS

FIXED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@pytest.fixture(autouse=True)
def _no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", path)


def _check(answer: object, what: str, *, static: bool = False) -> None:
    headers = answer.headers  # type: ignore[attr-defined]
    for name, value in FIXED.items():
        assert headers.get(name) == value, f"{what}: {name} is {headers.get(name)!r}"
    csp = headers.get("Content-Security-Policy", "")
    directives = dict(
        ([*part.strip().split(" ", 1), ""])[:2] for part in csp.split(";") if part.strip()
    )
    assert directives.get("frame-ancestors") == "'none'", what
    assert directives.get("script-src") == "'self'", what
    assert directives.get("object-src") == "'none'", what
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, what
    if static:
        assert "no-store" not in headers.get("Cache-Control", ""), what
    else:
        assert headers.get("Cache-Control") == "no-store", what
    assert "Strict-Transport-Security" not in headers, f"{what}: HSTS over plain HTTP"


def _routes(client: TestClient) -> list[tuple[str, str]]:
    app = client.app
    found = [
        (method, _concrete(path))
        for path, route in iter_routes(app)  # type: ignore[arg-type]
        for method in sorted(route.methods - {"HEAD"})
    ]
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/htmx.min.js"))
            found.append(("GET", route.path + "/trailguard.css"))
        elif isinstance(route, Route):  # the app's own: /openapi.json
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                found.append((method, _concrete(route.path)))
    return found


def test_every_route_answers_with_the_security_headers(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    anonymous = TestClient(create_app(node))
    token = client_for(node, list(Role))
    session = browser_login(node, list(Role))
    routes = _routes(anonymous)
    assert len(routes) >= 60  # the walk sees the whole app
    statuses = set()
    for method, path in routes:
        for name, client in (("anonymous", anonymous), ("token", token), ("session", session)):
            if (method, path) == ("POST", "/logout") and name == "session":
                continue  # checked last, so the session stays usable
            headers = {"X-CSRF-Token": "wrong"} if name == "session" else {}
            answer = client.request(method, path, headers=headers, follow_redirects=False)
            statuses.add(answer.status_code)
            _check(
                answer,
                f"{name} {method} {path} -> {answer.status_code}",
                static=path.startswith("/static/"),
            )
    assert {200, 401, 403, 404}.issubset(statuses)
    assert session.get("/").status_code == 200  # pages were really reached
    _check(session.post("/logout", follow_redirects=False), "session POST /logout")
    _check(anonymous.get("/no/such/page"), "unknown path")
    node.close()


def test_hsts_when_served_over_https(tmp_path: Path) -> None:
    secure = make_node(
        tmp_path, f"sqlite:///{tmp_path / 'a.db'}", node_id="nl-poc", base_url="https://nl.test"
    )
    plain = make_node(
        tmp_path, f"sqlite:///{tmp_path / 'b.db'}", node_id="us-poc", base_url="http://us.test"
    )
    answer = TestClient(create_app(secure)).get("/login")
    assert answer.headers["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in TestClient(create_app(plain)).get("/login").headers
    # behind a TLS-terminating proxy the request's own scheme counts
    over_tls = TestClient(create_app(plain), base_url="https://us.test").get("/login")
    assert over_tls.headers["Strict-Transport-Security"] == HSTS
    for node in (secure, plain):
        node.close()


def test_a_handler_crash_still_answers_with_the_headers(tmp_path: Path) -> None:
    node: Node = make_node(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    app = create_app(node)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("planted")

    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == 500
    _check(answer, "500")
    node.close()
