"""Packages between two nodes over the exchange: encrypted, in chunks, resumable; chunks twice
or out of order; altered chunks and archives refused; nothing half-imported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from evidence_kit import flip_byte, package
from network_kit import Net
from sqlalchemy import func, select

from trailguard.audit.orm import AuditEntryRow
from trailguard.core.errors import Conflict, ValidationFailed
from trailguard.evidence.orm import EvidenceCustodyRow, EvidenceItemRow, EvidenceTransferRow
from trailguard.evidence.service import custody_events, verify_item_chain
from trailguard.evidence.transfer import PATH, expire_transfers, offer_package, push_chunks
from trailguard.node import Node

START = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)


@pytest.fixture
def net(tmp_path: Path, database_url_factory: object) -> Iterator[Net]:
    network = Net.build(
        tmp_path,
        database_url_factory(),  # type: ignore[operator]
        database_url_factory(),  # type: ignore[operator]
        start=START,
    )
    try:
        yield network
    finally:
        network.close()


@pytest.fixture
def client(net: Net) -> Iterator[httpx.Client]:
    with httpx.Client(transport=net.router, timeout=10) as http:
        yield http


def _count(node: Node, model: object, **where: object) -> int:
    with node.db.session() as session:
        query = select(func.count()).select_from(model)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def _offer(net: Net, files: list[Path], tmp_path: Path, recipient: str = "us-poc") -> tuple:
    result = package(net.nl, files, tmp_path / "bag", recipient=recipient)
    offer = offer_package(net.nl, result.path, recipient=recipient, user="alice", chunk_size=1024)
    return result, offer


def test_transfer_imports_with_received_event(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    result, offer = _offer(net, files, tmp_path)
    assert offer.chunk_count > 3
    pushed = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    assert pushed.ok, pushed.problems
    assert pushed.sent == list(range(offer.chunk_count))
    with net.us.db.session() as session:
        for item_id in result.item_ids:
            events = custody_events(session, item_id)
            assert [e.action.value for e in events][-2:] == ["received", "verified"]
            assert events[-2].node_id == "us-poc" and events[-2].user == "system:evidence-exchange"
            assert verify_item_chain(session, net.us, item_id) is None
    with net.nl.db.session() as session:
        sent = custody_events(session, result.item_ids[0])[-1]
        assert sent.action.value == "sent" and sent.details["to"] == "us-poc"
        assert session.get(EvidenceTransferRow, offer.transfer_id).state == "delivered"  # type: ignore[union-attr]
    # nothing is left half-way on the recipient
    assert not (net.us.paths.data_dir / "evidence" / "incoming" / offer.transfer_id).exists()


def test_cut_transfer_resumes_with_missing_chunks_only(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    result, offer = _offer(net, files, tmp_path)
    first = push_chunks(
        net.nl, offer.transfer_id, client, transport=net.transport, only=[0, 2], finish=False
    )
    assert first.sent == [0, 2] and not first.complete
    assert _count(net.us, EvidenceItemRow) == 0
    # the connection breaks: the sender cannot reach the recipient
    host = httpx.URL(net.us.config.base_url).host
    net.router.down.add(host)
    with pytest.raises(httpx.ConnectError):
        push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    net.router.down.discard(host)
    resumed = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    assert resumed.ok, resumed.problems
    assert resumed.skipped == 2
    assert resumed.sent == [i for i in range(offer.chunk_count) if i not in (0, 2)]
    assert _count(net.us, EvidenceItemRow) == len(result.item_ids)


def _chunks(net: Net, transfer_id: str) -> list[bytes]:
    """The encrypted chunks the sender would send (taken from push_chunks' own code path)."""
    import base64

    from trailguard.evidence.transfer import encrypt_chunk
    from trailguard.network import node_identity

    with net.nl.db.session() as session:
        row = session.get(EvidenceTransferRow, transfer_id)
        assert row is not None
        key = node_identity(net.nl).decrypt(base64.b64decode(row.sealed_key))
        data = Path(row.archive_path).read_bytes()
        size = row.chunk_size
    return [
        encrypt_chunk(key, transfer_id, i, data[i * size : (i + 1) * size])
        for i in range(-(-len(data) // size))
    ]


def test_chunks_twice_and_out_of_order(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    from trailguard.network import deliver_pending

    result, offer = _offer(net, files, tmp_path)
    deliver_pending(net.nl, transport=net.transport)
    base = f"{net.us.config.base_url}{PATH}/{offer.transfer_id}"
    chunks = _chunks(net, offer.transfer_id)
    for index in reversed(range(len(chunks))):
        assert client.put(f"{base}/chunks/{index}", content=chunks[index]).status_code == 201
    again = client.put(f"{base}/chunks/1", content=chunks[1])
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # a chunk moved to another index, or altered, does not open
    moved = client.put(f"{base}/chunks/0", content=chunks[1])
    assert moved.status_code == 422 and "chunk 0 does not open" in moved.text
    altered = bytearray(chunks[2])
    altered[40] ^= 1
    assert client.put(f"{base}/chunks/2", content=bytes(altered)).status_code == 422
    answer = client.post(f"{base}/complete")
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert _count(net.us, EvidenceItemRow) == len(result.item_ids)


def test_incomplete_transfer_is_not_imported(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    _, offer = _offer(net, files, tmp_path)
    push_chunks(net.nl, offer.transfer_id, client, transport=net.transport, only=[1], finish=False)
    answer = client.post(f"{net.us.config.base_url}{PATH}/{offer.transfer_id}/complete")
    assert answer.status_code == 422 and "chunks missing: 0, 2" in answer.text
    assert _count(net.us, EvidenceItemRow) == 0


def test_altered_archive_is_refused_whole(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    _, offer = _offer(net, files, tmp_path)
    with net.nl.db.session() as session:
        archive = Path(session.get(EvidenceTransferRow, offer.transfer_id).archive_path)  # type: ignore[union-attr]
    flip_byte(archive, 3000)  # changed on the sender's disk after the offer was signed
    pushed = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    assert not pushed.ok
    assert pushed.problems[0] == "the joined archive does not match the offer's SHA-256"
    for model in (EvidenceItemRow, EvidenceCustodyRow):
        assert _count(net.us, model) == 0
    with net.us.db.session() as session:
        row = session.get(EvidenceTransferRow, offer.transfer_id)
        assert row is not None and row.state == "refused"
        assert json.loads(row.problems)[0].startswith("the joined archive")
    received = net.us.paths.data_dir / "evidence" / "packages"
    assert not received.exists() or not any(received.rglob("*.csv"))


def test_package_for_another_recipient_is_refused(
    net: Net, files: list[Path], tmp_path: Path
) -> None:
    result = package(net.nl, files, tmp_path / "bag", recipient="nl-poc")
    with pytest.raises(ValidationFailed, match="is for nl-poc, not for us-poc"):
        offer_package(net.nl, result.path, recipient="us-poc", user="alice")
    assert _count(net.nl, EvidenceTransferRow) == 0


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_refused_transfer_leaves_no_files(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    _, offer = _offer(net, files, tmp_path)
    with net.nl.db.session() as session:
        archive = Path(session.get(EvidenceTransferRow, offer.transfer_id).archive_path)  # type: ignore[union-attr]
    flip_byte(archive, 3000)
    pushed = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    assert not pushed.ok
    evidence = net.us.paths.data_dir / "evidence"
    # no chunk, no unpacked bag, no stored item: nothing half-imported on the recipient
    assert _files_under(evidence / "incoming") == []
    assert _files_under(evidence / "packages") == []
    assert _files_under(evidence / "items") == []
    assert not archive.exists()  # nor the sender's archive (the offer is over)
    # a refused transfer takes no more chunks, and creates no folder for them
    base = f"{net.us.config.base_url}{PATH}/{offer.transfer_id}"
    late = client.put(f"{base}/chunks/0", content=b"\0" * 64)
    assert late.status_code == 409
    assert _files_under(evidence / "incoming") == []


def test_stale_transfers_expire_by_the_clock(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    _, stale = _offer(net, files, tmp_path)
    push_chunks(net.nl, stale.transfer_id, client, transport=net.transport, only=[0], finish=False)
    incoming = net.us.paths.data_dir / "evidence" / "incoming" / stale.transfer_id
    assert _files_under(incoming) != []
    net.clock.advance(timedelta(hours=5))
    other = package(net.nl, files, tmp_path / "other", recipient="us-poc")
    fresh = offer_package(net.nl, other.path, recipient="us-poc", user="alice", chunk_size=1024)
    push_chunks(net.nl, fresh.transfer_id, client, transport=net.transport, only=[1], finish=False)
    net.clock.advance(timedelta(hours=2))
    # 7 hours since the stale one last moved, 2 since the fresh one: a 6-hour expiry
    ended = expire_transfers(net.us, older_than=timedelta(hours=6))
    assert [(e.transfer_id, e.direction) for e in ended] == [(stale.transfer_id, "in")]
    assert not incoming.exists()
    fresh_folder = net.us.paths.data_dir / "evidence" / "incoming" / fresh.transfer_id
    assert _files_under(fresh_folder) != []
    with net.us.db.session() as session:
        assert session.get(EvidenceTransferRow, stale.transfer_id).state == "expired"  # type: ignore[union-attr]
        assert session.get(EvidenceTransferRow, fresh.transfer_id).state == "receiving"  # type: ignore[union-attr]
        actions = session.scalars(select(AuditEntryRow.action)).all()
        assert "evidence.transfer.expired" in actions
    # the expired transfer takes no more chunks and does not complete
    base = f"{net.us.config.base_url}{PATH}/{stale.transfer_id}"
    assert client.put(f"{base}/chunks/1", content=b"\0" * 64).status_code == 409
    done = client.post(f"{base}/complete")
    assert done.json()["ok"] is False and done.json()["problems"] == ["the transfer was expired"]
    assert not incoming.exists()
    # the sender's side: its undelivered offers expire too (archive removed), by its clock
    with net.nl.db.session() as session:
        archive = Path(session.get(EvidenceTransferRow, stale.transfer_id).archive_path)  # type: ignore[union-attr]
    assert archive.exists()
    sender_ended = expire_transfers(net.nl, older_than=timedelta(hours=6))
    assert [e.transfer_id for e in sender_ended] == [stale.transfer_id]
    assert not archive.exists()
    with pytest.raises(Conflict, match="expired"):
        push_chunks(net.nl, stale.transfer_id, client, transport=net.transport)
    # the fresh one still completes
    finished = push_chunks(net.nl, fresh.transfer_id, client, transport=net.transport)
    assert finished.ok, finished.problems
    with pytest.raises(ValidationFailed, match="positive"):
        expire_transfers(net.us, older_than=timedelta(0))


def test_completion_with_chunks_missing_stays_resumable(
    net: Net, client: httpx.Client, files: list[Path], tmp_path: Path
) -> None:
    result, offer = _offer(net, files, tmp_path)
    early = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport, only=[0])
    assert not early.ok and early.problems[0].startswith("chunks missing")
    with net.nl.db.session() as session:
        row = session.get(EvidenceTransferRow, offer.transfer_id)
        assert row is not None and row.state == "offered"  # not refused: nothing was wrong
        assert Path(row.archive_path).exists()  # kept for the rest
    done = push_chunks(net.nl, offer.transfer_id, client, transport=net.transport)
    assert done.ok, done.problems
    assert done.skipped == 1
    assert _count(net.us, EvidenceItemRow) == len(result.item_ids)
