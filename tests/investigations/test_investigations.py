"""Investigations: created, listed and shown to the people on them only; every change
audited; observations from typed events, log lines (traffic parsers), e-mail headers and
CSV/JSON imports, in UTC with the source's zone and a clock tolerance; bad input refused
whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import add_user, browser_login, client_for, make_node
from samples_kit import samples_dir
from trailguard.accounts.domain import Role
from trailguard.audit.orm import AuditEntryRow
from trailguard.investigations.orm import ObservationRow
from trailguard.node import Node

CASE = {
    "reference": "US-FBI-2026-0117",
    "title": "Harbor Mutual Bank intrusion",
    "conduct": ["illegal_access", "computer_fraud"],
    "handling_code": "H1",
    "tlp": "TLP:AMBER",
}


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    made = make_node(
        tmp_path, database_url, node_id="us-poc", country="US", timezone="America/New_York"
    )
    try:
        yield made
    finally:
        made.close()


def _audit_actions(node: Node) -> list[str]:
    with node.db.session() as session:
        return list(session.execute(select(AuditEntryRow.action)).scalars())


def _observations(node: Node) -> int:
    with node.db.session() as session:
        return int(session.execute(select(func.count()).select_from(ObservationRow)).scalar_one())


def _open(client: TestClient) -> dict:
    answer = client.post("/api/investigations", json=CASE)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_create_list_show_and_audit(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR], "agent.reyes")
    case = _open(lead)
    assert case["members"] == [
        {"username": "agent.reyes", "role": "lead", "added_by": "user:agent.reyes"}
    ]
    assert [c["reference"] for c in lead.get("/api/investigations").json()] == [CASE["reference"]]
    by_reference = lead.get(f"/api/investigations/{CASE['reference']}")
    assert by_reference.status_code == 200 and by_reference.json()["id"] == case["id"]
    changed = lead.patch(f"/api/investigations/{case['id']}", json={"title": "Harbor intrusion"})
    assert changed.json()["title"] == "Harbor intrusion"
    actions = _audit_actions(node)
    assert "investigation.created" in actions and "investigation.changed" in actions
    # the same reference twice is a conflict
    assert lead.post("/api/investigations", json=CASE).status_code == 409


def test_only_people_on_the_case_see_or_change_it(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR], "agent.reyes")
    case = _open(lead)
    outsider = client_for(node, [Role.DUTY_OFFICER], "duty.kim")
    assert outsider.get(f"/api/investigations/{case['id']}").status_code == 403
    assert outsider.get("/api/investigations").json() == []
    event = {"ip": "198.51.100.23", "at": "2026-11-20T03:14:07-05:00"}
    assert (
        outsider.post(f"/api/investigations/{case['id']}/observations", json=event).status_code
        == 403
    )
    admin = client_for(node, [Role.ADMIN], "root")
    assert admin.get("/api/investigations").status_code == 403  # separation of duties
    added = lead.post(f"/api/investigations/{case['id']}/members", json={"username": "duty.kim"})
    assert added.status_code == 201, added.text
    assert outsider.get(f"/api/investigations/{case['id']}").status_code == 200
    # a member who is not the lead cannot add people
    add_user(node, [Role.INVESTIGATOR], "agent.two")
    refused = outsider.post(
        f"/api/investigations/{case['id']}/members", json={"username": "agent.two"}
    )
    assert refused.status_code == 403
    # people without a case role cannot be added
    assert (
        lead.post(
            f"/api/investigations/{case['id']}/members", json={"username": "root"}
        ).status_code
        == 422
    )
    assert (
        lead.post(
            f"/api/investigations/{case['id']}/members", json={"username": "nobody"}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**CASE, "reference": "x"}, "reference"),
        ({**CASE, "conduct": ["jaywalking"]}, "unknown conduct 'jaywalking'"),
        ({**CASE, "handling_code": "H9"}, "handling code"),
        ({**CASE, "tlp": "TLP:PURPLE"}, "TLP"),
        ({**CASE, "title": ""}, "title"),
        ({**CASE, "surprise": 1}, "surprise"),
    ],
)
def test_bad_investigations_are_refused(node: Node, body: dict, fragment: str) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    answer = lead.post("/api/investigations", json=body)
    assert answer.status_code == 422
    assert fragment in answer.json()["detail"]
    assert "investigation.created" not in _audit_actions(node)


def test_typed_event_keeps_utc_and_source_zone_and_tolerance(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    url = f"/api/investigations/{case['id']}/observations"
    made = lead.post(
        url,
        json={
            "ip": "198.51.100.23",
            "port": 51512,
            "at": "2026-11-20T03:14:07.250-05:00",
            "protocol": "TCP",
            "direction": "inbound",
            "seen": "login to admin panel",
        },
    )
    assert made.status_code == 201, made.text
    obs = made.json()
    assert obs["at"] == "2026-11-20T08:14:07.250000Z"
    assert obs["source_zone"] == "-05:00"
    assert obs["tolerance_s"] == 60.0  # typed by hand: a minute
    assert obs["protocol"] == "tcp"
    custom = lead.post(
        url, json={"ip": "2001:db8::1", "at": "2026-11-20T08:14:07Z", "tolerance_s": 1}
    ).json()
    assert custom["tolerance_s"] == 1.0 and custom["source_zone"] == "Z"
    before = _observations(node)
    for bad, fragment in (
        ({"ip": "198.51.100.23", "at": "2026-11-20T03:14:07"}, "no zone"),
        ({"ip": "198.51.100.999", "at": "2026-11-20T03:14:07Z"}, "not an IPv4 or IPv6"),
        ({"ip": "198.51.100.23", "at": "yesterday"}, "not ISO 8601"),
        ({"ip": "198.51.100.23", "at": "2026-11-20T03:14:07Z", "port": 70000}, "port"),
        ({"ip": "198.51.100.23"}, "at: Field required"),
    ):
        answer = lead.post(url, json=bad)
        assert answer.status_code == 422, bad
        assert fragment in answer.json()["detail"], answer.json()
    assert _observations(node) == before


ACCESS_LINES = (
    '198.51.100.23 - - [20/Nov/2026:03:14:07 -0500] "POST /admin/login HTTP/1.1" 200 512\n'
    '203.0.113.9 - - [20/Nov/2026:09:30:00 +0100] "GET / HTTP/1.1" 200 1024\n'
)


def test_log_lines_through_the_traffic_parsers_with_a_window(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    url = f"/api/investigations/{case['id']}/observations/log-lines"
    made = lead.post(url, json={"lines": ACCESS_LINES, "label": "bank access log"})
    assert made.status_code == 201, made.text
    rows = made.json()
    assert [(o["ip"], o["at"], o["source_zone"]) for o in rows] == [
        ("198.51.100.23", "2026-11-20T08:14:07Z", "-05:00"),
        ("203.0.113.9", "2026-11-20T08:30:00Z", "+01:00"),
    ]
    assert rows[0]["tolerance_s"] == 2.0 and rows[0]["kind"] == "log_line"
    assert rows[0]["raw"].startswith("198.51.100.23")
    assert rows[0]["source_label"] == "bank access log line 1"
    windowed = lead.post(
        url,
        json={
            "lines": ACCESS_LINES,
            "start": "2026-11-20T08:00:00Z",
            "end": "2026-11-20T08:20:00Z",
        },
    ).json()
    assert [o["ip"] for o in windowed] == ["198.51.100.23"]
    before = _observations(node)
    bad = lead.post(
        url, json={"lines": ACCESS_LINES + "this is no log line\n", "format": "web-access"}
    )
    assert bad.status_code == 422 and "line 3" in json.dumps(bad.json())
    assert lead.post(url, json={"lines": "   "}).status_code == 422
    assert _observations(node) == before


def test_real_apache_sample_lines_with_zone_offsets(node: Node) -> None:
    sample = samples_dir() / "elastic-integrations" / "test-access-basic.log"
    lines = [line for line in sample.read_text().splitlines() if "+0530" in line or "-0700" in line]
    assert lines
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    answer = lead.post(
        f"/api/investigations/{case['id']}/observations/log-lines",
        json={"lines": "\n".join(lines[:2]), "format": "web-access"},
    )
    assert answer.status_code == 201, answer.text
    for obs in answer.json():
        assert obs["at"].endswith("Z") and obs["source_zone"] in ("+05:30", "-07:00")


def test_headers_become_observations_with_flags(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    message = (
        "Received: from relay.example.net ([198.51.100.23]) by mx.example.org;"
        " Fri, 20 Nov 2026 09:14:09 +0100\n"
        "Received: from laptop ([10.0.0.7]) by relay.example.net; 20 Nov 2026 08:14:07\n"
        "Subject: x\n\nbody\n"
    )
    answer = lead.post(
        f"/api/investigations/{case['id']}/observations/headers", json={"message": message}
    )
    assert answer.status_code == 201, answer.text
    first, second = answer.json()
    assert first["ip"] == "10.0.0.7" and first["at"] is None
    assert "time_without_zone" in first["flags"] and "private_from_ip" in first["flags"]
    assert second["at"] == "2026-11-20T08:14:09Z" and second["tolerance_s"] == 30.0
    notmail = lead.post(
        f"/api/investigations/{case['id']}/observations/headers", json={"message": "hello there"}
    )
    assert notmail.status_code == 422 and "not an RFC 5322 message" in notmail.json()["detail"]


def test_csv_and_json_imports_are_all_or_nothing(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    url = f"/api/investigations/{case['id']}/observations/import"
    csv_text = "ip,at,port,seen\n198.51.100.23,2026-11-20T08:14:07Z,51512,login\n"
    made = lead.post(url, json={"format": "csv", "text": csv_text})
    assert made.status_code == 201 and made.json()[0]["port"] == 51512
    assert made.json()[0]["tolerance_s"] == 5.0
    as_json = json.dumps([{"ip": "2001:db8::5", "at": "2026-11-20T09:14:07+01:00"}])
    made = lead.post(url, json={"format": "json", "text": as_json})
    assert made.status_code == 201 and made.json()[0]["at"] == "2026-11-20T08:14:07Z"
    before = _observations(node)
    bad_csv = csv_text + "not-an-ip,2026-11-20T08:14:07Z,,\n198.51.100.1,2026-11-20T08:14:07,,\n"
    answer = lead.post(url, json={"format": "csv", "text": bad_csv})
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert any(p.startswith("line 3") for p in problems)
    assert any(p.startswith("line 4") and "no zone" in p for p in problems)
    assert lead.post(url, json={"format": "json", "text": "{"}).status_code == 422
    assert lead.post(url, json={"format": "xml", "text": "<a/>"}).status_code == 422
    assert lead.post(url, json={"format": "csv", "text": "ip,at,colour\n"}).status_code == 422
    assert _observations(node) == before


def test_links_to_unknown_requests_or_holds_are_refused(node: Node) -> None:
    lead = client_for(node, [Role.INVESTIGATOR])
    case = _open(lead)
    url = f"/api/investigations/{case['id']}/links"
    assert lead.post(url, json={"kind": "request", "id": "no-such"}).status_code == 404
    assert lead.post(url, json={"kind": "hold", "id": "hold-0123456789abcdef"}).status_code == 404
    assert lead.post(url, json={"kind": "evidence", "id": "x"}).status_code == 422
    assert "investigation.linked" not in _audit_actions(node)


def test_pages_list_open_and_add(node: Node) -> None:
    browser = browser_login(node, [Role.INVESTIGATOR], "agent.page")
    page = browser.get("/investigations")
    assert page.status_code == 200 and "Open an investigation" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    made = browser.post(
        "/investigations",
        data={**CASE, "conduct": CASE["conduct"], "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    view = browser.get(made.headers["location"])
    assert "Harbor Mutual Bank intrusion" in view.text
    bad = browser.post(
        made.headers["location"] + "/add",
        data={
            "what": "event",
            "ip": "198.51.100.23",
            "at": "2026-11-20T03:14:07",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "no zone" in bad.text
    good = browser.post(
        made.headers["location"] + "/add",
        data={
            "what": "event",
            "ip": "198.51.100.23",
            "port": "51512",
            "at": "2026-11-20T03:14:07-05:00",
            "csrf_token": token,
        },
    )
    assert good.status_code == 200 and "2026-11-20 08:14:07 UTC" in good.text


def test_an_observation_offers_the_drafting_form_pre_filled(node: Node) -> None:
    """Issue 15: from an investigation's observation, the drafting form opens with the case's
    reference and handling and the observation's address, port and time."""
    import html
    import re

    browser = browser_login(node, [Role.INVESTIGATOR], "agent.draft")
    page = browser.get("/investigations")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    made = browser.post(
        "/investigations",
        data={**CASE, "conduct": CASE["conduct"], "csrf_token": token},
        follow_redirects=False,
    )
    case_url = made.headers["location"]
    view = browser.post(
        case_url + "/add",
        data={
            "what": "event",
            "ip": "2001:db8::23",
            "port": "51512",
            "at": "2026-11-20T03:14:07.250-05:00",
            "csrf_token": token,
        },
    )
    link = re.search(r'<a href="(/requests/new\?[^"]+)">Draft a request</a>', view.text)
    assert link, "no drafting link on the observation"
    form = browser.get(html.unescape(link.group(1)))
    assert form.status_code == 200
    assert 'value="US-FBI-2026-0117"' in form.text
    assert re.search(r'name="data_to_preserve.0.ip" value="2001:db8::23"', form.text)
    assert re.search(r'name="data_to_preserve.0.port" value="51512"', form.text)
    assert "2026-11-20T08:14:07.250000Z" in form.text  # the instant in UTC, as stored
    assert re.search(r'<option value="H1" selected', form.text)
    assert re.search(r'<option value="TLP:AMBER" selected', form.text)
    assert "Pre-filled from investigation US-FBI-2026-0117, observation 1" in form.text
