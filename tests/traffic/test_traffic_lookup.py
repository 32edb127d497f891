"""Lookups: NAT -> inside address -> RADIUS/DHCP -> subscriber, ranking, batches, flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from _store_factory import T0, digest, nat, radius, synth_cgnat, table, us

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.query import flows, lookup, lookup_many
from trailguard.traffic.store import TrafficStore, open_store

S = timedelta(seconds=1)


@pytest.fixture
def store(tmp_path: Path) -> TrafficStore:
    store = open_store(tmp_path)
    rows = [
        # a closed session (create + teardown) on 203.0.113.77:51512, 08:00:00-08:05:00
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, None, 1, "create"),
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, T0 + 300 * S, 2),
        # the same public port reused by another subscriber from 08:05:01
        nat("100.64.12.9", 40100, "203.0.113.77", 51512, T0 + 301 * S, T0 + 400 * S, 3),
        # an open session (no teardown logged) on another port
        nat("100.64.12.8", 40002, "203.0.113.77", 51600, T0 + 10 * S, None, 4, "create"),
        # IPv6 public side
        nat("100.64.12.7", 40003, "2001:db8::77", 443, T0, T0 + 60 * S, 5),
    ]
    store.ingest_table(table(rows), provider="rio", source_sha256=digest("nat"))
    assignments = [
        radius("100.64.12.7", "acct-alice", T0 - 3600 * S, T0 + 3600 * S, 1),
        radius("100.64.12.9", "acct-bob", T0 - 3600 * S, T0 + 3600 * S, 2),
        # a directly assigned public address (no NAT)
        radius("198.51.100.23", "vps-4711", T0 - 86400 * S, T0 + 86400 * S, 3),
    ]
    store.ingest_table(table(assignments), provider="rio", source_sha256=digest("rad"))
    return store


def test_lookup_chains_nat_to_subscriber_with_records(store: TrafficStore) -> None:
    answer = lookup(store, "203.0.113.77", 51512, T0 + 120 * S)
    assert len(answer.matches) == 1
    best = answer.best
    assert best is not None
    assert (best.inside_ip, best.inside_port, best.subscriber) == (
        "100.64.12.7",
        40001,
        "acct-alice",
    )
    assert (best.start, best.end) == (T0, T0 + 300 * S)
    assert sorted(r.event for r in best.records) == ["create", "teardown"]
    assert {r.source_line for r in best.records} == {1, 2}
    assert all(r.source_sha256 == digest("nat") for r in best.records)
    assert best.assignments[0].records[0].source_sha256 == digest("rad")
    body = answer.to_json()
    assert set(body) == {"query", "matches", "ambiguous", "ambiguity"}
    match = body["matches"][0]
    assert {
        "inside_ip",
        "inside_port",
        "public_ip",
        "public_port",
        "start",
        "end",
        "subscriber",
        "records",
    } <= set(match)
    assert match["start"] == "2026-11-20T08:00:00Z" and match["end"] == "2026-11-20T08:05:00Z"
    assert {r["kind"] for r in match["records"]} == {"nat", "radius"}


def test_port_reuse_is_resolved_by_time(store: TrafficStore) -> None:
    answer = lookup(store, "203.0.113.77", 51512, T0 + 350 * S, timedelta(0))
    assert [m.subscriber for m in answer.matches] == ["acct-bob"]


def test_ambiguity_within_tolerance_is_explicit_and_ranked(store: TrafficStore) -> None:
    # 08:05:00.3 lies between the two sessions (0.3 s after one, 0.7 s before the other)
    at = T0 + 300 * S + timedelta(milliseconds=300)
    answer = lookup(store, "203.0.113.77", 51512, at, timedelta(seconds=2))
    assert [m.subscriber for m in answer.matches] == ["acct-alice", "acct-bob"]
    assert answer.ambiguous
    assert answer.matches[0].distance == timedelta(milliseconds=300)
    assert answer.matches[1].distance == timedelta(milliseconds=700)
    assert [m.rank for m in answer.matches] == [0, 1]
    # with no tolerance, nothing covers that half second
    assert lookup(store, "203.0.113.77", 51512, at, timedelta(0)).matches == ()


def test_no_match_and_no_assignment(store: TrafficStore) -> None:
    assert lookup(store, "203.0.113.77", 1, T0).matches == ()
    assert lookup(store, "203.0.113.99", 51512, T0).matches == ()
    answer = lookup(store, "203.0.113.77", 51600, T0 + 20 * S)
    assert answer.best is not None
    assert answer.best.end is None  # open session
    assert answer.best.subscriber is None  # 100.64.12.8 has no RADIUS record
    assert answer.to_json()["matches"][0]["subscriber"] is None


def test_ipv6_and_canonical_forms(store: TrafficStore) -> None:
    answer = lookup(store, "2001:0DB8:0000::0077", 443, T0 + 30 * S)
    assert answer.query.public_ip == "2001:db8::77"
    assert answer.best is not None and answer.best.subscriber == "acct-alice"


def test_direct_assignment_without_nat(store: TrafficStore) -> None:
    answer = lookup(store, "198.51.100.23", 22, T0)
    assert answer.best is not None
    assert answer.best.subscriber == "vps-4711"
    assert answer.best.inside_ip == "198.51.100.23"


@pytest.mark.parametrize(
    ("ip", "port", "at", "tolerance", "message"),
    [
        ("203.0.113.300", 1, T0, S, "not an IPv4 or IPv6"),
        ("example.org", 1, T0, S, "not an IPv4 or IPv6"),
        ("203.0.113.7", 70000, T0, S, "0..65535"),
        ("203.0.113.7", -1, T0, S, "0..65535"),
        ("203.0.113.7", 1, datetime(2026, 11, 20, 8, 0), S, "naive"),
        ("203.0.113.7", 1, T0, -S, "tolerance"),
        ("203.0.113.7", 1, T0, timedelta(days=3), "tolerance"),
    ],
)
def test_bad_queries_are_refused(
    store: TrafficStore, ip: str, port: int, at: datetime, tolerance: timedelta, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        lookup(store, ip, port, at, tolerance)


def test_port_block_answers_every_port_in_its_block(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    block = {
        "kind": "port_block",
        "event": "allocate",
        "start": T0,
        "end": T0 + 3600 * S,
        "inside_ip": "100.64.12.7",
        "public_ip": "203.0.113.77",
        "public_port": 51200,
        "public_port_end": 51711,
        "source_line": 1,
    }
    store.ingest_table(table([block]), provider="rio", source_sha256=digest("pb"))
    store.ingest_table(
        table([radius("100.64.12.7", "acct-alice", T0, T0 + 7200 * S, 1)]),
        provider="rio",
        source_sha256=digest("r"),
    )
    answer = lookup(store, "203.0.113.77", 51512, T0 + 60 * S)
    assert answer.best is not None
    assert answer.best.port_block == (51200, 51711)
    assert answer.best.subscriber == "acct-alice"
    assert lookup(store, "203.0.113.77", 51712, T0 + 60 * S).matches == ()
    assert lookup(store, "203.0.113.77", 51199, T0 + 60 * S).matches == ()


def test_batch_agrees_with_answer_key_and_single_lookups(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    nat_table, rad, key = synth_cgnat(4000, publics=20, subscribers=300, days=2)
    store.ingest_table(nat_table, provider="rio", source_sha256=digest("n"))
    store.ingest_table(rad, provider="rio", source_sha256=digest("r"))
    ats = np.asarray(key["at_us"], dtype=np.int64)
    # cold: the sparse index path (a fresh store object, nothing warm)
    cold = TrafficStore(store.root)
    singles = [
        lookup(
            cold,
            key["public_ip"][i],
            key["public_port"][i],
            datetime.fromtimestamp(ats[i] / 1e6, UTC),
            timedelta(0),
        )
        for i in range(0, 4000, 97)
    ]
    batch = lookup_many(store, key["public_ip"], key["public_port"], ats, timedelta(seconds=0))
    best = batch.best_table()
    assert best.column("inside_ip").to_pylist() == key["inside_ip"]
    assert best.column("subscriber").to_pylist() == key["subscriber"]
    assert best.column("inside_port").to_pylist() == key["inside_port"]
    for n, i in enumerate(range(0, 4000, 97)):
        assert singles[n].best is not None
        assert singles[n].best.subscriber == key["subscriber"][i]
        assert batch.answer(i).to_json() == singles[n].to_json()
    # queries that hit nothing come back as not found, in order
    miss = lookup_many(
        store,
        ["192.0.2.1", key["public_ip"][0]],
        [1, key["public_port"][0]],
        np.array([ats[0], ats[0]]),
    )
    assert miss.best_table().column("found").to_pylist() == [False, True]


def test_warm_and_cold_answers_are_the_same(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    nat_table, rad, key = synth_cgnat(3000, publics=5, subscribers=100, days=1, seed=3)
    store.ingest_table(nat_table, provider="rio", source_sha256=digest("n"))
    store.ingest_table(rad, provider="rio", source_sha256=digest("r"))
    cold = TrafficStore(store.root)
    warm = TrafficStore(store.root)
    assert warm.engine().warm() == nat_table.num_rows + rad.num_rows
    for i in range(0, 3000, 50):
        at = datetime.fromtimestamp(key["at_us"][i] / 1e6, UTC)
        a = lookup(cold, key["public_ip"][i], None, at, timedelta(seconds=5))
        b = lookup(warm, key["public_ip"][i], None, at, timedelta(seconds=5))
        assert a.to_json() == b.to_json()
        assert key["subscriber"][i] in [m.subscriber for m in a.matches]


def test_flows_by_address_and_window(store: TrafficStore) -> None:
    records = flows(store, "100.64.12.7", T0 - S, T0 + 30 * S)
    assert {(r.public_ip, r.public_port) for r in records} == {
        ("203.0.113.77", 51512),
        ("2001:db8::77", 443),
    }
    assert [r.start for r in records] == sorted(r.start for r in records)
    assert [
        r.inside_ip for r in flows(store, "203.0.113.77", T0 + 350 * S, T0 + 360 * S, kinds=["nat"])
    ] == ["100.64.12.9"]
    assert flows(store, "203.0.113.77", T0 + 10 * 3600 * S, T0 + 11 * 3600 * S, kinds=["nat"]) == []
    with pytest.raises(ValidationFailed, match="before its start"):
        flows(store, "100.64.12.7", T0, T0 - S)
    with pytest.raises(ValidationFailed, match="not an IPv4"):
        flows(store, "nonsense", T0, T0 + S)
    with pytest.raises(ValidationFailed, match="gossip"):
        flows(store, "100.64.12.7", T0, T0 + S, kinds=["nat", "gossip"])


def test_at_given_in_another_zone_is_the_same_instant(store: TrafficStore) -> None:
    from zoneinfo import ZoneInfo

    local = (T0 + 120 * S).astimezone(ZoneInfo("America/New_York"))
    assert (
        lookup(store, "203.0.113.77", 51512, local).to_json()["matches"]
        == lookup(store, "203.0.113.77", 51512, T0 + 120 * S).to_json()["matches"]
    )
    assert us(T0) % 1_000_000 == 0


@pytest.mark.parametrize(
    ("ip", "port", "offset", "tolerance"),
    [
        ("203.0.113.77", 51512, 120.0, 2),
        ("203.0.113.77", 51512, 300.3, 2),
        ("203.0.113.77", 51512, 300.3, 0),
        ("203.0.113.77", None, 300.3, 5),
        ("203.0.113.77", 51600, 20.0, 2),
        ("203.0.113.77", 51600, 90000.0, 2),
        ("2001:db8::77", 443, 30.0, 0),
        ("198.51.100.23", 22, 0.0, 2),
        ("192.0.2.9", 1, 0.0, 9),
    ],
)
def test_single_path_equals_vectorised_path(
    store: TrafficStore, ip: str, port: int | None, offset: float, tolerance: int
) -> None:
    """``lookup`` answers one query in plain Python; the batch path is the reference."""
    from trailguard.traffic.resolve import lookup_batch
    from trailguard.traffic.values import to_us

    at = T0 + timedelta(seconds=offset)
    tol = timedelta(seconds=tolerance)
    single = lookup(store, ip, port, at, tol)
    batch = lookup_batch(store.engine(), [ip], [port], np.array([to_us(at)]), tol)
    assert single.to_json() == batch.answer(0).to_json()
