"""The drafting form is generated from the request types (one source of truth): every
element of every kind has a field, labelled with its article; the form's answers become
the same request the JSON API takes; errors are shown next to their fields."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from req_kit import know_peer
from req_payloads import ALL, payload

from helpers import browser_login, make_node
from trailguard.accounts.domain import Role
from trailguard.requests.domain import parse_request
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.types import REQUEST_TYPES
from trailguard.requests.form import (
    SKIPPED,
    body_from_form,
    form_for,
    prefill,
    problems_by_field,
)


def _names(specs: list[Any]) -> set[str]:
    names = set()
    for spec in specs:
        names.add(spec.name)
        names |= _names(spec.children)
    return names


def _answers(data: dict[str, Any]) -> dict[str, list[str]]:
    """What a browser sends for the pre-filled form (check boxes: one value per box)."""
    kind = RequestKind(data["kind"])
    multi = {s.name for s in form_for(kind) if s.widget == "multi"}
    return {
        name: (value.split("\n") if name in multi else [value])
        for name, value in prefill(form_for(kind), data).items()
    }


@pytest.mark.parametrize("kind", list(RequestKind))
def test_every_element_of_every_kind_has_a_field(kind: RequestKind) -> None:
    names = _names(form_for(kind))
    model = REQUEST_TYPES[kind]
    for name in model.model_fields:
        if name in SKIPPED:
            continue
        assert name in names, f"{kind.value}: no form field for {name}"
    labels = {spec.name: spec.label for spec in form_for(kind)}
    for name, label in getattr(model, "ELEMENTS", {}).items():
        if name in labels:
            assert labels[name] == label  # the article travels with the field


def test_preservation_fields_carry_articles_widgets_and_rows() -> None:
    fields = {spec.name: spec for spec in form_for(RequestKind.PRESERVATION)}
    assert fields["seeking_authority"].label.startswith("Art. 29(2)(a)")
    assert fields["requested_party"].widget == "country"
    assert fields["date_issued"].widget == "date"
    assert fields["mla_intended"].widget == "checkbox"
    rows = fields["data_to_preserve"]
    assert rows.widget == "rows" and "ip_endpoint" in rows.variants
    endpoint = {s.name.rsplit(".", 1)[-1]: s for s in rows.variants["ip_endpoint"]}
    assert endpoint["timestamp"].widget == "datetime" and "zone" in endpoint["timestamp"].help
    assert endpoint["protocol"].choices[:2] == ["tcp", "udp"]


@pytest.mark.parametrize("kind", sorted(ALL))
def test_form_answers_make_the_same_request_as_the_json(kind: str) -> None:
    data = payload(kind)
    expected = parse_request(data)
    body = body_from_form(RequestKind(kind), _answers(data))
    assert parse_request(body) == expected


def test_two_endpoint_rows_and_an_empty_added_row() -> None:
    data = payload("preservation")
    answers = _answers(data)
    answers["data_to_preserve.50.type"] = ["ip_endpoint"]
    answers["data_to_preserve.50.protocol"] = ["tcp"]  # an added row left empty: ignored
    body = body_from_form(RequestKind.PRESERVATION, answers)
    assert len(body["data_to_preserve"]) == len(data["data_to_preserve"])


def test_problems_land_on_their_fields() -> None:
    by_field, general = problems_by_field(
        [
            "missing: seeking_authority (Art. 29(2)(a) the authority seeking the preservation)",
            "missing: data_to_preserve.0.ip_endpoint.ip",
            "requesting_authority.email: 'x' is not an e-mail address (got 'x')",
            "retention: 'flow' must look like flow=30",
        ]
    )
    assert by_field["seeking_authority"] == ["required"]
    assert by_field["data_to_preserve.0.ip"] == ["required"]
    assert "not an e-mail address" in by_field["requesting_authority.email"][0]
    assert "retention" in by_field and not general


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    node = make_node(
        tmp_path, f"sqlite:///{tmp_path / 'us.db'}", node_id="us-poc", country="US",
        timezone="America/New_York",
    )  # fmt: skip
    know_peer(node)  # the draft's recipient must be a node the directory knows
    yield node
    node.close()


def test_drafting_by_form_in_the_page(node) -> None:  # type: ignore[no-untyped-def]
    browser = browser_login(node, [Role.INVESTIGATOR])
    page = browser.get("/requests/new?kind=preservation")
    assert page.status_code == 200
    assert 'id="f-seeking_authority"' in page.text and 'name="data_to_preserve.0.ip"' in page.text
    assert 'value="US node us-poc"' in page.text  # pre-filled from the node
    assert "Advanced: the same request as JSON" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    blank = browser.post("/requests/new/form", data={"csrf_token": token, "kind": "preservation"})
    assert blank.status_code == 422
    assert re.search(r'id="f-seeking_authority"[^>]*aria-invalid="true"', blank.text)
    assert 'id="f-seeking_authority-error"' in blank.text

    more = browser.post(
        "/requests/new/form",
        data={"csrf_token": token, "kind": "preservation", "add_row": "data_to_preserve"},
    )
    assert more.status_code == 200 and 'name="data_to_preserve.1.ip"' in more.text

    answers = {k: v[0] for k, v in _answers(payload("preservation")).items()}
    answers.update(csrf_token=token, recipient="nl-poc")
    done = browser.post("/requests/new/form", data=answers, follow_redirects=False)
    assert done.status_code == 303, re.findall(r'class="field-error"[^>]*>([^<]*)', done.text)
    draft = browser.get(done.headers["location"])
    assert "Preservation (Art. 29)" in draft.text
    assert payload("preservation")["reference"] in draft.text


def _oob_errors(html: str) -> dict[str, str]:
    """Each out-of-band field-error box of a validation fragment: field id -> its text."""
    return {
        m.group(1): re.sub(r"<[^>]+>", "", m.group(2)).strip()
        for m in re.finditer(
            r'<div class="field-errors" id="(f-[^"]+)-errors" hx-swap-oob="true">(.*?)</div>',
            html,
            re.S,
        )
    }


def test_validation_as_you_type(node) -> None:  # type: ignore[no-untyped-def]
    browser = browser_login(node, [Role.INVESTIGATOR])
    page = browser.get("/requests/new?kind=preservation")
    # the fields ask to be checked while typing; every field has a box for its errors
    assert 'hx-post="/requests/new/form/check"' in page.text
    assert 'id="f-data_to_preserve-0-ip-errors"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    answers = {k: v[0] for k, v in _answers(payload("preservation")).items()}
    answers.update(csrf_token=token, kind="preservation")
    good = browser.post("/requests/new/form/check", data=answers)
    assert good.status_code == 200
    assert "Every required element is there" in good.text
    boxes = _oob_errors(good.text)
    assert "f-data_to_preserve-0-ip" in boxes and "f-seeking_authority" in boxes
    assert not any(boxes.values())  # every box emptied

    # an address typed wrong is named beside its field at once; a field left empty is only
    # listed in the summary (no red field the person has not reached yet)
    typed = dict(answers)
    typed["data_to_preserve.0.ip"] = "203.0.113.300"
    typed["seeking_authority"] = ""
    bad = browser.post("/requests/new/form/check", data=typed)
    boxes = _oob_errors(bad.text)
    assert boxes["f-data_to_preserve-0-ip"], bad.text
    assert boxes["f-seeking_authority"] == ""
    summary = bad.text.split('id="form-check"', 1)[1].split("</div>", 1)[0]
    assert 'href="#f-seeking_authority"' in summary and "required" in summary
    assert 'href="#f-data_to_preserve-0-ip"' in summary
    # beside the field, without its path; refused as IPv4 and as IPv6, said once
    assert boxes["f-data_to_preserve-0-ip"].startswith("Input is not a valid IPv4 or IPv6 address")
    assert summary.count("<li>") == 2, summary
    # the check stores nothing
    assert payload("preservation")["reference"] not in browser.get("/requests").text


def test_the_check_needs_a_drafter(node) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login(node, [Role.ADMIN])
    token = re.search(  # type: ignore[union-attr]
        r'name="csrf_token" value="([^"]+)"', admin.get("/").text
    ).group(1)
    refused = admin.post("/requests/new/form/check", data={"csrf_token": token})
    assert refused.status_code == 403


def test_a_draft_pre_filled_from_another_page(node) -> None:  # type: ignore[no-untyped-def]
    from trailguard.requests import draft_link

    link = draft_link(
        "preservation",
        {
            "reference": "NIGHTJAR-7",
            "offence": "illegal access",
            "data_to_preserve.0.ip": "203.0.113.7",
            "data_to_preserve.0.port": 40001,
            "data_to_preserve.0.timestamp": "2026-11-20T03:14:07-05:00",
            "data_to_preserve.1.ip": "2001:db8::7",
            "no_such_field": "x",
            "notes": None,
        },
        recipient="nl-poc",
        source="trace T-1, hop 2",
    )
    browser = browser_login(node, [Role.INVESTIGATOR])
    page = browser.get(link)
    assert page.status_code == 200
    text = page.text
    assert 'value="NIGHTJAR-7"' in text and 'value="illegal access"' in text
    assert re.search(r'name="data_to_preserve.0.ip" value="203.0.113.7"', text)
    assert re.search(r'name="data_to_preserve.0.port" value="40001"', text)
    assert re.search(r'name="data_to_preserve.1.ip" value="2001:db8::7"', text)  # a second row
    assert 'value="US node us-poc"' in text  # the node's own values stay
    assert re.search(r"<option value=\"nl-poc\" selected", text)  # passed recipient kept
    assert "Pre-filled from trace T-1, hop 2" in text
    assert "not used: no_such_field" in text
    # what is passed is shown, never stored: the draft exists only after "Save draft"
    assert "NIGHTJAR-7" not in browser.get("/requests").text
    # markup in a passed value is text
    hostile = browser.get(draft_link("preservation", {"reference": "<script>x</script>"}))
    assert "<script>x</script>" not in hostile.text and "&lt;script&gt;" in hostile.text
