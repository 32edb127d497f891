"""The exercise in Chromium: the trainee opens the briefing, concludes with the form and reads
the debrief; the briefing and the debrief fit 1280 and 390 px (screenshots) and axe-core finds
no serious violation; the trainer's page lists the sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from exercise_kit import played

from browser_support import LiveServer, check_page
from trailguard.exercise.play import TRAINEE, TRAINER

pytestmark = pytest.mark.browser


def _login(page: Any, url: str, username: str, password: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_trainee_concludes_and_reads_the_debrief(
    tmp_path: Path, page: Any, screenshots: Path, axe_source: str
) -> None:
    with played(tmp_path / "exercise") as game, LiveServer(game.node) as server:
        _login(
            page, server.url, TRAINEE, game.password(TRAINEE), f"/exercise/sessions/{game.running}"
        )
        page.wait_for_selector("form[action$='/conclude']")
        assert game.scenario.hops[0].ip in page.inner_text("pre")
        check_page(page, "exercise-briefing", screenshots, axe_source)
        page.check(f"input[name=end][value={game.scenario.end}]")
        page.fill("input[name=subscriber]", game.scenario.subscriber or "")
        page.fill("input[name=country]", game.scenario.hops[-1].country)
        page.click("form[action$='/conclude'] button[type=submit]")
        page.wait_for_selector("table.exercise-axes")
        text = page.inner_text("main")
        assert "EXERCISE debrief" in text and "ETS 185 Art. 29" in text
        assert "Timeline (UTC)" in text
        check_page(page, "exercise-debrief", screenshots, axe_source)
        page.context.clear_cookies()
        _login(page, server.url, TRAINER, game.password(TRAINER), "/exercise/trainer")
        page.wait_for_selector("table.exercise-scores")
        rows = page.locator("table.exercise-scores tbody tr")
        assert rows.count() == 2
        check_page(page, "exercise-trainer", screenshots, axe_source)
