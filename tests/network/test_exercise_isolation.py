"""Issue 17, point 3: an exercise node and a real node never talk, in either direction, and
two exercise networks never talk to each other; nodes of one exercise network exchange as
real nodes do. Enforced in what is signed (the envelope's and the directory's network), by
the receiver (refused, audited, nothing stored) and by the sender (nothing queued or sent)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from fastapi.testclient import TestClient
from network_kit import Router, count, link, stored
from sqlalchemy import select
from typer.testing import CliRunner, Result

from helpers import TEST_PASSWORD
from trailguard.app import create_app
from trailguard.audit.orm import AuditEntryRow
from trailguard.bootstrap import initialise_node
from trailguard.core.clock import FixedClock
from trailguard.core.config import ExerciseSettings, NodeRole, load_config
from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.network import DeliveryReport, deliver_pending, send_message, witness
from trailguard.network.directory import DirectoryEntry, parse_directory
from trailguard.network.directory_service import (
    export_directory,
    find_entry,
    import_directory,
    list_entries,
    save_entry,
)
from trailguard.network.envelope import (
    EnvelopeRejected,
    RejectionCode,
    canonical_json,
    parse_envelope,
    seal,
)
from trailguard.network.identity import node_identity
from trailguard.network.orm import DirectoryEntryRow, ExchangeMessageRow, OutboxRow
from trailguard.network.transport import HttpTransport
from trailguard.node import Node
from trailguard.registry import open_node

START = datetime(2026, 11, 20, 8, 14, 7, 250000, tzinfo=UTC)
LIVE = "live"
EX_A = "exercise-seed-42-a"
EX_B = "exercise-seed-43-b"
CROSS = [(LIVE, EX_A), (EX_A, LIVE), (EX_A, EX_B)]


class Cross(NamedTuple):
    """A node of ours and one of theirs, two networks that never talk."""

    here: Node  # nl-poc, of network ``ours``
    there: Node  # us-poc, of network ``theirs``
    ours: str
    theirs: str


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def make(
    tmp_path: Path, database_url_factory: Callable[[], str], clock: FixedClock
) -> Iterator[Callable[[str, str], Node]]:
    """A node of ``network`` ('live' or an exercise id) with its own database."""
    made: list[Node] = []

    def build(node_id: str, network: str) -> Node:
        url = database_url_factory()
        data_dir = tmp_path / node_id
        initialise_node(
            data_dir,
            name=f"{node_id} ({network})",
            country=node_id[:2].upper(),
            roles=[NodeRole.POC],
            node_id=node_id,
            base_url=f"http://{node_id}.test",
            admin_password=TEST_PASSWORD,
            database_url=url,
            clock=clock,
            exercise=None if network == LIVE else ExerciseSettings(network=network, seed=42),
        )
        node = open_node(data_dir, clock=clock, database_url=url)
        made.append(node)
        return node

    yield build
    for node in made:
        node.close()


@pytest.fixture(params=CROSS, ids=[f"{ours}-{theirs}" for ours, theirs in CROSS])
def cross(make: Callable[[str, str], Node], request: pytest.FixtureRequest) -> Cross:
    ours, theirs = request.param
    return Cross(make("nl-poc", ours), make("us-poc", theirs), ours, theirs)


def _own_entry(node: Node) -> DirectoryEntry | None:
    """The node's own entry in its directory."""
    with node.db.session() as session:
        return find_entry(session, node.config.node_id)


def _envelope_to(sender: Node, recipient: Node, network: str | None = None) -> bytes:
    """An envelope signed by ``sender`` and sealed to ``recipient``'s key, stating
    ``network`` (the sender's own by default): what a sender would post if nothing stopped it."""
    return seal(
        node_identity(sender),
        sender=sender.config.node_id,
        recipient=recipient.config.node_id,
        recipient_key=node_identity(recipient).current,
        message_type="network.ping",
        payload={"hello": "there"},
        created_at=sender.clock.now(),
        network=network or sender.config.network_name,
    ).to_bytes()


def _audited(node: Node, action: str) -> list[dict[str, object]]:
    with node.db.session() as session:
        rows = session.execute(
            select(AuditEntryRow).where(AuditEntryRow.action == action)
        ).scalars()
        return [json.loads(row.details) for row in rows]


def _post_envelope(receiver: Node, body: bytes) -> httpx.Response:
    """``body`` posted to ``receiver``'s exchange endpoint, as a sender would post it."""
    client = TestClient(create_app(receiver))
    return client.post(
        "/exchange/v1/messages", content=body, headers={"Content-Type": "application/json"}
    )


def _deliver(sender: Node, *routed: Node) -> tuple[Router, DeliveryReport]:
    """One delivery run of ``sender``'s outbox through a router that serves ``routed``."""
    router = Router()
    for node in routed:
        router.add(node)
    transport = HttpTransport(httpx.Client(transport=router, timeout=5))
    report = deliver_pending(sender, transport=transport)
    transport.close()
    return router, report


def _queued_then_relabelled(
    make: Callable[[str, str], Node], network: str
) -> tuple[Node, Node, str]:
    """A ping queued from nl-poc to us-poc while both were of EX_A; then the recipient's row
    in the sender's directory says ``network``. The sender, the recipient, the message id."""
    a = make("nl-poc", EX_A)
    b = make("us-poc", EX_A)
    link(b, a)
    with a.db.session() as session:
        queued = send_message(
            session, a, recipient="us-poc", message_type="network.ping", payload={}, actor="u:t"
        )
        row = session.get(DirectoryEntryRow, "us-poc")
        assert row is not None
        row.document = row.document.replace(f'"network":"{EX_A}"', f'"network":"{network}"')
    return a, b, queued.message_id


def _outbox_row(node: Node) -> OutboxRow:
    with node.db.session() as session:
        return session.execute(select(OutboxRow)).scalar_one()


def _entry_count(node: Node) -> int:
    return count(node, DirectoryEntryRow)


# --- what is signed ------------------------------------------------------------------------


def test_the_network_is_signed_and_required(make: Callable[[str, str], Node]) -> None:
    a = make("nl-poc", EX_A)
    b = make("us-poc", EX_A)
    body = _envelope_to(a, b)
    raw = json.loads(body)
    assert raw["network"] == EX_A
    assert parse_envelope(body).network == EX_A
    # the network is inside the signature: changing it breaks the envelope
    forged = canonical_json({**raw, "network": EX_B})
    assert not parse_envelope(forged).verify(list(node_identity(a).history))
    # no network, or one that is neither live nor an exercise: malformed
    for bad in ({k: v for k, v in raw.items() if k != "network"}, {**raw, "network": "prod"}):
        with pytest.raises(EnvelopeRejected) as refused:
            parse_envelope(canonical_json(bad))
        assert refused.value.code is RejectionCode.MALFORMED
        assert "network" in refused.value.detail
    with pytest.raises(ValidationFailed):
        seal(
            node_identity(a),
            sender="nl-poc",
            recipient="us-poc",
            recipient_key=node_identity(b).current,
            message_type="network.ping",
            payload={},
            created_at=a.clock.now(),
            network="training",
        )


def test_every_directory_entry_and_document_states_its_network(
    make: Callable[[str, str], Node],
) -> None:
    live = make("nl-poc", LIVE)
    exercise = make("us-poc", EX_A)
    with live.db.session() as session:
        assert find_entry(session, "nl-poc").network == LIVE  # type: ignore[union-attr]
        live_doc = export_directory(session, live, actor="system:test").to_json()
    with exercise.db.session() as session:
        assert find_entry(session, "us-poc").network == EX_A  # type: ignore[union-attr]
        doc = export_directory(session, exercise, actor="system:test").to_json()
    assert live_doc["network"] == LIVE
    assert doc["network"] == EX_A
    assert [entry["network"] for entry in doc["entries"]] == [EX_A]
    # a document must state its network, and every entry must state the document's
    with pytest.raises(ValidationFailed) as missing:
        parse_directory({k: v for k, v in doc.items() if k != "network"})
    assert "must state its network" in " ".join(missing.value.problems)
    stray = {**doc, "entries": [{**doc["entries"][0], "network": LIVE}]}
    with pytest.raises(ValidationFailed, match="network"):
        parse_directory(stray)


# --- the receiver refuses ------------------------------------------------------------------


def test_an_envelope_of_another_network_is_refused_audited_and_not_stored(cross: Cross) -> None:
    receiver, sender, ours, theirs = cross
    before = stored(receiver)
    answer = _post_envelope(receiver, _envelope_to(sender, receiver))
    assert answer.status_code == 421, answer.text
    body = answer.json()
    assert body["error"] == "wrong_network"
    assert ours in body["detail"] and theirs in body["detail"]
    assert body["receipt"]["stage"] == "rejected"  # signed: the sender can prove the refusal
    assert body["receipt"]["reason"] == "wrong_network"
    assert answer.headers["X-Trailguard-Network"] == ours
    assert stored(receiver) == before == {"messages": 0, "receipts": 0, "outbox": 0}
    refusals = _audited(receiver, "exchange.rejected")
    assert [r["reason"] for r in refusals] == ["wrong_network"]


def test_a_batch_of_another_network_is_refused_whole(cross: Cross) -> None:
    receiver, sender = cross.here, cross.there
    bodies = [_envelope_to(sender, receiver).decode() for _ in range(3)]
    client = TestClient(create_app(receiver))
    answer = client.post("/exchange/v1/batches", json={"envelopes": bodies})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status_code"] for r in results] == [421, 421, 421]
    assert {r["body"]["error"] for r in results} == {"wrong_network"}
    assert count(receiver, ExchangeMessageRow) == 0
    assert _audited(receiver, "exchange.rejected")  # audited like every refusal


def test_a_claimed_same_network_does_not_help_a_sender_of_another(
    make: Callable[[str, str], Node],
) -> None:
    """An exercise node that writes 'live' into its envelope is still unknown to the live
    node (its entry can never be in a live directory): nothing is accepted."""
    live = make("nl-poc", LIVE)
    exercise = make("us-poc", EX_A)
    answer = _post_envelope(live, _envelope_to(exercise, live, network=LIVE))
    assert answer.status_code == 403
    assert answer.json()["error"] == "unknown_sender"
    assert count(live, ExchangeMessageRow) == 0


def test_a_directory_row_of_another_network_is_refused_on_receipt(
    make: Callable[[str, str], Node],
) -> None:
    """Defence in depth: even were a sender's row of another network in the directory (a
    data directory whose [exercise] table was removed), its envelopes are refused."""
    a = make("nl-poc", EX_A)
    b = make("us-poc", EX_A)
    link(b, a)
    with a.db.session() as session:  # as if 'us-poc' had been listed as a live node
        row = session.get(DirectoryEntryRow, "us-poc")
        assert row is not None
        row.document = row.document.replace(f'"network":"{EX_A}"', '"network":"live"')
    answer = _post_envelope(a, _envelope_to(b, a))
    assert answer.status_code == 421
    assert answer.json()["error"] == "wrong_network"
    assert "listed in this node's directory" in answer.json()["detail"]
    assert count(a, ExchangeMessageRow) == 0


def test_an_exchange_request_naming_another_network_is_refused_before_the_app(
    make: Callable[[str, str], Node],
) -> None:
    exercise = make("nl-poc", EX_A)
    client = TestClient(create_app(exercise))
    for path in ("/exchange/v1/messages", "/exchange/v1/batches"):
        answer = client.post(path, content=b"{}", headers={"X-Trailguard-Network": LIVE})
        assert answer.status_code == 421
        assert answer.json()["error"] == "wrong_network"
    head = client.get("/exchange/v1/audit/head", headers={"X-Trailguard-Network": EX_B})
    assert head.status_code == 421
    same = client.get("/exchange/v1/audit/head", headers={"X-Trailguard-Network": EX_A})
    assert same.status_code == 200
    assert same.headers["X-Trailguard-Network"] == EX_A


# --- directories ---------------------------------------------------------------------------


def test_a_directory_of_another_network_is_not_imported(cross: Cross) -> None:
    importer, publisher, theirs = cross.here, cross.there, cross.theirs
    before = _entry_count(importer)
    with pytest.raises(ValidationFailed, match="network"):
        link(publisher, importer)
    assert _entry_count(importer) == before == 1  # only its own entry
    refused = _audited(importer, "directory.import_refused")
    assert refused and refused[-1]["reason"] == "wrong_network"
    assert refused[-1]["network"] == theirs


def test_a_directory_relabelled_to_our_network_fails_its_signature(
    make: Callable[[str, str], Node],
) -> None:
    importer = make("nl-poc", EX_A)
    publisher = make("us-poc", LIVE)
    with publisher.db.session() as session:
        doc = export_directory(session, publisher, actor="system:test").to_json()
    relabelled = {
        **doc,
        "network": EX_A,
        "entries": [{**entry, "network": EX_A} for entry in doc["entries"]],
    }
    with importer.db.session() as session, pytest.raises(ValidationFailed, match="signature"):
        import_directory(
            session,
            importer,
            relabelled,
            actor="system:test",
            publisher_key=node_identity(publisher).current.signing_key,
        )
    assert _entry_count(importer) == 1


def test_an_entry_of_another_network_is_never_saved(cross: Cross) -> None:
    node, other, theirs = cross.here, cross.there, cross.theirs
    entry = _own_entry(other)
    assert entry is not None and entry.network == theirs
    with node.db.session() as session, pytest.raises(ValidationFailed, match="network"):
        save_entry(session, node, entry, actor="system:test", source="manual")
    with node.db.session() as session:
        assert [e.node_id for e in list_entries(session)] == ["nl-poc"]


def test_an_entry_added_by_hand_is_of_the_nodes_network_unless_it_says_otherwise(
    make: Callable[[str, str], Node],
) -> None:
    from helpers import client_for
    from trailguard.accounts import Role

    node = make("nl-poc", EX_A)
    admin = client_for(node, [Role.ADMIN])
    raw = {"kind": "liaison-officer", "country": "BE", "organisation": "Liaison (synthetic)"}
    answer = admin.put("/api/directory/entries/be-lo", json=raw)
    assert answer.status_code == 200, answer.text
    assert answer.json()["network"] == EX_A
    refused = admin.put("/api/directory/entries/fr-lo", json={**raw, "network": LIVE})
    assert refused.status_code == 422
    assert "network" in refused.text
    assert answer.headers["X-Trailguard-Network"] == EX_A


# --- the sender refuses --------------------------------------------------------------------


def _smuggle(node: Node, entry: DirectoryEntry) -> None:
    """Write a directory row past ``save_entry`` (as a database edited by hand would)."""
    with node.db.session() as session:
        session.add(
            DirectoryEntryRow(
                node_id=entry.node_id,
                kind=entry.kind.value,
                country=entry.country,
                organisation=entry.organisation,
                document=canonical_json(entry.to_json()).decode(),
                is_self=False,
                source="manual",
                updated_at=node.clock.now(),
            )
        )


def test_nothing_is_queued_for_a_node_of_another_network(cross: Cross) -> None:
    sender, other = cross.here, cross.there
    entry = _own_entry(other)
    assert entry is not None
    _smuggle(sender, entry)
    with sender.db.session() as session, pytest.raises(ValidationFailed, match="network"):
        send_message(
            session,
            sender,
            recipient="us-poc",
            message_type="network.ping",
            payload={},
            actor="user:test",
        )
    assert stored(sender) == {"messages": 0, "receipts": 0, "outbox": 0}


def test_a_queued_message_is_not_sent_once_the_recipient_is_of_another_network(
    make: Callable[[str, str], Node],
) -> None:
    """Queued while both were of one exercise network; the recipient's row now says live:
    the delivery worker refuses to post it (nothing reaches the wire) and records why."""
    a, b, queued = _queued_then_relabelled(make, LIVE)
    router, report = _deliver(a, b)
    assert router.posts == []  # nothing went out
    assert report.rejected == {queued: "wrong_network"}
    outbox = _outbox_row(a)
    assert outbox.state == "rejected"
    assert outbox.last_error and outbox.last_error.startswith("wrong_network")
    assert _audited(a, "exchange.not_sent")
    assert count(b, ExchangeMessageRow) == 0


# --- one exercise network works as a network ---------------------------------------------


def test_nodes_of_one_exercise_network_exchange_normally(
    make: Callable[[str, str], Node],
) -> None:
    a = make("nl-poc", EX_A)
    b = make("us-poc", EX_A)
    link(a, b)
    link(b, a)
    with a.db.session() as session:
        queued = send_message(
            session,
            a,
            recipient="us-poc",
            message_type="network.ping",
            payload={"note": "drill"},
            actor="user:trainee",
        )
    _router, report = _deliver(a, a, b)
    assert report.delivered == [queued.message_id]
    assert count(b, ExchangeMessageRow, direction="received") == 1
    with b.db.session() as session:
        received = session.execute(select(ExchangeMessageRow)).scalar_one()
    assert json.loads(received.envelope)["network"] == EX_A
    # the trainee's inbox marks each message EXERCISE, and the message names its network
    from helpers import browser_login
    from trailguard.accounts import Role

    pages = browser_login(b, [Role.DUTY_OFFICER])
    inbox = pages.get("/exchange").text
    assert 'class="badge exercise-tag">EXERCISE</span>' in inbox
    detail = pages.get(f"/exchange/messages/{queued.message_id}").text
    assert f"network <code>{EX_A}</code>" in detail
    assert detail.count("exercise-tag") == 1


# --- witnessing audit heads --------------------------------------------------------------


def test_an_audit_head_of_another_network_is_not_witnessed(cross: Cross) -> None:
    node, other = cross.here, cross.there
    head = witness.sign_head(other)
    with pytest.raises(NotFound):
        witness.witness_head(node, head)  # its keys can never be in this node's directory


# --- identity: init -------------------------------------------------------------------------


def test_init_makes_an_exercise_node_whose_identity_says_so(tmp_path: Path) -> None:
    from trailguard.cli import _ensure_registered, app

    _ensure_registered()
    runner = CliRunner(env={"COLUMNS": "200"})

    def init(data_dir: Path, name: str, exercise: str) -> Result:
        """``trailguard init`` of an NL point of contact with ``--exercise``."""
        nl_poc = ("--country", "NL", "--role", "poc")
        return runner.invoke(
            app,
            ["init", "--data-dir", str(data_dir), "--name", name, *nl_poc, "--exercise", exercise],
        )

    data_dir = tmp_path / "trainee"
    result = init(data_dir, "Trainee 24/7 point of contact", EX_A)
    assert result.exit_code == 0, result.output
    assert "EXERCISE" in result.output
    config = load_config(data_dir)
    assert config.is_exercise and config.network_name == EX_A
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            own = find_entry(session, config.node_id)
        assert own is not None and own.network == EX_A
    finally:
        node.close()
    refused = init(tmp_path / "bad", "x", "live")
    assert refused.exit_code == 2
    assert "exercise" in refused.output
    assert not (tmp_path / "bad").exists()


def test_the_documented_envelope_schema_names_the_same_networks() -> None:
    import re

    from trailguard.core.config import is_network_name
    from trailguard.network.openapi import ENVELOPE_SCHEMA, NETWORK_PATTERN

    assert "network" in ENVELOPE_SCHEMA["required"]
    for value in (LIVE, EX_A, EX_B, "Live", "prod", "exercise-", "exercise-ab", "exercise-a_b1"):
        assert bool(re.fullmatch(NETWORK_PATTERN, value)) == is_network_name(value), value


def test_a_message_sealed_for_another_network_never_leaves(
    make: Callable[[str, str], Node],
) -> None:
    """Queued by an exercise node; then its node.toml names another network (and so does
    the recipient's row): the envelope still says the old one, and is not sent."""
    from dataclasses import replace

    a, b, queued = _queued_then_relabelled(make, EX_B)
    moved = replace(
        a, config=a.config.model_copy(update={"exercise": ExerciseSettings(network=EX_B)})
    )
    router, report = _deliver(moved, b)
    assert router.posts == []
    assert report.rejected == {queued: "wrong_network"}
    outbox = _outbox_row(a)
    assert outbox.state == "rejected" and "sealed for another network" in (outbox.last_error or "")
