"""The fast lookup paths answer exactly as the reference path.

The reference is the generic pipeline over cold row groups (Arrow tables read through the
sparse index, every column decoded). The fast paths are batches over warm parts (NumPy columns,
interned text codes, records built only for the answers asked for) and single lookups over
warm parts. Both must give the same matches, ranks, records and best-match table, on data with
the awkward cases: port reuse, open sessions, IPv6, port blocks, direct assignments, several
source files per day, tolerances that make answers ambiguous, and misses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from _store_factory import T0, digest, nat, radius, synth_cgnat, table, us

from trailguard.traffic import index, warm_parts
from trailguard.traffic.index import segment_stats
from trailguard.traffic.query import lookup
from trailguard.traffic.resolve import build_queries, lookup_batch
from trailguard.traffic.store import TrafficStore, open_store
from trailguard.traffic.values import NAT_KINDS
from trailguard.traffic.warm_parts import WarmSegment

S = timedelta(seconds=1)


def _tricky_rows() -> list[dict[str, object]]:
    block = {
        "kind": "port_block",
        "event": "allocate",
        "start": T0,
        "end": T0 + 3600 * S,
        "inside_ip": "100.64.12.7",
        "public_ip": "203.0.113.78",
        "public_port": 51200,
        "public_port_end": 51711,
        "source_line": 9,
    }
    flowish = nat("100.64.12.10", 40500, "203.0.113.77", 52000, T0, T0 + 90 * S, 10)
    flowish.update({"dst_ip": "198.51.100.80", "dst_port": 443, "bytes": 1234, "packets": 7})
    return [
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, None, 1, "create"),
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, T0 + 300 * S, 2),
        nat("100.64.12.9", 40100, "203.0.113.77", 51512, T0 + 301 * S, T0 + 400 * S, 3),
        nat("100.64.12.8", 40002, "203.0.113.77", 51600, T0 + 10 * S, None, 4, "create"),
        nat("100.64.12.7", 40003, "2001:db8::77", 443, T0, T0 + 60 * S, 5),
        # two sessions starting the same second on neighbouring ports (ties in the ranking)
        nat("100.64.12.11", 40200, "203.0.113.77", 51700, T0 + 5 * S, T0 + 50 * S, 6),
        nat("100.64.12.12", 40201, "203.0.113.77", 51701, T0 + 5 * S, T0 + 50 * S, 7),
        nat("100.64.12.8", 40002, "203.0.113.77", 51600, T0 + 90000 * S, None, 8, "create"),
        block,
        flowish,
    ]


def _tricky_assignments() -> list[dict[str, object]]:
    return [
        radius("100.64.12.7", "acct-alice", T0 - 3600 * S, T0 + 3600 * S, 1),
        radius("100.64.12.9", "acct-bob", T0 - 3600 * S, T0 + 3600 * S, 2),
        radius("100.64.12.11", "acct-carol", T0 - 3600 * S, None, 3, "start"),
        radius("100.64.12.12", "acct-dave", T0 - 60 * S, T0 + 7200 * S, 4),
        # the same address given to two accounts back to back (ranking by distance)
        radius("100.64.12.12", "acct-erin", T0 + 7200 * S + S, T0 + 9000 * S, 5),
        radius("198.51.100.23", "vps-4711", T0 - 86400 * S, T0 + 86400 * S, 6),
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = open_store(tmp_path)
    nat_table, rad, _ = synth_cgnat(1500, publics=8, subscribers=60, days=2, seed=11)
    # two files per kind and day: sessions of one day live in several parts
    half = nat_table.num_rows // 2
    store.ingest_table(nat_table.slice(0, half), provider="rio", source_sha256=digest("n1"))
    store.ingest_table(nat_table.slice(half), provider="rio", source_sha256=digest("n2"))
    store.ingest_table(rad, provider="rio", source_sha256=digest("r"))
    store.ingest_table(table(_tricky_rows()), provider="rio", source_sha256=digest("t"))
    store.ingest_table(table(_tricky_assignments()), provider="rio", source_sha256=digest("ta"))
    return store.root


def _queries(root: Path) -> tuple[list[str], list[int | None], np.ndarray]:
    _, _, key = synth_cgnat(1500, publics=8, subscribers=60, days=2, seed=11)
    rng = np.random.default_rng(5)
    pick = rng.choice(len(key["at_us"]), 150, replace=False)
    ips: list[str] = [key["public_ip"][i] for i in pick]
    ports: list[int | None] = [key["public_port"][i] for i in pick]
    ats = [int(key["at_us"][i]) for i in pick]
    # the same instants without a port (every session of the address in the window)
    for i in pick[:20]:
        ips.append(key["public_ip"][i])
        ports.append(None)
        ats.append(int(key["at_us"][i]))
    tricky: list[tuple[str, int | None, datetime]] = [
        ("203.0.113.77", 51512, T0 + 120 * S),
        ("203.0.113.77", 51512, T0 + 300 * S + timedelta(milliseconds=300)),
        ("203.0.113.77", 51512, T0 + 350 * S),
        ("203.0.113.77", None, T0 + 300 * S + timedelta(milliseconds=300)),
        ("203.0.113.77", 51600, T0 + 20 * S),
        ("203.0.113.77", 51600, T0 + 90010 * S),
        ("203.0.113.77", None, T0 + 6 * S),
        ("203.0.113.77", 52000, T0 + 30 * S),
        ("2001:db8::77", 443, T0 + 30 * S),
        ("203.0.113.78", 51512, T0 + 60 * S),
        ("203.0.113.78", 51712, T0 + 60 * S),
        ("203.0.113.78", None, T0 + 60 * S),
        ("198.51.100.23", 22, T0),
        ("198.51.100.23", None, T0 + 3600 * S),
        ("192.0.2.9", 1, T0),
        ("203.0.113.77", 1, T0),
    ]
    for ip, port, at in tricky:
        ips.append(ip)
        ports.append(port)
        ats.append(us(at))
    return ips, ports, np.asarray(ats, dtype=np.int64)


@pytest.mark.parametrize("tolerance", [0, 2, 5])
def test_warm_batch_equals_the_cold_reference_path(
    root: Path, tolerance: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ips, ports, ats = _queries(root)
    tol = timedelta(seconds=tolerance)
    cold = TrafficStore(root)
    reference = []
    tables = []
    # the reference never reads whole parts, however many sessions a stage chains
    monkeypatch.setattr(index, "WARM_BATCH", 10**9)
    for lo in range(0, len(ips), 50):  # at most 64 queries: the generic path, row groups
        batch = lookup_batch(
            cold.engine(), ips[lo : lo + 50], ports[lo : lo + 50], ats[lo : lo + 50], tol
        )
        assert batch.nat.source is None
        reference.extend(batch.answer(i).to_json() for i in range(len(batch)))
        tables.append(batch.best_table())
    assert segment_stats(cold.engine())["warm_parts"] == 0

    monkeypatch.undo()
    warm = TrafficStore(root)
    warm.engine().warm()
    batch = lookup_batch(warm.engine(), ips, ports, ats, tol)
    assert batch.nat.source is not None  # the warm path answered
    assert batch.best_table().equals(pa.concat_tables(tables))
    assert [batch.answer(i).to_json() for i in range(len(ips))] == reference
    # some answers are ambiguous and some are misses: the comparison covers both
    counts = batch.best_table().column("candidates").to_pylist()
    assert max(counts) >= 2 and min(counts) == 0


def test_big_batch_on_a_cold_engine_takes_the_warm_path(root: Path) -> None:
    ips, ports, ats = _queries(root)
    tol = timedelta(seconds=2)
    reference = TrafficStore(root)
    expected = [
        lookup(reference, ip, port, datetime.fromtimestamp(at / 1e6, UTC), tol).to_json()
        for ip, port, at in zip(ips, ports, ats.tolist(), strict=True)
    ]
    fresh = TrafficStore(root)
    batch = lookup_batch(fresh.engine(), ips, ports, ats, tol)
    assert batch.nat.source is not None
    assert segment_stats(fresh.engine())["warm_parts"] > 0  # it loaded the parts it needed
    assert [batch.answer(i).to_json() for i in range(len(ips))] == expected


def test_warm_single_lookups_equal_cold_ones(root: Path) -> None:
    ips, ports, ats = _queries(root)
    cold = TrafficStore(root)
    warm = TrafficStore(root)
    warm.engine().warm()
    for ip, port, at in zip(ips, ports, ats.tolist(), strict=True):
        instant = datetime.fromtimestamp(at / 1e6, UTC)
        a = lookup(cold, ip, port, instant, 2 * S)
        b = lookup(warm, ip, port, instant, 2 * S)
        assert a.to_json() == b.to_json()
        assert a.matches == b.matches  # the records themselves, not only their JSON


def test_candidates_of_warm_parts_carry_every_column(root: Path) -> None:
    """Columns that no answer shows (destination, bytes) stay on disk for warm parts and
    are read back when the candidate table is asked for."""
    queries = build_queries(
        ["203.0.113.77", "203.0.113.78"], [52000, None], np.array([us(T0 + 30 * S)] * 2), 2 * S
    )
    cold = TrafficStore(root).engine().candidates(NAT_KINDS, queries)
    engine = TrafficStore(root).engine()
    engine.warm()
    warm = engine.candidates(NAT_KINDS, queries)
    assert warm.equals(cold)
    row = [r for r in warm.to_pylist() if r["public_port"] == 52000]
    assert (row[0]["dst_ip"], row[0]["dst_port"], row[0]["bytes"]) == ("198.51.100.80", 443, 1234)


def test_warm_parts_are_compact(root: Path) -> None:
    engine = TrafficStore(root).engine()
    engine.warm()
    segments = [s for s in engine._full.values() if isinstance(s, WarmSegment)]
    nat_parts = [s for s in segments if s.part.kind == "nat" and s.rows > 100]
    assert nat_parts
    for segment in nat_parts:
        # search keys (8 bytes each: key, start, end, effective end) plus small codes
        assert segment.nbytes() / segment.rows < 64
    assert segment_stats(engine)["warm_bytes"] == sum(s.nbytes() for s in segments)


def test_warm_part_search_equals_brute_force(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key ranges found by binary search plus a few steps forward (or a second search for a
    whole address) select exactly the rows a scan of the part selects."""
    # a key sample every 8 rows: the compiled search's sampled steps run on these parts
    monkeypatch.setattr(warm_parts, "SAMPLE_STRIDE", 8)
    engine = TrafficStore(root).engine()
    engine.warm()
    segment = max((s for s in engine._full.values() if s.part.kind == "nat"), key=lambda s: s.rows)
    rng = np.random.default_rng(8)
    rows = rng.integers(0, segment.rows, 300)
    codes = (segment.key[rows] >> 17).astype(np.int64)
    port = (segment.key[rows] & ((1 << 17) - 1)) - 1
    port = np.where(rng.random(300) < 0.3, -1, port)  # some queries name no port
    port[:5] = 70000 - 1  # a port no row has
    at = segment.start[rows] + rng.integers(-5_000_000, 5_000_000, 300)
    tol = rng.integers(0, 3_000_000, 300)
    port_lo = np.where(port >= 0, port + 1, 0)
    port_hi = np.where(port >= 0, port + 2, 1 << 17)
    qidx, found = segment.search_codes(codes, port_lo, port_hi, port, at - tol, at + tol)
    got = sorted(zip(qidx.tolist(), found.tolist(), strict=True))
    want = []
    key_code = segment.key >> 17
    key_port = (segment.key & ((1 << 17) - 1)) - 1
    for q in range(300):
        match = (
            (key_code == codes[q])
            & ((port[q] < 0) | (key_port == port[q]))
            & (segment.start <= at[q] + tol[q])
            & (segment.end_eff >= at[q] - tol[q])
        )
        want.extend((q, int(r)) for r in np.flatnonzero(match))
    assert got == sorted(want)
    assert len(want) > 300  # whole-address queries took the long ranges
    # the compiled search (interned codes; address ranges longer than two key samples, so
    # the sampled first steps run) finds the same pairs, in query order
    interned = segment.g_sorted[np.argsort(segment.g_local)][codes]
    assert int(np.diff(segment.code_start).max()) > 2 * warm_parts.SAMPLE_STRIDE
    qidx, found = segment.search_interned(interned, port_lo, port_hi, port, at - tol, at + tol)
    assert list(zip(qidx.tolist(), found.tolist(), strict=True)) == sorted(want)
    for q in range(0, 300, 7):  # the one-query scalar path agrees
        scalar = segment.find_one(
            int(segment.g_sorted[np.flatnonzero(segment.g_local == codes[q])[0]]),
            int(port[q]),
            int(at[q] - tol[q]),
            int(at[q] + tol[q]),
        )
        assert scalar == [r for qq, r in want if qq == q]


def test_parts_warmed_from_several_threads_share_one_code_per_text(root: Path) -> None:
    """API requests run in threads: parts loaded side by side must not give one text two
    codes (rows of different parts compare by code)."""
    from concurrent.futures import ThreadPoolExecutor

    store = TrafficStore(root)
    engine = store.engine()
    parts = store.parts() * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        loaded = list(pool.map(engine.full_segment, parts))
    assert len({id(s) for s in loaded}) == len(store.parts())  # each part loaded once
    strings = engine.strings
    assert len(strings.values) == len(set(strings.values)) == len(strings.codes)
    assert all(strings.codes[v] == i for i, v in enumerate(strings.values))
    ips, ports, ats = _queries(root)
    batch = lookup_batch(engine, ips, ports, ats, 2 * S)
    reference = TrafficStore(root)
    for i in range(0, len(ips), 9):
        at = datetime.fromtimestamp(int(ats[i]) / 1e6, UTC)
        assert batch.answer(i).to_json() == lookup(reference, ips[i], ports[i], at, 2 * S).to_json()
