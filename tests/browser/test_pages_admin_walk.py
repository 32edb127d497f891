"""A new node's administrator in Chromium, keyboard first: logs in, replaces the one-time
password, sees only the pages the role opens (Requests and Exchange included), adds a user
with roles and hands over the one-time password, enrols TOTP; every page at 1280 and 390 px
without horizontal overflow and without serious axe-core violations; error pages in the
layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer, check_page
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a much longer passphrase 2026"


@pytest.fixture
def axe_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def _login(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.focus("#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_first_administrator_in_the_browser(
    tmp_path: Path, axe_page: Any, screenshots: Path, axe_source: str
) -> None:
    page = axe_page
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    with LiveServer(node) as server:
        page.goto(server.url + "/login")
        check_page(page, "admin-login", screenshots, axe_source)
        _login(page, server.url, "admin", TEST_PASSWORD)
        if "/account/password" in page.url:  # the initial password is one-time
            check_page(page, "admin-password", screenshots, axe_source)
            page.fill("#old_password", TEST_PASSWORD)
            page.fill("#new_password", NEW_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(server.url + "/")
        nav = [a.get_attribute("href") for a in page.locator("nav[aria-label=Main] a").all()]
        assert {"/requests", "/exchange", "/admin/users", "/audit"} <= set(nav)
        assert "/requests/new" not in nav
        for href in nav:
            page.goto(server.url + href)
            assert page.locator("main h1").count() >= 1, href
            name = "admin-" + (href.strip("/").replace("/", "-") or "dashboard")
            check_page(page, name, screenshots, axe_source)

        # Add a user with the keyboard only.
        page.goto(server.url + "/admin/users")
        page.focus("#username")
        page.keyboard.type("dora")
        page.keyboard.press("Tab")
        page.keyboard.type("Dora Duty")
        page.keyboard.press("Tab")  # e-mail stays empty
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # the first role: duty_officer
        page.locator("form[action='/admin/users'] button[type=submit]").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("code.secret")
        assert "User dora created" in page.inner_text("main")
        assert "duty_officer" in page.inner_text("table")
        check_page(page, "admin-user-created", screenshots, axe_source)

        page.goto(server.url + "/admin/users/dora")
        page.click("text=Enrol the TOTP second factor")
        page.wait_for_selector(".qr img")
        assert "otpauth://totp/" in page.content()
        check_page(page, "admin-totp", screenshots, axe_source)

        page.goto(server.url + "/no/such/page")
        assert "There is no such page" in page.inner_text("main")
        check_page(page, "error-404", screenshots, axe_source)
    node.close()


def test_forbidden_page_in_the_layout(
    tmp_path: Path, axe_page: Any, screenshots: Path, axe_source: str
) -> None:
    page = axe_page
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    add_user(node, [Role.PROVIDER_LIAISON], "pim")
    with LiveServer(node) as server:
        _login(page, server.url, "pim", TEST_PASSWORD)
        nav = [a.get_attribute("href") for a in page.locator("nav[aria-label=Main] a").all()]
        assert "/audit" not in nav and "/admin/users" not in nav
        answer = page.goto(server.url + "/audit")
        assert answer is not None and answer.status == 403
        text = page.inner_text("main")
        assert "Your roles do not open this page" in text and "administrator" in text
        check_page(page, "error-403", screenshots, axe_source)
    node.close()


def test_the_checks_catch_what_they_look_for(
    axe_page: Any, screenshots: Path, axe_source: str
) -> None:
    """The checks can fail: an unlabelled field is a serious axe violation, a wide <pre>
    overflows at 390 px."""
    from browser_support import serious_axe_violations

    page = axe_page
    page.set_content(
        "<!doctype html><html lang='en'><head><title>t</title></head><body><main>"
        "<input type='text'><pre>" + "A" * 3000 + "</pre></main></body></html>"
    )
    assert any(v.startswith("label") for v in serious_axe_violations(page, axe_source))
    with pytest.raises(AssertionError, match="overflows at 1280 px"):
        check_page(page, "planted-problems", screenshots, None)
