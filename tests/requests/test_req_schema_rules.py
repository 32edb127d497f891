"""The published schema of a request says what the node accepts (issue 11, point 11).

Each case is read twice, by two readers that share no code: a JSON Schema validator
(jsonschema-rs, Rust) over the schema the API publishes for a request body, and the node's own
parser (``parse_request``, pydantic models and their validators). They must agree: a body the
schema allows is a request, and one it refuses is refused with the element named. Before this
test the e-mail, time zone, domain and phone rules, the identifier's ``type`` tag, the
statements that must be true and the rules between fields (an extension's earlier reference,
Protocol Art. 8's extra fields, Reg. 2023/1543 Arts. 4 and 5, a follow-up's preservation,
Art. 32(b) consent) were checked in code only, and schemathesis found schema-valid bodies
refused with 422.

One rule stays in code only, because JSON Schema cannot compare two values: a time range's end
after its start. Its case checks that the schema allows it and the parser refuses it with the
reason, as the API's description and the fuzzing baseline say.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from req_payloads import payload

from helpers import client_for, make_node
from trailguard.accounts.domain import Role
from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain.types import parse_request


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A validator of the request body schema as the served node publishes it."""
    tmp = tmp_path_factory.mktemp("schema")
    node = make_node(tmp, f"sqlite:///{tmp / 'node.db'}")
    try:
        client = client_for(node, [Role.INVESTIGATOR])
        doc = client.get("/openapi.json").json()
    finally:
        node.close()
    draft = doc["paths"]["/api/requests"]["post"]["requestBody"]["content"]["application/json"]
    name = draft["schema"]["$ref"].rsplit("/", 1)[1]
    body = doc["components"]["schemas"][name]["properties"]["body"]
    schema = {**body, "components": doc["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def _with(kind: str, path: str, value: Any) -> dict[str, Any]:
    """The valid example of ``kind`` with the element at ``path`` (dots; digits index lists)
    set to ``value``, or removed when ``value`` is ``...``."""
    body = copy.deepcopy(payload(kind))
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return body


def _changes(kind: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(payload(kind))
    body.update(changes)
    return body


EU_PROSECUTOR_TRAFFIC = {
    "data_categories": ["traffic"],
    "issuing_authority_type": "prosecutor",
    "validating_authority": "",
}

# (case id, body, accepted)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    # values with a grammar
    ("email padded", _with("preservation", "requesting_authority.email", " d@us.example "), True),
    ("email no dot", _with("preservation", "requesting_authority.email", "duty@localhost"), False),
    ("email two @", _with("preservation", "confirmation_contact.email", "a@b@c.example"), False),
    ("email blank", _with("preservation", "confirmation_contact.email", "   "), False),
    ("zone IANA", _with("preservation", "requesting_authority.time_zone", "Asia/Tokyo"), True),
    ("zone made up", _with("preservation", "requesting_authority.time_zone", "Mars/Base"), False),
    ("zone offset", _with("preservation", "requesting_authority.time_zone", "+01:00"), False),
    ("domain final dot", _with("preservation", "data_to_preserve.5.name", "Mail.Example."), True),
    ("domain space", _with("preservation", "data_to_preserve.5.name", "ma il.example"), False),
    ("domain one label", _with("preservation", "data_to_preserve.5.name", "localhost"), False),
    ("domain too long", _with("preservation", "data_to_preserve.5.name", "a." * 126 + "ex"), False),
    ("phone spaced", _with("preservation", "data_to_preserve.6.number", "+31 (20) 5-5.50"), True),
    ("phone national", _with("preservation", "data_to_preserve.6.number", "020 555 0123"), False),
    ("phone short", _with("preservation", "data_to_preserve.6.number", "+31 2055"), False),
    ("email id", _with("preservation", "data_to_preserve.4.address", "no-at.example"), False),
    # the identifier's tag
    ("identifier no type", _with("preservation", "data_to_preserve.3.type", ...), False),
    # statements that must be true
    ("mla not intended", _changes("preservation", mla_intended=False), False),
    ("offence art 12", _changes("preservation", offence_articles=[12]), False),
    ("offence arts 2 and 11", _changes("preservation", offence_articles=[2, 11]), True),
    ("emergency false", _changes("emergency_disclosure", emergency=False), False),
    (
        "subscriber no statement",
        _changes("subscriber_info", statement_under_protocol=False),
        False,
    ),
    # rules between fields
    ("extension no reference", _changes("preservation", status="extension"), False),
    (
        "extension blank reference",
        _changes("preservation", status="extension", previous_reference=" \t"),
        False,
    ),
    (
        "extension with reference",
        _changes("preservation", status="extension", previous_reference="US-2026-0041"),
        True,
    ),
    (
        "Art. 25(3) without Protocol statement",
        _changes("emergency_disclosure", channel="convention_art25_3"),
        True,
    ),
    (
        "Art. 9 without Protocol statement",
        _changes("emergency_disclosure", channel="protocol_art9"),
        False,
    ),
    (
        "Art. 9 with Protocol statement",
        _changes("emergency_disclosure", channel="protocol_art9", statement_under_protocol=True),
        True,
    ),
    ("Art. 8 without its extras", _changes("subscriber_info", protocol_article="8"), False),
    (
        "Art. 8 with its extras",
        _changes(
            "subscriber_info",
            protocol_article="8",
            why_provider_holds_data="The address is in its allocation.",
            summary_of_facts="A login from 198.51.100.23.",
        ),
        True,
    ),
    ("EPOC prosecutor subscriber", _changes("epoc"), True),
    ("EPOC prosecutor traffic", _changes("epoc", **EU_PROSECUTOR_TRAFFIC), False),
    (
        "EPOC prosecutor traffic validated",
        _changes("epoc", **{**EU_PROSECUTOR_TRAFFIC, "validating_authority": "Judge (synthetic)"}),
        True,
    ),
    ("EPOC police subscriber", _changes("epoc", issuing_authority_type="other"), False),
    (
        "EPOC traffic under 3 years",
        _changes(
            "epoc",
            data_categories=["traffic"],
            issuing_authority_type="judge",
            maximum_penalty_years=2,
        ),
        False,
    ),
    (
        "EPOC-PR prosecutor traffic",
        _changes("epoc_pr", issuing_authority_type="prosecutor"),
        False,
    ),
    ("MLA follow-up without preservation", _changes("mla", previous_preservations=[]), False),
    ("MLA status left out", _with("mla", "status", ...), True),
    (
        "MLA default status without preservation",
        {k: v for k, v in _changes("mla", previous_preservations=[]).items() if k != "status"},
        False,
    ),
    ("MLA new", _changes("mla", status="new", previous_preservations=[]), True),
    (
        "Art. 32(b) without consent",
        _changes("art32_record", consent_lawful_and_voluntary=False),
        False,
    ),
    ("Art. 32(a) public", _changes("art32_record", basis="publicly_available"), True),
]


@pytest.mark.parametrize(
    ("body", "accepted"), [(b, a) for _, b, a in CASES], ids=[c for c, _, _ in CASES]
)
def test_schema_and_parser_agree(published: Any, body: dict[str, Any], accepted: bool) -> None:
    assert published.is_valid(body) is accepted, "the published schema"
    if accepted:
        parse_request(body)
    else:
        with pytest.raises(ValidationFailed):
            parse_request(body)


def test_the_parser_keeps_the_normal_form_of_what_the_schema_allows() -> None:
    body = _with("preservation", "requesting_authority.email", "  duty@us-poc.example ")
    body["data_to_preserve"][5]["name"] = "Mail.Example."
    body["data_to_preserve"][6]["number"] = "+31 (20) 555-0123"
    request = parse_request(body)
    assert request.requesting_authority.email == "duty@us-poc.example"
    assert request.data_to_preserve[5].name == "mail.example"  # type: ignore[attr-defined]
    assert request.data_to_preserve[6].number == "+31205550123"  # type: ignore[attr-defined]


def test_a_time_range_backwards_is_the_rule_the_schema_cannot_state(published: Any) -> None:
    body = _with(
        "preservation",
        "data_to_preserve.2",
        {"type": "time_range", "start": "2026-11-20T09:00:00Z", "end": "2026-11-20T08:00:00Z"},
    )
    assert published.is_valid(body)
    with pytest.raises(ValidationFailed) as refused:
        parse_request(body)
    assert any("not after its start" in problem for problem in refused.value.problems)


def test_the_draft_route_refuses_what_the_schema_refuses_with_the_element_named(
    tmp_path: Path,
) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    try:
        client = client_for(node, [Role.INVESTIGATOR])
        body = _changes("emergency_disclosure", channel="protocol_art9")
        answer = client.post("/api/requests", json={"body": body})
        assert answer.status_code == 422
        assert "statement_under_protocol" in answer.text
        body = _with("preservation", "requesting_authority.time_zone", "Mars/Base")
        answer = client.post("/api/requests", json={"body": body})
        assert answer.status_code == 422
        assert "unknown time zone" in answer.text
    finally:
        node.close()
