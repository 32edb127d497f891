"""The requested side of Art. 30: Polderhost's own look-up of the preserved endpoint (the
demo's synthetic Zeek conn.log) prepares the disclosure body and the third-country notice;
several open sessions are all shown and none is picked; a request drafted here is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_trace_flow import TEMPLATE
from trace_kit import enter

from helpers import make_node
from trailguard.core.errors import Conflict
from trailguard.demo import data
from trailguard.requests import service as requests
from trailguard.trace.disclosure import prepare_disclosure


@pytest.fixture
def net3(net: Any, tmp_path: Path, database_url: str) -> Iterator[Any]:
    from network_kit import link, second_database_url

    from trailguard.network.directory_service import publish_self
    from trailguard.traffic import ParseOptions, open_store

    (tmp_path / "third").mkdir()
    urls = second_database_url(database_url, tmp_path / "third")
    provider = make_node(
        tmp_path,
        next(urls),
        node_id="nl-polderhost",
        country="NL",
        roles=["provider"],
        timezone="Europe/Amsterdam",
        clock=net.clock,
    )
    with provider.db.session() as session:
        publish_self(session, provider, actor="system:test", prefixes=["198.51.100.0/24"])
    enter(provider, "br-riolitoral", "provider", "BR", "Rio Litoral Telecom", ("203.0.113.0/24",))
    for other in (net.us, net.nl):
        link(provider, other)
        link(other, provider)
    net.router.add(provider)
    net.extra.append(provider)
    logs = tmp_path / "logs"
    logs.mkdir()
    open_store(provider.paths.data_dir).ingest_file(
        data.polderhost_conn_log(logs),
        provider="nl-polderhost",
        format_name="zeek-conn",
        options=ParseOptions(),
    )
    try:
        yield net
    finally:
        urls.close()


def _deliver(net: Any) -> None:
    from trailguard.network import deliver_pending

    for _ in range(6):
        nodes = (net.us, net.nl, *net.extra)
        if sum(deliver_pending(n, transport=net.transport).attempted for n in nodes) == 0:
            return


def _request_at_polderhost(net: Any, people: dict, at: str) -> str:
    body = {
        "kind": "preservation",
        "reference": "US-2026-NJ-001",
        "date_issued": "2026-11-20",
        "requesting_party": "US",
        "requested_party": "NL",
        "requesting_authority": TEMPLATE["requesting_authority"],
        "requested_authority": "Netherlands 24/7 point of contact",
        "confirmation_contact": TEMPLATE["confirmation_contact"],
        "seeking_authority": "US DoJ (synthetic)",
        "offence": "Illegal access",
        "summary_of_facts": "A login to a bank.",
        "data_to_preserve": [
            {
                "type": "ip_endpoint",
                "ip": data.VPS_IP,
                "port": data.VPS_PORT,
                "timestamp": at,
                "protocol": "tcp",
            }
        ],
        "relationship_to_offence": "the login came from here",
        "custodian": "Polderhost B.V.",
        "necessity": "flow records are kept 30 days",
        "mla_intended": True,
        "data_kinds": ["flow"],
    }
    draft = requests.draft_request(net.us, people["iris"], body, recipient="nl-poc")
    requests.approve_request(net.us, people["dan"], draft.id)
    requests.send_request(net.us, people["dan"], draft.id)
    _deliver(net)
    requests.acknowledge_request(net.nl, people["noor"], draft.id)
    copy = requests.forward_request(net.nl, people["noor"], draft.id, recipient="nl-polderhost")
    _deliver(net)
    return copy.id


def test_polderhost_prepares_the_art30_body_from_its_own_lookup(net3: Any, people: dict) -> None:
    provider = net3.extra[0]
    request_id = _request_at_polderhost(net3, people, data.LOGIN_AT.isoformat())
    answer = prepare_disclosure(provider, people["pim"], request_id)
    [candidate] = answer["candidates"]
    body = answer["body"]
    assert body is not None, answer.get("reason")
    step = body["path"][0]
    assert (step["source"]["ip"], step["source"]["port"]) == (
        data.ATTACKER_PUBLIC_IP,
        data.ATTACKER_PUBLIC_PORT,
    )
    assert step["destination"] == {
        "type": "ip_endpoint",
        "ip": data.VPS_IP,
        "port": 22,
        "timestamp": step["source"]["timestamp"],
        "protocol": "tcp",
    }
    assert body["in_response_to"] == "US-2026-NJ-001"
    assert body["provider_in_other_state"] == {
        "name": "Rio Litoral Telecom",
        "country": "BR",
        "identifiers": ["203.0.113.0/24"],
    }
    assert "send a preservation request to BR" in body["third_country_notice"]
    assert "line" in body["traffic_data"][0] and candidate["record"]["source_sha256"]
    # the body is a valid Art. 30 request for the requests capability
    draft = requests.draft_request(net3.nl, people["noor"], body, recipient="us-poc")
    assert draft.kind.value == "expedited_disclosure"
    with pytest.raises(Conflict, match="drafted here"):
        prepare_disclosure(net3.us, people["iris"], _outbound(net3))


def _outbound(net: Any) -> str:
    return next(v.id for v in requests.list_requests(net.us, direction="outbound"))


def test_no_session_open_at_that_time_gives_no_body(net3: Any, people: dict) -> None:
    provider = net3.extra[0]
    at = (data.LOGIN_AT + timedelta(hours=3)).isoformat()
    answer = prepare_disclosure(
        provider, people["pim"], _request_at_polderhost(net3, people, at), window_s=60
    )
    assert answer["body"] is None and answer["candidates"] == []
    assert "no connection" in answer["reason"]


def _nl_contact(net: Any) -> None:
    from trailguard.network.directory_service import publish_self

    with net.nl.db.session() as session:
        publish_self(
            session, net.nl, actor="system:test", phone="+31 70 555 0100", email="duty@nl.example"
        )


def test_polderhost_sends_the_disclosure_and_nl_drafts_it_for_the_us(
    net3: Any, people: dict
) -> None:
    from trailguard.trace.disclosure import disclosures_received, send_disclosure

    _nl_contact(net3)
    provider = net3.extra[0]
    request_id = _request_at_polderhost(net3, people, data.LOGIN_AT.isoformat())
    sent = send_disclosure(provider, people["pim"], request_id)
    assert sent["sent_to"] == "nl-poc" and sent["body"]["third_country_notice"]
    with pytest.raises(Conflict, match="sent already"):
        send_disclosure(provider, people["pim"], request_id)
    _deliver(net3)
    [received] = disclosures_received(net3.nl)
    assert received["request_id"] == request_id and received["from"] == "nl-polderhost"
    draft = requests.get_request(net3.nl, received["drafted_request_id"])
    body = draft.request.model_dump(mode="json")
    assert draft.kind.value == "expedited_disclosure" and draft.state.value == "draft"
    assert draft.counterpart_node == "us-poc" and draft.created_by.startswith("user:trace:")
    assert body["in_response_to"] == "US-2026-NJ-001"
    [step], [prepared] = body["path"], sent["body"]["path"]
    assert (step["source"]["ip"], step["source"]["port"], step["observed_by"]) == (
        prepared["source"]["ip"],
        prepared["source"]["port"],
        prepared["observed_by"],
    )
    assert body["third_country_notice"] == sent["body"]["third_country_notice"]
    # NL's own contact answers for the disclosure, not the requesting side's
    contact = body["confirmation_contact"]
    assert (contact["phone"], contact["email"]) == ("+31705550100", "duty@nl.example")
    assert contact["name"] != TEMPLATE["confirmation_contact"]["name"]
    # four eyes on NL's side; then the US holds it with the notice
    requests.approve_request(net3.nl, people["joost"], draft.id)
    requests.send_request(net3.nl, people["noor"], draft.id)
    _deliver(net3)
    at_us = requests.get_request(net3.us, draft.id)
    assert at_us.direction == "inbound"
    assert at_us.request.model_dump(mode="json")["third_country_notice"]


def test_a_disclosure_for_a_request_not_forwarded_to_the_sender_is_refused(
    net3: Any, people: dict
) -> None:
    from trailguard.network import send_message
    from trailguard.trace.disclosure import disclosures_received, send_disclosure

    _nl_contact(net3)
    provider = net3.extra[0]
    request_id = _request_at_polderhost(net3, people, data.LOGIN_AT.isoformat())
    body = prepare_disclosure(provider, people["pim"], request_id)["body"]
    original = _outbound(net3)  # the US's id of the original: NL holds it inbound, not forwarded
    with provider.db.session() as session:
        send_message(
            session,
            provider,
            recipient="nl-poc",
            message_type="trace.disclosure",
            payload={"request_id": original, "body": body},
            actor="user:pim",
        )
    _deliver(net3)
    assert disclosures_received(net3.nl) == []
    assert [v.kind.value for v in requests.list_requests(net3.nl, direction="outbound")] == [
        "preservation"  # only the forwarded copy: no disclosure was drafted
    ]
    # a request with nothing to disclose is refused before anything is sent
    with pytest.raises(Conflict, match="drafted here"):
        send_disclosure(net3.us, people["dan"], original)
