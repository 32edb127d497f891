"""The JSON API (under /api/requests, in the OpenAPI document) and the pages, on one node."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from req_kit import START, know_peer
from req_payloads import payload

from helpers import browser_login, client_for, make_node
from trailguard.accounts.domain import Role


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Any:
    from trailguard.core.clock import FixedClock

    node = make_node(
        tmp_path,
        database_url,
        node_id="us-poc",
        country="US",
        timezone="America/New_York",
        clock=FixedClock(START),
    )
    try:
        yield node
    finally:
        node.close()


def test_api_draft_approve_and_documents(node: Any) -> None:
    drafter = client_for(node, [Role.INVESTIGATOR])
    approver = client_for(node, [Role.DUTY_OFFICER])
    liaison = client_for(node, [Role.PROVIDER_LIAISON])

    bad = payload("preservation")
    del bad["custodian"], bad["necessity"]
    answer = drafter.post("/api/requests", json={"body": bad})
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert any("custodian" in p and "29(2)(d)" in p for p in problems)
    assert any("necessity" in p and "29(2)(e)" in p for p in problems)

    checked = drafter.post("/api/requests/validate", json=bad).json()
    assert checked["valid"] is False and len(checked["problems"]) == 2

    assert liaison.post("/api/requests", json={"body": payload("preservation")}).status_code == 403
    unknown = drafter.post(
        "/api/requests",
        json={"body": payload("preservation"), "recipient": "nl-poc"},
    )
    # a body naming a node the directory does not know: 404, as documented (issue 11)
    assert unknown.status_code == 404
    assert "'nl-poc' is not in this node's directory" in unknown.json()["detail"]
    created = drafter.post(
        "/api/requests",
        json={"body": payload("preservation"), "retention_days": {"flow": 30}},
    )
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    assert created.json()["legal_basis"]["instrument"]
    assert created.json()["nearest_deadline"]["kind"] == "retention_deletion"

    assert drafter.post(f"/api/requests/{request_id}/approve").status_code == 403
    approved = approver.post(f"/api/requests/{request_id}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    # the recipient is not in this node's directory: refused before anything is sent
    sent = approver.post(f"/api/requests/{request_id}/send", json={"recipient": "nl-poc"})
    assert sent.status_code == 404 and "nl-poc" in sent.json()["detail"]
    bad_transition = approver.post(f"/api/requests/{request_id}/approve")
    assert bad_transition.status_code == 422 and "'approved'" in bad_transition.json()["detail"]

    listing = approver.get("/api/requests", params={"direction": "outbound"}).json()
    assert [r["id"] for r in listing] == [request_id]
    pdf = approver.get(f"/api/requests/{request_id}/document.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="US-2026-0042.pdf"'
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "US-2026-0042" in text and request_id in re.sub(r"\s+", "", text)
    html = approver.get(f"/api/requests/{request_id}/document.html")
    assert html.status_code == 200 and "Polderhost" in html.text

    missing = approver.get("/api/requests/00000000-0000-4000-8000-000000000009")
    assert missing.status_code == 404


def test_openapi_lists_the_requests_api(node: Any) -> None:
    client = client_for(node, [Role.DUTY_OFFICER])
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/requests",
        "/api/requests/{request_id}",
        "/api/requests/{request_id}/send",
        "/api/requests/{request_id}/preserve",
        "/api/requests/{request_id}/refuse",
        "/api/requests/{request_id}/document.pdf",
    ):
        assert path in paths, path


def test_pages_draft_with_inline_validation(node: Any) -> None:

    know_peer(node)
    browser = browser_login(node, [Role.INVESTIGATOR])
    page = browser.get("/requests/new?kind=preservation")
    assert page.status_code == 200
    assert 'hx-post="/requests/new/check"' in page.text
    assert "seeking_authority" in page.text  # the blank draft names what is missing
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    bad = payload("preservation")
    del bad["seeking_authority"]
    fragment = browser.post(
        "/requests/new/check", data={"body": json.dumps(bad), "csrf_token": token}
    )
    assert fragment.status_code == 200
    assert "seeking_authority" in fragment.text and "29(2)(a)" in fragment.text
    broken = browser.post("/requests/new/check", data={"body": "{not json", "csrf_token": token})
    assert "not valid JSON" in broken.text

    refused = browser.post(
        "/requests/new", data={"body": json.dumps(bad), "kind": "preservation", "csrf_token": token}
    )
    assert refused.status_code == 422 and "29(2)(a)" in refused.text
    made = browser.post(
        "/requests/new",
        data={
            "body": json.dumps(payload("preservation")),
            "kind": "preservation",
            "recipient": "nl-poc",
            "retention": "flow=30",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    view = browser.get(made.headers["location"])
    assert view.status_code == 200
    assert "Clocks" in view.text and "flow records deleted by retention" in view.text
    assert "Timeline" in view.text and "draft" in view.text
    listing = browser.get("/requests")
    assert "US-2026-0042" in listing.text and "Outbox" in listing.text

    # the drafter cannot approve (role and four eyes): the page says why
    request_url = made.headers["location"]
    denied = browser.post(f"{request_url}/action", data={"action": "approve", "csrf_token": token})
    assert denied.status_code == 422 and "needs one of the roles" in denied.text
    pdf = browser.get(f"{request_url}/document.pdf")
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="US-2026-0042.pdf"'


@pytest.mark.parametrize(
    ("reference", "filename"),
    [
        ('US/2026 "0042"', "US_2026__0042_.pdf"),  # a quote would end the header's name
        ("NL-2026_7", "NL-2026_7.pdf"),
        ("DE-Aktenzeichen-Lösch-1", "DE-Aktenzeichen-L_sch-1.pdf"),
        ("JP-事件-1", "JP-__-1.pdf"),  # not Latin-1: the header could not carry it
    ],
)
def test_the_pdf_download_is_named_safely_after_the_reference(
    node: Any, reference: str, filename: str
) -> None:
    drafter = client_for(node, [Role.DUTY_OFFICER])
    body = payload("preservation")
    body["reference"] = reference
    created = drafter.post("/api/requests", json={"body": body})
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    api = drafter.get(f"/api/requests/{request_id}/document.pdf")
    assert api.status_code == 200 and api.content.startswith(b"%PDF")
    assert api.headers["content-disposition"] == f'attachment; filename="{filename}"'
    page = browser_login(node, [Role.DUTY_OFFICER], username="reader-b").get(
        f"/requests/{request_id}/document.pdf"
    )
    assert page.status_code == 200
    assert page.headers["content-disposition"] == api.headers["content-disposition"]


def test_the_approve_button_only_for_whom_four_eyes_accepts(node: Any) -> None:
    """Issue 15: the drafter no longer sees an Approve button the four-eyes rule refuses; the
    page says who must approve instead."""
    know_peer(node)
    officer = browser_login(node, [Role.DUTY_OFFICER], username="officer-a")
    other = browser_login(node, [Role.DUTY_OFFICER], username="officer-b")
    investigator = browser_login(node, [Role.INVESTIGATOR], username="investigator-c")
    page = officer.get("/requests/new?kind=preservation")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    made = officer.post(
        "/requests/new",
        data={
            "body": json.dumps(payload("preservation")),
            "kind": "preservation",
            "recipient": "nl-poc",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    url = made.headers["location"]
    approve_button = re.compile(r'name="action" value="approve".*?Approve \(four eyes\)', re.S)

    own = officer.get(url).text
    assert not approve_button.search(own)
    assert "You drafted this request: another duty officer or central authority" in own
    seen_by_investigator = investigator.get(url).text
    assert not approve_button.search(seen_by_investigator)
    assert "Awaiting approval by a duty officer or central authority" in seen_by_investigator

    second = other.get(url).text
    assert approve_button.search(second) and "You drafted this request" not in second
    token_b = re.search(r'name="csrf_token" value="([^"]+)"', second).group(1)  # type: ignore[union-attr]
    done = other.post(
        f"{url}/action", data={"action": "approve", "csrf_token": token_b}, follow_redirects=False
    )
    assert done.status_code == 303
    after = officer.get(url).text
    assert not approve_button.search(after) and "Awaiting approval" not in after
