"""An audit log that cannot be rewritten quietly (issue 11, point 8).

An attacker with the database (the append-only triggers dropped first) deletes the last
entries and rewinds the head, or edits one entry and recomputes every later hash. The chain
alone then looks intact; the heads this node signed, and the heads its peer witnessed and
countersigned, name what happened. On SQLite and PostgreSQL, two nodes linked by their signed
directories over an in-process router."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))

from network_kit import Net, second_database_url

from trailguard.audit import service
from trailguard.audit.chain import compute_hash
from trailguard.audit.heads import SignedHead
from trailguard.core.errors import ValidationFailed
from trailguard.network import witness
from trailguard.node import Node

START = datetime(2026, 11, 20, 8, 14, 7, 123456, tzinfo=UTC)


@pytest.fixture
def net(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")
    urls = second_database_url(database_url, tmp_path)
    net = Net.build(tmp_path, database_url, next(urls), start=START)
    try:
        yield net
    finally:
        net.close()
        urls.close()


def _client(net: Net) -> httpx.Client:
    return httpx.Client(transport=net.router, timeout=5)


def _fill(node: Node, count: int, label: str = "request") -> None:
    with node.db.session() as session:
        for i in range(count):
            node.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
            service.record(
                session,
                actor="user:alice",
                action="request.approved",
                subject=f"{label}:{i}",
                details={"n": i},
                at=node.clock.now(),
            )


def _head(node: Node) -> tuple[int, str]:
    with node.db.engine.connect() as conn:
        seq, entry_hash = conn.execute(sa.text("SELECT seq, entry_hash FROM audit_head")).one()
    return int(seq), str(entry_hash)


def _drop_guards(node: Node) -> None:
    with node.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def _truncate(node: Node, keep: int) -> None:
    """Delete every entry after ``keep`` and rewind the head to it."""
    _drop_guards(node)
    with node.db.engine.begin() as conn:
        last = conn.execute(
            sa.text("SELECT entry_hash FROM audit_log WHERE seq = :s"), {"s": keep}
        ).scalar_one()
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq > :s"), {"s": keep})
        conn.execute(
            sa.text("UPDATE audit_head SET seq = :s, entry_hash = :h"), {"s": keep, "h": last}
        )


def _rewrite(node: Node, seq: int) -> None:
    """Edit entry ``seq`` and recompute its hash and every later one, and the head."""
    _drop_guards(node)
    with node.db.engine.begin() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT seq, at, actor, action, subject, details, prev_hash FROM audit_log "
                "WHERE seq >= :s ORDER BY seq"
            ),
            {"s": seq},
        ).all()
        prev = rows[0].prev_hash
        for row in rows:
            details = '{"n":"rewritten"}' if row.seq == seq else row.details
            at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            new = compute_hash(
                seq=row.seq,
                at=at,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                details=details,
                prev_hash=prev,
            )
            conn.execute(
                sa.text(
                    "UPDATE audit_log SET details = :d, prev_hash = :p, entry_hash = :h "
                    "WHERE seq = :s"
                ),
                {"d": details, "p": prev, "h": new, "s": row.seq},
            )
            prev = new
        conn.execute(sa.text("UPDATE audit_head SET entry_hash = :h"), {"h": prev})


def _wipe_local_evidence(node: Node) -> None:
    """The attacker also deletes the node's own signed heads and collected countersignatures."""
    with node.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_signed_heads"))
        conn.execute(sa.text("DELETE FROM audit_witnessed_heads"))


def _reasons(report: witness.AuditVerification) -> str:
    return "\n".join(p.reason for p in report.problems)


def test_signed_heads_are_served_and_verify(net: Net) -> None:
    _fill(net.us, 3)
    answer = net.inbox_client(net.us).get(witness.HEAD_PATH)
    assert answer.status_code == 200
    head = SignedHead.from_json(answer.json())
    assert (head.node_id, head.seq) == ("us-poc", _head(net.us)[0])
    assert head.entry_hash == _head(net.us)[1]
    # signed once per head: asking again gives the same statement
    assert net.inbox_client(net.us).get(witness.HEAD_PATH).json() == answer.json()
    from trailguard.network.identity import node_identity, verify_b64_signature

    history = list(node_identity(net.us).history)
    assert verify_b64_signature(history, head.key_id, head.message(), head.signature)
    forged = SignedHead(
        head.node_id, head.seq + 1, head.entry_hash, head.signed_at, head.key_id, head.signature
    )
    assert not verify_b64_signature(history, forged.key_id, forged.message(), forged.signature)
    with pytest.raises(ValidationFailed, match="does not verify"):
        witness.witness_head(net.nl, forged)


def test_truncation_is_named_by_the_nodes_own_signed_head(net: Net, tmp_path: Path) -> None:
    _fill(net.us, 6)
    signed = witness.sign_head(net.us)
    assert witness.verify_node(net.us).ok
    _truncate(net.us, signed.seq - 3)
    with net.us.db.session() as session:
        assert service.verify(session).ok  # the chain alone no longer notices
    report = witness.verify_node(net.us)
    assert not report.ok
    assert f"truncated: the log ends at entry {signed.seq - 3}" in _reasons(report)
    assert f"head at entry {signed.seq}" in _reasons(report)
    assert f"entries {signed.seq - 2}-{signed.seq} are gone" in _reasons(report)
    assert "this node's signed head" in _reasons(report)
    # the CLI names it and exits 1
    from trailguard.cli import _ensure_registered
    from trailguard.cli import app as cli_app

    _ensure_registered()
    result = CliRunner().invoke(
        cli_app,
        ["audit", "verify", "--data-dir", str(net.us.paths.data_dir)],
        env={"TRAILGUARD_DATABASE_URL": net.us.db.engine.url.render_as_string(False)},
    )
    assert result.exit_code == 1, result.output
    assert "truncated" in result.output and "head was rewound" in result.output
    # the admin's page and API say it too (logging in adds entries after the rewound head:
    # the signed head's entry then hashes differently, which is named as well)
    from helpers import browser_login, client_for
    from trailguard.accounts.domain import Role

    page = browser_login(net.us, [Role.ADMIN]).get("/audit")
    assert page.status_code == 200 and "Chain broken" in page.text
    assert "this node&#39;s signed head" in page.text
    api = client_for(net.us, [Role.ADMIN]).get("/api/audit/verify").json()
    assert api["ok"] is False and api["signed_heads"] == 1


def test_truncation_is_named_by_the_witness(net: Net) -> None:
    _fill(net.us, 6)
    report = witness.witness_peers(net.nl, _client(net))  # nl polls us: signs and keeps it
    assert report.problems == [] and report.witnessed["us-poc"] == _head(net.us)[0]
    seen = _head(net.us)[0]
    assert [w.head.seq for w in witness.witnessed_of(net.nl, "us-poc")] == [seen]
    _truncate(net.us, seen - 2)
    _wipe_local_evidence(net.us)
    assert witness.verify_node(net.us).ok  # nothing left on the node itself to tell
    checked = witness.verify_node(net.us, _client(net))
    assert not checked.ok
    assert (
        f"truncated: the log ends at entry {seen - 2} but witness nl-poc holds a head at "
        f"entry {seen}" in _reasons(checked)
    )
    # the witness itself sees the head go back when it polls again
    again = witness.witness_peers(net.nl, _client(net))
    assert any(f"went back from entry {seen}" in p for p in again.problems)


def test_a_rewrite_with_recomputed_hashes_fails_against_the_witness(net: Net) -> None:
    _fill(net.us, 6)
    witness.witness_peers(net.nl, _client(net))
    seen, _ = _head(net.us)
    _fill(net.us, 2, "later")  # the log grows after the witness saw it: still fine
    assert witness.verify_node(net.us, _client(net)).ok
    _rewrite(net.us, seen - 4)
    _wipe_local_evidence(net.us)
    with net.us.db.session() as session:
        assert service.verify(session).ok  # every hash recomputed: the chain is consistent
    assert witness.verify_node(net.us).ok
    checked = witness.verify_node(net.us, _client(net))
    assert not checked.ok and checked.witnesses == ["nl-poc"]
    assert f"rewritten: entry {seen} now hashes to" in _reasons(checked)
    assert "witness nl-poc" in _reasons(checked)
    # the witness still holds exactly the statement it countersigned
    assert len(witness.witnessed_of(net.nl, "us-poc")) == 1


def test_without_tampering_witnessing_both_ways_verifies(net: Net) -> None:
    _fill(net.us, 2)
    _fill(net.nl, 2)
    for node, peer in ((net.nl, "us-poc"), (net.us, "nl-poc")):
        report = witness.witness_peers(node, _client(net))
        assert report.problems == [] and peer in report.witnessed
    for node in (net.us, net.nl):
        report = witness.verify_node(node, _client(net))
        assert report.ok, _reasons(report)
        assert report.signed_heads >= 1 and report.witnessed_heads >= 1
    answer = net.inbox_client(net.nl).get("/exchange/v1/audit/witnessed/us-poc")
    assert answer.status_code == 200 and answer.json()[0]["witness_node"] == "nl-poc"
    assert net.inbox_client(net.nl).get("/exchange/v1/audit/witnessed/..bad").status_code == 422


def _cli_verify(node: Node) -> Any:
    from trailguard.cli import _ensure_registered
    from trailguard.cli import app as cli_app

    _ensure_registered()
    return CliRunner().invoke(
        cli_app,
        ["audit", "verify", "--data-dir", str(node.paths.data_dir)],
        env={"TRAILGUARD_DATABASE_URL": node.db.engine.url.render_as_string(False)},
    )


def test_an_empty_or_missing_chain_is_a_clear_message(net: Net) -> None:
    node = net.us
    _truncate(node, 1)
    with node.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, entry_hash = :h"), {"h": "0" * 64})
    _wipe_local_evidence(node)
    empty = _cli_verify(node)
    assert empty.exit_code == 0 and "audit log is empty" in empty.output
    assert empty.exception is None or isinstance(empty.exception, SystemExit)

    with node.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_head"))
    headless = _cli_verify(node)
    assert headless.exit_code == 1 and "head row is missing" in headless.output
    assert isinstance(headless.exception, SystemExit)

    with node.db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE audit_log"))
    missing = _cli_verify(node)
    assert missing.exit_code == 2, missing.output
    assert isinstance(missing.exception, SystemExit)  # a message, not a traceback
    assert "holds no audit log" in missing.output


def test_json_output_names_the_heads(net: Net) -> None:
    _fill(net.us, 1)
    witness.sign_head(net.us)
    from trailguard.cli import _ensure_registered
    from trailguard.cli import app as cli_app

    _ensure_registered()
    result = CliRunner().invoke(
        cli_app,
        ["audit", "verify", "--json", "--data-dir", str(net.us.paths.data_dir)],
        env={"TRAILGUARD_DATABASE_URL": net.us.db.engine.url.render_as_string(False)},
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True and body["signed_heads"] == 1 and body["problems"] == []


def test_cli_witness_then_verify_with_witnesses(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    from trailguard.audit import cli as audit_cli
    from trailguard.cli import _ensure_registered
    from trailguard.cli import app as cli_app

    _ensure_registered()
    monkeypatch.setattr(audit_cli, "_client", lambda: _client(net))

    def run(node: Node, *args: str) -> Any:
        return CliRunner().invoke(
            cli_app,
            ["audit", *args, "--data-dir", str(node.paths.data_dir)],
            env={"TRAILGUARD_DATABASE_URL": node.db.engine.url.render_as_string(False)},
        )

    _fill(net.us, 4)
    seen = _head(net.us)[0]
    witnessed = run(net.nl, "witness")
    assert witnessed.exit_code == 0, witnessed.output
    assert f"witnessed us-poc: head at entry {seen}" in witnessed.output
    _truncate(net.us, seen - 1)
    _wipe_local_evidence(net.us)
    assert run(net.us, "verify").exit_code == 0  # nothing local left to tell
    checked = run(net.us, "verify", "--witnesses")
    assert checked.exit_code == 1, checked.output
    assert f"entry {seen}: truncated" in checked.output and "witness nl-poc" in checked.output


def test_a_head_with_a_bad_countersignature_is_not_kept(net: Net) -> None:
    import base64

    _fill(net.us, 2)
    witness.witness_peers(net.nl, _client(net))
    genuine = witness.witnessed_of(net.nl, "us-poc")[0]
    with net.nl.db.engine.begin() as conn:  # the witness (or its database) plants a bad one
        conn.execute(
            sa.text(
                "UPDATE audit_witnessed_heads SET witness_signature = :s WHERE subject_node = :n"
            ),
            {"s": base64.b64encode(bytes(64)).decode(), "n": "us-poc"},
        )
    report = witness.verify_node(net.us, _client(net))
    assert report.ok and report.witnessed_heads == 0  # nothing planted in us's evidence
    assert any("does not carry valid signatures (not kept)" in n for n in report.notes)
    assert genuine.head.seq >= 2
