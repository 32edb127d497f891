"""Each role through its main flow in Chromium, across three nodes (US, NL, a Dutch
provider): the US investigator drafts a preservation request with the form (no JSON), the US
duty officer approves and sends it, the NL duty officer acknowledges and forwards it, the
provider's liaison sees what its traffic store holds and records the preservation, and the
US dashboard shows the answer. Every page at 1280 and 390 px without overflow, with
axe-core finding no serious or critical violation, screenshots saved."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from browser_support import LiveServer, check_page
from helpers import TEST_PASSWORD, add_user, make_node
from trailguard.accounts.domain import Role
from trailguard.core.clock import FixedClock
from trailguard.network import deliver_pending
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.service import ingest_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from network_kit import Router, link

pytestmark = pytest.mark.browser

START = datetime(2026, 11, 20, 13, 0, 0, 250000, tzinfo=UTC)
FLOWS = (
    "time,end_time,src,sport,dst,dport,proto\n"
    "2026-11-20T08:13:00Z,2026-11-20T08:15:00Z,198.51.100.23,41234,192.0.2.80,22,tcp\n"
    "2026-11-20T08:20:00Z,2026-11-20T08:21:00Z,198.51.100.23,41300,192.0.2.80,22,tcp\n"
)
FLOW_COLUMNS = {
    "kind": "=flow", "start": "time", "end": "end_time", "public_ip": "src",
    "public_port": "sport", "dst_ip": "dst", "dst_port": "dport", "protocol": "proto",
}  # fmt: skip


@pytest.fixture
def axe_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def _login(page: Any, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/login" not in u)


def _action(page: Any, action: str, **inputs: str) -> None:
    form = page.locator(f"form:has(input[name=action][value={action}])")
    for name, value in inputs.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_preservation_by_form_across_three_nodes(
    tmp_path: Path, axe_page: Any, screenshots: Path, axe_source: str
) -> None:
    import httpx

    from trailguard.network.transport import HttpTransport

    page = axe_page
    clock = FixedClock(START)
    us = make_node(tmp_path, f"sqlite:///{tmp_path / 'us.db'}", node_id="us-poc", country="US",
                   timezone="America/New_York", clock=clock)  # fmt: skip
    nl = make_node(tmp_path, f"sqlite:///{tmp_path / 'nl.db'}", node_id="nl-poc", country="NL",
                   clock=clock)  # fmt: skip
    provider = make_node(tmp_path, f"sqlite:///{tmp_path / 'ph.db'}", node_id="nl-polderhost",
                         country="NL", roles=["provider"], clock=clock)  # fmt: skip
    nodes = (us, nl, provider)
    for publisher in nodes:
        for importer in nodes:
            if publisher is not importer:
                link(publisher, importer)
    router = Router()
    for node in nodes:
        router.add(node)
    transport = HttpTransport(httpx.Client(transport=router, timeout=5))

    def pump() -> None:
        for _ in range(4):
            for node in nodes:
                deliver_pending(node, transport=transport)

    csv = tmp_path / "flows.csv"
    csv.write_text(FLOWS)
    ingest_files(provider, [csv], provider="polderhost", actor="system:test",
                 format_name="csv", options=ParseOptions(column_map=FLOW_COLUMNS))  # fmt: skip
    add_user(us, [Role.INVESTIGATOR], "ivy")
    add_user(us, [Role.DUTY_OFFICER], "dora")
    add_user(nl, [Role.DUTY_OFFICER], "noor")
    add_user(provider, [Role.PROVIDER_LIAISON], "pim")

    with LiveServer(us) as us_web, LiveServer(nl) as nl_web, LiveServer(provider) as ph_web:
        # 1. The US investigator drafts by form: no JSON.
        _login(page, us_web.url, "ivy")
        page.goto(us_web.url + "/requests/new?kind=preservation")
        assert page.locator("#body").is_hidden()  # the JSON view is behind "Advanced"
        check_page(page, "flow-draft-form", screenshots, axe_source)
        page.click("button[type=submit]:has-text('Save draft')")  # empty: errors by fields
        page.wait_for_selector(".field-error")
        assert page.locator("#f-seeking_authority[aria-invalid=true]").count() == 1
        check_page(page, "flow-draft-errors", screenshots, axe_source)
        page.select_option("#f-recipient", "nl-poc")
        fills = {
            "#f-reference": "US-2026-NJ-001",
            "#f-requesting_authority-person_in_charge": "Dan Cole",
            "#f-requesting_authority-address": "1 Example Plaza, Washington DC",
            "#f-requesting_authority-phone": "+12025550100",
            "#f-requesting_authority-email": "duty@us-poc.example",
            "#f-requested_authority": "Netherlands 24/7 point of contact",
            "#f-confirmation_contact-name": "Dora Duty",
            "#f-confirmation_contact-phone": "+12025550101",
            "#f-confirmation_contact-email": "dora@us-poc.example",
            "#f-seeking_authority": "US Department of Justice, CCIPS",
            "#f-offence": "Unauthorised access to a bank's web server",
            "#f-offence_articles": "2",
            "#f-summary_of_facts": "An administrator login from 198.51.100.23 port 41234.",
            "#f-data_to_preserve-0-ip": "198.51.100.23",
            "#f-data_to_preserve-0-port": "41234",
            "#f-data_to_preserve-0-timestamp": "2026-11-20T03:14:07.250-05:00",
            "#f-relationship_to_offence": "The address and port of the intruder's session.",
            "#f-custodian": "Polderhost B.V., Netherlands",
            "#f-necessity": "Flow records are deleted after 30 days.",
        }
        # validation as you type: a wrong address is named beside its field before saving
        page.fill("#f-data_to_preserve-0-ip", "198.51.100.300")
        page.press("#f-data_to_preserve-0-ip", "Tab")
        # (the empty save above left "required" there: wait for the check's own words)
        page.locator(
            "#f-data_to_preserve-0-ip-errors .field-error", has_text="not a valid"
        ).first.wait_for()
        assert page.locator("#form-check a[href='#f-seeking_authority']").count() == 1
        check_page(page, "flow-draft-as-you-type", screenshots, axe_source)
        page.select_option("#f-requested_party", "NL")
        for selector, value in fills.items():
            page.fill(selector, value)
        page.check("#f-mla_intended")
        page.locator("#form-check p.ok").wait_for()  # every element there, the errors gone
        assert page.inner_text("#f-data_to_preserve-0-ip-errors").strip() == ""
        page.click("button[type=submit]:has-text('Save draft')")
        page.wait_for_url("**/requests/*-*")
        assert "Preservation (Art. 29) US-2026-NJ-001" in page.inner_text("h1")
        assert "Art. 2 (Illegal access)" in page.inner_text("main")
        request_path = page.url.removeprefix(us_web.url)
        check_page(page, "flow-us-draft", screenshots, axe_source)
        # the investigator cannot approve: no button, the page says who must
        assert page.locator("form.action button:has-text('Approve')").count() == 0
        assert "Awaiting approval by a duty officer" in page.inner_text("main")

        # 2. The US duty officer approves (four eyes) and sends.
        _login(page, us_web.url, "dora")
        page.goto(us_web.url + request_path)
        _action(page, "approve")
        _action(page, "send")
        assert "sent" in page.inner_text("h1")
        pump()

        # 3. The NL duty officer sees it on the dashboard, acknowledges and forwards.
        _login(page, nl_web.url, "noor")
        page.goto(nl_web.url + "/")
        assert "US-2026-NJ-001" in page.inner_text("main")
        assert "US → NL" in page.inner_text("main")
        check_page(page, "flow-nl-dashboard", screenshots, axe_source)
        page.click("text=US-2026-NJ-001")
        page.wait_for_load_state()
        _action(page, "acknowledge")
        _action(page, "forward", recipient="nl-polderhost")
        check_page(page, "flow-nl-request", screenshots, axe_source)
        page.goto(nl_web.url + "/exchange")
        check_page(page, "flow-nl-exchange", screenshots, axe_source)
        message = page.locator("a[href^='/exchange/messages/']").first
        message.click()
        page.wait_for_load_state()
        check_page(page, "flow-nl-message", screenshots, axe_source)  # ciphertext folds
        pump()

        # 4. The provider's liaison looks it up and records the preservation.
        _login(page, ph_web.url, "pim")
        page.goto(ph_web.url + "/requests")
        page.click("text=US-2026-NJ-001")
        page.wait_for_load_state()
        _action(page, "acknowledge")
        _action(page, "execute")
        panel = page.inner_text("#traffic-answers")
        assert "2 flow records" in panel
        assert "No record covers it" not in panel
        _action(page, "preserve", reason="2 flow records of 198.51.100.23 preserved")
        assert "preserved" in page.inner_text("h1")
        check_page(page, "flow-provider-request", screenshots, axe_source)
        page.goto(ph_web.url + "/traffic")
        hold = page.locator("form.hold")
        hold.locator("[name=reference]").fill("US-2026-NJ-001")
        hold.locator("[name=ip]").fill("198.51.100.23")
        hold.locator("[name=start]").fill("2026-11-20T07:59:07Z")
        hold.locator("[name=end]").fill("2026-11-20T08:29:07Z")
        hold.locator("button[type=submit]").click()
        page.wait_for_load_state()
        page.goto(ph_web.url + "/traffic")
        assert page.locator("table.holds tbody tr").count() == 1  # a long digest: folds
        check_page(page, "flow-provider-traffic", screenshots, axe_source)
        pump()

        # 5. Back in the US, the dashboard shows the answer.
        _login(page, us_web.url, "dora")
        page.goto(us_web.url + "/")
        check_page(page, "flow-us-dashboard", screenshots, axe_source)
        page.goto(us_web.url + request_path)
        assert "preserved" in page.inner_text("h1")
    transport.close()
    for node in nodes:
        node.close()
