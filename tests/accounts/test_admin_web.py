"""An administrator does an administrator's work in the browser: users, roles, one-time
passwords and TOTP enrolment, each audited, each needing the admin role and the CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from helpers import browser_login, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.audit import service as audit_service


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _login(node, username: str, password: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(node))
    answer = client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    yield node
    node.close()


def _actions(node) -> list[str]:  # type: ignore[no-untyped-def]
    with node.db.session() as session:
        return [entry.action for entry in audit_service.recent(session, limit=100)]


def test_admin_adds_a_user_who_logs_in_with_the_one_time_password(node) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login(node, [Role.ADMIN], "ada")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "ada" in page.text
    token = _token(page.text)
    form = {
        "username": "dora",
        "display_name": "Dora Duty",
        "roles": ["duty_officer", "investigator"],
        "csrf_token": token,
    }
    forged = admin.post("/admin/users", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert forged.status_code == 403
    made = admin.post("/admin/users", data=form)
    assert made.status_code == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', made.text)
    assert password is not None
    assert "user.created" in _actions(node)
    dora = _login(node, "dora", password.group(1))
    first = dora.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert first.headers["location"] == "/account/password"
    again = admin.get("/admin/users")
    assert password.group(1) not in again.text  # shown once only


def test_bad_user_input_is_shown_and_nothing_is_created(node) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login(node, [Role.ADMIN], "ada")
    token = _token(admin.get("/admin/users").text)
    bad = admin.post(
        "/admin/users",
        data={"username": "Bad Name", "display_name": "", "roles": ["wizard"], "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "unknown role(s): wizard" in bad.text
    none = admin.post(
        "/admin/users",
        data={"username": "bad name", "display_name": "", "csrf_token": token},
    )
    assert none.status_code == 422 and "username" in none.text and "roles" in none.text
    assert "bad name" not in admin.get("/admin/users").text.split("Add a user")[0]


def test_roles_change_and_the_last_admin_keeps_the_role(node) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login(node, [Role.ADMIN], "ada")
    browser_login(node, [Role.INVESTIGATOR], "ivan")
    token = _token(admin.get("/admin/users/ivan").text)
    done = admin.post(
        "/admin/users/ivan/roles",
        data={"roles": ["investigator", "duty_officer"], "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "duty_officer, investigator" in admin.get("/admin/users/ivan").text
    assert "user.roles_changed" in _actions(node)
    # The initial "admin" and "ada" are admins: ada may drop hers, then "admin" is the last.
    admin.post("/admin/users/ada/roles", data={"roles": ["investigator"], "csrf_token": token})
    ada = browser_login(node, [Role.ADMIN], "ada2")
    token = _token(ada.get("/admin/users").text)
    last = ada.post("/admin/users/ada2/roles", data={"roles": ["admin"], "csrf_token": token})
    assert last.status_code in (200, 303)
    refused = ada.post("/admin/users/admin/roles", data={"roles": [], "csrf_token": token})
    assert refused.status_code == 422 and "at least one role" in refused.text


def test_last_admin_cannot_lose_the_admin_role(node) -> None:  # type: ignore[no-untyped-def]
    from helpers import TEST_PASSWORD

    admin = _login(node, "admin", TEST_PASSWORD)
    token = _token(admin.get("/admin/users").text)
    refused = admin.post(
        "/admin/users/admin/roles", data={"roles": ["investigator"], "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "last administrator" in refused.text
    assert "admin" in admin.get("/admin/users/admin").text


def test_reset_password_and_totp_enrolment(node) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login(node, [Role.ADMIN], "ada")
    browser_login(node, [Role.PROVIDER_LIAISON], "pia")
    token = _token(admin.get("/admin/users/pia").text)
    reset = admin.post("/admin/users/pia/password", data={"csrf_token": token})
    assert reset.status_code == 200
    password = re.search(r'<code class="secret">([^<]+)</code>', reset.text)
    assert password is not None
    _login(node, "pia", password.group(1))
    enrolled = admin.post("/admin/users/pia/totp", data={"csrf_token": token})
    assert enrolled.status_code == 200
    assert 'src="data:image/svg+xml;base64,' in enrolled.text and 'alt="QR code' in enrolled.text
    uri = re.search(r"(otpauth://totp/[^<\s]+)", enrolled.text)
    assert uri is not None
    secret = pyotp.parse_uri(uri.group(1).replace("&amp;", "&")).secret
    assert secret in enrolled.text
    actions = _actions(node)
    assert "user.password_reset" in actions and "user.totp_enrolled" in actions
    # The enrolled code is now needed at login.
    client = TestClient(create_app(node))
    answer = client.post("/login", data={"username": "pia", "password": password.group(1)})
    assert answer.status_code == 401
    code = pyotp.TOTP(secret).at(node.clock.now())
    answer = client.post(
        "/login",
        data={"username": "pia", "password": password.group(1), "totp": code},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_administration_needs_the_admin_role(node) -> None:  # type: ignore[no-untyped-def]
    duty = browser_login(node, [Role.DUTY_OFFICER, Role.CENTRAL_AUTHORITY])
    assert duty.get("/admin/users").status_code == 403
    token = _token(duty.get("/").text)
    denied = duty.post(
        "/admin/users/admin/password", data={"csrf_token": token}, follow_redirects=False
    )
    assert denied.status_code == 403
    assert "user.password_reset" not in _actions(node)
