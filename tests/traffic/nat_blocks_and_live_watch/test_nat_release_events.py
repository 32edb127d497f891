"""RFC 8158 closing events close their period: a port block de-allocation (natEvent 17) ends
the block its allocation (16) opened, a NAT44 session delete (5) the session its create (4)
opened; a lookup in the gap after the release finds no holder (not the block's previous one).

RFC 8158 https://www.rfc-editor.org/rfc/rfc8158 (natEvent values, section 4.1; port block
template, section 4.4); IANA natEvent registry
https://www.iana.org/assignments/ipfix/ipfix.xhtml#ipfix-nat-event-type ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers import netflow as nf
from trailguard.traffic.query import lookup, lookup_many
from trailguard.traffic.store import TrafficStore, open_store

S = timedelta(seconds=1)
T0 = datetime(2026, 11, 27, 8, 0, 0, 250_000, tzinfo=UTC)
A, B = "100.64.7.19", "100.64.7.44"
PUBLIC = "198.51.100.9"
FIRST, LAST = 4096, 4223
# A holds the block 08:00:00.25-08:10:00.25, the block is free until 08:15:00.25, then B
A_ALLOC, A_FREE, B_ALLOC, B_FREE = T0, T0 + 600 * S, T0 + 900 * S, T0 + 1500 * S


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def block(at: datetime, inside: str, event: int) -> dict[int, Any]:
    return {
        nf.IE_OBS_MS: ms(at),
        nf.IE_SRC_V4: inside,
        nf.IE_POST_SRC_V4: PUBLIC,
        nf.IE_PORT_START: FIRST,
        nf.IE_PORT_END: LAST,
        nf.IE_NAT_EVENT: event,
    }


def ipfix_file(path: Path, rows: list[dict[int, Any]], *, per_message: int = 1) -> Path:
    """An RFC 5655 file: the port block template, then ``per_message`` records a message."""
    fields = nf.PORT_BLOCK_TEMPLATE
    msgs = [nf.ipfix_message([nf.template_set(257, fields, v9=False)], ms(T0) // 1000, 0, 3)]
    for i in range(0, len(rows), per_message):
        part = rows[i : i + per_message]
        export = max(r[nf.IE_OBS_MS] for r in part) // 1000
        msgs.append(nf.ipfix_message([nf.data_set(257, fields, part)], export, i, 3))
    path.write_bytes(b"".join(msgs))
    return path


def ingest(tmp_path: Path, rows: list[dict[int, Any]]) -> tuple[TrafficStore, list[str]]:
    store = open_store(tmp_path / "store")
    report = store.ingest_file(
        ipfix_file(tmp_path / "blocks.ipfix", rows), provider="rio", format_name="netflow"
    )
    assert report.refused is None
    assert report.bad_lines == []
    return store, report.notes


def holders(store: TrafficStore, at: datetime, port: int = 4100) -> list[tuple[str, int]]:
    answer = lookup(store, PUBLIC, port, at, timedelta(seconds=2))
    return [(m.inside_ip, int(m.distance.total_seconds())) for m in answer.matches]


def test_deallocation_is_the_end_of_its_block_record(tmp_path: Path) -> None:
    path = ipfix_file(
        tmp_path / "b.ipfix",
        [block(A_ALLOC, A, 16), block(A_FREE, A, 17), block(B_ALLOC, B, 16)],
    )
    rows = next(iter(nf.PARSER.parse(path, ParseOptions()))).table.to_pylist()
    assert [(r["inside_ip"], r["event"]) for r in rows] == [
        (A, "create"),
        (A, "teardown"),
        (B, "create"),
    ]
    create, release, b_create = rows
    assert (create["start"], create["end"]) == (A_ALLOC, None)
    # the release carries the allocation's start and its own instant as the end
    assert (release["start"], release["end"]) == (A_ALLOC, A_FREE)
    assert (b_create["start"], b_create["end"]) == (B_ALLOC, None)
    assert release["public_port"] == FIRST and release["public_port_end"] == LAST


@pytest.mark.parametrize("per_message", [1, 3])
def test_block_lookup_before_between_and_after_reuse(tmp_path: Path, per_message: int) -> None:
    rows = [block(A_ALLOC, A, 16), block(A_FREE, A, 17), block(B_ALLOC, B, 16)]
    rows.append(block(B_FREE, B, 17))
    store = open_store(tmp_path / "store")
    report = store.ingest_file(
        ipfix_file(tmp_path / "blocks.ipfix", rows, per_message=per_message),
        provider="rio",
        format_name="netflow",
    )
    assert report.records_stored == 4 and report.bad_lines == []
    # inside A's period: A alone, identified by the block, with both records of the block
    answer = lookup(store, PUBLIC, 4100, A_ALLOC + 300 * S)
    assert [m.inside_ip for m in answer.matches] == [A]
    best = answer.best
    assert best is not None
    assert best.port_block == (FIRST, LAST)
    assert (best.start, best.end) == (A_ALLOC, A_FREE)
    assert sorted(r.event for r in best.records) == ["create", "teardown"]
    # the last instant of A's period still answers A
    assert holders(store, A_FREE) == [(A, 0)]
    # after the release, before B's allocation: nobody (not the previous holder A)
    for gap in (A_FREE + 3 * S, A_FREE + 120 * S, B_ALLOC - 3 * S):
        assert holders(store, gap) == [], gap
    # near the release, within the tolerance, A is offered as a near miss, never as covering
    near = holders(store, A_FREE + S)
    assert near == [(A, 1)]
    # inside B's period: B
    assert holders(store, B_ALLOC + 60 * S) == [(B, 0)]
    assert holders(store, B_ALLOC + 60 * S, port=LAST) == [(B, 0)]
    assert holders(store, B_ALLOC + 60 * S, port=LAST + 1) == []
    # after B's release: nobody
    assert holders(store, B_FREE + 60 * S) == []
    # the batch path answers alike
    ats = [A_ALLOC + 300 * S, A_FREE + 120 * S, B_ALLOC + 60 * S, B_FREE + 60 * S]
    batch = lookup_many(store, [PUBLIC] * 4, [4100] * 4, ats)
    got = [batch.answer(i).best for i in range(4)]
    assert [m.inside_ip if m else None for m in got] == [A, None, B, None]
    assert np.all(batch.best_table().column("inside_ip").is_null().to_numpy(False) == [
        False, True, False, True,
    ])  # fmt: skip


def test_release_without_its_allocation_is_counted_and_closed(tmp_path: Path) -> None:
    # the file starts after A's allocation (logged in an earlier file): only the release
    store, notes = ingest(tmp_path, [block(A_FREE, A, 17), block(B_ALLOC, B, 16)])
    assert any("decoder counts" in n and "'releases_without_allocation': 1" in n for n in notes)
    assert any("1 port block de-allocations (natEvent 17) came without" in n for n in notes)
    # the holder is known at the release instant, and nothing after it
    assert holders(store, A_FREE) == [(A, 0)]
    assert holders(store, A_FREE + 60 * S) == []
    assert holders(store, B_ALLOC - 3 * S) == []
    assert holders(store, B_ALLOC + 60 * S) == [(B, 0)]


def test_decoder_pairs_across_packets_and_counts_orphans() -> None:
    """The live collector keeps one decoder per source: pairing spans datagrams."""
    fields = nf.PORT_BLOCK_TEMPLATE
    dec = nf.FlowDecoder()
    for exporter in ("192.0.2.1", "192.0.2.2"):
        dec.decode(nf.ipfix_message([nf.template_set(257, fields, v9=False)], 1, 0, 3), exporter)
    one = dec.decode(
        nf.ipfix_message([nf.data_set(257, fields, [block(A_ALLOC, A, 16)])], 1, 1, 3),
        "192.0.2.1",
    )
    # the same block from another exporter is another block: its release is an orphan
    other = dec.decode(
        nf.ipfix_message([nf.data_set(257, fields, [block(A_FREE, A, 17)])], 1, 2, 3),
        "192.0.2.2",
    )
    two = dec.decode(
        nf.ipfix_message([nf.data_set(257, fields, [block(A_FREE, A, 17)])], 1, 3, 3),
        "192.0.2.1",
    )
    us = int(A_ALLOC.timestamp() * 1_000_000)
    free = int(A_FREE.timestamp() * 1_000_000)
    assert (one[0]["start"], one[0]["end"]) == (us, None)
    assert (other[0]["start"], other[0]["end"]) == (free, free)
    assert (two[0]["start"], two[0]["end"]) == (us, free)
    assert dec.stats.releases_without_allocation == 1
    # a second release of the same block has nothing left to close
    three = dec.decode(
        nf.ipfix_message([nf.data_set(257, fields, [block(A_FREE + S, A, 17)])], 1, 4, 3),
        "192.0.2.1",
    )
    assert three[0]["start"] == three[0]["end"] == free + 1_000_000
    assert dec.stats.releases_without_allocation == 2
    assert dec.open_blocks == {}


def test_open_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nf, "MAX_OPEN", 2)
    fields = nf.PORT_BLOCK_TEMPLATE
    dec = nf.FlowDecoder()
    rows = [dict(block(A_ALLOC, f"100.64.0.{i}", 16)) for i in range(1, 4)]
    dec.decode(
        nf.ipfix_message(
            [nf.template_set(257, fields, v9=False), nf.data_set(257, fields, rows)], 1, 0, 3
        ),
        "192.0.2.1",
    )
    assert len(dec.open_blocks) == 2 and dec.stats.open_forgotten == 1
    out = dec.decode(
        nf.ipfix_message([nf.data_set(257, fields, [block(A_FREE, "100.64.0.1", 17)])], 1, 1, 3),
        "192.0.2.1",
    )
    assert out[0]["start"] == out[0]["end"]  # the forgotten allocation cannot be paired
    assert dec.stats.releases_without_allocation == 1
    assert any("forgotten past 2" in n for n in nf.closing_notes(dec.stats))


def _session(at: datetime, event: int, inside_port: int = 51000) -> dict[int, Any]:
    return {
        nf.IE_OBS_MS: ms(at),
        nf.IE_SRC_V4: A,
        nf.IE_POST_SRC_V4: "203.0.113.5",
        nf.IE_PROTO: 6,
        nf.IE_SRC_PORT: inside_port,
        nf.IE_POST_SRC_PORT: 40001,
        nf.IE_DST_V4: "192.0.2.80",
        nf.IE_DST_PORT: 443,
        nf.IE_NAT_EVENT: event,
    }


@pytest.mark.parametrize(("create", "delete", "v9"), [(4, 5, False), (1, 2, True)])
def test_session_delete_closes_its_create(
    tmp_path: Path, create: int, delete: int, v9: bool
) -> None:
    """NAT44 session create/delete (IPFIX 4/5, NetFlow v9 NAT Event Logging 1/2): the delete
    becomes the session's end; a delete without its create is closed at its instant."""
    fields = nf.NAT44_TEMPLATE
    rows = [
        _session(T0, create),
        _session(T0 + 300 * S, delete),
        _session(T0 + 400 * S, delete, inside_port=52000),  # its create is not in the file
        _session(T0 + 700 * S, create, inside_port=53000),
    ]
    if v9:
        sets = [nf.template_set(300, fields, v9=True), nf.data_set(300, fields, rows)]
        data = nf.v9_packet(sets, ms(T0) // 1000 + 800, 3_600_000, len(rows) + 1)
    else:
        sets = [nf.template_set(256, fields, v9=False), nf.data_set(256, fields, rows)]
        data = nf.ipfix_message(sets, ms(T0) // 1000 + 800)
    path = tmp_path / "nat.bin"
    path.write_bytes(data)
    store = open_store(tmp_path / "store")
    report = store.ingest_file(path, provider="rio", format_name="netflow")
    assert report.records_stored == 4
    assert any("1 NAT session delete events came without" in n for n in report.notes)
    answer = lookup(store, "203.0.113.5", 40001, T0 + 120 * S)
    assert [(m.inside_ip, m.inside_port) for m in answer.matches] == [(A, 51000)]
    best = answer.best
    assert best is not None and (best.start, best.end) == (T0, T0 + 300 * S)
    assert sorted(r.event for r in best.records) == ["create", "teardown"]
    # between the delete and the next create on that public port: nobody
    assert lookup(store, "203.0.113.5", 40001, T0 + 350 * S).matches == ()
    assert lookup(store, "203.0.113.5", 40001, T0 + 500 * S).matches == ()
    later = lookup(store, "203.0.113.5", 40001, T0 + 750 * S).best
    assert later is not None and later.inside_port == 53000
