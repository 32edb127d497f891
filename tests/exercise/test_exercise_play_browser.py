"""The whole exercise played in Chromium against live counterparts: the trainee's node and the
counterparts' nodes served on loopback (their own servers and delivery workers), the simulated
duty officers and the trainee's shift supervisor stepped by the test on a clock that moves only
when the test says. The trainee goes from the briefing to the pre-opened investigation, starts
the trace from the victim's evidence, sends the request of each hop once the supervisor has
approved it, follows the Art. 30 disclosures to the end, concludes and reads the debrief: every
axis scored with its explanations, each above a session concluded without playing. One of the
scenarios (found by generating) ends at an access provider's line without CGN: its subscriber
is named from the provider's own RADIUS accounting and the trace shows the hop as the
subscriber's.

Real waits (for a delivery between nodes) are bounded for failure only; the simulated time is
the test's FixedClock, and nothing is asserted about time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from exercise_kit import first_found, principal, stocked, wait_for

from browser_support import check_page
from trailguard.core.clock import FixedClock
from trailguard.exercise import Scenario, generate
from trailguard.exercise.domain.scenario import ACCESS_KINDS, HopKey
from trailguard.exercise.domain.scoring import AXES, AXIS_TITLES
from trailguard.exercise.play import DUTY, TRAINEE, TRAINER, Counterparts, ExerciseCluster
from trailguard.exercise.service import conclude, open_case, open_session, score_session
from trailguard.law import get_engine

pytestmark = pytest.mark.browser

# two relays or one, web log or flow evidence, an emergency and a CGN address or neither, a
# point of contact that forwards to the provider's node (16 normal: both hops) or not: each
# scenario's shape is asserted from the scenario itself in the test
SCENARIOS = [(3, "normal"), (12, "hard"), (16, "normal")]
ACCESS_LINE = "access-line"  # the first normal scenario ending at an access line without CGN


def _ends_at_an_access_line(scenario: Scenario) -> Scenario | None:
    last = scenario.hops[-1]
    if (
        scenario.end == "subscriber"
        and all(hop.expects_request for hop in scenario.hops)
        and last.provider_kind in ACCESS_KINDS
        and not last.cgn
    ):
        return scenario
    return None


def _scenario(param: tuple[int, str] | str) -> Scenario:
    if isinstance(param, tuple):
        return generate(*param, get_engine())
    return first_found(
        [(seed, "normal") for seed in range(200)],
        _ends_at_an_access_line,
        "no normal scenario of seeds 0..199 ends at an access line",
    )


@dataclass
class Game:
    cluster: ExerciseCluster
    counterparts: Counterparts
    scenario: Scenario
    clock: FixedClock
    session_id: str
    unplayed: dict[str, float]  # the axes of a session concluded without playing

    @property
    def tag(self) -> str:  # screenshots' names
        return f"seed{self.scenario.seed}-{self.scenario.difficulty.value}"

    @property
    def url(self) -> str:
        return self.cluster.trainee.url

    def password(self, username: str) -> str:
        return self.cluster.trainee.people[username].password

    def trainee_api(self) -> httpx.Client:
        return self.cluster.trainee.as_user(TRAINEE)

    def duty_api(self, hop: HopKey) -> httpx.Client:
        assert hop.node_id is not None
        return self.cluster.nodes[hop.node_id].as_user(DUTY)


def _until(what: str, check: Callable[[], Any]) -> Any:
    """Poll while the nodes deliver to each other; the bound is there only to fail."""
    return wait_for(what, check, timeout=60.0)


@contextmanager
def ready_to_play(root: Path, scenario: Scenario) -> Iterator[Game]:
    """The exercise stocked and served, with a baseline: a session the trainee concluded at
    once without playing (rightly even, ending where the scenario ends) and scored; then the
    session to play, opened as `exercise start` opens it, with its investigation."""
    with stocked(root, scenario) as ready:
        cluster, clock = ready.cluster, ready.clock
        counterparts = Counterparts(cluster)
        node = cluster.trainee.node
        unplayed = open_session(node, scenario, trainee=TRAINEE, actor="system:test")
        trainee = principal(node, TRAINEE)
        conclude(
            node,
            trainee,
            unplayed,
            end=scenario.end,
            subscriber=scenario.subscriber or "",  # a subscriber only where the trail ends at one
            country=scenario.hops[-1].country,
        )
        baseline = score_session(node, trainee, unplayed).score
        assert baseline is not None
        clock.advance(timedelta(minutes=1))
        session_id = open_session(node, scenario, trainee=TRAINEE, actor="system:test")
        open_case(node, scenario, trainee=TRAINEE, session_id=session_id)
        cluster.start()
        yield Game(cluster, counterparts, scenario, clock, session_id, dict(baseline.axes))


@pytest.fixture(
    params=[*SCENARIOS, ACCESS_LINE],
    ids=[f"seed{seed}-{level}" for seed, level in SCENARIOS] + [ACCESS_LINE],
)
def game(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Game]:
    with ready_to_play(tmp_path / "exercise", _scenario(request.param)) as ready:
        yield ready


def _login(page: Any, url: str, username: str, password: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _marked(page: Any) -> None:
    """Every page of the exercise node carries the EXERCISE marking."""
    assert page.locator(".exercise-banner .exercise-word").inner_text() == "EXERCISE"
    assert page.title().startswith("EXERCISE")


def _stacked(page: Any, upper: str, lower: str) -> None:
    """``upper`` is laid out whole (every row of it visible) above ``lower``: nothing
    squeezed or drawn over what follows."""
    box = page.locator(upper).first.bounding_box()
    last = page.locator(f"{upper} li, {upper} tr").last.bounding_box()
    below = page.locator(lower).first.bounding_box()
    assert box and last and below, (upper, lower)
    assert last["height"] > 0 and last["y"] + last["height"] <= box["y"] + box["height"] + 1
    assert box["y"] + box["height"] <= below["y"], (upper, box, lower, below)


def _request_id(page: Any) -> str:
    match = re.search(r"/requests/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    return match.group(1)


def _send_hop(page: Any, game: Game, hop: HopKey, name: str, screenshots: Path, axe: str) -> str:
    """On the trace page: open the hop's request, have the supervisor approve it (four eyes,
    simulated), send it from the request page and wait for the counterpart to receive it."""
    row = page.locator(f"table.hops tr:has(code:text-is('{hop.ip}:{hop.port}'))")
    assert row.get_attribute("data-state") == "drafted", row.inner_text()
    assert hop.provider in row.inner_text()
    check_page(page, f"exercise-play-{game.tag}-trace-hop{hop.index}", screenshots, axe)
    row.locator("a[href^='/requests/']:not([href^='/requests/new'])").click()
    page.wait_for_selector("h2:has-text('Actions')")
    _marked(page)
    request_id = _request_id(page)
    # the trainee cannot send what nobody approved
    assert page.locator("form.action:has(input[value=send])").count() == 0
    approvals = game.counterparts.step()
    assert any("supervisor approves" in line for line in approvals), approvals
    page.reload()
    send = page.locator("form.action:has(input[value=send])")
    assert send.locator("input[name=recipient]").input_value() == hop.node_id
    check_page(page, f"exercise-play-{game.tag}-{name}", screenshots, axe)
    send.locator("button[type=submit]").click()
    page.wait_for_selector("h2:has-text('Actions')")
    assert "sent" in page.inner_text("table.timeline")
    duty = game.duty_api(hop)
    _until(
        f"{hop.node_id} to receive the request",
        lambda: duty.get(f"/api/requests/{request_id}").status_code == 200,
    )
    return request_id


def _disclosure_of(game: Game, reference: str) -> dict[str, Any] | None:
    """The Art. 30 disclosure that answers the request ``reference``, once it arrived."""
    inbound = game.trainee_api().get("/api/requests", params={"direction": "inbound"}).json()
    for item in inbound:
        answered = (item.get("body") or {}).get("in_response_to")
        if item["kind"] == "expedited_disclosure" and answered == reference:
            return dict(item)
    return None


def _answered(game: Game, hop: HopKey, request_id: str, state: str) -> dict[str, Any]:
    """The counterpart's duty officer acknowledges, then executes (on the simulated clock)."""
    game.clock.advance(game.counterparts.ack_after)
    acknowledged = game.counterparts.step()
    assert any(f"{hop.node_id} acknowledges" in line for line in acknowledged), acknowledged
    trainee = game.trainee_api()
    answering = hop.node_id
    if hop.provider_node_id is not None:
        # the point of contact forwards to the provider's node, whose liaison answers
        assert any(f"{hop.node_id} forwards" in line for line in acknowledged), acknowledged
        answering = hop.provider_node_id
        reference = trainee.get(f"/api/requests/{request_id}").json()["reference"]
        liaison = game.cluster.nodes[answering].as_user(DUTY)
        _until(
            f"{answering} to receive the forwarded request",
            lambda: any(
                item["reference"] == reference
                for item in liaison.get("/api/requests", params={"direction": "inbound"}).json()
            ),
        )
        game.clock.advance(game.counterparts.ack_after)
        acknowledged = game.counterparts.step()
        assert any(f"{answering} acknowledges" in line for line in acknowledged), acknowledged
    game.clock.advance(game.counterparts.answer_after)
    answered = game.counterparts.step()
    assert any(f"{answering} preserves" in line for line in answered), answered
    view = _until(
        f"{hop.node_id}'s answer at the trainee's node",
        lambda: (
            (view := trainee.get(f"/api/requests/{request_id}").json())["state"] == state and view
        ),
    )
    if hop.provider_node_id is not None:
        # the answer came back through the point of contact, which discloses the next hop
        disclosed = game.counterparts.step()
        if hop.outcome == "relay" and state == "preserved":
            assert any(f"{hop.node_id} discloses" in line for line in disclosed), disclosed
    return dict(view)


def test_the_trainee_plays_a_scenario_to_the_end(
    game: Game, page: Any, screenshots: Path, axe_source: str
) -> None:
    scenario = game.scenario
    network = [hop for hop in scenario.hops if hop.node_id is not None and hop.expects_request]
    assert len(network) >= 2, "the scenario must cross at least two counterpart nodes"
    assert network == list(scenario.hops) and scenario.end == "subscriber"
    relays, last = network[:-1], network[-1]
    assert all(hop.outcome == "relay" for hop in relays) and last.outcome == "subscriber"

    # the briefing leads to the investigation opened with the victim's evidence
    _login(page, game.url, TRAINEE, game.password(TRAINEE), f"/exercise/sessions/{game.session_id}")
    page.wait_for_selector("form[action$='/conclude']")
    _marked(page)
    page.click("a#exercise-case")
    page.wait_for_selector("table.observations")
    _marked(page)
    first = network[0]
    row = page.locator(f"table.observations tr:has(code:text-is('{first.ip}'))")
    assert row.count() == 1, page.inner_text("table.observations")
    check_page(page, f"exercise-play-{game.tag}-investigation", screenshots, axe_source)

    # the trace from the attacker's line, with the request's fields
    row.locator("button:has-text('Trace')").click()
    page.wait_for_selector("form[action='/traces/start']")
    _marked(page)
    page.fill("input[name=phone]", "+15555550101")
    page.fill("input[name=email]", f"trainee@{scenario.trainee_node_id}.example")
    page.fill("input[name=seeking_authority]", f"{scenario.trainee_country} prosecutor")
    page.fill("input[name=offence]", scenario.offence)
    page.fill("textarea[name=summary]", f"On {scenario.as_of.isoformat()} {scenario.facts}.")
    page.fill("input[name=offence_articles]", "99")
    page.click("form[action='/traces/start'] button[type=submit]")
    page.wait_for_selector(".errors")
    assert "offence_articles: '99'" in page.inner_text(".errors")
    assert page.input_value("input[name=seeking_authority]").endswith("prosecutor")
    page.fill("input[name=offence_articles]", str(scenario.offence_article))
    # the handling the briefing's story calls for, on every hop's request
    page.select_option("select[name=handling_code]", scenario.handling_code)
    page.select_option("select[name=tlp]", scenario.tlp)
    if scenario.emergency:
        page.check("input[name=emergency]")
    check_page(page, f"exercise-play-{game.tag}-trace-new", screenshots, axe_source)
    page.click("form[action='/traces/start'] button[type=submit]")
    page.wait_for_selector("table.hops")
    _marked(page)
    trace_url = page.url

    # hop by hop: send, the counterpart preserves and discloses the next hop (Art. 30)
    for hop, following in zip(relays, network[1:], strict=True):
        request_id = _send_hop(page, game, hop, f"request-hop{hop.index}", screenshots, axe_source)
        view = _answered(game, hop, request_id, "preserved")
        assert view["hold_digest"], view
        # the provider's published retention names its RADIUS accounting when it keeps one
        assert ("radius" in view["body"]["data_kinds"]) == (hop.assignment_format is not None)
        _until(
            f"the Art. 30 disclosure of {following.country}'s hop",
            lambda reference=view["reference"]: _disclosure_of(game, reference),
        )
        page.goto(trace_url)
        page.wait_for_selector("table.hops")
        assert page.get_attribute(f"tr:has(code:text-is('{hop.ip}:{hop.port}'))", "data-state") == (
            "advanced"
        )
        assert f"{following.ip}:{following.port}" in page.inner_text("table.hops")

    request_id = _send_hop(page, game, last, f"request-hop{last.index}", screenshots, axe_source)
    view = _answered(game, last, request_id, "preserved")
    assert ("radius" in view["body"]["data_kinds"]) == (last.assignment_format is not None)
    page.goto(f"{game.url}/requests/{request_id}")
    page.wait_for_selector("h2:has-text('Actions')")
    assert scenario.subscriber and scenario.subscriber in page.inner_text("main")
    if last.assignment_format is not None:  # named from the provider's own accounting
        assert (
            f"our RADIUS accounting names the session's subscriber {scenario.subscriber}"
            in (view["preserved_summary"])
        )
    check_page(page, f"exercise-play-{game.tag}-preserved-hop{last.index}", screenshots, axe_source)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        _stacked(page, "table.timeline", "div.card:has(> table.timeline) + div.card")
    page.goto(trace_url)
    page.wait_for_selector("table.hops")
    states = page.locator("table.hops tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    # a line identified by the RADIUS accounting preserved is the subscriber's; a hosting
    # provider's records are preserved (its register names the customer)
    end_state = "subscriber" if last.assignment_format is not None else "preserved"
    assert states == ["advanced"] * len(relays) + [end_state], states
    check_page(page, f"exercise-play-{game.tag}-trace-end", screenshots, axe_source)

    # conclude from the briefing and read the debrief
    page.goto(f"{game.url}/exercise/sessions/{game.session_id}")
    page.wait_for_selector("form[action$='/conclude']")
    page.check(f"input[name=end][value={scenario.end}]")
    page.fill("input[name=subscriber]", scenario.subscriber)
    page.fill("input[name=country]", last.country)
    page.click("form[action$='/conclude'] button[type=submit]")
    page.wait_for_selector("table.exercise-axes")
    _marked(page)
    cells = page.locator("table.exercise-axes tbody td").all_inner_texts()
    played = dict(zip(AXES, (float(cell) for cell in cells), strict=True))
    # everything a careful trainee does can be done through the pages: the providers'
    # published retention (recorded on the trainee's node) makes the trace name the kinds of
    # record each request must preserve, the CGN translation log included
    missed = [row for row in page.locator("tr.overdue").all_inner_texts()]
    assert missed == [], (played, missed)
    assert all(played[axis] == 100.0 for axis in AXES), played
    for axis in AXES:
        assert played[axis] > game.unplayed[axis], (axis, played, game.unplayed)
        heading = page.locator(f"h2:has-text('{AXIS_TITLES[axis]}: {played[axis]:.1f}')")
        assert heading.count() == 1, axis
        points = heading.locator("xpath=following-sibling::div[1]//tbody/tr")
        assert points.count() > 0, axis
        for text in points.all_inner_texts():
            why, article = text.split("\t")[3:5]
            assert why.strip() and article.strip(), (axis, text)
    text = page.inner_text("main")
    for hop in network:  # the trail axis names the request sent for every hop
        assert re.search(rf"asked \(EX-{scenario.seed}-\w+-H{hop.index}\)", text), hop.index
    assert f"subscriber {scenario.subscriber} named" in text
    assert "THEM" in text and "YOU" in text
    check_page(page, f"exercise-play-{game.tag}-debrief", screenshots, axe_source)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        _stacked(page, "ol.timeline", "h2:text-is('The answer key')")

    # the trainer sees both sessions, the played one scored above the unplayed one
    page.context.clear_cookies()
    _login(page, game.url, TRAINER, game.password(TRAINER), "/exercise/trainer")
    page.wait_for_selector("table.exercise-scores")
    assert page.locator("table.exercise-scores tbody tr").count() == 2
