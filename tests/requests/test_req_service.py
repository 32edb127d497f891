"""Service tests: drafting, approval, sending, receiving, transitions, forwarding and clocks
between real nodes (each with its own database) over the signed exchange."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from req_payloads import ALL, payload
from sqlalchemy import func, select

from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.network import deliver_pending
from trailguard.network.orm import ExchangeReceiptRow, OutboxRow
from trailguard.requests import service
from trailguard.requests.documents import render_html, render_pdf
from trailguard.requests.domain import RequestState
from trailguard.requests.orm import ReminderRow, RequestRow

DIGEST = "a" * 64


def pump(net: Any, rounds: int = 6) -> None:
    """Run every node's outbox until nothing is left to deliver."""
    nodes = [net.us, net.nl, *net.extra]
    for _ in range(rounds):
        attempted = sum(deliver_pending(n, transport=net.transport).attempted for n in nodes)
        if attempted == 0:
            return
    raise AssertionError("the outboxes did not drain")


def _count(node: Any, model: Any, **where: Any) -> int:
    with node.db.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def _sent(
    net: Any, people: dict, kind: str = "preservation", **changes: Any
) -> service.RequestView:
    view = service.draft_request(
        net.us,
        people["duty"],
        payload(kind, **changes),
        recipient="nl-poc",
        retention_days={"flow": 30},
    )
    service.approve_request(net.us, people["duty2"], view.id)
    if view.legal_basis is None:
        service.override_legal_basis(
            net.us,
            people["central"],
            view.id,
            "Test network: no basis in the engine for this pair.",
        )
    return service.send_request(net.us, people["duty"], view.id)


def test_preservation_scenario_between_three_nodes(net3: Any, people: dict) -> None:
    net = net3
    provider = net.extra[0]
    draft = service.draft_request(
        net.us,
        people["investigator"],
        payload("preservation"),
        recipient="nl-poc",
        retention_days={"flow": 30},
    )
    assert draft.state is RequestState.DRAFT
    assert draft.legal_basis is not None and "29" in draft.legal_basis["articles"]
    # the clock before anything happens: Polderhost deletes its flow records after 30 days
    assert draft.nearest is not None and draft.nearest.kind.value == "retention_deletion"
    with pytest.raises(PermissionDenied):
        service.approve_request(net.us, people["investigator"], draft.id)  # not an approver
    with pytest.raises(ValidationFailed, match=r"'draft'.*allowed next states: approved, closed"):
        service.send_request(net.us, people["duty"], draft.id)
    service.approve_request(net.us, people["duty"], draft.id)
    sent = service.send_request(net.us, people["duty"], draft.id)
    assert sent.state is RequestState.SENT
    assert sent.nearest is not None and sent.nearest.kind.value == "acknowledgement"
    pump(net)

    nl_view = service.get_request(net.nl, draft.id)
    assert nl_view.direction == "inbound" and nl_view.state is RequestState.RECEIVED
    assert nl_view.request == sent.request
    assert service.get_request(net.us, draft.id).state is RequestState.RECEIVED

    service.acknowledge_request(net.nl, people["duty"], draft.id)
    copy = service.forward_request(net.nl, people["duty"], draft.id, recipient="nl-polderhost")
    assert copy.parent_id == draft.id and copy.state is RequestState.SENT
    pump(net)
    assert service.get_request(net.us, draft.id).state is RequestState.ACKNOWLEDGED
    # the person's acknowledgement also went back as a signed receipt of the carrying message
    submit_message = sent.transitions[-1].message_id
    assert submit_message
    assert (
        _count(
            net.us,
            ExchangeReceiptRow,
            message_id=submit_message,
            stage="acknowledged",
            issuer="nl-poc",
        )
        == 1
    )
    at_provider = service.get_request(provider, copy.id)
    assert at_provider.state is RequestState.RECEIVED

    with pytest.raises(PermissionDenied):
        service.record_preservation(provider, people["investigator"], copy.id, preserved="x")
    service.acknowledge_request(provider, people["liaison"], copy.id)
    service.start_execution(provider, people["liaison"], copy.id)
    with pytest.raises(ValidationFailed, match="SHA-256"):
        service.record_preservation(
            provider, people["liaison"], copy.id, preserved="flows", digest="not-a-digest"
        )
    done = service.record_preservation(
        provider,
        people["liaison"],
        copy.id,
        preserved="Flow records of 198.51.100.23 08:00-09:00Z",
        hold_id="hold-1",
        digest=DIGEST,
    )
    assert done.state is RequestState.PRESERVED and done.hold_digest == DIGEST
    pump(net)
    nl_original = service.get_request(net.nl, draft.id)
    assert nl_original.state is RequestState.PRESERVED
    us_view = service.get_request(net.us, draft.id)
    assert us_view.state is RequestState.PRESERVED
    assert us_view.hold_digest == DIGEST and us_view.hold_id == "hold-1"
    assert us_view.expires_at is not None
    # the expiry runs in the custodian's zone: 60 days from the preservation
    assert us_view.expires_at - net.clock.now() >= timedelta(days=60) - timedelta(hours=1)

    with pytest.raises(ValidationFailed, match="cannot be marked expired"):
        service.expire_request(net.us, people["duty"], draft.id)
    with pytest.raises(ValidationFailed, match="exceeds"):
        service.extend_preservation(net.us, people["duty"], draft.id, days=91)
    extended = service.extend_preservation(net.us, people["duty"], draft.id, days=90)
    assert extended.state is RequestState.EXTENDED
    assert extended.expires_at is not None and us_view.expires_at is not None
    # 90 calendar days in Amsterdam: across the March DST change that is 90 days less an hour
    from zoneinfo import ZoneInfo

    ams = ZoneInfo("Europe/Amsterdam")
    before, after = us_view.expires_at.astimezone(ams), extended.expires_at.astimezone(ams)
    assert (after.date() - before.date(), after.time()) == (timedelta(days=90), before.time())
    pump(net)
    assert service.get_request(net.nl, draft.id).state is RequestState.EXTENDED
    # the custodian learns of the extension through the forwarded copy
    assert service.get_request(provider, copy.id).state is RequestState.EXTENDED

    mla = service.draft_mla_from(
        net.us,
        people["investigator"],
        draft.id,
        {
            "prosecution_office_or_court": "US Attorney's Office (synthetic)",
            "case_numbers": "1:26-cr-00042",
            "applicable_law": "18 U.S.C. 1030",
        },
    )
    assert mla.request.previous_preservations[0].reference == "US-2026-0042"  # type: ignore[attr-defined]
    assert mla.parent_id == draft.id
    kept = service.mark_superseded_by_mla(net.us, people["duty"], draft.id, mla_request_id=mla.id)
    assert kept.expires_at is None
    pump(net)
    nl_kept = service.get_request(net.nl, draft.id)
    assert nl_kept.state is RequestState.SUPERSEDED_BY_MLA and nl_kept.expires_at is None
    held = service.get_request(provider, copy.id)
    assert held.state is RequestState.SUPERSEDED_BY_MLA and held.expires_at is None
    net.clock.advance(timedelta(days=400))
    with pytest.raises(ValidationFailed, match="pending the decision"):
        service.expire_request(net.nl, people["duty"], draft.id)

    # the timeline on the requesting node: every step, remote ones with their message id
    timeline = [(t.to_state, t.origin) for t in us_view.transitions]
    assert [s for s, _ in timeline] == [
        "draft",
        "approved",
        "sent",
        "received",
        "acknowledged",
        "in_execution",
        "preserved",
    ]
    remote = [t for t in service.get_request(net.us, draft.id).transitions if t.origin == "remote"]
    assert remote and all(t.message_id for t in remote)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_request_type_round_trips(net3: Any, people: dict, kind: str) -> None:
    net = net3
    sent = _sent(net, people, kind)
    pump(net)
    received = service.get_request(net.nl, sent.id)
    assert received.request == sent.request
    assert received.kind is sent.kind and received.state is RequestState.RECEIVED
    service.acknowledge_request(net.nl, people["duty"], sent.id)
    if kind == "art32_record":
        final = RequestState.ACKNOWLEDGED
    elif kind in ("preservation", "epoc_pr"):
        service.start_execution(net.nl, people["duty"], sent.id)
        service.record_preservation(
            net.nl, people["duty"], sent.id, preserved="records", digest=DIGEST
        )
        final = RequestState.PRESERVED
    else:
        service.start_execution(net.nl, people["duty"], sent.id)
        service.record_disclosure(net.nl, people["duty"], sent.id, summary="records sent")
        final = RequestState.DISCLOSED
    pump(net)
    assert service.get_request(net.us, sent.id).state is final
    html = render_html(received.request)
    assert received.reference in html
    assert render_pdf(received.request).startswith(b"%PDF")


def test_request_arriving_twice_is_stored_once(net3: Any, people: dict) -> None:
    net = net3
    sent = _sent(net, people)
    pump(net)
    with net.nl.db.session() as session:
        stored = session.get(RequestRow, sent.id)
        assert stored is not None
    # the same request id again, in a new message (e.g. re-sent by hand)
    from trailguard.network import ReceivedMessage

    with net.us.db.session() as session:
        row = session.get(RequestRow, sent.id)
        assert row is not None
        body = json.loads(row.body)
    message = ReceivedMessage(
        message_id="m-again",
        sender="us-poc",
        recipient="nl-poc",
        message_type=service.SUBMIT,
        correlation_id=sent.id,
        created_at=net.clock.now(),
        expires_at=net.clock.now(),
        received_at=net.clock.now(),
        payload={
            "request_id": sent.id,
            "transition_id": "t-again",
            "body": body,
            "origin_node": "us-poc",
            "sent_at": "2026-11-20T13:00:00Z",
        },
    )
    with net.nl.db.session() as session:
        service.handle_submit(session, net.nl, message)
    assert _count(net.nl, RequestRow, id=sent.id) == 1
    assert len(service.get_request(net.nl, sent.id).transitions) == 2  # sent, received


def test_unknown_recipient_fails_before_sending(net3: Any, people: dict) -> None:
    net = net3
    drafts = _count(net.us, RequestRow)
    with pytest.raises(ValidationFailed, match="'zz-nowhere' is not in this node's directory"):
        service.draft_request(
            net.us, people["duty"], payload("preservation"), recipient="zz-nowhere"
        )
    assert _count(net.us, RequestRow) == drafts  # nothing half-written
    view = service.draft_request(net.us, people["duty"], payload("preservation"))
    with pytest.raises(ValidationFailed, match="'zz-nowhere' is not in this node's directory"):
        service.update_draft(
            net.us, people["duty"], view.id, payload("preservation"), recipient="zz-nowhere"
        )
    assert service.get_request(net.us, view.id).counterpart_node is None
    service.approve_request(net.us, people["duty2"], view.id)
    before = _count(net.us, OutboxRow)
    with pytest.raises(NotFound, match="'zz-nowhere' is not in this node's directory"):
        service.send_request(net.us, people["duty"], view.id, recipient="zz-nowhere")
    assert _count(net.us, OutboxRow) == before
    assert service.get_request(net.us, view.id).state is RequestState.APPROVED
    with pytest.raises(NotFound, match="no 24/7 point of contact for BR"):
        service.resolve_recipient(net.us, "BR")
    assert service.resolve_recipient(net.us, "NL") == "nl-poc"


def test_no_legal_basis_needs_audited_override(net3: Any, people: dict) -> None:
    net = net3
    data = payload("preservation", requested_party="AQ")
    view = service.draft_request(net.us, people["duty"], data, recipient="nl-poc")
    assert view.legal_basis is None
    service.approve_request(net.us, people["duty2"], view.id)
    with pytest.raises(ValidationFailed, match="no legal basis"):
        service.send_request(net.us, people["duty"], view.id)
    with pytest.raises(PermissionDenied):
        service.override_legal_basis(net.us, people["duty"], view.id, "x" * 40)
    with pytest.raises(ValidationFailed, match="at least 20"):
        service.override_legal_basis(net.us, people["central"], view.id, "because")
    service.override_legal_basis(
        net.us,
        people["central"],
        view.id,
        "Urgent: reciprocity agreed by the ministries on 2026-11-19.",
    )
    assert service.send_request(net.us, people["duty"], view.id).state is RequestState.SENT
    from trailguard.audit.orm import AuditEntryRow

    assert _count(net.us, AuditEntryRow, action="request.legal_basis_overridden") == 1


def test_four_eyes_and_draft_editing(net3: Any, people: dict) -> None:
    net = net3
    view = service.draft_request(
        net.us, people["duty"], payload("preservation"), recipient="nl-poc"
    )
    with pytest.raises(PermissionDenied, match="four-eyes"):
        service.approve_request(net.us, people["duty"], view.id)
    edited = service.update_draft(
        net.us, people["duty"], view.id, payload("preservation", reference="US-2026-0043")
    )
    assert edited.reference == "US-2026-0043"
    with pytest.raises(ValidationFailed, match=r"Art\. 29"):
        service.update_draft(
            net.us,
            people["duty"],
            view.id,
            {k: v for k, v in payload("preservation").items() if k != "necessity"},
        )
    service.approve_request(net.us, people["central"], view.id)
    with pytest.raises(Conflict, match="only a draft"):
        service.update_draft(net.us, people["duty"], view.id, payload("preservation"))
    with pytest.raises(PermissionDenied):
        service.draft_request(net.us, people["liaison"], payload("preservation"))


def test_one_live_request_per_reference(net3: Any, people: dict) -> None:
    net = net3
    first = service.draft_request(
        net.us,
        people["duty"],
        payload("preservation", reference="US-2026-0050"),
        recipient="nl-poc",
    )
    with pytest.raises(
        Conflict, match=rf"request US-2026-0050 already exists and is draft \(id {first.id}\)"
    ):
        service.draft_request(
            net.us, people["duty2"], payload("preservation", reference="US-2026-0050")
        )
    other = service.draft_request(
        net.us, people["duty2"], payload("preservation", reference="US-2026-0051")
    )
    with pytest.raises(Conflict, match="US-2026-0050 already exists"):
        service.update_draft(
            net.us, people["duty2"], other.id, payload("preservation", reference="US-2026-0050")
        )
    # a draft keeps its own reference when edited; a closed request frees its reference
    service.update_draft(
        net.us, people["duty"], first.id, payload("preservation", reference="US-2026-0050")
    )
    service.close_request(net.us, people["duty"], first.id, reason="drafted in error")
    again = service.draft_request(
        net.us, people["duty2"], payload("preservation", reference="US-2026-0050")
    )
    assert again.id != first.id


def test_refusal_grounds_over_the_exchange(net3: Any, people: dict) -> None:
    net = net3
    sent = _sent(net, people)
    pump(net)
    with pytest.raises(ValidationFailed, match="not one the treaty allows"):
        service.refuse_request(net.nl, people["duty"], sent.id, ground="other", reasons="busy")
    with pytest.raises(ValidationFailed, match="reservation"):
        service.refuse_request(
            net.nl, people["duty"], sent.id, ground="dual_criminality_reservation", reasons="no dc"
        )
    service.refuse_request(
        net.nl,
        people["duty"],
        sent.id,
        ground="essential_interests",
        reasons="Prejudice to essential interests (synthetic).",
    )
    pump(net)
    us_view = service.get_request(net.us, sent.id)
    assert us_view.state is RequestState.REFUSED
    assert us_view.refusal_ground == "essential_interests"
    assert us_view.refusal_article == "Convention Art. 29(5)(b)"
    with pytest.raises(ValidationFailed, match="'refused'"):
        service.record_preservation(net.nl, people["duty"], sent.id, preserved="x")


def test_art29_6_warning_and_requesting_party_decides(net3: Any, people: dict) -> None:
    net = net3
    sent = _sent(net, people)
    pump(net)
    service.acknowledge_request(net.nl, people["duty"], sent.id)
    service.start_execution(net.nl, people["duty"], sent.id)
    service.warn_cannot_ensure_availability(
        net.nl, people["duty"], sent.id, reasons="Records are overwritten hourly."
    )
    pump(net)
    assert service.get_request(net.us, sent.id).state is RequestState.CANNOT_ENSURE_AVAILABILITY
    with pytest.raises(ValidationFailed, match="requesting side"):
        service.proceed_despite_warning(net.nl, people["duty"], sent.id)
    service.proceed_despite_warning(net.us, people["duty"], sent.id)
    pump(net)
    assert service.get_request(net.nl, sent.id).state is RequestState.IN_EXECUTION


def test_onward_sharing_is_enforced(net3: Any, people: dict) -> None:
    net = net3
    red = _sent(net, people, handling={"tlp": "TLP:RED", "code": "H0"})
    h2 = _sent(net, people, handling={"tlp": "TLP:AMBER", "code": "H2"}, reference="US-2")
    allowed = _sent(
        net,
        people,
        reference="US-3",
        handling={"tlp": "TLP:RED", "code": "H2", "onward_sharing_permitted": True},
    )
    pump(net)
    for refused in (red, h2):
        with pytest.raises(PermissionDenied, match="forwarding refused"):
            service.forward_request(net.nl, people["duty"], refused.id, recipient="nl-polderhost")
    copy = service.forward_request(net.nl, people["duty"], allowed.id, recipient="nl-polderhost")
    pump(net)
    assert service.get_request(net.extra[0], copy.id).state is RequestState.RECEIVED


def test_reminders_and_missed_deadlines(net3: Any, people: dict) -> None:
    net = net3
    sent = _sent(net, people)
    first = service.scan_deadlines(net.us)
    assert [(r.deadline_kind, r.missed) for r in first] == [("acknowledgement", False)]
    assert first[0].remind_at == first[0].due_at - timedelta(hours=1)
    assert service.scan_deadlines(net.us) == []
    net.clock.advance(timedelta(minutes=31))  # nobody acknowledged within 30 minutes
    raised = service.scan_deadlines(net.us)
    missed = [r for r in raised if r.missed]
    assert [r.deadline_kind for r in missed] == ["acknowledgement"]
    assert service.scan_deadlines(net.us) == []  # stored once, never dropped
    assert _count(net.us, ReminderRow, request_id=sent.id, missed=True) == 1
    # in-app: the node's notifications carry the reminder and the missed deadline
    from trailguard.network.orm import NotificationRow

    with net.us.db.session() as session:
        subjects = session.scalars(
            select(NotificationRow.subject).where(NotificationRow.body == f"/requests/{sent.id}")
        ).all()
    assert sorted(s.split(" ")[0] for s in subjects) == ["MISSED", "due"]
    open_ones = service.open_reminders(net.us)
    assert open_ones[0].missed and open_ones[0].request_id == sent.id
    # the outbox is sorted by nearest deadline, overdue first
    later = _sent(net, people, reference="US-LATER")
    ordered = [v.id for v in service.list_requests(net.us, direction="outbound")]
    assert ordered.index(sent.id) < ordered.index(later.id)


def test_routing_straight_to_a_provider_only_where_allowed(net3: Any, people: dict) -> None:
    net = net3
    view = service.draft_request(
        net.us, people["duty"], payload("preservation"), recipient="nl-polderhost"
    )
    service.approve_request(net.us, people["duty2"], view.id)
    with pytest.raises(ValidationFailed, match="24/7 point of contact"):
        service.send_request(net.us, people["duty"], view.id)
    direct = service.draft_request(
        net.us,
        people["duty"],
        payload("subscriber_info", reference="US-2026-0044"),  # the first is still live
        recipient="nl-polderhost",
    )
    service.approve_request(net.us, people["duty2"], direct.id)
    if direct.legal_basis is None:
        service.override_legal_basis(
            net.us,
            people["central"],
            direct.id,
            "Test network: no basis in the engine for this pair.",
        )
    assert service.send_request(net.us, people["duty"], direct.id).state is RequestState.SENT
    pump(net)
    assert service.get_request(net.extra[0], direct.id).state is RequestState.RECEIVED


def test_reminders_are_emailed_when_smtp_is_configured(
    net3: Any, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = net3
    outbox: list[Any] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            self.host, self.port = host, port

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def login(self, user: str, password: str) -> None:
            outbox.append(("login", user))

        def send_message(self, message: Any) -> None:
            outbox.append((self.host, self.port, message))

    from trailguard.core import mail

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    net.us.config = net.us.config.model_copy(
        update={"smtp_url": "smtp://mail.example:2525/duty@us-poc.example"}
    )
    _sent(net, people)
    net.clock.advance(timedelta(minutes=31))
    service.scan_deadlines(net.us)
    host, port, message = outbox[-1]
    assert (host, port, message["To"]) == ("mail.example", 2525, "duty@us-poc.example")
    assert "MISSED" in message.get_content() and "US-2026-0042" in message.get_content()


def test_transitions_from_the_other_node_are_validated(net3: Any, people: dict) -> None:
    from trailguard.network import ReceivedMessage

    net = net3
    sent = _sent(net, people)
    pump(net)
    service.acknowledge_request(net.nl, people["duty"], sent.id)
    service.start_execution(net.nl, people["duty"], sent.id)
    pump(net)

    def message(transition_id: str, to_state: str, details: dict, sender: str = "nl-poc") -> Any:
        now = net.clock.now()
        return ReceivedMessage(
            message_id=f"m-{transition_id}",
            sender=sender,
            recipient="us-poc",
            message_type=service.TRANSITION,
            correlation_id=sent.id,
            created_at=now,
            expires_at=now,
            received_at=now,
            payload={
                "request_id": sent.id,
                "transition_id": transition_id,
                "to_state": to_state,
                "at": "2026-11-20T14:00:00Z",
                "actor": "user:x",
                "reason": "because",
                "details": details,
            },
        )

    cases = [
        (message("t1", "preserved", {"digest": "z" * 64, "preserved": "x"}), "SHA-256"),
        (message("t2", "preserved", {"zone": "Mars/Olympus", "preserved": "x"}), "time zone"),
        (message("t3", "refused", {"ground": "other"}), "not one the treaty allows"),
        (message("t4", "closed", {}, sender="nl-polderhost"), "not the other side"),
        (message("t5", "expired", {}), "cannot become 'expired'"),
    ]
    for bad, needle in cases:
        with pytest.raises(ValidationFailed) as info, net.us.db.session() as session:
            service.handle_transition(session, net.us, bad)
        assert needle in str(info.value) + " ".join(info.value.problems), needle
    assert service.get_request(net.us, sent.id).state is RequestState.IN_EXECUTION
    good = message("t6", "preserved", {"digest": DIGEST, "preserved": "flows"})
    for _ in range(2):  # applied once even when it arrives twice
        with net.us.db.session() as session:
            service.handle_transition(session, net.us, good)
    view = service.get_request(net.us, sent.id)
    assert view.state is RequestState.PRESERVED
    assert [t.id for t in view.transitions].count("t6") == 1
