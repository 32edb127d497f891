"""People on a node: init, login, sessions, CSRF, TOTP, tokens, lockout, one-time passwords."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from helpers import TEST_PASSWORD, add_user, browser_login, client_for, make_node
from trailguard.accounts import service
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.bootstrap import initialise_node
from trailguard.core.clock import FixedClock
from trailguard.core.config import NodeRole
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.registry import open_node


def test_init_creates_keys_config_and_one_time_admin(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "us"
    result = initialise_node(
        data,
        name="US 24/7 point of contact",
        country="US",
        roles=[NodeRole.POC],
        database_url=database_url,
    )
    assert result.node_id == "us-poc" and len(result.admin_password) >= 16
    for key_file in (data / "keys").iterdir():
        if key_file.is_file() and "private" in key_file.name:
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    node = open_node(data, database_url=database_url)
    client = TestClient(create_app(node))
    page = client.post(
        "/login",
        data={"username": "admin", "password": result.admin_password},
        follow_redirects=False,
    )
    assert page.status_code == 303 and page.headers["location"] == "/account/password"
    # Until the one-time password is changed, nothing else is reachable.
    assert client.get("/api/me").status_code == 403
    with pytest.raises(Conflict):
        initialise_node(
            data, name="again", country="US", roles=[NodeRole.POC], database_url=database_url
        )
    node.close()


def test_init_refuses_bad_country_and_zone(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        initialise_node(
            tmp_path / "x",
            name="X",
            country="Netherlands",
            roles=[NodeRole.POC],
            timezone="Mars/Olympus",
        )
    text = " ".join(info.value.problems)
    assert "country" in text and "Mars/Olympus" in text
    assert not (tmp_path / "x" / "node.toml").exists()


def test_password_login_and_bearer_tokens(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    client = client_for(node, [Role.DUTY_OFFICER], username="dora")
    me = client.get("/api/me").json()
    assert me == {"username": "dora", "display_name": "Dora", "roles": ["duty_officer"]}
    anonymous = TestClient(create_app(node))
    assert anonymous.get("/api/me").status_code == 401
    anonymous.headers["Authorization"] = "Bearer tg_forged"
    assert anonymous.get("/api/me").status_code == 401
    wrong = anonymous.post("/api/session", json={"username": "dora", "password": "nope"})
    assert wrong.status_code == 401 and "wrong password" in wrong.json()["detail"]
    node.close()


def test_cookie_sessions_need_csrf_on_unsafe_methods(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    client = browser_login(node, [Role.INVESTIGATOR])
    assert client.get("/api/me").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 403
    page = client.get("/", headers={"accept": "text/html"})
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/me").status_code == 401
    node.close()


def test_pages_redirect_to_login(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    client = TestClient(create_app(node))
    answer = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/"
    node.close()


def test_lockout_after_repeated_failures(tmp_path: Path, database_url: str) -> None:
    clock = FixedClock(
        __import__("datetime").datetime(2026, 11, 20, 8, 0, tzinfo=__import__("datetime").UTC)
    )
    node = make_node(tmp_path, database_url, clock=clock)
    add_user(node, [Role.DUTY_OFFICER], "erin")
    client = TestClient(create_app(node))
    for _ in range(service.MAX_FAILED_LOGINS):
        assert (
            client.post("/api/session", json={"username": "erin", "password": "x"}).status_code
            == 401
        )
    locked = client.post("/api/session", json={"username": "erin", "password": TEST_PASSWORD})
    assert locked.status_code == 429 and "too many failed attempts" in locked.json()["detail"]
    clock.advance(service.LOCKOUT + timedelta(seconds=1))
    assert (
        client.post(
            "/api/session", json={"username": "erin", "password": TEST_PASSWORD}
        ).status_code
        == 200
    )
    node.close()


def test_totp_second_factor(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    node.config.require_totp = True
    add_user(node, [Role.PROVIDER_LIAISON], "pat")
    client = TestClient(create_app(node))
    no_factor = client.post("/api/session", json={"username": "pat", "password": TEST_PASSWORD})
    assert no_factor.status_code == 401 and "second factor" in no_factor.json()["detail"]
    with node.db.session() as session:
        uri = service.enrol_totp(
            session, service.get_user(session, "pat"), now=node.clock.now(), actor="user:admin"
        )
    secret = pyotp.parse_uri(uri).secret
    missing = client.post("/api/session", json={"username": "pat", "password": TEST_PASSWORD})
    assert missing.status_code == 401 and "one-time code" in missing.json()["detail"]
    ok = client.post(
        "/api/session",
        json={
            "username": "pat",
            "password": TEST_PASSWORD,
            "totp": pyotp.TOTP(secret).at(node.clock.now()),
        },
    )
    assert ok.status_code == 200
    node.close()


def test_bad_user_input_is_named(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    with node.db.session() as session, pytest.raises(ValidationFailed) as info:
        service.create_user(
            session,
            username="Bad Name!",
            display_name=" ",
            roles=[],
            now=node.clock.now(),
            actor="system",
        )
    assert len(info.value.problems) == 3
    with node.db.session() as session, pytest.raises(ValidationFailed):
        service.create_user(
            session,
            username="shorty",
            display_name="S",
            roles=[Role.ADMIN],
            now=node.clock.now(),
            actor="system",
            password="short",
        )
    node.close()
