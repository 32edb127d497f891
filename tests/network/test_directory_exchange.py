"""The signed directory between nodes (export, import, tampering, key rotation), its CLI,
and the JSON API and pages of the network capability."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from network_kit import Net, count
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from helpers import client_for
from trailguard.accounts.domain import Role
from trailguard.audit.orm import AuditEntryRow
from trailguard.core.errors import ValidationFailed
from trailguard.network import OutboxMessage, deliver_pending, rotate_keys, send_message
from trailguard.network.cli import app as directory_cli
from trailguard.network.directory_service import (
    export_directory,
    find_entry,
    import_directory,
    list_entries,
)
from trailguard.network.envelope import parse_envelope
from trailguard.network.identity import node_identity
from trailguard.network.orm import DirectoryEntryRow, ExchangeMessageRow, OutboxRow

runner = CliRunner()


def _export(net: Net) -> dict[str, Any]:
    with net.us.db.session() as session:
        return export_directory(session, net.us, actor="system:test").to_json()


def _us_key(net: Net) -> str:
    return node_identity(net.us).current.signing_key


def _ping_nl(session: Session, net: Net, payload: dict[str, Any]) -> OutboxMessage:
    """Alice's ping from US to NL, queued in US's ``session``."""
    return send_message(
        session,
        net.us,
        recipient="nl-poc",
        message_type="network.ping",
        payload=payload,
        actor="user:alice",
    )


def _received_at_nl(net: Net) -> ExchangeMessageRow:
    with net.nl.db.session() as session:
        return session.execute(
            select(ExchangeMessageRow).where(ExchangeMessageRow.direction == "received")
        ).scalar_one()


def test_export_import_carries_entries_and_keys(net: Net) -> None:
    with net.nl.db.session() as session:
        entry = find_entry(session, "us-poc")
    assert entry is not None
    assert entry.keys[0].key_id == node_identity(net.us).key_id
    assert entry.channels.endpoint == "http://us-poc.test"
    assert entry.timezone == "America/New_York"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda doc: doc["entries"][0].update(organisation="Evil Corp"),
        lambda doc: doc.update(publisher="nl-poc"),
        lambda doc: doc["entries"][0]["channels"].update(endpoint="http://203.0.113.66"),
        lambda doc: doc.update(signature=doc["signature"][:-4] + "AAA="),
    ],
)
def test_tampered_directory_is_refused_and_nothing_changes(net: Net, tamper: Any) -> None:
    document = _export(net)
    tamper(document)
    with net.nl.db.session() as session:
        before = [e.to_json() for e in list_entries(session)]
    with (
        pytest.raises(ValidationFailed, match=r"does not verify|not in this node"),
        net.nl.db.session() as session,
    ):
        import_directory(session, net.nl, document, actor="user:admin", publisher_key=_us_key(net))
    with net.nl.db.session() as session:
        assert [e.to_json() for e in list_entries(session)] == before


def test_unknown_publisher_needs_a_key_and_a_document_cannot_vouch_for_itself(
    net: Net, tmp_path: Path, third_database_url: str
) -> None:
    from helpers import make_node

    stranger = make_node(
        tmp_path / "s", third_database_url, node_id="br-poc", country="BR", clock=net.clock
    )
    net.extra.append(stranger)
    with stranger.db.session() as session:
        document = export_directory(session, stranger, actor="system:test").to_json()
    with pytest.raises(ValidationFailed, match="--publisher-key"), net.nl.db.session() as s:
        import_directory(s, net.nl, document, actor="user:admin")
    with pytest.raises(ValidationFailed, match="does not verify"), net.nl.db.session() as s:
        import_directory(s, net.nl, document, actor="user:admin", publisher_key=_us_key(net))
    assert count(net.nl, DirectoryEntryRow, node_id="br-poc") == 0
    with pytest.raises(ValidationFailed, match="32 bytes"), net.nl.db.session() as s:
        import_directory(s, net.nl, document, actor="user:admin", publisher_key="AAAA")


def test_import_never_overwrites_the_own_entry(net: Net) -> None:
    with net.nl.db.session() as session:
        own_before = find_entry(session, "nl-poc")
    # US's directory holds its copy of NL's entry; re-importing it changes nothing of NL's own
    with net.nl.db.session() as session:
        report = import_directory(session, net.nl, _export(net), actor="user:admin")
        assert report.skipped == ["nl-poc"] and "us-poc" in report.imported
        own_after = find_entry(session, "nl-poc")
    assert own_before is not None and own_after is not None
    assert own_before.keys == own_after.keys
    with net.nl.db.session() as session:
        row = session.get(DirectoryEntryRow, "nl-poc")
        assert row is not None and row.is_self


def test_key_rotation_across_the_network(net: Net) -> None:
    with net.us.db.session() as session:
        old = _ping_nl(session, net, {"n": 1})
    assert deliver_pending(net.us, transport=net.transport).delivered == [old.message_id]
    net.clock.advance(timedelta(hours=1))
    rotate_keys(net.us.paths)  # keys were made on the wall clock, so rotate on it too
    from trailguard.network.directory_service import publish_self

    with net.us.db.session() as session:
        publish_self(session, net.us, actor="user:admin")
        new = _ping_nl(session, net, {"n": 2})
    # NL does not know the new key yet: the new message is refused as a bad signature
    report = deliver_pending(net.us, transport=net.transport)
    assert report.rejected == {new.message_id: "bad_signature"}
    # once NL imports US's new directory (its new key given out of band), it is accepted
    with net.nl.db.session() as session:
        import_directory(
            session, net.nl, _export(net), actor="user:admin", publisher_key=_us_key(net)
        )
    with net.us.db.session() as session:
        again = _ping_nl(session, net, {"n": 3})
    assert deliver_pending(net.us, transport=net.transport).delivered == [again.message_id]
    # the message signed before the rotation still verifies against NL's merged history
    with net.nl.db.session() as session:
        us_entry = find_entry(session, "us-poc")
        stored_old = session.execute(
            select(ExchangeMessageRow.envelope).where(
                ExchangeMessageRow.message_id == old.message_id
            )
        ).scalar_one()
    assert us_entry is not None and len(us_entry.keys) == 2
    envelope = parse_envelope(stored_old.encode())
    assert envelope.key_id != node_identity(net.us).key_id
    assert envelope.verify(list(us_entry.keys))


def test_cli_export_import_search_lookup(net: Net, tmp_path: Path) -> None:
    us_dir, nl_dir = net.us.paths.data_dir, net.nl.paths.data_dir
    roster = tmp_path / "roster.json"
    roster.write_text(
        json.dumps(
            [
                {
                    "person": "Dana",
                    "role": "primary",
                    "weekdays": [0, 1, 2, 3, 4],
                    "start_time": "09:00",
                    "end_time": "17:00",
                },
                {
                    "person": "Sam",
                    "role": "backup",
                    "weekdays": list(range(7)),
                    "start_time": "00:00",
                    "end_time": "23:59",
                },
            ]
        )
    )
    result = runner.invoke(
        directory_cli,
        ["self", "--data-dir", str(us_dir), "--roster", str(roster), "--phone", "+1 202 555 0100"],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "us-directory.json"
    result = runner.invoke(directory_cli, ["export", "--data-dir", str(us_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    key = runner.invoke(directory_cli, ["key", "--data-dir", str(us_dir)])
    assert key.exit_code == 0
    signing_key = key.output.split()[-1]
    assert signing_key == _us_key(net)
    # tampered file: refused, exit code 2, reason printed
    tampered = tmp_path / "tampered.json"
    doc = json.loads(out.read_text())
    doc["entries"][-1]["organisation"] = "Someone else"
    tampered.write_text(json.dumps(doc))
    result = runner.invoke(
        directory_cli,
        ["import", "--data-dir", str(nl_dir), str(tampered), "--publisher-key", signing_key],
    )
    assert result.exit_code == 2 and "does not verify" in result.output
    result = runner.invoke(
        directory_cli,
        ["import", "--data-dir", str(nl_dir), str(out), "--publisher-key", signing_key],
    )
    assert result.exit_code == 0, result.output
    # Friday 2026-11-20 15:00Z = 10:00 in New York: Dana is on duty
    result = runner.invoke(
        directory_cli,
        [
            "search",
            "--data-dir",
            str(nl_dir),
            "--country",
            "US",
            "--language",
            "en",
            "--at",
            "2026-11-20T15:00:00Z",
        ],
    )
    assert result.exit_code == 0 and "Dana" in result.output
    # Saturday: only the backup
    result = runner.invoke(
        directory_cli,
        ["search", "--data-dir", str(nl_dir), "--country", "US", "--at", "2026-11-21T15:00:00Z"],
    )
    assert result.exit_code == 0 and "Sam" in result.output and "Dana" not in result.output
    result = runner.invoke(directory_cli, ["search", "--data-dir", str(nl_dir), "--country", "FR"])
    assert result.exit_code == 1
    result = runner.invoke(directory_cli, ["search", "--data-dir", str(nl_dir), "--at", "tomorrow"])
    assert result.exit_code == 2 and "'tomorrow'" in result.output
    provider = tmp_path / "provider.json"
    provider.write_text(
        json.dumps(
            {
                "node_id": "nl-polderhost",
                "kind": "provider",
                "country": "NL",
                "organisation": "Polderhost B.V.",
                "prefixes": ["198.51.100.0/24", "2001:db8:100::/48"],
            }
        )
    )
    result = runner.invoke(directory_cli, ["add", "--data-dir", str(nl_dir), str(provider)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(directory_cli, ["lookup", "--data-dir", str(nl_dir), "198.51.100.23"])
    assert result.exit_code == 0 and "Polderhost" in result.output
    result = runner.invoke(directory_cli, ["lookup", "--data-dir", str(nl_dir), "192.0.2.1"])
    assert result.exit_code == 1
    with net.nl.db.session() as session:
        actions = session.execute(select(AuditEntryRow.action)).scalars().all()
    assert "directory.imported" in actions and "directory.import_refused" in actions


def test_api_directory_search_lookup_and_admin_changes(net: Net) -> None:
    reader = client_for(net.nl, [Role.INVESTIGATOR])
    admin = client_for(net.nl, [Role.ADMIN])
    answer = reader.get(
        "/api/directory", params={"country": "US", "language": "en", "at": "2026-11-20T15:00:00Z"}
    )
    assert answer.status_code == 200
    assert [r["entry"]["node_id"] for r in answer.json()["results"]] == ["us-poc"]
    assert reader.get("/api/directory", params={"country": "USA"}).status_code == 422
    entry = {
        "kind": "provider",
        "country": "NL",
        "organisation": "Polderhost B.V.",
        "prefixes": ["198.51.100.0/24"],
        "languages": ["nl", "en"],
    }
    assert reader.put("/api/directory/entries/nl-polderhost", json=entry).status_code == 403
    assert admin.put("/api/directory/entries/nl-polderhost", json=entry).status_code == 200
    bad = admin.put("/api/directory/entries/nl-bad", json={**entry, "prefixes": ["300.1.1.0/24"]})
    assert bad.status_code == 422 and "300.1.1.0/24" in json.dumps(bad.json())
    found = reader.get("/api/directory/lookup", params={"ip": "198.51.100.23"}).json()
    assert found["match"]["entry"]["node_id"] == "nl-polderhost"
    assert reader.get("/api/directory/lookup", params={"ip": "nope"}).status_code == 422
    assert admin.delete("/api/directory/entries/nl-poc").status_code == 422  # own entry
    assert admin.delete("/api/directory/entries/nl-polderhost").status_code == 204
    assert reader.get("/api/directory/entries/nl-polderhost").status_code == 404
    document = admin.get("/api/directory/export").json()
    document["entries"][0]["country"] = "FR"
    refused = admin.post("/api/directory/import", json={"document": document})
    assert refused.status_code == 422


def test_api_inbox_ack_and_pages(net: Net) -> None:
    us_officer = client_for(net.us, [Role.DUTY_OFFICER])
    sent = us_officer.post(
        "/api/exchange/messages", json={"recipient": "nl-poc", "payload": {"text": "ping from US"}}
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["message_id"]
    assert (
        us_officer.post("/api/exchange/messages", json={"recipient": "zz-poc"}).status_code == 404
    )
    deliver_pending(net.us, transport=net.transport)
    officer = client_for(net.nl, [Role.DUTY_OFFICER])
    admin_only = client_for(net.nl, [Role.ADMIN])
    inbox = officer.get("/api/exchange/inbox", params={"pending_only": True}).json()
    assert [m["message_id"] for m in inbox] == [message_id]
    assert inbox[0]["ack_due"] is not None
    assert admin_only.post(f"/api/exchange/inbox/{message_id}/ack").status_code == 403
    page = officer.get("/exchange")
    assert page.status_code == 200 and message_id in page.text and "Acknowledge" in page.text
    ack = officer.post(f"/api/exchange/inbox/{message_id}/ack", json={"note": "seen"})
    assert ack.status_code == 200 and ack.json()["stage"] == "acknowledged"
    again = officer.post(f"/api/exchange/inbox/{message_id}/ack")
    assert again.status_code == 409
    assert officer.post("/api/exchange/inbox/nope/ack").status_code == 404
    deliver_pending(net.nl, transport=net.transport)
    detail = us_officer.get(f"/api/exchange/messages/{message_id}").json()
    assert [r["stage"] for r in detail["receipts"]] == ["received", "accepted", "acknowledged"]
    assert detail["message"]["delivery_state"] == "delivered"
    page = us_officer.get(f"/exchange/messages/{message_id}")
    assert page.status_code == 200 and "acknowledged" in page.text
    directory_page = officer.get("/directory", params={"country": "US", "ip": "192.0.2.1"})
    assert directory_page.status_code == 200 and "us-poc" in directory_page.text
    assert "no provider in the directory operates 192.0.2.1" in directory_page.text
    assert officer.get("/directory", params={"at": "soon"}).status_code == 200
    summary = officer.get("/api/exchange/summary").json()
    assert summary == {"outbox_pending": 0, "outbox_failed": 0, "awaiting_ack": 0}
    assert count(net.us, OutboxRow, state="delivered") == 1


def test_ack_button_on_the_exchange_page_needs_the_csrf_token(net: Net) -> None:
    import re

    from helpers import browser_login

    with net.us.db.session() as session:
        queued = _ping_nl(session, net, {"text": "please acknowledge"})
    deliver_pending(net.us, transport=net.transport)
    browser = browser_login(net.nl, [Role.DUTY_OFFICER])
    page = browser.get("/exchange")
    assert page.status_code == 200 and "min left" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    url = f"/exchange/inbox/{queued.message_id}/ack"
    forged = browser.post(url, data={}, follow_redirects=False)
    assert forged.status_code in (401, 403)
    row = _received_at_nl(net)
    assert row.acknowledged_at is None
    done = browser.post(url, data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/exchange/messages/{queued.message_id}"
    row = _received_at_nl(net)
    assert row.acknowledged_by is not None and row.acknowledged_at == net.clock.now()
    twice = browser.post(url, data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert twice.status_code == 303 and "already" in twice.headers["location"]


def test_cli_rotate_keys_publishes_the_new_key_and_keeps_the_old(net: Net) -> None:
    old_key = node_identity(net.us).key_id
    result = runner.invoke(directory_cli, ["rotate-keys", "--data-dir", str(net.us.paths.data_dir)])
    assert result.exit_code == 0, result.output
    new_key = node_identity(net.us).key_id
    assert new_key != old_key and new_key in result.output
    with net.us.db.session() as session:
        own = find_entry(session, "us-poc")
    assert own is not None
    assert [k.key_id for k in own.keys] == [old_key, new_key]
    assert own.keys[0].valid_until is not None and own.keys[1].valid_until is None
    missing = runner.invoke(
        directory_cli, ["rotate-keys", "--data-dir", str(net.us.paths.data_dir / "nowhere")]
    )
    assert missing.exit_code == 2 and "not a trailguard data directory" in missing.output
