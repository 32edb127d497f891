"""A person logs in with the form, lands on the dashboard, and logs out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role

pytestmark = pytest.mark.browser


def test_login_dashboard_logout(tmp_path: Path, page: Any, screenshots: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    add_user(node, [Role.DUTY_OFFICER], "dora")
    with LiveServer(node) as server:
        page.goto(server.url + "/")
        assert page.url.startswith(server.url + "/login")
        page.fill("#username", "dora")
        page.fill("#password", "wrong password!")
        page.click("button[type=submit]")
        assert "wrong password" in page.inner_text("[role=alert]")
        page.fill("#username", "dora")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Clocks, nearest first')")
        assert "Dora (duty_officer)" in page.inner_text("header")
        page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
        page.click("text=Log out")
        page.wait_for_url("**/login")
        page.goto(server.url + "/")
        assert "/login" in page.url
    node.close()
