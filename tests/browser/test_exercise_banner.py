"""Issue 17, point 3, in Chromium: an exercise node's pages open with the EXERCISE banner,
visible and whole at 1280 and 390 px, without horizontal overflow and without serious
axe-core violations (contrast, landmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer, check_page
from helpers import TEST_PASSWORD, add_user
from trailguard.accounts.domain import Role
from trailguard.bootstrap import initialise_node
from trailguard.core.config import ExerciseSettings, NodeRole
from trailguard.registry import open_node

pytestmark = pytest.mark.browser

NETWORK = "exercise-seed-3-browser"


def test_the_banner_in_the_browser(
    tmp_path: Path, page: Any, screenshots: Path, axe_source: str
) -> None:
    url = f"sqlite:///{tmp_path / 'trainee.db'}"
    initialise_node(
        tmp_path / "trainee",
        name="NL 24/7 point of contact (training)",
        country="NL",
        roles=[NodeRole.POC],
        node_id="nl-poc",
        admin_password=TEST_PASSWORD,
        database_url=url,
        exercise=ExerciseSettings(network=NETWORK),
    )
    node = open_node(tmp_path / "trainee", database_url=url)
    user = add_user(node, [Role.DUTY_OFFICER, Role.INVESTIGATOR])
    try:
        with LiveServer(node) as server:
            page.goto(server.url + "/login")
            check_page(page, "exercise-login", screenshots, axe_source)
            page.fill("#username", user)
            page.fill("#password", TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda address: "/login" not in address)
            for path in ("/", "/requests", "/exchange", "/directory"):
                page.goto(server.url + path)
                assert page.title().startswith("EXERCISE"), path
                check_page(
                    page, "exercise" + (path.replace("/", "-") or "-"), screenshots, axe_source
                )
                for width in (1280, 390):
                    page.set_viewport_size({"width": width, "height": 900})
                    banner = page.locator(".exercise-banner")
                    assert banner.is_visible(), (path, width)
                    box = banner.bounding_box()
                    assert box is not None and box["x"] >= 0 and box["width"] <= width
                    assert "EXERCISE" in banner.inner_text()
                    assert NETWORK in banner.inner_text()
    finally:
        node.close()
