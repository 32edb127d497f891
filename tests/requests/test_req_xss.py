"""Stored XSS (issue 11, point 2): a recipient that is not a directory node is refused when
drafting, naming it; and a value already stored (before this check, or by any other path) is
shown as text by the request page, never as markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from req_kit import START, principal
from req_payloads import payload

from helpers import browser_login, client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.core.clock import FixedClock
from trailguard.requests import service
from trailguard.requests.orm import RequestRow

# fits the column (63 characters): a script and an event handler, each setting a marker
PAYLOAD = '"><script>__xss=1;alert(1)</script><img src=x onerror=__xss=2>'


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Any:
    node = make_node(
        tmp_path, database_url, node_id="us-poc", country="US", clock=FixedClock(START)
    )
    try:
        yield node
    finally:
        node.close()


def stored_payload_request(node: Any, value: str = PAYLOAD) -> str:
    """An approved request whose stored recipient is ``value`` (written straight to the
    database, as a node before the directory check could have stored it)."""
    draft = service.draft_request(
        node, principal("ivy", Role.INVESTIGATOR), payload("preservation")
    )
    service.approve_request(node, principal("dirk", Role.DUTY_OFFICER), draft.id)
    with node.db.session() as session:
        row = session.get(RequestRow, draft.id)
        assert row is not None
        row.counterpart_node = value
    return draft.id


def test_a_draft_naming_an_unknown_recipient_is_refused(node: Any) -> None:
    drafter = client_for(node, [Role.INVESTIGATOR])
    answer = drafter.post(
        "/api/requests", json={"body": payload("preservation"), "recipient": PAYLOAD}
    )
    # not even a node id (the documented pattern): refused before the directory is asked
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/json")
    (problem,) = answer.json()["problems"]
    assert problem.startswith("body.recipient: ") and problem.endswith(
        "is not a node id (2-63 lower-case letters, digits, . or -)"
    )
    assert "<script>__xss=1" in problem  # names it (JSON, not HTML)
    assert drafter.get("/api/requests").json() == []  # nothing stored

    page = browser_login(node, [Role.INVESTIGATOR])
    form = page.get("/requests/new?kind=preservation")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    refused = page.post(
        "/requests/new",
        data={
            "body": json.dumps(payload("preservation")),
            "kind": "preservation",
            "recipient": PAYLOAD,
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert f"recipient: unknown node {escape(repr(PAYLOAD))}" in refused.text
    assert "<script>__xss" not in refused.text  # the error names it escaped
    assert drafter.get("/api/requests").json() == []


def test_a_stored_payload_is_shown_as_text(node: Any) -> None:
    request_id = stored_payload_request(node)
    page = browser_login(node, [Role.DUTY_OFFICER]).get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "<script>__xss" not in page.text
    assert "<img src=x" not in page.text
    # the recipient field carries the stored text, escaped, as its value
    assert f'name="recipient" placeholder="recipient node" value="{escape(PAYLOAD)}"' in page.text
