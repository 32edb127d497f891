"""The API tells the truth about itself (issue 11, point 11): every status an operation
answers is in the OpenAPI document, every error answer has the documented shape, the
exchange endpoints document their bodies, and a bare number is not a time.

The schemathesis run in CI (``.ci/fuzz_api.py``) explores the same ground at random; these
tests pin the cases it found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app, iter_routes
from trailguard.web.api_errors import ERROR_SCHEMA

_ID = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def app_and_node(tmp_path: Path) -> Any:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    yield create_app(node), node
    node.close()


def _concrete(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", _ID, path)


def _assert_error_shape(answer: Any, where: str) -> None:
    body = answer.json()
    assert isinstance(body, dict), where
    for key in ERROR_SCHEMA["required"]:
        assert isinstance(body.get(key), str), f"{where}: {key!r} missing in {body}"
    if "problems" in body:
        assert all(isinstance(p, str) for p in body["problems"]), where


def _operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_status_answered_without_credentials_is_documented(app_and_node: Any) -> None:
    app, _node = app_and_node
    anonymous = TestClient(app)
    undocumented = []
    for method, path, operation in _operations(app):
        if path.startswith("/exchange/v1/"):
            continue  # other nodes' endpoints: their own test below
        answer = anonymous.request(method, _concrete(path), json={} if method != "GET" else None)
        if str(answer.status_code) not in operation["responses"]:
            undocumented.append((method, path, answer.status_code))
        if answer.status_code >= 400:
            _assert_error_shape(answer, f"{method} {path}")
    assert not undocumented, undocumented


def test_every_status_answered_to_every_role_is_documented(app_and_node: Any) -> None:
    """Safe operations with an unknown id or no parameters, by a person holding every role:
    whatever they answer (200, 404, 422) is documented, errors in the documented shape."""
    app, node = app_and_node
    everyone = client_for(node, list(Role))
    undocumented = []
    for method, path, operation in _operations(app):
        if method != "GET":
            continue
        answer = everyone.get(_concrete(path))
        if str(answer.status_code) not in operation["responses"]:
            undocumented.append((method, path, answer.status_code))
        if answer.status_code >= 400:
            _assert_error_shape(answer, f"{method} {path}")
    assert not undocumented, undocumented


def test_a_refused_body_gets_the_documented_422_shape(app_and_node: Any) -> None:
    app, node = app_and_node
    admin = client_for(node, [Role.ADMIN])
    answer = admin.put(
        "/api/directory/entries/xx-poc",
        content=b"[1]",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    _assert_error_shape(answer, "PUT /api/directory/entries/{node_id}")
    assert answer.json()["error"] == "validation_failed" and answer.json()["problems"]
    documented = app.openapi()["paths"]["/api/directory/entries/{node_id}"]["put"]
    assert documented["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_a_body_that_is_not_json_is_a_documented_400(app_and_node: Any) -> None:
    app, node = app_and_node
    admin = client_for(node, [Role.ADMIN])
    answer = admin.put(
        "/api/directory/entries/xx-poc",
        content=b"\xff{",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    _assert_error_shape(answer, "PUT /api/directory/entries/{node_id}")
    assert "400" in app.openapi()["paths"]["/api/directory/entries/{node_id}"]["put"]["responses"]


@pytest.mark.parametrize("at", ["0.5", "1700000000", "2026-11-20T03:14:07", "yesterday"])
def test_a_time_that_is_not_an_iso_instant_with_offset_is_refused(
    app_and_node: Any, at: str
) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.INVESTIGATOR])
    answer = person.get("/api/directory", params={"at": at})
    assert answer.status_code == 422, answer.text
    _assert_error_shape(answer, "GET /api/directory")
    assert "at" in answer.json()["detail"]


def test_an_iso_instant_with_offset_is_read_as_given(app_and_node: Any) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.INVESTIGATOR])
    answer = person.get("/api/directory", params={"at": "2026-11-20T03:14:07.25-05:00"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["at"] == "2026-11-20T08:14:07.250000Z"


def test_the_exchange_endpoints_document_their_bodies_and_answers(app_and_node: Any) -> None:
    app, _node = app_and_node
    paths = app.openapi()["paths"]
    for path in ("/exchange/v1/messages", "/exchange/v1/batches"):
        operation = paths[path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object" and schema["required"], path
        assert {"200", "400", "413", "429"} <= set(operation["responses"]), path
    envelope = paths["/exchange/v1/messages"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert envelope["properties"]["signature"]["pattern"] == "^[A-Za-z0-9+/]{86}==$"


def test_every_route_of_the_app_is_in_the_document_or_a_page(app_and_node: Any) -> None:
    """API routes are documented; only server-rendered pages stay out of the document."""
    app, _node = app_and_node
    documented = {(m, p) for m, p, _ in _operations(app)}
    for path, route in iter_routes(app):
        for method in route.methods - {"HEAD", "OPTIONS"}:
            if path.startswith(("/api/", "/exchange/v1/")):
                assert (method, path) in documented, (method, path)


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/directory/entries/{node_id}", "DELETE, GET, PUT"),
        ("/api/requests", "GET, POST"),
        ("/api/requests/recipient", "GET"),  # spelled out: not /api/requests/{request_id}
        ("/exchange/v1/messages", "POST"),
    ],
)
def test_a_method_not_served_is_a_405_naming_every_method_of_the_path(
    app_and_node: Any, path: str, allow: str
) -> None:
    app, _node = app_and_node
    answer = TestClient(app).request("OPTIONS", path.replace("{node_id}", "xx-poc"))
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow
    _assert_error_shape(answer, f"OPTIONS {path}")
    documented = ", ".join(sorted(m.upper() for m in app.openapi()["paths"][path]))
    assert documented == allow


def test_a_batch_with_fields_it_does_not_know_is_refused(app_and_node: Any) -> None:
    app, _node = app_and_node
    answer = TestClient(app).post("/exchange/v1/batches", json={"envelopes": ["{}"], "x-extra": 42})
    assert answer.status_code == 400 and "unknown fields: x-extra" in answer.json()["detail"]
