"""The law page in a browser: a duty officer asks for channels with a conduct (the EPOC penalty
threshold) and for an extradition check (the penalty threshold in both countries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role

pytestmark = pytest.mark.browser


def test_channels_with_conduct_and_extradition_check(
    tmp_path: Path, page: Any, screenshots: Path
) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'de.db'}")
    add_user(node, [Role.DUTY_OFFICER], "dora")
    with LiveServer(node) as server:
        page.goto(server.url + "/login?next=/law")
        page.fill("#username", "dora")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("form[hx-post='/law/answer']")
        page.check("input[name=kind][value=channels]")
        page.select_option("select[name=requesting]", "DE")
        page.select_option("select[name=requested]", "NL")
        page.select_option("select[name=conduct]", ["de_stgb_241"])
        page.select_option("select[name=data]", "traffic")
        page.fill("input[name=as_of]", "2026-09-01")
        page.click("form[hx-post='/law/answer'] button[type=submit]")
        page.wait_for_selector("#answer h3")
        answer = page.inner_text("#answer")
        # Regulation (EU) 2023/1543 Art. 5(4): StGB § 241 (1 year) is below the 3 years
        assert "eu_epoc: Regulation (EU) 2023/1543 Art. 5(4)" in answer
        assert "preservation_24_7" in answer
        page.screenshot(path=str(screenshots / "law-channels-conduct.png"), full_page=True)

        page.check("input[name=kind][value=check]")
        page.select_option("select[name=requesting]", "US")
        page.select_option("select[name=requested]", "DE")
        page.select_option("select[name=conduct]", ["illegal_access"])
        page.select_option("select[name=measure]", "extradition")
        page.fill("input[name=as_of]", "2025-01-01")
        page.click("form[hx-post='/law/answer'] button[type=submit]")
        page.wait_for_selector("text=Maximum penalty")
        answer = page.inner_text("#answer")
        assert "Art. 24(1)(a)" in answer and "up to 3 years" in answer
        page.screenshot(path=str(screenshots / "law-extradition.png"), full_page=True)
    node.close()


def test_channels_by_purpose_in_an_emergency(tmp_path: Path, page: Any, screenshots: Path) -> None:
    # Issue 16: US -> BR subscriber data in an emergency, purpose obtain: a disclosing channel
    # first, preservation shown as the step that keeps the trail meanwhile.
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'us.db'}")
    add_user(node, [Role.DUTY_OFFICER], "dora")
    with LiveServer(node) as server:
        page.goto(server.url + "/login?next=/law")
        page.fill("#username", "dora")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("form[hx-post='/law/answer']")
        assert "Legal data as of" in page.inner_text("main")
        page.check("input[name=kind][value=channels]")
        page.select_option("select[name=requesting]", "US")
        page.select_option("select[name=requested]", "BR")
        page.select_option("select[name=data]", "subscriber")
        page.check("input[name=emergency]")
        page.select_option("select[name=purpose]", "obtain")
        page.fill("input[name=as_of]", "2026-11-27")
        page.click("form[hx-post='/law/answer'] button[type=submit]")
        page.wait_for_selector(".meanwhile")
        answer = page.inner_text("#answer")
        assert "those that disclose first" in answer and "Meanwhile:" in answer
        first = page.inner_text("#answer ol > li:first-child code")
        assert first != "preservation_24_7"
        page.screenshot(path=str(screenshots / "law-purpose-obtain-1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(screenshots / "law-purpose-obtain-390.png"), full_page=True)
    node.close()
