"""The trace over HTTP: start, read, answer (once), graph and CASE exports, the open traces
nearest death first (API and dashboard), and clear errors for unknown traces and hops."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from test_trace_flow import TEMPLATE, pump
from trace_kit import principal

from helpers import browser_login, client_for
from trailguard.accounts.domain import Role
from trailguard.requests import service as requests


def _observation(client: Any, case_id: str, ip: str, port: int, at: str) -> str:
    made = client.post(
        f"/api/investigations/{case_id}/observations",
        json={"ip": ip, "port": port, "at": at, "protocol": "tcp", "tolerance_s": 1},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_trace_api_and_dashboard(net: Any) -> None:
    iris = client_for(net.us, [Role.INVESTIGATOR], "iris")
    for node_id, kept in (
        ("nl-polderhost", {"flow": 30}),
        ("br-riolitoral", {"port_block": 90, "radius": 365}),
    ):
        answer = iris.put(
            f"/api/trace/custodians/{node_id}",
            json={"retention_days": kept, "source": "published policy"},
        )
        assert answer.status_code == 200, answer.text
    bad = iris.put(
        "/api/trace/custodians/nobody", json={"retention_days": {"flow": 1}, "source": "x"}
    )
    assert bad.status_code == 404
    case = iris.post("/api/investigations", json={"reference": "US-2026-NJ", "title": "Bank"})
    case_id = case.json()["id"]
    nl_obs = _observation(iris, case_id, "198.51.100.23", 41234, "2026-11-20T08:14:07Z")
    br_obs = _observation(iris, case_id, "203.0.113.77", 51512, "2026-11-20T08:02:04Z")
    traces = []
    for obs in (br_obs, nl_obs):
        started = iris.post(
            "/api/traces",
            json={"investigation_id": case_id, "observation_id": obs, "template": TEMPLATE},
        )
        assert started.status_code == 201, started.text
        traces.append(started.json())
    # nearest death first: Polderhost's 30 days before Rio Litoral's 90
    listed = iris.get("/api/traces").json()
    assert [t["id"] for t in listed] == [traces[1]["id"], traces[0]["id"]]
    assert listed[0]["dies_at"] == "2026-12-20T08:14:07Z"
    dashboard = iris.get("/", headers={"accept": "text/html"})
    assert dashboard.status_code == 200
    assert dashboard.text.index(traces[1]["label"]) < dashboard.text.index(traces[0]["label"])
    page = iris.get(f"/investigations/{case_id}", headers={"accept": "text/html"})
    assert page.status_code == 200 and f"/traces/{traces[0]['id']}" in page.text
    assert "trail dies 2026-12-20 08:14:07 UTC" in page.text
    trace_id, hop_id = traces[1]["id"], traces[1]["hops"][0]["id"]
    answer = {"kind": "refused", "key": "NL letter 1", "details": {"ground": "art30_2"}}
    first = iris.post(f"/api/traces/{trace_id}/hops/{hop_id}/answers", json=answer)
    assert first.status_code == 201 and first.json()["end_reason"] == "refusal"
    again = iris.post(f"/api/traces/{trace_id}/hops/{hop_id}/answers", json=answer)
    assert again.status_code == 409
    assert iris.post(f"/api/traces/nope/hops/{hop_id}/answers", json=answer).status_code == 404
    assert iris.post(f"/api/traces/{trace_id}/hops/nope/answers", json=answer).status_code == 404
    assert iris.get("/api/traces/nope").status_code == 404
    assert [t["id"] for t in iris.get("/api/traces").json()] == [traces[0]["id"]]
    graph = iris.get(f"/api/traces/{trace_id}/graph").json()
    assert graph["format"] == "trailguard.trace-graph.v1"
    case_ld = iris.get(f"/api/traces/{trace_id}/case")
    assert case_ld.headers["content-type"].startswith("application/ld+json")
    assert json.loads(case_ld.text)["@type"] == "uco-core:Bundle"
    svg = iris.get(f"/api/traces/{trace_id}/graph.svg")
    assert svg.status_code == 200 and svg.text.startswith("<svg")
    outsider = client_for(net.us, [Role.INVESTIGATOR], "olga")
    assert outsider.get(f"/api/traces/{trace_id}").status_code == 403
    assert outsider.get(f"/api/traces/{trace_id}/graph").status_code == 403
    provider = client_for(net.us, [Role.PROVIDER_LIAISON], "pim")
    assert provider.get("/api/traces").status_code == 403
    attributed = provider.get("/api/trace/attribute", params={"ip": "198.51.100.23"}).json()
    assert attributed["provider"]["node_id"] == "nl-polderhost"
    assert provider.get("/api/trace/attribute", params={"ip": "nope"}).status_code == 422
    hops = provider.post(
        "/api/trace/headers",
        json={
            "message": "Received: from a ([192.0.2.1]) by b; Fri, 20 Nov 2026 08:00:00 +0000\n\nx"
        },
    )
    assert hops.json()["hops"][0]["at"] == "2026-11-20T08:00:00Z"


def test_cli_lists_and_shows_traces(net: Any, database_url: str) -> None:
    from typer.testing import CliRunner

    from trailguard.trace.cli import app as trace_cli

    iris = client_for(net.us, [Role.INVESTIGATOR], "iris")
    case_id = iris.post(
        "/api/investigations", json={"reference": "US-2026-NJ", "title": "Bank"}
    ).json()["id"]
    obs = _observation(iris, case_id, "198.51.100.23", 41234, "2026-11-20T08:14:07Z")
    started = iris.post(
        "/api/traces",
        json={"investigation_id": case_id, "observation_id": obs, "template": TEMPLATE},
    ).json()
    runner = CliRunner()
    env = {"TRAILGUARD_DATABASE_URL": database_url}
    where = ["--data-dir", str(net.us.paths.data_dir)]
    listed = runner.invoke(trace_cli, ["list", *where, "--as", "iris", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [t["id"] for t in json.loads(listed.stdout)] == [started["id"]]
    shown = runner.invoke(
        trace_cli, ["show", started["id"], *where, "--as", "iris", "--export", "graph"], env=env
    )
    assert json.loads(shown.stdout)["format"] == "trailguard.trace-graph.v1"
    add = client_for(net.us, [Role.INVESTIGATOR], "olga")
    assert add.get("/api/investigations").json() == []
    refused = runner.invoke(trace_cli, ["show", started["id"], *where, "--as", "olga"], env=env)
    assert refused.exit_code == 2 and "not on investigation" in refused.stderr
    unknown = runner.invoke(trace_cli, ["show", "nope", *where, "--as", "iris"], env=env)
    assert unknown.exit_code == 2 and "no trace" in unknown.stderr


def test_a_hop_offers_the_drafting_form_pre_filled(net: Any) -> None:
    """Issue 15: from a trace's hop without a request, the drafting form opens with the hop's
    exact identifiers. A hop whose request is live offers no second draft (its request is
    linked instead); one whose request was refused offers a new request, newly referenced."""
    iris = client_for(net.us, [Role.INVESTIGATOR], "iris")
    iris.put(
        "/api/trace/custodians/nl-polderhost",
        json={"retention_days": {"flow": 30}, "source": "published policy"},
    )
    case_id = iris.post(
        "/api/investigations", json={"reference": "US-2026-NJ", "title": "Bank"}
    ).json()["id"]
    obs = _observation(iris, case_id, "198.51.100.23", 41234, "2026-11-20T08:14:07Z")
    drafted = iris.post(
        "/api/traces",
        json={"investigation_id": case_id, "observation_id": obs, "template": TEMPLATE},
    ).json()
    # no template: the request cannot be drafted, the hop stays open without one
    undrafted = iris.post(
        "/api/traces", json={"investigation_id": case_id, "observation_id": obs, "template": {}}
    ).json()
    assert drafted["hops"][0]["request_id"] and undrafted["hops"][0]["request_id"] is None
    browser = browser_login(net.us, [Role.INVESTIGATOR, Role.DUTY_OFFICER], "ines")
    iris.post(f"/api/investigations/{case_id}/members", json={"username": "ines"})
    any_link = re.compile(r'<a href="/requests/new\?[^"]+">')
    fresh = re.compile(r'<a href="(/requests/new\?[^"]+)">Draft a request from this hop</a>')

    reference = drafted["hops"][0]["request_reference"]
    live = browser.get(f"/traces/{drafted['id']}").text
    assert not any_link.search(live), "a hop with a live request offers a second draft"
    assert f'<a href="/requests/{drafted["hops"][0]["request_id"]}">{reference}</a>' in live

    page = browser.get(f"/traces/{undrafted['id']}")
    assert page.status_code == 200, page.text[:500]
    link = fresh.search(page.text)
    assert link, "no drafting link on the hop"
    form = browser.get(html.unescape(link.group(1)))
    assert form.status_code == 200
    assert re.search(r'name="data_to_preserve.0.ip" value="198.51.100.23"', form.text)
    assert re.search(r'name="data_to_preserve.0.port" value="41234"', form.text)
    assert re.search(r'name="data_to_preserve.0.timestamp" value="2026-11-20T08:14:07Z"', form.text)
    assert "Pre-filled from trace" in form.text
    assert re.search(r'<option value="NL" selected', form.text)

    # NL refuses the live request: the hop now offers a new request under a new reference
    request_id = drafted["hops"][0]["request_id"]
    dan = principal("dan", Role.DUTY_OFFICER)
    noor = principal("noor", Role.DUTY_OFFICER)
    requests.approve_request(net.us, dan, request_id)
    requests.send_request(net.us, principal("iris", Role.INVESTIGATOR), request_id)
    pump(net)
    requests.refuse_request(
        net.nl, noor, request_id, ground="essential_interests", reasons="synthetic refusal"
    )
    pump(net)
    after = browser.get(f"/traces/{drafted['id']}").text
    again = re.search(
        r'<a href="(/requests/new\?[^"]+)">Draft a new request for this hop '
        rf"\({re.escape(reference)} was refused\): reference {re.escape(reference)}-2</a>",
        after,
    )
    assert again, after[after.find("<h2>Hops</h2>") :][:3000]
    query = parse_qs(urlsplit(html.unescape(again.group(1))).query)
    assert query["reference"] == [f"{reference}-2"]
    assert query["source"][0].endswith(f"hop 1, after {reference} was refused")
