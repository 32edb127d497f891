"""Logins as an attacker tries them (issue 11, point 7): limits per account name and per
source answered with 429; one answer (and one argon2 check) for unknown names, wrong
passwords and wrong TOTP codes; a TOTP code works once; a password change or reset ends the
user's other sessions and tokens; ``require_totp`` and one-time passwords stop tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers import TEST_PASSWORD, add_user, browser_login, make_node
from trailguard.accounts import service
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.core.clock import FixedClock
from trailguard.core.config import NodeConfig
from trailguard.core.errors import PermissionDenied

START = datetime(2026, 11, 20, 8, 0, 7, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def node(tmp_path: Path, database_url: str, clock: FixedClock) -> Any:
    node = make_node(tmp_path, database_url, clock=clock)
    try:
        yield node
    finally:
        node.close()


def _login(client: TestClient, username: str, password: str, totp: str | None = None) -> Any:
    body = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    return client.post("/api/session", json=body)


def _enrol(node: Any, username: str) -> pyotp.TOTP:
    with node.db.session() as session:
        uri = service.enrol_totp(
            session, service.get_user(session, username), now=node.clock.now(), actor="system"
        )
    return pyotp.TOTP(pyotp.parse_uri(uri).secret)


def test_one_answer_and_one_argon2_check_for_unknown_names_and_wrong_passwords(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(node, [Role.DUTY_OFFICER], "erin")
    add_user(node, [Role.DUTY_OFFICER], "tia")
    totp = _enrol(node, "tia")
    client = TestClient(create_app(node))
    calls: list[str] = []
    real = service._hasher

    class Counting:
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(service, "_hasher", Counting())
    unknown = _login(client, "nobody", "whatever-password")
    assert len(calls) == 1  # the unknown name cost one argon2 verify, like a real check
    wrong = _login(client, "erin", "whatever-password")
    assert len(calls) == 2
    bad_code = _login(client, "tia", TEST_PASSWORD, "000000" if totp.now() != "000000" else "1")
    no_code = _login(client, "tia", TEST_PASSWORD)
    answers = [unknown, wrong, bad_code, no_code]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["detail"] for a in answers} == {service.GENERIC_FAILURE}
    # the form says the same
    form = TestClient(create_app(node))
    pages = [
        form.post("/login", data={"username": "nobody", "password": "x"}),
        form.post("/login", data={"username": "erin", "password": "x"}),
    ]
    assert all(p.status_code == 401 and service.GENERIC_FAILURE in p.text for p in pages)


def test_account_limit_answers_429_for_real_and_unknown_names(node: Any, clock: FixedClock) -> None:
    add_user(node, [Role.DUTY_OFFICER], "erin")
    node.config.login_source_max_failures = 1000  # only the account limit here
    client = TestClient(create_app(node))
    for name in ("erin", "ghost"):
        for _ in range(node.config.login_max_failures):
            assert _login(client, name, "wrong password!").status_code == 401
    locked = _login(client, "erin", TEST_PASSWORD)  # even the right password waits
    ghost = _login(client, "ghost", TEST_PASSWORD)
    assert locked.status_code == ghost.status_code == 429
    assert locked.json()["detail"] == ghost.json()["detail"]  # nothing tells them apart
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    page = TestClient(create_app(node)).post(
        "/login", data={"username": "erin", "password": TEST_PASSWORD}
    )
    assert page.status_code == 429 and "too many failed attempts" in page.text
    assert _login(client, "other", "wrong password!").status_code == 401  # others unaffected
    clock.advance(timedelta(minutes=node.config.login_window_minutes, seconds=1))
    assert _login(client, "erin", TEST_PASSWORD).status_code == 200
    # a success clears the name's count: four more failures do not lock it
    for _ in range(node.config.login_max_failures - 1):
        assert _login(client, "erin", "wrong password!").status_code == 401
    assert _login(client, "erin", TEST_PASSWORD).status_code == 200


def test_source_limit_answers_429_across_names(node: Any, clock: FixedClock) -> None:
    add_user(node, [Role.DUTY_OFFICER], "erin")
    node.config.login_source_max_failures = 4
    client = TestClient(create_app(node))  # every request from the test client's address
    for number in range(4):
        assert _login(client, f"guess{number}", "wrong password!").status_code == 401
    blocked = _login(client, "erin", TEST_PASSWORD)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    clock.advance(timedelta(minutes=node.config.login_window_minutes, seconds=1))
    assert _login(client, "erin", TEST_PASSWORD).status_code == 200
    from sqlalchemy import func, select

    from trailguard.accounts.orm import LoginFailureRow

    with node.db.session() as session:  # failures past the window are gone, not kept forever
        assert session.scalar(select(func.count()).select_from(LoginFailureRow)) == 0


def test_login_limits_come_from_node_toml() -> None:
    config = NodeConfig.model_validate(
        {
            "node_id": "nl-poc",
            "name": "NL",
            "country": "NL",
            "roles": ["poc"],
            "login_max_failures": 3,
            "login_source_max_failures": 50,
            "login_window_minutes": 30,
        }
    )
    limits = service.LoginLimits.of(config)
    assert (limits.max_failures, limits.source_max_failures) == (3, 50)
    assert limits.window == timedelta(minutes=30)
    with pytest.raises(ValueError):
        NodeConfig.model_validate(
            {
                "node_id": "nl-poc",
                "name": "NL",
                "country": "NL",
                "roles": ["poc"],
                "login_max_failures": 0,
            }
        )


def test_failed_totp_codes_count_toward_the_lockout(node: Any) -> None:
    add_user(node, [Role.DUTY_OFFICER], "tia")
    totp = _enrol(node, "tia")
    node.config.login_source_max_failures = 1000
    client = TestClient(create_app(node))
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(node.config.login_max_failures):
        answer = _login(client, "tia", TEST_PASSWORD, wrong)
        assert answer.status_code == 401 and answer.json()["detail"] == service.GENERIC_FAILURE
    good = totp.at(node.clock.now())
    assert _login(client, "tia", TEST_PASSWORD, good).status_code == 429


def test_a_totp_code_works_once(node: Any, clock: FixedClock) -> None:
    add_user(node, [Role.DUTY_OFFICER], "tia")
    totp = _enrol(node, "tia")
    client = TestClient(create_app(node))
    code = totp.at(clock.now())
    assert _login(client, "tia", TEST_PASSWORD, code).status_code == 200
    replay = _login(client, "tia", TEST_PASSWORD, code)
    assert replay.status_code == 401 and replay.json()["detail"] == service.GENERIC_FAILURE
    # the previous step's code (still inside the drift window) is older: refused too
    older = totp.at(clock.now() - timedelta(seconds=30))
    if older != code:
        assert _login(client, "tia", TEST_PASSWORD, older).status_code == 401
    clock.advance(timedelta(seconds=30))
    assert _login(client, "tia", TEST_PASSWORD, totp.at(clock.now())).status_code == 200


def test_a_password_change_ends_other_sessions_and_tokens(node: Any) -> None:
    add_user(node, [Role.DUTY_OFFICER], "erin")
    app = create_app(node)
    here = TestClient(app)
    assert (
        here.post(
            "/login", data={"username": "erin", "password": TEST_PASSWORD}, follow_redirects=False
        ).status_code
        == 303
    )
    there = TestClient(app)
    assert (
        there.post(
            "/login", data={"username": "erin", "password": TEST_PASSWORD}, follow_redirects=False
        ).status_code
        == 303
    )
    token = _login(TestClient(app), "erin", TEST_PASSWORD).json()["token"]
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/me").status_code == 200 and there.get("/api/me").status_code == 200

    form = here.get("/account/password").text
    csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    changed = here.post(
        "/account/password",
        data={
            "old_password": TEST_PASSWORD,
            "new_password": "a much better passphrase",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert here.get("/api/me").status_code == 200  # the session that changed it stays
    assert there.get("/api/me").status_code == 401  # every other one ended
    assert api.get("/api/me").status_code == 401  # and every token


def test_a_reset_ends_every_session_and_token(node: Any, tmp_path: Path) -> None:
    from trailguard.cli import _ensure_registered
    from trailguard.cli import app as cli_app

    _ensure_registered()

    add_user(node, [Role.DUTY_OFFICER], "erin")
    session_client = browser_login(node, [Role.INVESTIGATOR], "ivan")
    token = _login(TestClient(create_app(node)), "erin", TEST_PASSWORD).json()["token"]
    api = TestClient(create_app(node), headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/me").status_code == 200
    with node.db.session() as session:
        password = service.reset_password(
            session, service.get_user(session, "erin"), now=node.clock.now(), actor="user:admin"
        )
    assert api.get("/api/me").status_code == 401
    # a one-time password gets no token, by the API or by the service
    refused = _login(TestClient(create_app(node)), "erin", password)
    assert refused.status_code == 401 and "one-time password" in refused.json()["detail"]
    with node.db.session() as session, pytest.raises(PermissionDenied, match="one-time"):
        service.issue_api_token(
            session,
            service.get_user(session, "erin"),
            name="x",
            now=node.clock.now(),
            actor="system",
        )
    assert session_client.get("/api/me").status_code == 200
    result = CliRunner().invoke(
        cli_app,
        ["users", "reset-password", "--data-dir", str(node.paths.data_dir), "--username", "ivan"],
        env={"TRAILGUARD_DATABASE_URL": str(node.db.engine.url.render_as_string(False))},
    )
    assert result.exit_code == 0, result.output
    assert "one-time password" in result.output
    assert session_client.get("/api/me").status_code == 401


def test_require_totp_stops_tokens_of_users_without_totp(node: Any) -> None:
    add_user(node, [Role.DUTY_OFFICER], "erin")
    token = _login(TestClient(create_app(node)), "erin", TEST_PASSWORD).json()["token"]
    cookie = browser_login(node, [Role.DUTY_OFFICER], "dora")
    api = TestClient(create_app(node), headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/me").status_code == 200
    node.config.require_totp = True
    stopped = api.get("/api/me")
    assert stopped.status_code == 401 and "second factor" in stopped.json()["detail"]
    assert cookie.get("/api/me").status_code == 401
    _enrol(node, "erin")
    assert api.get("/api/me").status_code == 200
