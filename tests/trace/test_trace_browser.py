"""The trace in Chromium: from the investigation's observation, start a trace (the form), see
the drafted request's hop with its channel and clock, record the Art. 30 answer by hand, and
look at the graph across countries (Graphviz SVG) and the UTC timeline at 1280 and 390 px.

The page carries two drawings of the graph, left to right and top to bottom, and shows the one
that suits the screen's width: the tests look at the one drawn (``svg:visible``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from trace_kit import enter

from browser_support import IN_CI, LiveServer
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Principal, Role
from trailguard.investigations import service as cases

pytestmark = pytest.mark.browser

# Every label of the drawn graph (the hidden variant has no box), with its box in the viewport.
DRAWN_LABELS = """() => Object.fromEntries(
  [...document.querySelectorAll('#trace-graph svg text')]
    .filter((t) => t.getClientRects().length > 0)
    .map((t) => { const r = t.getBoundingClientRect();
      return [t.textContent, {left: r.left, right: r.right, top: r.top, bottom: r.bottom}]; }))"""


def test_trace_page_draws_the_path_and_the_timeline(
    tmp_path: Path, page: Any, screenshots: Path
) -> None:
    if shutil.which("dot") is None:
        message = "Graphviz dot is missing (apt-get install graphviz)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    node = make_node(
        tmp_path,
        f"sqlite:///{tmp_path / 'us.db'}",
        node_id="us-poc",
        country="US",
        timezone="America/New_York",
    )
    enter(node, "nl-poc", "poc", "NL", "Netherlands 24/7 point of contact")
    enter(node, "br-poc", "poc", "BR", "Brazil 24/7 point of contact")
    enter(
        node,
        "nl-polderhost",
        "provider",
        "NL",
        "Polderhost B.V.",
        ("198.51.100.0/24",),
        "Europe/Amsterdam",
    )
    enter(
        node,
        "br-riolitoral",
        "provider",
        "BR",
        "Rio Litoral Telecom",
        ("203.0.113.0/24",),
        "America/Sao_Paulo",
    )
    add_user(node, [Role.INVESTIGATOR], "iris")
    iris = Principal(
        user_id=1, username="iris", display_name="Iris", roles=frozenset({Role.INVESTIGATOR})
    )
    from trailguard.trace import service as trace

    trace.set_custodian(node, iris, "nl-polderhost", {"flow": 30}, "Polderhost policy")
    trace.set_custodian(node, iris, "br-riolitoral", {"port_block": 90, "radius": 365}, "Rio")
    case = cases.create_investigation(
        node, iris, {"reference": "US-2026-NJ", "title": "Harbor Mutual Bank intrusion"}
    )
    cases.observe_event(
        node,
        iris,
        case.id,
        {
            "ip": "198.51.100.23",
            "port": 41234,
            "at": "2026-11-20T03:14:07.250-05:00",
            "protocol": "tcp",
            "tolerance_s": 1,
            "seen": "admin login",
        },
    )
    with LiveServer(node) as server:
        page.goto(server.url + f"/login?next=/investigations/{case.id}")
        page.fill("#username", "iris")
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("table.observations")
        assert "2026-11-20 08:14:07 UTC" in page.inner_text("table.observations")
        page.click("table.observations button:has-text('Trace')")
        page.wait_for_selector("form[action='/traces/start']")
        page.fill("input[name=phone]", "+12025550101")
        page.fill("input[name=email]", "iris.reed@us-poc.example")
        page.fill("input[name=seeking_authority]", "US Department of Justice (synthetic)")
        page.fill("textarea[name=summary]", "An unknown person logged in as administrator.")
        page.click("form[action='/traces/start'] button[type=submit]")
        page.wait_for_selector("#trace-graph svg:visible")
        hops = page.inner_text("table.hops")
        assert "drafted" in hops and "Polderhost B.V. (NL)" in hops
        assert "ETS 185 Art. 29" in hops and "dies 2026-12-20T08:14:07Z" in hops
        # NL's Art. 30 answer, recorded by hand: the connection came from Brazil.
        page.select_option("select[name=kind]", "next_hop")
        page.fill("input[name=key]", "NL-2026-NJ-030 (phone)")
        page.fill("input[name=ip]", "203.0.113.77")
        page.fill("input[name=port]", "51512")
        page.fill("input[name=at]", "2026-11-20T08:02:04Z")
        page.click("form:has(input[name=key]) button[type=submit]")
        page.wait_for_selector("tr[data-state='advanced']")
        graph = page.locator("#trace-graph svg:visible")
        text = graph.text_content() or ""
        svg = page.inner_html("#trace-graph")
        for label in (
            "198.51.100.23:41234",
            "203.0.113.77:51512",
            "Polderhost B.V. (NL)",
            "Rio Litoral Telecom (BR)",
            "victim",
        ):
            assert label in svg, label
        box = graph.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, (box, text)
        drawn = page.evaluate(DRAWN_LABELS)
        for address in ("198.51.100.23:41234", "203.0.113.77:51512"):
            assert drawn[address]["left"] >= 0 and drawn[address]["right"] <= 1280, drawn
        marks = page.locator("#timeline .mark")
        assert marks.count() == 5  # two hops seen, two deadlines, now
        assert not page.locator("#timeline-list").is_visible()
        timeline = page.inner_text("#timeline")
        assert "hop 2: trail dies" in timeline and "2027-02-18 08:02:04 UTC" in timeline
        assert "-03" in timeline  # Rio Litoral's local time (America/Sao_Paulo)
        page.screenshot(path=str(screenshots / "trace-1280.png"), full_page=True)
        # A narrow desk window (a tablet): the left-to-right drawing is wider than its box, and
        # the box opens on its newest hop, not on the victim.
        page.set_viewport_size({"width": 800, "height": 900})
        page.reload()
        page.wait_for_selector("#trace-graph svg:visible")
        drawn = page.evaluate(DRAWN_LABELS)
        assert page.evaluate("document.querySelector('#trace-graph').scrollWidth") > 800
        newest = drawn["203.0.113.77:51512"]
        assert newest["left"] >= 0 and newest["right"] <= 800, drawn
        page.screenshot(path=str(screenshots / "trace-800.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.wait_for_selector("#trace-graph svg:visible")
        # On a phone the graph keeps a readable size and scrolls inside its box; the page
        # itself does not scroll sideways; the timeline reads as a list.
        holder = page.locator("#trace-graph").bounding_box()
        assert holder is not None and holder["width"] <= 390
        label = page.locator("#trace-graph svg:visible text").first.bounding_box()
        assert label is not None and label["height"] >= 8
        # The first screen of a phone shows the whole trail without scrolling sideways: every
        # hop's address is drawn inside the viewport's width, and the newest hop (the one the
        # duty officer acts on) is above the fold.
        drawn = page.evaluate(DRAWN_LABELS)
        for address in ("198.51.100.23:41234", "203.0.113.77:51512"):
            assert drawn[address]["left"] >= 0 and drawn[address]["right"] <= 390, drawn
        assert drawn["203.0.113.77:51512"]["bottom"] <= 844, drawn
        assert all(box["bottom"] - box["top"] >= 8 for box in drawn.values()), drawn
        note = page.inner_text("#trace-graph-note")
        assert "newest hop at the top" in note and "table of hops" in note, note
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => !e.closest('svg') &&"
            " e.getBoundingClientRect().right > 392).slice(0, 5).map(e => e.tagName + '.'"
            " + e.className + '#' + e.id)"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
        assert page.locator("#timeline-list").is_visible()
        assert "hop 2: trail dies" in page.inner_text("#timeline-list")
        page.screenshot(path=str(screenshots / "trace-390.png"), full_page=True)
    node.close()
