"""In a real browser: the dashboard and the requests page list requests by nearest deadline
with their clocks, and the drafting form names missing elements as you type (htmx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from req_kit import START, know_peer, principal
from req_payloads import payload

from browser_support import LiveServer
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role
from trailguard.core.clock import FixedClock
from trailguard.requests import service

pytestmark = pytest.mark.browser


def test_requests_by_nearest_deadline_and_inline_validation(
    tmp_path: Path,
    page: Any,
    screenshots: Path,
) -> None:
    node = make_node(
        tmp_path,
        f"sqlite:///{tmp_path / 'us.db'}",
        node_id="us-poc",
        country="US",
        timezone="America/New_York",
        clock=FixedClock(START),
    )
    add_user(node, [Role.DUTY_OFFICER], "dora")
    know_peer(node)
    ivy = principal("ivy", Role.INVESTIGATOR)
    late = service.draft_request(
        node,
        ivy,
        payload("preservation", reference="US-LATE"),
        recipient="nl-poc",
        retention_days={"flow": 90},
    )
    soon = service.draft_request(
        node,
        ivy,
        payload("preservation", reference="US-SOON"),
        recipient="nl-poc",
        retention_days={"flow": 30},
    )
    with LiveServer(node) as server:
        page.goto(server.url + "/login")
        page.fill("#username", "dora")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(server.url + "/")
        body = page.inner_text("main")
        assert "US-SOON" in body and "US-LATE" in body
        assert body.index("US-SOON") < body.index("US-LATE")  # nearest deadline first
        page.screenshot(path=str(screenshots / "dashboard-requests.png"), full_page=True)

        page.goto(server.url + "/requests")
        rows = page.locator("table.requests tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).get_attribute("data-request") == soon.id
        assert rows.nth(1).get_attribute("data-request") == late.id
        assert "flow records deleted by retention (30 days)" in rows.nth(0).inner_text()
        page.screenshot(path=str(screenshots / "requests-by-deadline.png"), full_page=True)

        page.goto(server.url + "/requests/new?kind=preservation")
        page.click("summary:has-text('Advanced')")  # the JSON view, behind the form
        page.wait_for_selector("#problems li")
        assert "seeking_authority" in page.inner_text("#problems")
        page.fill("#body", '{"kind": "preservation", "offence": "x"}')
        page.locator("#body").press("End")
        # locator waits: a string predicate needs eval, which the page's CSP refuses
        expect(page.locator("#problems")).to_contain_text("missing: custodian")
        expect(page.locator("#problems")).not_to_contain_text("ip_endpoint")
        problems = page.inner_text("#problems")
        assert "Art. 29(2)(d)" in problems
        assert "missing: offence (" not in problems  # given, so no longer named
        page.screenshot(path=str(screenshots / "requests-draft-validation.png"), full_page=True)

        page.goto(server.url + f"/requests/{soon.id}")
        assert "Clocks" in page.inner_text("main")
        assert "Timeline" in page.inner_text("main")
        page.screenshot(path=str(screenshots / "request-page.png"), full_page=True)
    node.close()
