"""The other ends of a trail played in Chromium against live counterparts, as
``test_exercise_play_browser`` plays a subscriber: a trail that ends in a refusal, one that ends
in a dead end, and one whose victim evidence is mail headers (the Received: chain, the source
port read from "[ip]:port"). Each scenario is found by generating (its shape asserted from the
scenario, never written in); the trainee plays it through the pages to its end, concludes, and
the debrief says what the answer key says (the refusal's ground and article, or the dead end),
every axis above a session concluded without playing.

Real waits (for a delivery between nodes) are bounded for failure only; the simulated time is
the test's FixedClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exercise_kit import first_found
from test_exercise_play_browser import (
    Game,
    _disclosure_of,
    _login,
    _marked,
    _send_hop,
    _until,
    ready_to_play,
)

from browser_support import check_page
from trailguard.exercise import Scenario
from trailguard.exercise.domain.scenario import ACCESS_KINDS, HopKey
from trailguard.exercise.domain.scoring import AXES, AXIS_TITLES
from trailguard.exercise.play import TRAINEE

pytestmark = pytest.mark.browser


def _on_the_network(scenario: Scenario) -> bool:
    """Every hop has a counterpart node to ask: relays, then the end."""
    return all(hop.expects_request for hop in scenario.hops) and all(
        hop.outcome == "relay" for hop in scenario.hops[:-1]
    )


def _first(what: str, wanted: Callable[[Scenario], bool]) -> Scenario:
    return first_found(
        [(seed, level) for level in ("normal", "hard") for seed in range(200)],
        lambda scenario: scenario if _on_the_network(scenario) and wanted(scenario) else None,
        f"no scenario of seeds 0..199 {what}",
    )


FINDERS: dict[str, Callable[[], Scenario]] = {
    "refusal-mail": lambda: _first(
        "ends in a refusal with mail headers as evidence",
        lambda s: s.end == "refuse" and s.evidence.kind == "mail_headers",
    ),
    "dead-end": lambda: _first(
        "ends in a dead end with other evidence than mail headers",
        lambda s: s.end == "dead_end" and s.evidence.kind != "mail_headers",
    ),
    # the hotspot's line named by the access provider's own RADIUS accounting (no CGN)
    "dead-end-access-line": lambda: _first(
        "ends in a dead end at an access provider without CGN",
        lambda s: (
            s.end == "dead_end" and not s.hops[-1].cgn and s.hops[-1].provider_kind in ACCESS_KINDS
        ),
    ),
}


@pytest.fixture(params=sorted(FINDERS))
def ending(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Game]:
    with ready_to_play(tmp_path / "exercise", FINDERS[request.param]()) as ready:
        yield ready


def _answered(game: Game, hop: HopKey, request_id: str) -> dict[str, Any]:
    """The counterpart acknowledges, then executes or refuses (on the simulated clock)."""
    game.clock.advance(game.counterparts.ack_after)
    acknowledged = game.counterparts.step()
    assert any(f"{hop.node_id} acknowledges" in line for line in acknowledged), acknowledged
    game.clock.advance(game.counterparts.answer_after)
    answered = game.counterparts.step()
    verb = "refuses" if hop.outcome == "refuse" else "preserves"
    assert any(f"{hop.node_id} {verb}" in line for line in answered), answered
    state = "refused" if hop.outcome == "refuse" else "preserved"
    trainee = game.trainee_api()
    return dict(
        _until(
            f"{hop.node_id}'s answer at the trainee's node",
            lambda: (
                (view := trainee.get(f"/api/requests/{request_id}").json())["state"] == state
                and view
            ),
        )
    )


def test_the_trainee_plays_a_trail_to_its_other_end(
    ending: Game, page: Any, screenshots: Path, axe_source: str
) -> None:
    game, scenario = ending, ending.scenario
    hops = list(scenario.hops)
    relays, last = hops[:-1], hops[-1]
    assert scenario.end in ("refuse", "dead_end") and last.outcome == scenario.end
    assert relays, "the trail crosses at least one relay before its end"

    _login(page, game.url, TRAINEE, game.password(TRAINEE), f"/exercise/sessions/{game.session_id}")
    page.wait_for_selector("form[action$='/conclude']")
    _marked(page)
    assert scenario.evidence.title in page.inner_text("main")
    page.click("a#exercise-case")
    page.wait_for_selector("table.observations")
    first = hops[0]
    row = page.locator(f"table.observations tr:has(code:text-is('{first.ip}'))")
    assert row.count() == 1, page.inner_text("table.observations")
    if scenario.evidence.kind == "mail_headers":
        # the Received: line gives the source as [ip]:port: the port is read, not typed
        assert f"[{first.ip}]:{first.port}" in scenario.evidence.text
        assert str(first.port) in row.inner_text(), row.inner_text()
    check_page(page, f"exercise-end-{game.tag}-investigation", screenshots, axe_source)

    row.locator("button:has-text('Trace')").click()
    page.wait_for_selector("form[action='/traces/start']")
    page.fill("input[name=phone]", "+15555550101")
    page.fill("input[name=email]", f"trainee@{scenario.trainee_node_id}.example")
    page.fill("input[name=seeking_authority]", f"{scenario.trainee_country} prosecutor")
    page.fill("input[name=offence]", scenario.offence)
    page.fill("textarea[name=summary]", f"On {scenario.as_of.isoformat()} {scenario.facts}.")
    page.fill("input[name=offence_articles]", str(scenario.offence_article))
    page.select_option("select[name=handling_code]", scenario.handling_code)
    page.select_option("select[name=tlp]", scenario.tlp)
    if scenario.emergency:
        page.check("input[name=emergency]")
    page.click("form[action='/traces/start'] button[type=submit]")
    page.wait_for_selector("table.hops")
    _marked(page)
    trace_url = page.url

    for hop, following in zip(relays, hops[1:], strict=True):
        request_id = _send_hop(page, game, hop, f"request-hop{hop.index}", screenshots, axe_source)
        view = _answered(game, hop, request_id)
        assert view["hold_digest"], view
        _until(
            f"the Art. 30 disclosure of {following.country}'s hop",
            lambda reference=view["reference"]: _disclosure_of(game, reference),
        )
        page.goto(trace_url)
        page.wait_for_selector("table.hops")
        state = page.get_attribute(f"tr:has(code:text-is('{hop.ip}:{hop.port}'))", "data-state")
        assert state == "advanced", state
        assert f"{following.ip}:{following.port}" in page.inner_text("table.hops")

    request_id = _send_hop(page, game, last, f"request-hop{last.index}", screenshots, axe_source)
    view = _answered(game, last, request_id)
    page.goto(f"{game.url}/requests/{request_id}")
    page.wait_for_selector("h2:has-text('Actions')")
    text = page.inner_text("main")
    if scenario.end == "refuse":
        assert last.refusal_article and last.refusal_article in text, text
        assert view["state"] == "refused"
    else:
        summary = view["preserved_summary"]
        assert "no subscriber" in summary and view["hold_digest"], summary
        if last.line_holder is not None:  # the hotspot's account, from the provider's store
            assert f"line {last.line_holder}" in summary, summary
            assert "RADIUS accounting" in summary, summary
    check_page(page, f"exercise-end-{game.tag}-answer-hop{last.index}", screenshots, axe_source)
    page.goto(trace_url)
    page.wait_for_selector("table.hops")
    states = page.locator("table.hops tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    assert states[:-1] == ["advanced"] * len(relays), states
    # a refusal ends the trace there; a dead end's records are preserved (a line named by
    # an access provider's RADIUS accounting shows as the line it is)
    expected_last = {"refuse": {"dead_end"}, "dead_end": {"preserved", "subscriber"}}
    assert states[-1] in expected_last[scenario.end], states
    check_page(page, f"exercise-end-{game.tag}-trace-end", screenshots, axe_source)

    page.goto(f"{game.url}/exercise/sessions/{game.session_id}")
    page.wait_for_selector("form[action$='/conclude']")
    page.check(f"input[name=end][value={scenario.end}]")
    page.fill("input[name=country]", last.country)
    page.click("form[action$='/conclude'] button[type=submit]")
    page.wait_for_selector("table.exercise-axes")
    _marked(page)
    cells = page.locator("table.exercise-axes tbody td").all_inner_texts()
    played = dict(zip(AXES, (float(cell) for cell in cells), strict=True))
    for axis in AXES:
        assert played[axis] > game.unplayed[axis], (axis, played, game.unplayed)
        heading = page.locator(f"h2:has-text('{AXIS_TITLES[axis]}: {played[axis]:.1f}')")
        assert heading.count() == 1, axis
    text = page.inner_text("main")
    # the debrief says how the trail ended, with the answer key's words and article
    assert scenario.end_summary in text, text
    if scenario.end == "refuse":
        assert "essential interests" in text and "Art. 29(5)(b)" in text
        assert "ETS 185 Art. 29(5); mutual assistance (Art. 27) remains" in text
    else:
        assert "dead end" in text
        assert "ETS 185 Art. 30(1): the path ends at the provider" in text
    check_page(page, f"exercise-end-{game.tag}-debrief", screenshots, axe_source)
