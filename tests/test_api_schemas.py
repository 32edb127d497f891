"""The API documents what it accepts and accepts what it documents (issue 11, point 11):
country codes are an enum, date-times require their offset, text that must say something
says so, closed lists are enums, free-form bodies publish their real shape. Each test pins a
finding of schemathesis ("schema-valid request rejected with 422") or a value the schema
allows that the node must take."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from helpers import client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.core.apitypes import (
    COUNTRY_CODES,
    INSTANT_PATTERN,
    LAW_DAY_PATTERN,
    LAW_EARLIEST,
    non_blank_pattern,
)
from trailguard.core.countries import iso_countries


@pytest.fixture
def app_and_node(tmp_path: Path) -> Any:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    yield create_app(node), node
    node.close()


def _parameter(doc: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    for parameter in doc["paths"][path][method]["parameters"]:
        if parameter["name"] == name:
            schema = parameter["schema"]
            # an optional parameter is anyOf [its schema, null]
            for option in schema.get("anyOf", []):
                if option.get("type") != "null" and ("enum" in option or "pattern" in option):
                    return dict(option)
            return dict(schema)
    raise AssertionError(f"{path} has no parameter {name}")


def _body(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    name = ref["$ref"].rsplit("/", 1)[1]
    return dict(doc["components"]["schemas"][name])


# --- the document ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/law/check", "from"),
        ("/api/law/check", "to"),
        ("/api/law/channels", "provider_country"),
        ("/api/law/realtime", "to"),
        ("/api/requests/recipient", "country"),
    ],
)
def test_a_country_is_documented_as_an_iso_3166_alpha_2_enum(
    app_and_node: Any, path: str, name: str
) -> None:
    app, _node = app_and_node
    schema = _parameter(app.openapi(), path, name)
    assert schema["enum"] == sorted(iso_countries())
    assert "NL" in schema["enum"] and "UK" not in schema["enum"] and "" not in schema["enum"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/traffic/lookup", "at"),
        ("/api/traffic/flows", "start"),
        ("/api/trace/attribute", "at"),
        ("/api/directory", "at"),
    ],
)
def test_a_date_time_is_documented_with_its_offset_required(
    app_and_node: Any, path: str, name: str
) -> None:
    app, _node = app_and_node
    schema = _parameter(app.openapi(), path, name)
    assert schema["format"] == "date-time"
    pattern = re.compile(schema["pattern"])
    assert pattern.search("2026-11-20T03:14:07-05:00") and pattern.search("2026-11-20T08:14:07Z")
    assert pattern.search("2026-11-20T08:14:07.123456+00:00")
    for no_offset in ("2026-11-20T03:14:07", "0.5", "1700000000", "", "2026-11-20"):
        assert not pattern.search(no_offset), no_offset


def test_a_body_that_must_say_something_says_so(app_and_node: Any) -> None:
    app, _node = app_and_node
    doc = app.openapi()
    close = _body(doc, "/api/requests/{request_id}/close")
    assert close["properties"]["reason"]["pattern"] == non_blank_pattern()
    assert close["properties"]["reason"]["minLength"] == 1
    override = _body(doc, "/api/requests/{request_id}/override")["properties"]["justification"]
    assert override["minLength"] == 20
    pattern = re.compile(override["pattern"])
    assert not pattern.search(" " * 30) and not pattern.search("  " + "x" * 19 + "  ")
    assert pattern.search("  " + "x" * 20 + "  ")


def test_closed_lists_are_enums(app_and_node: Any) -> None:
    app, _node = app_and_node
    doc = app.openapi()
    assert _parameter(doc, "/api/requests", "direction")["enum"] == ["inbound", "outbound"]
    assert "preservation" in _parameter(doc, "/api/law/check", "measure")["enum"]
    answer = _body(doc, "/api/traces/{trace_id}/hops/{hop_id}/answers")["properties"]["kind"]
    assert answer["enum"] == ["preserved", "refused", "no_data", "next_hop", "subscriber"]
    member = _body(doc, "/api/investigations/{investigation_id}/members")["properties"]["role"]
    assert member["enum"] == ["lead", "member"]


def test_free_form_bodies_publish_their_shape(app_and_node: Any) -> None:
    app, _node = app_and_node
    doc = app.openapi()
    created = _body(doc, "/api/investigations")
    assert created["additionalProperties"] is False
    assert set(created["required"]) == {"reference", "title"}
    changed = doc["paths"]["/api/investigations/{investigation_id}"]["patch"]
    ref = changed["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["additionalProperties"] is False
    draft = _body(doc, "/api/requests")["properties"]["body"]
    kinds = set(draft["discriminator"]["mapping"])
    assert {"preservation", "mla", "epoc"} <= kinds
    preservation = doc["components"]["schemas"]["PreservationRequest"]
    assert preservation["required"][0] == "kind"
    entry = _body(doc, "/api/directory/entries/{node_id}", "put")
    assert entry["additionalProperties"] is False and "country" in entry["required"]


def test_a_law_day_starts_when_the_convention_opened_for_signature(app_and_node: Any) -> None:
    from trailguard.law.engine import get_engine

    assert get_engine().data.meta.earliest == LAW_EARLIEST
    pattern = re.compile(LAW_DAY_PATTERN)
    assert pattern.fullmatch("2001-11-23") and pattern.fullmatch("2026-02-28")
    assert not pattern.fullmatch("2001-11-22") and not pattern.fullmatch("0000-00-00")
    app, _node = app_and_node
    assert _parameter(app.openapi(), "/api/law/check", "as_of")["pattern"] == LAW_DAY_PATTERN


def test_the_traffic_api_lists_every_record_kind() -> None:
    from trailguard.traffic.api import RECORD_KINDS
    from trailguard.traffic.model import RecordKind

    assert tuple(kind.value for kind in RecordKind) == RECORD_KINDS


def test_the_country_list_is_iso_3166() -> None:
    assert len(COUNTRY_CODES) == len(iso_countries()) and all(
        re.fullmatch("[A-Z]{2}", code) for code in COUNTRY_CODES
    )
    assert re.fullmatch(INSTANT_PATTERN, "1899-12-31T23:59:59Z") is None


# --- the node does what the document says ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/law/check", {"from": "", "to": "", "conduct": "", "measure": ""}),
        ("/api/law/check", {"from": "nl", "to": "DE", "conduct": "illegal_access", "measure": "x"}),
        ("/api/law/sources", {"as_of": "0000-00-00"}),
        ("/api/law/sources", {"older_than": "8084894764", "stale": "true"}),
        ("/api/requests", {"direction": ""}),
        ("/api/requests/recipient", {"country": ""}),
        ("/api/trace/attribute", {"ip": ""}),
        ("/api/directory/lookup", {"ip": ""}),
    ],
)
def test_what_the_schema_refuses_is_a_422_in_the_error_shape(
    app_and_node: Any, path: str, params: dict[str, str]
) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.DUTY_OFFICER, Role.INVESTIGATOR])
    answer = person.get(path, params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_failed" and body["problems"]


def test_a_blank_reason_is_refused_with_words_a_person_reads(app_and_node: Any) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.DUTY_OFFICER])
    answer = person.post("/api/requests/no-such-request/close", json={"reason": "  "})
    assert answer.status_code == 422
    assert answer.json()["problems"] == ["body.reason: '  ' must not be empty or only white space"]
    # a reason that says something reaches the service: the request is unknown
    assert person.post("/api/requests/no-such/close", json={"reason": "done"}).status_code == 404


def test_values_the_schema_allows_are_accepted(app_and_node: Any) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.DUTY_OFFICER, Role.INVESTIGATOR])
    checked = person.get(
        "/api/law/check",
        params={"from": "NL", "to": "DE", "conduct": "illegal_access", "measure": "preservation"},
    )
    assert checked.status_code == 200, checked.text
    assert person.get("/api/law/sources", params={"as_of": "2026-11-20"}).status_code == 200
    realtime = person.get("/api/law/realtime", params={"from": "AD", "to": "AD"})
    assert realtime.status_code == 200, realtime.text
    assert person.get("/api/requests", params={"direction": "inbound"}).json() == []
    headers = person.post("/api/trace/headers", json={"message": "Subject: hello\n\nbody"})
    assert headers.status_code == 200 and headers.json() == {"hops": []}
    # no 24/7 point of contact for that country in this node's directory: 404, documented
    assert person.get("/api/requests/recipient", params={"country": "ZW"}).status_code == 404


def test_an_investigation_body_is_what_its_schema_says(app_and_node: Any) -> None:
    _app, node = app_and_node
    person = client_for(node, [Role.INVESTIGATOR])
    refused = person.post("/api/investigations", json={})
    assert refused.status_code == 422
    assert set(refused.json()["problems"]) == {
        "body.reference: Field required",
        "body.title: Field required",
    }
    created = person.post(
        "/api/investigations",
        json={"reference": "ZAAK-2026/1", "title": "Ransomware", "conduct": ["illegal_access"]},
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    extra = person.patch(f"/api/investigations/{case_id}", json={"x-unknown": 1})
    assert extra.status_code == 422 and "x-unknown" in extra.json()["detail"]
    event = person.post(
        f"/api/investigations/{case_id}/observations",
        json={"ip": "192.0.2.7", "at": "2026-11-20T03:14:07-05:00", "protocol": "tcp"},
    )
    assert event.status_code == 201, event.text
    seen = event.json()
    assert seen["at"].startswith("2026-11-20T08:14:07") and seen["source_zone"] == "-05:00"
    hold_link = person.post(
        f"/api/investigations/{case_id}/links", json={"kind": "hold", "id": "nope"}
    )
    assert hold_link.status_code == 422  # a hold id is hold-<16 hex digits>, as documented
    changed = person.patch(f"/api/investigations/{case_id}", json={"status": "closed"})
    assert changed.status_code == 200 and changed.json()["status"] == "closed"


def _keys(node: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            raw = key in {"ge", "le", "gt", "lt", "min_length", "max_length", "allow_inf_nan"}
            if raw and not path.endswith("/properties"):
                found.append((path, key))
            found.extend(_keys(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_keys(value, f"{path}/{index}"))
    return found


def test_numeric_limits_are_published_as_json_schema_keywords(app_and_node: Any) -> None:
    """A bound written before a BeforeValidator (NotBool) used to reach the document as
    pydantic's own "ge"/"le", which no client reads: schemathesis then sent -6222 as a port."""
    app, _ = app_and_node
    doc = app.openapi()
    assert _keys(doc) == []
    port = next(
        p for p in doc["paths"]["/api/traffic/lookup"]["get"]["parameters"] if p["name"] == "port"
    )
    bounded = next(s for s in port["schema"]["anyOf"] if s.get("type") == "integer")
    assert bounded["minimum"] == 0 and bounded["maximum"] == 65_535
    event = doc["components"]["schemas"]["EventIn"]["properties"]["tolerance_s"]
    number = next(s for s in event["anyOf"] if s.get("type") == "number")
    assert number["minimum"] == 0 and number["maximum"] == 86_400


def test_a_message_to_an_entry_without_keys_is_a_conflict(app_and_node: Any) -> None:
    """A liaison officer's entry added by hand has no encryption key: messaging it is the
    directory's state in the way (409), not a bad request (422)."""
    _app, node = app_and_node
    admin = client_for(node, [Role.ADMIN])
    added = admin.put(
        "/api/directory/entries/liaison-nl",
        json={"kind": "liaison-officer", "country": "NL", "organisation": "NL liaison officer"},
    )
    assert added.status_code in (200, 201), added.text
    sender = client_for(node, [Role.DUTY_OFFICER])
    answer = sender.post("/api/exchange/messages", json={"recipient": "liaison-nl"})
    assert answer.status_code == 409, answer.text
    assert "no current encryption key" in answer.json()["detail"]
