"""The trace end to end between a US and an NL node: the US trace drafts the NL preservation
request (channel and citation from the law engine, exact identifiers), four eyes approve it,
NL preserves and discloses under Art. 30, the US trace advances and drafts the BR request,
and the answer that preserves the subscriber's records ends it. Bad answers get clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from request_template_kit import TEMPLATE
from trailguard.audit.orm import AuditEntryRow
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.investigations import service as cases
from trailguard.investigations.domain import ObservationIn, SourceKind
from trailguard.network import deliver_pending
from trailguard.requests import service as requests
from trailguard.trace import service as trace


@dataclass(frozen=True)
class _Named:
    """A provider or point of contact as the request body names them."""

    country: str
    organisation: str
    node_id: str
    network: str


def pump(net: Any) -> None:
    for _ in range(6):
        if (
            sum(deliver_pending(n, transport=net.transport).attempted for n in (net.us, net.nl))
            == 0
        ):
            return
    raise AssertionError("the outboxes did not drain")


def _case(
    net: Any,
    people: dict,
    ip: str = "198.51.100.23",
    port: int | None = 41234,
    at: str = "2026-11-20T03:14:07.250-05:00",
    tolerance: float = 2.0,
) -> tuple[str, str]:
    from trailguard.investigations.domain import parse_instant

    case = cases.create_investigation(
        net.us,
        people["iris"],
        {
            "reference": "US-2026-NJ",
            "title": "Harbor Mutual Bank intrusion",
            "conduct": ["illegal_access"],
        },
    )
    instant, zone = parse_instant(at)
    [obs] = cases.add_observations(
        net.us,
        people["iris"],
        case.id,
        [
            ObservationIn(
                kind=SourceKind.LOG_LINE,
                ip=ip,
                port=port,
                at=instant,
                source_zone=zone,
                tolerance_s=tolerance,
                protocol="tcp",
                source_label="bank proxy log line 2",
            )
        ],
        how="test",
    )
    return case.id, obs.id


def _custodians(net: Any, people: dict) -> None:
    trace.set_custodian(
        net.us,
        people["iris"],
        "nl-polderhost",
        {"flow": 30},
        "Polderhost retention policy (synthetic)",
    )
    trace.set_custodian(
        net.us,
        people["iris"],
        "br-riolitoral",
        {"port_block": 90, "radius": 365},
        "Rio Litoral policy (synthetic)",
    )


def _started(
    net: Any,
    people: dict,
    *,
    template: dict[str, Any] = TEMPLATE,
    auto_send: bool = False,
    **where: Any,
) -> Any:
    """Iris's trace of the observation of a new case (``where``: as ``_case`` takes it), the
    providers' custodians recorded first."""
    _custodians(net, people)
    case_id, obs_id = _case(net, people, **where)
    return trace.start_trace(
        net.us, people["iris"], case_id, obs_id, template=template, auto_send=auto_send
    )


def _nl_preserves(net: Any, people: dict, request_id: str, hold_id: str, digest: str) -> None:
    """Noor acknowledges the request at NL, executes it and records the preservation."""
    requests.acknowledge_request(net.nl, people["noor"], request_id)
    requests.start_execution(net.nl, people["noor"], request_id)
    requests.record_preservation(
        net.nl,
        people["noor"],
        request_id,
        preserved="12 flow records",
        hold_id=hold_id,
        digest=digest,
    )
    pump(net)


def test_the_trace_crosses_three_countries_to_the_subscriber(net: Any, people: dict) -> None:
    started = _started(net, people)
    [hop1] = started.hops
    assert hop1["state"] == "drafted"
    assert hop1["provider"]["node_id"] == "nl-polderhost" and hop1["special"] == "documentation"
    assert hop1["recipient_node"] == "nl-poc"
    assert hop1["channel"]["id"] == "preservation_24_7"
    assert "ETS 185 Art. 29" in hop1["channel"]["citations"]
    assert hop1["dies_at"] == "2026-12-20T08:14:07.250000Z"  # 30 days of flow records
    assert started.dies_at is not None
    assert [c["level"] for c in hop1["checks"]] == []
    view = requests.get_request(net.us, hop1["request_id"])
    endpoint = view.request.model_dump(mode="json")["data_to_preserve"][0]
    assert (endpoint["ip"], endpoint["port"], endpoint["protocol"]) == (
        "198.51.100.23",
        41234,
        "tcp",
    )
    assert endpoint["timestamp"].startswith("2026-11-20T08:14:07.25")
    assert view.state.value == "draft"  # four eyes: nothing is sent without a second person
    with pytest.raises(PermissionDenied):
        requests.approve_request(net.us, people["iris"], hop1["request_id"])
    requests.approve_request(net.us, people["dan"], hop1["request_id"])
    requests.send_request(net.us, people["dan"], hop1["request_id"])
    pump(net)
    sent_view = trace.sync_trace(net.us, people["iris"], started.id).hops[0]
    assert sent_view["state"] == "sent" and sent_view["request_state"] == "received"
    assert sent_view["request_clock"]["due_at"]  # the acknowledgement clock runs

    # NL executes, preserves, and discloses the path under Art. 30 with a third-country notice.
    _nl_preserves(net, people, hop1["request_id"], "hold-00000000000000aa", "a" * 64)
    after = trace.sync_trace(net.us, people["iris"], started.id)
    assert after.hops[0]["state"] == "preserved" and after.hops[0]["hold_digest"] == "a" * 64
    disclosure = _disclosure("NL-2026-NJ-030", in_response_to=hop1["request_reference"])
    disclosure["path"][0]["source"]["destination_port"] = 22
    _nl_discloses(net, people, disclosure)
    moved = trace.sync_trace(net.us, people["iris"], started.id)
    assert [h["state"] for h in moved.hops] == ["advanced", "drafted"]
    hop2 = moved.hops[1]
    assert (hop2["ip"], hop2["port"], hop2["at"]) == ("203.0.113.77", 51512, "2026-11-20T08:10:00Z")
    assert hop2["source"]["kind"] == "disclosure" and hop2["source"]["notice"]
    assert hop2["provider"]["country"] == "BR" and hop2["recipient_node"] == "br-poc"
    assert hop2["data_kinds"] == ["port_block", "radius"]
    assert hop2["dies_at"] == "2027-02-18T08:10:00Z"  # NAT logs: 90 days
    # syncing again changes nothing (the same disclosure is not applied twice)
    again = trace.sync_trace(net.us, people["iris"], started.id)
    assert len(again.hops) == 2
    # Rio Litoral's preservation of the NAT and RADIUS records ends the trace.
    ended = trace.record_answer(
        net.us,
        people["iris"],
        started.id,
        hop2["id"],
        "preserved",
        {
            "hold_id": "hold-00000000000000bb",
            "digest": "b" * 64,
            "summary": "port-block and RADIUS records",
        },
        key="BR letter 2026-11-21",
    )
    assert ended.state == "subscriber" and ended.hops[1]["state"] == "subscriber"
    assert ended.dies_at is None  # no open hop left
    with pytest.raises(Conflict, match="recorded already"):
        trace.record_answer(
            net.us,
            people["iris"],
            started.id,
            hop2["id"],
            "preserved",
            {},
            key="BR letter 2026-11-21",
        )
    graph = trace.graph_of(net.us, people["iris"], started.id)
    types = sorted({n["type"] for n in graph["nodes"]})
    assert types == ["endpoint", "provider", "subscriber", "victim"]
    connections = [e for e in graph["edges"] if e["type"] == "connection"]
    assert [(e["from"], e["to"]) for e in connections] == [
        ("endpoint:198.51.100.23:41234", "victim"),
        ("endpoint:203.0.113.77:51512", "endpoint:198.51.100.23:41234"),
    ]
    with net.us.db.session() as session:
        actions = set(session.execute(select(AuditEntryRow.action)).scalars())
    assert {"trace.started", "trace.request_drafted", "trace.answer_recorded"} <= actions


def test_refusal_is_a_dead_end_with_its_reason(net: Any, people: dict) -> None:
    started = _started(net, people)
    hop = started.hops[0]
    ended = trace.record_answer(
        net.us,
        people["iris"],
        started.id,
        hop["id"],
        "refused",
        {"ground": "art30_2"},
        key="NL refusal",
    )
    assert ended.state == "dead_end" and ended.end_reason == "refusal"
    assert ended.hops[0]["end_reason_text"] == "the requested side refused"
    with pytest.raises(Conflict, match="takes no more answers"):
        trace.record_answer(
            net.us, people["iris"], started.id, hop["id"], "preserved", {}, key="late letter"
        )


def test_unknown_trace_or_hop_and_outsiders(net: Any, people: dict) -> None:
    case_id, obs_id = _case(net, people)
    started = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    with pytest.raises(NotFound):
        trace.record_answer(net.us, people["iris"], "no-such-trace", "x", "no_data", {}, key="k")
    with pytest.raises(NotFound, match="has no hop"):
        trace.record_answer(
            net.us, people["iris"], started.id, "no-such-hop", "no_data", {}, key="k"
        )
    with pytest.raises(ValidationFailed):
        trace.record_answer(
            net.us, people["iris"], started.id, started.hops[0]["id"], "maybe", {}, key="k"
        )
    with pytest.raises(PermissionDenied):
        trace.get_trace(net.us, people["outsider"], started.id)
    with pytest.raises(PermissionDenied):
        trace.get_trace(net.us, people["admin"], started.id)


@pytest.mark.parametrize(
    ("ip", "port", "reason", "code"),
    [
        ("10.1.2.3", 41234, "special_address", "private"),
        ("240.0.0.9", 41234, "special_address", "reserved"),
        ("192.0.2.44", 41234, "unserved", "unserved"),
    ],
)
def test_addresses_that_cannot_be_traced(
    net: Any, people: dict, ip: str, port: int, reason: str, code: str
) -> None:
    case_id, obs_id = _case(net, people, ip=ip, port=port)
    started = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    assert started.state == "dead_end" and started.end_reason == reason
    assert started.hops[0]["checks"][0]["code"] == code
    assert started.hops[0]["request_id"] is None  # nothing drafted


def test_presend_checks_block_a_cgn_address_without_port(net: Any, people: dict) -> None:
    started = _started(net, people, ip="203.0.113.77", port=None, tolerance=60)
    hop = started.hops[0]
    codes = {c["code"]: c["level"] for c in hop["checks"]}
    assert codes["cgn_without_port"] == "error"
    assert codes["cgn_time_not_exact"] == "warning"
    assert hop["state"] == "open" and hop["request_id"] is None
    assert "source port" in hop["next_action"]


def test_retention_over_is_a_dead_end(net: Any, people: dict) -> None:
    trace.set_custodian(net.us, people["iris"], "nl-polderhost", {"flow": 30}, "policy")
    case_id, obs_id = _case(net, people, at="2026-09-01T10:00:00+02:00")
    started = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    assert started.end_reason == "retention_over"
    assert "2026-10-01T08:00:00Z" in started.hops[0]["checks"][0]["message"]


def test_a_loop_back_to_a_hop_already_seen_ends_the_trace(net: Any, people: dict) -> None:
    started = _started(net, people)
    looped = trace.record_answer(
        net.us,
        people["iris"],
        started.id,
        started.hops[0]["id"],
        "next_hop",
        {"ip": "198.51.100.23", "port": 41234, "at": "2026-11-20T08:00:00Z"},
        key="call",
    )
    assert [h["state"] for h in looped.hops] == ["advanced", "dead_end"]
    assert looped.end_reason == "loop"


def test_auto_send_policy_sends_without_a_second_person(net: Any, people: dict) -> None:
    started = _started(net, people, auto_send=True)
    assert started.hops[0]["state"] == "sent" and started.auto_send
    view = requests.get_request(net.us, started.hops[0]["request_id"])
    assert view.state.value == "sent" and view.approved_by == "user:policy:auto-send"


def test_refining_an_open_hop_with_its_port_drafts_the_request(net: Any, people: dict) -> None:
    started = _started(net, people, ip="203.0.113.77", port=None, tolerance=60)
    hop = started.hops[0]
    refined = trace.refine_hop(
        net.us, people["iris"], started.id, hop["id"], port=51512, tolerance_s=1
    )
    assert refined.hops[0]["state"] == "drafted"
    assert refined.hops[0]["recipient_node"] == "br-poc"
    with pytest.raises(Conflict, match="only an open hop"):
        trace.refine_hop(net.us, people["iris"], started.id, hop["id"], port=1)


def test_incomplete_template_leaves_the_hop_open_with_the_reason(net: Any, people: dict) -> None:
    started = _started(net, people, template={})
    hop = started.hops[0]
    assert hop["state"] == "open" and hop["request_id"] is None
    assert any(c["code"] == "request_incomplete" for c in hop["checks"])
    fixed = trace.refine_hop(net.us, people["iris"], started.id, hop["id"], template=TEMPLATE)
    assert fixed.hops[0]["state"] == "drafted"


def test_graph_exports_validate_as_case_uco(net: Any, people: dict, tmp_path: Any) -> None:
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    started = _started(net, people)
    trace.record_answer(
        net.us,
        people["iris"],
        started.id,
        started.hops[0]["id"],
        "next_hop",
        {"ip": "203.0.113.77", "port": 51512, "at": "2026-11-20T08:10:00Z", "protocol": "tcp"},
        key="NL phone call",
    )
    bundle = trace.case_of(net.us, people["iris"], started.id)
    types = [o["@type"] for o in bundle["uco-core:object"]]
    assert "uco-observable:NetworkConnection" in types and "uco-core:Relationship" in types
    assert bundle == trace.case_of(net.us, people["iris"], started.id)  # stable ids
    path = tmp_path / "trace.jsonld"
    path.write_text(json.dumps(bundle))
    validator = Path(sys.executable).parent / "case_validate"
    command = str(validator) if validator.exists() else shutil.which("case_validate")
    assert command, "case-utils (dev dependency) provides case_validate"
    done = subprocess.run([command, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Conforms: True" in done.stdout
    # a broken export is caught: a NetworkConnection whose source port is text
    broken = json.loads(json.dumps(bundle))
    for obj in broken["uco-core:object"]:
        if obj["@type"] == "uco-observable:NetworkConnection":
            obj["uco-core:hasFacet"][0]["uco-observable:sourcePort"] = "not a port"
    path.write_text(json.dumps(broken))
    done = subprocess.run([command, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Conforms: False" in done.stdout


# --- answers are pushed: the trace moves when the answer arrives, no sync --------------------


def _disclosure(reference: str, *, in_response_to: str) -> dict:
    return {
        "kind": "expedited_disclosure",
        "reference": reference,
        "date_issued": "2026-11-20",
        "requesting_party": "US",
        "requested_party": "NL",
        "requesting_authority": TEMPLATE["requesting_authority"],
        "requested_authority": "Netherlands 24/7 point of contact",
        "confirmation_contact": {
            "name": "Noor",
            "phone": "+31705550101",
            "email": "noor@nl-poc.example",
        },
        "in_response_to": in_response_to,
        "provider_in_other_state": {
            "name": "Rio Litoral Telecom",
            "country": "BR",
            "identifiers": ["203.0.113.0/24"],
        },
        "path": [
            {
                "source": {
                    "type": "ip_endpoint",
                    "ip": "203.0.113.77",
                    "port": 51512,
                    "timestamp": "2026-11-20T08:10:00Z",
                    "protocol": "tcp",
                },
                "destination": {
                    "type": "ip_endpoint",
                    "ip": "198.51.100.23",
                    "port": 22,
                    "timestamp": "2026-11-20T08:10:00Z",
                    "protocol": "tcp",
                },
                "observed_by": "Polderhost flow records",
            }
        ],
        "traffic_data": ["2026-11-20T08:10:00Z 203.0.113.77:51512 -> 198.51.100.23:22 tcp"],
        "third_country_notice": "The communication came from Rio Litoral Telecom (BR).",
    }


def _nl_discloses(net: Any, people: dict, body: dict) -> str:
    sent = requests.draft_request(net.nl, people["noor"], body, recipient="us-poc")
    requests.approve_request(net.nl, people["joost"], sent.id)
    requests.send_request(net.nl, people["noor"], sent.id)
    pump(net)
    return sent.id


def _answers(net: Any) -> list[tuple[str, str]]:
    from trailguard.trace.orm import AnswerRow

    with net.us.db.session() as session:
        return [(r.kind, r.key) for r in session.execute(select(AnswerRow)).scalars()]


def _actions(net: Any) -> list[str]:
    with net.us.db.session() as session:
        return list(session.execute(select(AuditEntryRow.action)).scalars())


def _sent_and_preserved(net: Any, people: dict) -> Any:
    started = _started(net, people)
    hop1 = started.hops[0]
    requests.approve_request(net.us, people["dan"], hop1["request_id"])
    # the approval is a transition on this node: the hop is under way at once
    assert trace.get_trace(net.us, people["iris"], started.id).hops[0]["state"] == "sent"
    requests.send_request(net.us, people["dan"], hop1["request_id"])
    pump(net)
    _nl_preserves(net, people, hop1["request_id"], "hold-00000000000000aa", "a" * 64)
    return started


def test_answers_move_the_trace_when_they_arrive(net: Any, people: dict) -> None:
    started = _sent_and_preserved(net, people)
    hop1 = started.hops[0]
    preserved = trace.get_trace(net.us, people["iris"], started.id)  # no sync
    assert preserved.hops[0]["state"] == "preserved"
    assert preserved.hops[0]["hold_digest"] == "a" * 64
    disclosure_id = _nl_discloses(
        net, people, _disclosure("NL-2026-NJ-030", in_response_to=hop1["request_reference"])
    )
    moved = trace.get_trace(net.us, people["iris"], started.id)  # no sync
    assert [h["state"] for h in moved.hops] == ["advanced", "drafted"]
    hop2 = moved.hops[1]
    assert hop2["source"]["disclosure"] == disclosure_id and hop2["recipient_node"] == "br-poc"
    draft = requests.get_request(net.us, hop2["request_id"])
    assert draft.state.value == "draft" and draft.counterpart_node == "br-poc"
    assert draft.created_by == "user:trace:answers"  # drafted by the answer; a person approves
    assert _answers(net) == [
        ("preserved", f"request:{hop1['request_id']}:preserved"),
        ("next_hop", f"disclosure:{disclosure_id}"),
    ]
    # sync is a repair tool: it finds nothing left to move
    again = trace.sync_trace(net.us, people["iris"], started.id)
    assert [h["state"] for h in again.hops] == ["advanced", "drafted"]
    assert len(_answers(net)) == 2
    # the BR answer ends the trace, again without sync
    requests.approve_request(net.us, people["dan"], hop2["request_id"])
    assert trace.get_trace(net.us, people["iris"], started.id).hops[1]["state"] == "sent"


def test_the_approver_of_a_hop_the_answer_drafted_does_not_send_it(
    net_br: Any, people: dict
) -> None:
    """Four eyes: no person drafted the next hop's request (the Art. 30 disclosure did), so
    the person who approves it may not also send it; a second person sends it."""
    net = net_br
    started = _sent_and_preserved(net, people)
    _nl_discloses(
        net,
        people,
        _disclosure("NL-2026-NJ-030", in_response_to=started.hops[0]["request_reference"]),
    )
    hop2 = trace.get_trace(net.us, people["iris"], started.id).hops[1]
    requests.approve_request(net.us, people["dan"], hop2["request_id"])
    with pytest.raises(PermissionDenied, match="four-eyes") as refused:
        requests.send_request(net.us, people["dan"], hop2["request_id"])
    assert "drafted by trace:answers" in str(refused.value)
    assert requests.get_request(net.us, hop2["request_id"]).state.value == "approved"
    sent = requests.send_request(net.us, people["iris"], hop2["request_id"])
    assert sent.state.value == "sent"
    assert (sent.created_by, sent.approved_by, sent.transitions[-1].actor) == (
        "user:trace:answers",
        "user:dan",
        "user:iris",
    )


def test_auto_send_policy_still_sends_the_hop_an_answer_drafted(net_br: Any, people: dict) -> None:
    """The recorded auto-send policy is the explicit exception: it approves and sends the
    request the answer drafted, with no person in between."""
    net = net_br
    started = _started(net, people, auto_send=True)
    hop1 = started.hops[0]
    pump(net)
    _nl_preserves(net, people, hop1["request_id"], "hold-00000000000000ab", "b" * 64)
    _nl_discloses(
        net, people, _disclosure("NL-2026-NJ-031", in_response_to=hop1["request_reference"])
    )
    hop2 = trace.get_trace(net.us, people["iris"], started.id).hops[1]
    assert hop2["state"] == "sent"
    view = requests.get_request(net.us, hop2["request_id"])
    assert view.state.value == "sent" and view.created_by == "user:trace:answers"
    assert view.approved_by == view.transitions[-1].actor == "user:policy:auto-send"


def test_a_hop_with_a_live_request_refuses_a_second_draft(net: Any, people: dict) -> None:
    """A second request drafted for a hop under its reference (what the hop's drafting link
    used to pre-fill) is refused while the first is live, naming it; once the first is
    refused, the hop may be asked again."""
    started = _started(net, people)
    hop1 = started.hops[0]
    first = requests.get_request(net.us, hop1["request_id"])
    again = first.request.model_dump(mode="json")
    with pytest.raises(Conflict, match=f"request {hop1['request_reference']} already exists"):
        requests.draft_request(net.us, people["dan"], again, recipient="nl-poc")
    requests.approve_request(net.us, people["dan"], first.id)
    requests.send_request(net.us, people["iris"], first.id)
    pump(net)
    with pytest.raises(Conflict, match=r"already exists and is received"):
        requests.draft_request(net.us, people["dan"], again, recipient="nl-poc")
    requests.refuse_request(
        net.nl, people["noor"], first.id, ground="essential_interests", reasons="synthetic"
    )
    pump(net)
    assert requests.get_request(net.us, first.id).state.value == "refused"
    second = requests.draft_request(net.us, people["dan"], again, recipient="nl-poc")
    assert second.id != first.id and second.reference == hop1["request_reference"]


def test_a_hop_whose_reference_a_live_request_holds_is_not_drafted_twice(
    net: Any, people: dict
) -> None:
    started = _started(net, people, template={})
    hop = started.hops[0]
    assert hop["state"] == "open" and hop["request_id"] is None  # the template was missing
    by_hand = requests.draft_request(
        net.us,
        people["dan"],
        trace.preservation_body(
            net.us,
            hop,
            {
                "template": TEMPLATE,
                "reference": "US-2026-NJ-H1",
                "provider": _Named("NL", "Polderhost B.V.", "nl-polderhost", "198.51.100.0/24"),
                "poc": _Named("NL", "NL 24/7", "nl-poc", ""),
                "kinds": ["flow"],
                "custodian": None,
            },
        ),
        recipient="nl-poc",
    )
    refined = trace.refine_hop(
        net.us, people["iris"], started.id, hop["id"], template=TEMPLATE
    ).hops[0]
    assert refined["state"] == "open" and refined["request_id"] is None
    [check] = [c for c in refined["checks"] if c["code"] == "request_exists"]
    assert (
        f"request US-2026-NJ-H1 already exists and is draft (id {by_hand.id})" in check["message"]
    )
    assert "already exists" in refined["next_action"]


def test_two_traces_started_at_one_instant_name_their_requests_apart(
    net: Any, people: dict
) -> None:
    _custodians(net, people)
    case_id, obs_id = _case(net, people)
    one = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    two = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    assert one.created_at == two.created_at  # the clock did not move
    assert one.hops[0]["request_reference"] == "US-2026-NJ-H1"
    assert two.hops[0]["request_reference"] == "US-2026-NJ-T2-H1"
    assert two.hops[0]["state"] == "drafted"


def test_the_same_answer_twice_moves_nothing_twice(net: Any, people: dict) -> None:
    started = _sent_and_preserved(net, people)
    disclosure_id = _nl_discloses(
        net,
        people,
        _disclosure("NL-2026-NJ-030", in_response_to=started.hops[0]["request_reference"]),
    )
    before = trace.get_trace(net.us, people["iris"], started.id)
    for _ in range(2):  # the listener called again for the same arrival
        with net.us.db.session() as session:
            trace.on_request_transition(
                session, net.us, {"request_id": disclosure_id, "to": "received"}
            )
    after = trace.get_trace(net.us, people["iris"], started.id)
    assert [h["id"] for h in after.hops] == [h["id"] for h in before.hops]
    assert len(_answers(net)) == 2
    assert len(requests.list_requests(net.us, direction="outbound")) == 2  # no second draft


def test_an_answer_for_no_hop_is_a_clear_state_not_a_crash(net: Any, people: dict) -> None:
    started = _sent_and_preserved(net, people)
    # a disclosure answering a reference no trace waits for: stored, recorded as unmatched
    stray = _nl_discloses(net, people, _disclosure("NL-2026-X-1", in_response_to="US-OTHER-9"))
    assert requests.get_request(net.us, stray).kind.value == "expedited_disclosure"
    assert "trace.answer_unmatched" in _actions(net)
    assert len(trace.get_trace(net.us, people["iris"], started.id).hops) == 1
    # a transition of a request no hop waits for moves nothing; an unknown request that
    # "arrives": the listener records why and raises nothing
    with net.us.db.session() as session:
        trace.on_request_transition(session, net.us, {"request_id": "nope", "to": "preserved"})
    assert "trace.answer_not_applied" not in _actions(net)
    with net.us.db.session() as session:
        trace.on_request_transition(session, net.us, {"request_id": "nope", "to": "received"})
    assert "trace.answer_not_applied" in _actions(net)
    assert [kind for kind, _key in _answers(net)] == ["preserved"]


def test_a_disclosure_from_a_node_not_asked_moves_nothing(net: Any, people: dict) -> None:
    started = _sent_and_preserved(net, people)
    reference = started.hops[0]["request_reference"]
    # the hop's request went to nl-poc; the same reference arriving from elsewhere is not its
    # answer (simulated by changing the hop's recipient before NL's answer arrives)
    from trailguard.trace.orm import HopRow

    with net.us.db.session() as session:
        session.get(HopRow, started.hops[0]["id"]).recipient_node = "br-poc"
    _nl_discloses(net, people, _disclosure("NL-2026-NJ-030", in_response_to=reference))
    assert len(trace.get_trace(net.us, people["iris"], started.id).hops) == 1
    assert "trace.answer_unmatched" in _actions(net)


def test_a_failing_move_keeps_the_answer_stored_and_sync_repairs(
    net: Any, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trailguard.trace.service import answers

    started = _sent_and_preserved(net, people)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the law engine is unavailable")

    monkeypatch.setattr(answers, "decide", broken)
    disclosure_id = _nl_discloses(
        net,
        people,
        _disclosure("NL-2026-NJ-030", in_response_to=started.hops[0]["request_reference"]),
    )
    # the disclosure is stored (the exchange accepted it); nothing of the trace half-written
    assert requests.get_request(net.us, disclosure_id).state.value == "received"
    stuck = trace.get_trace(net.us, people["iris"], started.id)
    assert [h["state"] for h in stuck.hops] == ["preserved"]
    assert [kind for kind, _key in _answers(net)] == ["preserved"]
    assert "trace.answer_not_applied" in _actions(net)
    monkeypatch.undo()
    repaired = trace.sync_trace(net.us, people["iris"], started.id)
    assert [h["state"] for h in repaired.hops] == ["advanced", "drafted"]


def test_the_traces_handling_and_emergency_go_on_its_requests(net: Any, people: dict) -> None:
    _custodians(net, people)
    case_id, obs_id = _case(net, people)
    handled = {**TEMPLATE, "handling": {"code": "H2", "tlp": "TLP:RED"}, "emergency": True}
    started = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=handled)
    body = requests.get_request(net.us, started.hops[0]["request_id"]).request
    assert (body.handling.code, body.handling.tlp) == ("H2", "TLP:RED") and body.emergency
    # without them, the request's default handling (H0), not an emergency
    plain = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=TEMPLATE)
    body = requests.get_request(net.us, plain.hops[0]["request_id"]).request
    assert body.handling.code == "H0" and not body.emergency
    # a handling the request model refuses leaves the hop open with the reason
    wrong = {**TEMPLATE, "handling": {"code": "H9", "tlp": "TLP:RED"}}
    refused = trace.start_trace(net.us, people["iris"], case_id, obs_id, template=wrong)
    hop = refused.hops[0]
    assert hop["state"] == "open" and hop["request_id"] is None
    assert any(
        c["code"] == "request_incomplete" and "handling" in c["message"] for c in hop["checks"]
    ), hop["checks"]


def test_a_line_identified_that_relayed_the_connection_moves_the_trail_on(
    net: Any, people: dict
) -> None:
    # a CGN access provider preserves the translation and RADIUS records of the line (its
    # subscriber named), then its Art. 30 disclosure shows the line relayed a session from
    # elsewhere: the line stays named on its hop and the trail goes on
    started = _started(net, people)
    first = started.hops[0]["id"]
    trace.record_answer(
        net.us, people["iris"], started.id, first, "next_hop",
        {"ip": "203.0.113.77", "port": 51512, "at": "2026-11-20T08:10:00Z"}, key="call 1",
    )  # fmt: skip
    hop2 = trace.get_trace(net.us, people["iris"], started.id).hops[1]
    assert hop2["data_kinds"] == ["port_block", "radius"]
    named = trace.record_answer(
        net.us, people["iris"], started.id, hop2["id"], "preserved",
        {"hold_id": "hold-00000000000000cc", "digest": "c" * 64, "summary": "line acct-1@x"},
        key="letter 1",
    )  # fmt: skip
    assert named.state == "subscriber" and named.hops[1]["state"] == "subscriber"
    moved = trace.record_answer(
        net.us, people["iris"], started.id, hop2["id"], "next_hop",
        {"ip": "198.51.100.99", "port": 40000, "at": "2026-11-20T08:09:00Z"}, key="letter 2",
    )  # fmt: skip
    assert moved.state == "open"
    assert [h["state"] for h in moved.hops][1] == "advanced"
    assert moved.hops[1]["subscriber"] == "line acct-1@x"
    assert "relayed the connection from 198.51.100.99:40000" in moved.hops[1]["next_action"]
    assert moved.hops[2]["ip"] == "198.51.100.99" and moved.hops[2]["state"] == "drafted"
    # other answers to the named line stay refused: it takes only the disclosure
    with pytest.raises(Conflict, match="closed"):
        trace.record_answer(
            net.us, people["iris"], started.id, hop2["id"], "no_data", {}, key="letter 3"
        )
