"""The directory page in a browser: who can help in a country now, and who operates an IP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role
from trailguard.network.directory import Shift
from trailguard.network.directory_service import publish_self

pytestmark = pytest.mark.browser

ALL_DAY = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "start_time": "00:00", "end_time": "00:00"}


def test_directory_search_and_prefix_lookup(tmp_path: Path, page: Any, screenshots: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}")
    roster = [
        Shift.from_json(
            {
                "person": "Noor Visser",
                "role": "primary",
                **ALL_DAY,
                "start_time": "00:00",
                "end_time": "23:59",
            },
            "roster",
        ),
        Shift.from_json(
            {
                "person": "Joost Bakker",
                "role": "backup",
                **ALL_DAY,
                "start_time": "00:00",
                "end_time": "23:59",
            },
            "roster",
        ),
    ]
    with node.db.session() as session:
        publish_self(
            session,
            node,
            actor="system:test",
            roster=roster,
            prefixes=["198.51.100.0/24", "2001:db8:100::/48"],
        )
    add_user(node, [Role.DUTY_OFFICER], "dora")
    with LiveServer(node) as server:
        page.goto(server.url + "/login?next=/directory")
        page.fill("#username", "dora")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#directory-results")
        page.fill("#country", "NL")
        page.fill("#language", "en")
        page.fill("#ip", "2001:db8:100::23")
        page.click("form.card button[type=submit]")
        page.wait_for_selector("#prefix-match")
        rows = page.inner_text("#directory-results")
        assert "nl-poc" in rows and "Noor Visser" in rows and "Joost Bakker" in rows
        assert "2001:db8:100::/48" in page.inner_text("#prefix-match")
        page.screenshot(path=str(screenshots / "directory.png"), full_page=True)
        page.fill("#country", "XX")
        page.fill("#ip", "")
        page.click("form.card button[type=submit]")
        assert "No entry matches." in page.inner_text("#directory-results")
    node.close()
