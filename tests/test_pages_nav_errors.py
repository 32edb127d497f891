"""Role-aware pages: the navigation lists only what the person's roles open, a page the role
cannot open or an unknown page answers an HTML page inside the layout, and the JSON API keeps
its JSON errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from helpers import TEST_PASSWORD, browser_login, client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.web.deps import require_roles

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _nav(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav is not None
    return re.findall(r'href="([^"]+)"', nav.group(1))


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    yield node
    node.close()


def test_navigation_lists_only_the_pages_the_roles_open(node) -> None:  # type: ignore[no-untyped-def]
    provider = browser_login(node, [Role.PROVIDER_LIAISON])
    links = _nav(provider.get("/").text)
    assert "/requests" in links and "/exchange" in links
    assert "/audit" not in links and "/admin/users" not in links
    for link in links:  # every link the page shows opens
        assert provider.get(link, headers=HTML).status_code == 200, link

    admin = browser_login(node, [Role.ADMIN])
    links = _nav(admin.get("/").text)
    assert {"/audit", "/admin/users", "/requests", "/exchange"} <= set(links)
    for link in links:
        assert admin.get(link, headers=HTML).status_code == 200, link

    investigator = browser_login(node, [Role.INVESTIGATOR])
    links = _nav(investigator.get("/").text)
    assert "/traffic/watch" in links or investigator.get("/traffic/watch").status_code == 403
    assert "/audit" not in links


def test_the_first_administrator_opens_requests_and_exchange(node) -> None:  # type: ignore[no-untyped-def]
    browser = TestClient(create_app(node))
    answer = browser.post(
        "/login", data={"username": "admin", "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303
    for path in ("/requests", "/exchange"):
        page = browser.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.text[:300])


def test_a_forbidden_page_is_an_html_page_in_the_layout(node) -> None:  # type: ignore[no-untyped-def]
    provider = browser_login(node, [Role.PROVIDER_LIAISON])
    page = provider.get("/audit", headers=HTML)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Your roles do not open this page" in page.text
    assert "What to do" in page.text and "administrator" in page.text
    assert '<nav aria-label="Main">' in page.text  # inside the layout, with the navigation
    # A plain client (no Accept: text/html) gets the page too: JSON only under the API.
    assert provider.get("/audit").headers["content-type"].startswith("text/html")


def test_an_unknown_page_is_an_html_404_with_navigation(node) -> None:  # type: ignore[no-untyped-def]
    browser = browser_login(node, [Role.DUTY_OFFICER])
    page = browser.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert "There is no such page" in page.text
    assert "/requests" in _nav(page.text)
    missing = browser.get("/requests/00000000-0000-4000-8000-000000000001", headers=HTML)
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_the_api_keeps_its_json_errors(node) -> None:  # type: ignore[no-untyped-def]
    provider = client_for(node, [Role.PROVIDER_LIAISON])
    denied = provider.get("/api/audit/entries", headers=HTML)
    assert denied.status_code == 403
    assert denied.json() == {"error": "forbidden", "detail": "this needs one of the roles: admin"}
    unknown = provider.get("/api/no-such-thing", headers=HTML)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "detail": "Not Found"}
    missing = provider.get("/api/requests/00000000-0000-4000-8000-000000000001")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    anonymous = TestClient(create_app(node)).get("/api/me", headers=HTML)
    assert anonymous.status_code == 401 and "detail" in anonymous.json()


def test_an_unexpected_failure_is_a_500_page_without_details(node) -> None:  # type: ignore[no-untyped-def]
    app = create_app(node)
    boom = APIRouter()

    @boom.get("/boom")
    def _boom(_p=require_roles(Role.DUTY_OFFICER)) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    app.include_router(boom)
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/boom", headers=HTML)
    assert page.status_code == 500
    assert "Something went wrong on this node" in page.text
    assert "secret internals" not in page.text
