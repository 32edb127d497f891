from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from req_payloads import ALL, PRESERVATION, payload

from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain import (
    Handling,
    HandlingCode,
    PreservationRequest,
    RefusalGround,
    RequestKind,
    RequestState,
    Tlp,
    allowed_next,
    check_refusal,
    check_transition,
    missing_elements,
    parse_request,
)
from trailguard.requests.domain.common import IpEndpoint
from trailguard.requests.domain.drafting import (
    disclosure_draft_from_preservation,
    mla_draft_from_preservation,
)
from trailguard.requests.domain.types import ExpeditedDisclosure, MutualAssistanceRequest

ART29_ELEMENTS = {
    "seeking_authority": "Art. 29(2)(a)",
    "offence": "Art. 29(2)(b)",
    "summary_of_facts": "Art. 29(2)(b)",
    "data_to_preserve": "Art. 29(2)(c)",
    "relationship_to_offence": "Art. 29(2)(c)",
    "custodian": "Art. 29(2)(d)",
    "necessity": "Art. 29(2)(e)",
    "mla_intended": "Art. 29(2)(f)",
}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_example_parses_and_round_trips(kind: str) -> None:
    request = parse_request(payload(kind))
    assert request.kind.value == kind
    again = parse_request(request.model_dump(mode="json"))
    assert again == request


@pytest.mark.parametrize("field", sorted(ART29_ELEMENTS))
def test_each_missing_art29_element_is_named(field: str) -> None:
    data = payload("preservation")
    del data[field]
    with pytest.raises(ValidationFailed) as info:
        parse_request(data)
    assert any(field in p and ART29_ELEMENTS[field] in p for p in info.value.problems)
    assert field in str(info.value)


def test_all_missing_art29_elements_are_listed_together() -> None:
    data = {k: v for k, v in PRESERVATION.items() if k not in ART29_ELEMENTS}
    problems = missing_elements(data)
    for field, article in ART29_ELEMENTS.items():
        assert any(p.startswith("missing: " + field) and article in p for p in problems), field


def test_blank_element_counts_as_missing() -> None:
    problems = missing_elements(payload("preservation", necessity="   ", data_to_preserve=[]))
    assert any("necessity" in p and "missing" in p for p in problems)
    assert any("data_to_preserve" in p and "missing" in p for p in problems)


def test_no_intent_to_send_mla_is_refused() -> None:
    problems = missing_elements(payload("preservation", mla_intended=False))
    assert any("Art. 29(2)(f)" in p for p in problems)


def test_extension_needs_previous_reference() -> None:
    problems = missing_elements(payload("preservation", status="extension"))
    assert any("previous_reference" in p for p in problems)
    assert (
        missing_elements(
            payload("preservation", status="extension", previous_reference="US-2026-0001")
        )
        == []
    )


@pytest.mark.parametrize(
    ("identifier", "needle"),
    [
        (
            {
                "type": "ip_endpoint",
                "ip": "198.51.100.300",
                "port": 1,
                "timestamp": "2026-11-20T00:00:00Z",
                "protocol": "tcp",
            },
            "ip",
        ),
        (
            {
                "type": "ip_endpoint",
                "ip": "198.51.100.3",
                "timestamp": "2026-11-20T00:00:00Z",
                "protocol": "tcp",
            },
            "port",
        ),
        (
            {
                "type": "ip_endpoint",
                "ip": "198.51.100.3",
                "port": 70000,
                "timestamp": "2026-11-20T00:00:00Z",
                "protocol": "tcp",
            },
            "port",
        ),
        (
            {
                "type": "ip_endpoint",
                "ip": "198.51.100.3",
                "port": 1,
                "timestamp": "2026-11-20T00:00:00",
                "protocol": "tcp",
            },
            "time zone",
        ),
        (
            {
                "type": "ip_endpoint",
                "ip": "198.51.100.3",
                "port": 1,
                "timestamp": "2026-11-20T00:00:00Z",
                "protocol": "gre",
            },
            "protocol",
        ),
        (
            {"type": "time_range", "start": "2026-11-20T09:00:00Z", "end": "2026-11-20T08:00:00Z"},
            "not after",
        ),
        ({"type": "email", "address": "not-an-address"}, "not-an-address"),
        ({"type": "domain", "name": "bad_domain"}, "bad_domain"),
        ({"type": "phone", "number": "0201234"}, "0201234"),
        ({"type": "carrier_pigeon"}, "carrier_pigeon"),
    ],
)
def test_bad_identifiers_are_named(identifier: dict, needle: str) -> None:
    data = payload("preservation", data_to_preserve=[identifier])
    problems = missing_elements(data)
    assert problems, "bad identifier accepted"
    assert any(needle in p for p in problems), problems


def test_ip_endpoint_keeps_utc_and_source_offset() -> None:
    endpoint = IpEndpoint.model_validate(
        {
            "ip": "2001:db8::1",
            "port": 80,
            "timestamp": "2026-03-29T02:30:00.123456+02:00",
            "protocol": "tcp",
        }
    )
    assert endpoint.timestamp == datetime(2026, 3, 29, 0, 30, 0, 123456, tzinfo=UTC)
    assert endpoint.source_offset == "+02:00"
    assert "[2001:db8::1]:80/tcp" in endpoint.describe()


def test_unknown_kind_and_unknown_field_are_named() -> None:
    with pytest.raises(ValidationFailed, match="'telepathy'"):
        parse_request({"kind": "telepathy"})
    problems = missing_elements(payload("preservation", colour="blue"))
    assert any("colour" in p for p in problems)


def test_emergency_under_protocol_needs_statement() -> None:
    problems = missing_elements(payload("emergency_disclosure", channel="protocol_art9"))
    assert any("under the Protocol" in p for p in problems)
    assert (
        missing_elements(
            payload("emergency_disclosure", channel="protocol_art9", statement_under_protocol=True)
        )
        == []
    )


def test_subscriber_art8_needs_more() -> None:
    problems = missing_elements(payload("subscriber_info", protocol_article="8"))
    assert any("why_provider_holds_data" in p for p in problems)


def test_eu_orders_authority_and_threshold() -> None:
    traffic_by_prosecutor = payload("epoc", data_categories=["traffic"])
    assert any("validating authority" in p for p in missing_elements(traffic_by_prosecutor))
    validated = payload("epoc", data_categories=["traffic"], validating_authority="Amtsgericht X")
    assert missing_elements(validated) == []
    low = payload(
        "epoc", data_categories=["content"], issuing_authority_type="judge", maximum_penalty_years=2
    )
    assert any("at least 3 years" in p for p in missing_elements(low))


def test_epoc_notification_rule() -> None:
    order = parse_request(payload("epoc", data_categories=["traffic"], validating_authority="X"))
    assert order.enforcing_state_notification_required  # type: ignore[attr-defined]
    local = parse_request(
        payload(
            "epoc",
            data_categories=["traffic"],
            validating_authority="X",
            offence_committed_in_issuing_state=True,
            person_resides_in_issuing_state=True,
        )
    )
    assert not local.enforcing_state_notification_required  # type: ignore[attr-defined]
    assert not parse_request(payload("epoc")).enforcing_state_notification_required  # type: ignore[attr-defined]


def test_art32_consent_needs_who_and_authority() -> None:
    problems = missing_elements(
        payload("art32_record", consenting_person="", consent_lawful_and_voluntary=False)
    )
    text = " ".join(problems)
    assert "consenting_person" in text and "lawful and voluntary" in text
    public = payload(
        "art32_record",
        basis="publicly_available",
        consenting_person="",
        consenting_person_authority="",
        consent_lawful_and_voluntary=False,
    )
    assert missing_elements(public) == []


def test_mla_follow_up_needs_preservation_reference() -> None:
    problems = missing_elements(payload("mla", previous_preservations=[]))
    assert any("preservation's reference" in p for p in problems)


def test_mla_draft_carries_preservation_references() -> None:
    preservation = parse_request(payload("preservation"))
    assert isinstance(preservation, PreservationRequest)
    draft = mla_draft_from_preservation(
        preservation,
        date_issued=datetime(2026, 12, 1, tzinfo=UTC).date(),
        preservation_request_id="abc",
        overrides={
            "prosecution_office_or_court": "USAO",
            "case_numbers": "1:26",
            "applicable_law": "18 USC 1030",
        },
    )
    mla = parse_request(draft)
    assert isinstance(mla, MutualAssistanceRequest)
    assert mla.previous_preservations[0].reference == preservation.reference
    assert mla.previous_preservations[0].request_id == "abc"
    assert mla.identifiers == preservation.data_to_preserve
    # without the fields only the requesting Party knows, the draft is incomplete
    incomplete = mla_draft_from_preservation(preservation, date_issued=preservation.date_issued)
    assert any("case_numbers" in p for p in missing_elements(incomplete))


def test_expedited_disclosure_loop_back() -> None:
    disclosure = parse_request(payload("expedited_disclosure"))
    assert not disclosure.looped_back  # type: ignore[attr-defined]
    looped = payload("expedited_disclosure")
    looped["provider_in_other_state"] = {**looped["provider_in_other_state"], "country": "US"}
    assert parse_request(looped).looped_back  # type: ignore[attr-defined]


# --- lifecycle -----------------------------------------------------------------------------


def test_invalid_transition_names_state_and_allowed() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_transition(RequestKind.PRESERVATION, RequestState.DRAFT, RequestState.SENT)
    message = str(info.value)
    assert "'draft'" in message and "'sent'" in message
    assert "approved" in message and "closed" in message


def test_preservation_path_is_allowed() -> None:
    path = [
        RequestState.DRAFT,
        RequestState.APPROVED,
        RequestState.SENT,
        RequestState.RECEIVED,
        RequestState.ACKNOWLEDGED,
        RequestState.IN_EXECUTION,
        RequestState.PRESERVED,
        RequestState.EXTENDED,
        RequestState.SUPERSEDED_BY_MLA,
        RequestState.DISCLOSED,
        RequestState.CLOSED,
    ]
    for current, target in itertools.pairwise(path):
        check_transition(RequestKind.PRESERVATION, current, target)


def test_disclosure_kinds_cannot_be_preserved() -> None:
    assert RequestState.PRESERVED not in allowed_next(RequestKind.EPOC, RequestState.IN_EXECUTION)
    assert RequestState.DISCLOSED in allowed_next(RequestKind.EPOC, RequestState.IN_EXECUTION)
    with pytest.raises(ValidationFailed):
        check_transition(RequestKind.MLA, RequestState.IN_EXECUTION, RequestState.PRESERVED)
    assert allowed_next(RequestKind.PRESERVATION, RequestState.CLOSED) == frozenset()


def test_art29_6_warning_lets_requesting_party_decide() -> None:
    check_transition(
        RequestKind.PRESERVATION, RequestState.IN_EXECUTION, RequestState.CANNOT_ENSURE_AVAILABILITY
    )
    check_transition(
        RequestKind.PRESERVATION, RequestState.CANNOT_ENSURE_AVAILABILITY, RequestState.IN_EXECUTION
    )


@pytest.mark.parametrize("ground", ["political_offence", "essential_interests"])
def test_allowed_preservation_grounds(ground: str) -> None:
    refusal = check_refusal(RequestKind.PRESERVATION, ground, "reasons given")
    assert refusal.article.startswith("Convention Art. 29(5)")


@pytest.mark.parametrize("ground", ["other", "workload", "dual_criminality", "requested_party_law"])
def test_disallowed_preservation_grounds(ground: str) -> None:
    with pytest.raises(ValidationFailed, match="not one the treaty allows"):
        check_refusal(RequestKind.PRESERVATION, ground, "we are busy")


def test_art30_only_30_2_grounds() -> None:
    assert check_refusal(RequestKind.EXPEDITED_DISCLOSURE, "political_offence", "x").article == (
        "Convention Art. 30(2)(a)"
    )
    with pytest.raises(ValidationFailed):
        check_refusal(
            RequestKind.EXPEDITED_DISCLOSURE,
            "dual_criminality_reservation",
            "x",
            reservation_made=True,
        )


def test_art29_4_needs_reservation_and_offence_outside_2_11() -> None:
    with pytest.raises(ValidationFailed, match="reservation"):
        check_refusal(RequestKind.PRESERVATION, "dual_criminality_reservation", "x")
    with pytest.raises(ValidationFailed, match=r"Arts\. 2-11"):
        check_refusal(
            RequestKind.PRESERVATION,
            "dual_criminality_reservation",
            "x",
            reservation_made=True,
            offence_articles=[8],
        )
    refusal = check_refusal(
        RequestKind.PRESERVATION,
        "dual_criminality_reservation",
        "x",
        reservation_made=True,
        offence_articles=[],
    )
    assert refusal.ground is RefusalGround.DUAL_CRIMINALITY_RESERVATION


def test_refusal_needs_reasons() -> None:
    with pytest.raises(ValidationFailed, match=r"27\(7\)"):
        check_refusal(RequestKind.PRESERVATION, "political_offence", "  ")


def test_onward_sharing_rules() -> None:
    assert Handling(tlp=Tlp.RED).onward_sharing_problem() is not None
    assert Handling(code=HandlingCode.H2).onward_sharing_problem() is not None
    assert Handling(tlp=Tlp.RED, onward_sharing_permitted=True).onward_sharing_problem() is None
    assert Handling(tlp=Tlp.AMBER, code=HandlingCode.H0).onward_sharing_problem() is None


@pytest.mark.parametrize(
    ("country", "notice"),
    [
        ("BR", "The communication came from Rio Litoral in BR (203.0.113.77 port 51512 at "
         "2026-11-20T08:13:59Z); send a preservation request to BR."),
        ("US", "The path leads back into US: its domestic process applies."),
    ],
)  # fmt: skip
def test_disclosure_draft_answers_the_preservation(country: str, notice: str) -> None:
    # Art. 30(1): the draft the trace and the exercise's counterparts both send
    preservation = payload("preservation")  # requesting US, requested NL
    path = payload("expedited_disclosure")["path"]
    draft = disclosure_draft_from_preservation(
        preservation,
        date_issued=datetime(2026, 12, 1, tzinfo=UTC).date(),
        confirmation_contact={
            "name": "NL duty officer",
            "phone": "+31 20 555 0199",
            "email": "duty@nl.example",
        },
        provider="Rio Litoral",
        provider_country=country,
        provider_prefix="203.0.113.0/24",
        path=path,
        traffic_data=["2026-11-20T08:13:59Z 203.0.113.77:51512 -> 198.51.100.23:22 tcp"],
        came_from="203.0.113.77 port 51512 at 2026-11-20T08:13:59Z",
    )
    disclosure = parse_request(draft)
    assert isinstance(disclosure, ExpeditedDisclosure)
    assert disclosure.reference == f"{preservation['reference']}-A30"
    assert disclosure.in_response_to == preservation["reference"]
    assert (disclosure.requesting_party, disclosure.requested_party) == ("US", "NL")
    assert disclosure.third_country_notice == notice
    assert disclosure.looped_back is (country == "US")
