"""The JSON API (/api/law/...) and the page (/law, /law/answer) on a real node."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from trailguard.accounts.domain import Role
from trailguard.core.clock import FixedClock
from trailguard.law.loader import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    import httpx
    from fastapi.testclient import TestClient

helpers = pytest.importorskip("helpers")
pytestmark = pytest.mark.slow  # each test initialises a whole node (keys, users, migrations)

# the query of GET /api/law/check about NL, illegal access, preservation (without "from")
CHECK_NL = {"to": "NL", "conduct": "illegal_access", "measure": "preservation"}


def csrf_token(page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def law_form(kind: str, requesting: str, requested: str, **fields: str) -> dict[str, str]:
    """The fields of the /law form: the question (``kind``: check or channels) and the rest."""
    return {"kind": kind, "requesting": requesting, "requested": requested, **fields}


def check_form(**fields: str) -> dict[str, str]:
    """The /law form asking US -> NL about illegal access for preservation; ``fields`` change
    or add to it (the CSRF token, the date, another conduct)."""
    asked = law_form("check", "US", "NL", conduct="illegal_access", measure="preservation")
    return {**asked, **fields}


def answer_htmx(client: TestClient, form: dict[str, str]) -> httpx.Response:
    """POST /law/answer as htmx does: the answer comes back as a fragment."""
    return client.post("/law/answer", data=form, headers={"HX-Request": "true"})


@pytest.fixture
def node(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 11, 20, 8, 14, 7, tzinfo=UTC))
    node = helpers.make_node(
        tmp_path,
        database_url,
        node_id="us-poc",
        country="US",
        clock=clock,
        timezone="America/New_York",
    )
    yield node
    node.close()


def test_api_check_contract_and_default_date(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.client_for(node, [Role.DUTY_OFFICER])
    answer = client.get(
        "/api/law/check",
        params={"from": "US", **CHECK_NL},
    )
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert payload["as_of"] == "2026-11-20"  # the node's clock, not the wall clock
    assert payload["dual_criminality"]["required"] is False  # ETS 185 Art. 29(3)
    assert set(payload["provisions"]) == {"US", "NL"}


def test_api_channels_and_sources(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.client_for(node, [Role.INVESTIGATOR])
    answer = client.get(
        "/api/law/channels",
        params={"from": "US", "to": "BR", "data": "subscriber", "as_of": "2026-11-27"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["channels"][0]["id"] == "preservation_24_7"
    sources = client.get("/api/law/sources")
    assert sources.status_code == 200
    assert any(s["id"] == "ets185_text" for s in sources.json()["sources"])


def test_api_bad_input_is_422_naming_the_value(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.client_for(node, [Role.PROVIDER_LIAISON])
    answer = client.get(
        "/api/law/check",
        params={"from": "XX", **CHECK_NL},
    )
    assert answer.status_code == 422
    assert "'XX'" in answer.json()["detail"]
    early = client.get(
        "/api/law/channels",
        params={"from": "US", "to": "NL", "data": "traffic", "as_of": "2000-01-01"},
    )
    assert early.status_code == 422 and "2000-01-01" in early.json()["detail"]


def test_api_needs_a_login(node) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from trailguard.app import create_app

    anonymous = TestClient(create_app(node))
    assert anonymous.get("/api/law/sources").status_code == 401
    assert anonymous.get("/law").status_code in (401, 303, 307)


def test_page_and_htmx_answer(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.browser_login(node, [Role.DUTY_OFFICER])
    page = client.get("/law")
    assert page.status_code == 200, page.text
    assert 'hx-post="/law/answer"' in page.text and "Legal engine" in page.text
    form = check_form(csrf_token=csrf_token(page.text), as_of="2025-01-01")
    partial = answer_htmx(client, form)
    assert partial.status_code == 200, partial.text
    assert "Dual criminality required: <strong>no</strong>" in partial.text
    assert "ETS 185 Art. 29(3)" in partial.text
    assert "<html" not in partial.text  # a fragment for htmx to swap in

    form.update({"kind": "channels", "requested": "BR", "data": "subscriber"})
    channels = answer_htmx(client, form)
    assert channels.status_code == 200
    assert "Lawful channels, fastest first" in channels.text
    assert "preservation_24_7" in channels.text


def test_page_answer_errors_are_shown(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.browser_login(node, [Role.CENTRAL_AUTHORITY])
    token = csrf_token(client.get("/law").text)
    form = check_form(csrf_token=token, conduct="hacking", as_of="2025-01-01")
    partial = answer_htmx(client, form)
    assert partial.status_code == 200 and "&#39;hacking&#39;" in partial.text
    full = client.post("/law/answer", data=form)  # without JavaScript: the whole page
    assert full.status_code == 422 and "<html" in full.text and "hacking" in full.text


def test_answer_without_csrf_token_is_refused(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.browser_login(node, [Role.DUTY_OFFICER])
    answer = client.post("/law/answer", data=check_form())
    assert answer.status_code in (401, 403)


def test_page_channels_apply_the_epoc_threshold_to_the_conduct(node) -> None:  # type: ignore[no-untyped-def]
    # Regulation (EU) 2023/1543 Art. 5(4): an EPOC for traffic data needs an offence punishable
    # by at least 3 years in the issuing State (offences.yaml de_stgb_241: StGB 241, 1 year),
    # or a listed one (Art. 5(4)(b): illegal access is). The page passes the conduct on.
    client = helpers.browser_login(node, [Role.DUTY_OFFICER])
    token = csrf_token(client.get("/law").text)
    form = law_form("channels", "DE", "NL", data="traffic", conduct="de_stgb_241")
    form.update({"csrf_token": token, "as_of": "2026-09-01"})
    threats = answer_htmx(client, form)
    assert threats.status_code == 200, threats.text
    ruled_out = re.search(r"<code>eu_epoc</code>: ([^<]*)</li>", threats.text)
    assert ruled_out is not None and "Art. 5(4)" in ruled_out.group(1)
    form["conduct"] = "illegal_access"
    access = answer_htmx(client, form)
    assert access.status_code == 200
    assert "<code>eu_epoc</code>:" not in access.text  # offered, not ruled out
    assert "Condition:" in access.text and "5(4)" in access.text

    form.update({"kind": "check", "requesting": "US", "requested": "DE", "measure": "extradition"})
    form["as_of"] = "2025-01-01"
    check = answer_htmx(client, form)
    assert check.status_code == 200
    assert "Maximum penalty" in check.text and "up to 3 years" in check.text  # StGB 202a(1)


def test_api_channels_purpose_realtime_and_stale(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.client_for(node, [Role.INVESTIGATOR])
    params = {"from": "US", "to": "BR", "data": "subscriber", "emergency": "true"}
    params["as_of"] = "2026-11-27"
    # Issue 16: in an emergency the data is wanted now; preservation keeps the trail meanwhile.
    for purpose in ("both", "obtain"):
        answer = client.get("/api/law/channels", params={**params, "purpose": purpose})
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        assert payload["channels"][0]["id"] != "preservation_24_7"
        assert payload["preserve_meanwhile"] == "preservation_24_7"
        assert payload["purpose"] == purpose
    keep = client.get("/api/law/channels", params={**params, "purpose": "preserve"})
    assert keep.json()["channels"][0]["id"] == "preservation_24_7"
    bad = client.get("/api/law/channels", params={**params, "purpose": "keep"})
    assert bad.status_code == 422 and "'keep'" in bad.json()["detail"]

    # ETS 185 Art. 14(3)(a): Bulgaria limits real-time collection of traffic data.
    realtime = client.get("/api/law/realtime", params={"from": "US", "to": "BG"})
    assert realtime.status_code == 200, realtime.text
    body = realtime.json()
    assert body["as_of"] == "2026-11-20" and body["allowed"] is None
    assert body["reservations"][0].startswith("BG reservation ETS 185 Art. 14(3)(a)")

    stale = client.get("/api/law/sources", params={"stale": "true", "older_than": "30"})
    assert stale.status_code == 200, stale.text
    report = stale.json()
    assert report["today"] == "2026-11-20"  # the node's clock
    assert report["limit"] == "2026-10-21" and report["stale_facts"] > 0
    assert (
        client.get("/api/law/sources", params={"stale": "true", "older_than": "-1"}).status_code
        == 422
    )


def test_page_shows_the_data_date_and_orders_by_purpose(node) -> None:  # type: ignore[no-untyped-def]
    client = helpers.browser_login(node, [Role.DUTY_OFFICER])
    page = client.get("/law")
    assert page.status_code == 200
    # the date meta.yaml says the facts were collected up to (read here as plain YAML)
    meta = yaml.safe_load((DEFAULT_DATA_DIR / "meta.yaml").read_text(encoding="utf-8"))
    assert f"Legal data as of <strong>{meta['checked'].isoformat()}</strong>" in page.text
    assert '<select name="purpose">' in page.text
    form = law_form("channels", "US", "BR", data="subscriber", emergency="1", purpose="obtain")
    form.update({"csrf_token": csrf_token(page.text), "as_of": "2026-11-27"})
    answer = answer_htmx(client, form)
    assert answer.status_code == 200, answer.text
    assert "those that disclose first" in answer.text and "Meanwhile:" in answer.text
    first = re.search(r"<ol>\s*<li><strong>[^<]*</strong> <code>([a-z0-9_]+)</code>", answer.text)
    assert first is not None and first.group(1) != "preservation_24_7"
    form.pop("emergency")
    form.update({"requested": "AT", "purpose": "both"})
    austria = answer_htmx(client, form)
    assert (
        "Designated authorities" in austria.text and "Federal Ministry of Justice" in austria.text
    )
    # ETS 185 Art. 40: Japan's declaration narrowing illegal access appears as a cited note.
    form.update({"kind": "check", "requested": "JP", "conduct": "illegal_access"})
    form["measure"] = "preservation"
    japan = answer_htmx(client, form)
    assert japan.status_code == 200
    assert "Reservations and declarations" in japan.text
    assert "JP declaration ETS 185 Art. 2" in japan.text
