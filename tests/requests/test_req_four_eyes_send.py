"""Four eyes on sending: when no person drafted a request (the trace drafted it from an
answer), the person who approved it may not also send it; another person does. A request a
person drafted is sent by the drafter or the approver, as before; a recorded auto-send
policy approves and sends by its own recorded rule."""

from __future__ import annotations

import re
from typing import Any

import pytest
from req_kit import principal
from req_payloads import payload

from helpers import browser_login, client_for
from trailguard.accounts.domain import Principal, Role
from trailguard.core.errors import PermissionDenied
from trailguard.requests import service
from trailguard.requests.domain.four_eyes import is_person, send_refusal

# The shapes of the principals that act when nobody is at the keyboard (trace/service/common.py)
ANSWERS = Principal(0, "trace:answers", "trace: answer received", frozenset({Role.INVESTIGATOR}))
POLICY = Principal(
    0, "policy:auto-send", "recorded auto-send policy", frozenset({Role.DUTY_OFFICER})
)
SEND_BUTTON = re.compile(r'name="action" value="send".*?>Send</button>', re.S)


@pytest.fixture
def node(net3: Any) -> Any:
    """The US point of contact of a linked network (a request is sent to NL's over it)."""
    return net3.us


def _approved(node: Any, drafter: Principal, approver: Principal, reference: str) -> str:
    view = service.draft_request(
        node, drafter, payload("preservation", reference=reference), recipient="nl-poc"
    )
    if view.legal_basis is None:
        service.override_legal_basis(
            node, principal("cora", Role.CENTRAL_AUTHORITY), view.id, "x" * 30
        )
    service.approve_request(node, approver, view.id)
    return view.id


def test_who_is_a_person() -> None:
    assert is_person("user:dora") and is_person("user:officer-a")
    for actor in (
        "user:trace:answers",
        "user:policy:auto-send",
        "user:trace:disclosure:nl-poc",
        "node:nl-poc",
        "system:cli",
        "user:",
        "",
        None,
    ):
        assert not is_person(actor), actor
    # the rule binds only a person who approved what no person drafted
    assert send_refusal("user:trace:answers", "user:dora", "user:dora")
    assert send_refusal("user:trace:answers", "user:dora", "user:dirk") is None
    assert send_refusal("user:ivy", "user:dora", "user:dora") is None
    assert (
        send_refusal("user:trace:answers", "user:policy:auto-send", "user:policy:auto-send") is None
    )


def test_the_approver_of_a_system_drafted_request_cannot_send_it(node: Any) -> None:
    dora = principal("dora", Role.DUTY_OFFICER)
    dirk = principal("dirk", Role.DUTY_OFFICER)
    request_id = _approved(node, ANSWERS, dora, "US-2026-0101")

    with pytest.raises(PermissionDenied, match="four-eyes") as refused:
        service.send_request(node, dora, request_id)
    assert "drafted by trace:answers" in str(refused.value)
    assert "another person must send it" in str(refused.value)
    assert service.get_request(node, request_id).state.value == "approved"  # nothing sent

    sent = service.send_request(node, dirk, request_id)
    assert sent.state.value == "sent"
    assert [t.actor for t in sent.transitions][-2:] == ["user:dora", "user:dirk"]


def test_a_person_drafted_request_is_sent_by_its_drafter_or_its_approver(node: Any) -> None:
    ivy = principal("ivy", Role.INVESTIGATOR)
    dora = principal("dora", Role.DUTY_OFFICER)
    by_drafter = _approved(node, ivy, dora, "US-2026-0102")
    assert service.send_request(node, ivy, by_drafter).state.value == "sent"
    by_approver = _approved(node, ivy, dora, "US-2026-0103")
    assert service.send_request(node, dora, by_approver).state.value == "sent"


def test_the_recorded_auto_send_policy_approves_and_sends(node: Any) -> None:
    request_id = _approved(node, ANSWERS, POLICY, "US-2026-0104")
    sent = service.send_request(node, POLICY, request_id)
    assert sent.state.value == "sent" and sent.approved_by == "user:policy:auto-send"


def test_api_answers_403_with_the_four_eyes_reason(node: Any) -> None:
    approver = client_for(node, [Role.DUTY_OFFICER], username="officer-a")
    other = client_for(node, [Role.INVESTIGATOR], username="investigator-b")
    view = service.draft_request(
        node, ANSWERS, payload("preservation", reference="US-2026-0105"), recipient="nl-poc"
    )
    assert view.legal_basis is not None
    assert approver.post(f"/api/requests/{view.id}/approve").status_code == 200

    refused = approver.post(f"/api/requests/{view.id}/send", json={})
    assert refused.status_code == 403
    assert "four-eyes" in refused.json()["detail"]
    assert "officer-a approved it" in refused.json()["detail"]

    sent = other.post(f"/api/requests/{view.id}/send", json={})
    assert sent.status_code == 200 and sent.json()["state"] == "sent"


def _action_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_the_page_offers_send_only_to_whom_four_eyes_accepts(node: Any) -> None:
    approver = browser_login(node, [Role.DUTY_OFFICER], username="officer-a")
    other = browser_login(node, [Role.INVESTIGATOR], username="investigator-b")
    officer_a = principal("officer-a", Role.DUTY_OFFICER)
    system_drafted = _approved(node, ANSWERS, officer_a, "US-2026-0106")
    url = f"/requests/{system_drafted}"

    own = approver.get(url).text
    assert not SEND_BUTTON.search(own)
    assert "You may not send it: no person drafted this request" in own
    assert "another person must send it" in own
    # the form refuses too, with the same reason (not only a hidden button)
    denied = approver.post(
        f"{url}/action",
        data={"action": "send", "csrf_token": _action_token(own)},
        follow_redirects=False,
    )
    assert denied.status_code == 422 and "four-eyes" in denied.text

    second = other.get(url).text
    assert SEND_BUTTON.search(second) and "You may not send it" not in second
    done = other.post(
        f"{url}/action",
        data={"action": "send", "csrf_token": _action_token(second)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert service.get_request(node, system_drafted).state.value == "sent"

    # a request a person drafted: its approver is offered Send, as before
    ivy = principal("ivy", Role.INVESTIGATOR)
    person_drafted = _approved(node, ivy, officer_a, "US-2026-0107")
    page = approver.get(f"/requests/{person_drafted}").text
    assert SEND_BUTTON.search(page) and "You may not send it" not in page
