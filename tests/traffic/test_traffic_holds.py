"""Holds and purges: sealed copies, retention per kind, nothing held is ever lost."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _store_factory import T0, digest, nat, radius, table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.traffic.holds import (
    HoldCriteria,
    get_hold,
    hold_records,
    list_holds,
    place_hold,
    record_keys,
    release_hold,
    verify_hold,
)
from trailguard.traffic.layout import save_config, sha256_file
from trailguard.traffic.query import lookup
from trailguard.traffic.retention import purge
from trailguard.traffic.store import TrafficStore, open_store

S = timedelta(seconds=1)
DAY = timedelta(days=1)


def fill(store: TrafficStore) -> None:
    rows = [
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, T0 + 60 * S, 1),
        nat("100.64.12.8", 40002, "203.0.113.78", 51513, T0, T0 + 60 * S, 2),
        nat("100.64.12.7", 40003, "203.0.113.77", 51514, T0 + DAY, T0 + DAY + 9 * S, 3),
    ]
    store.ingest_table(table(rows), provider="rio", source_sha256=digest("nat"))
    store.ingest_table(
        table(
            [
                radius("100.64.12.7", "acct-alice", T0 - DAY, T0 + 2 * DAY, 1),
                radius("100.64.12.8", "acct-bob", T0 - DAY, T0 + 2 * DAY, 2),
            ]
        ),
        provider="rio",
        source_sha256=digest("rad"),
    )


@pytest.fixture
def store(tmp_path: Path) -> TrafficStore:
    store = open_store(tmp_path)
    fill(store)
    return store


def criteria(**kw: object) -> HoldCriteria:
    base: dict[str, object] = {
        "ip": "203.0.113.77",
        "port": 51512,
        "start": T0 - S,
        "end": T0 + 10 * S,
    }
    base.update(kw)
    return HoldCriteria(**base)  # type: ignore[arg-type]


def test_place_hold_seals_matching_records_with_their_assignment(store: TrafficStore) -> None:
    hold = place_hold(store, "NL-PR-2026-0042", criteria(), "user:liaison", T0 + DAY)
    records = hold_records(store, hold.hold_id)
    assert hold.records == records.num_rows == 2
    assert sorted(records.column("kind").to_pylist()) == ["nat", "radius"]
    assert set(records.column("inside_ip").to_pylist()) == {"100.64.12.7"}
    path = store.root / "holds" / hold.hold_id / "records.parquet"
    assert sha256_file(path) == hold.sha256
    assert not os.access(path, os.W_OK) or os.geteuid() == 0
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    assert verify_hold(store, hold.hold_id)
    assert [h.hold_id for h in list_holds(store)] == [hold.hold_id]
    meta = json.loads((store.root / "holds" / hold.hold_id / "hold.json").read_bytes())
    assert meta["sha256"] == hold.sha256 and meta["reference"] == "NL-PR-2026-0042"


def test_hold_without_port_and_kinds_filter(store: TrafficStore) -> None:
    hold = place_hold(
        store,
        "ref-1",
        criteria(port=None, end=T0 + 2 * DAY, kinds=("nat",), include_assignments=False),
        "user:x",
        T0,
    )
    assert hold.records == 2 and hold.kinds == {"nat": 2}


def test_tampered_hold_is_detected(store: TrafficStore) -> None:
    hold = place_hold(store, "ref-2", criteria(), "user:x", T0)
    path = store.root / "holds" / hold.hold_id / "records.parquet"
    os.chmod(path, 0o644)
    pq.write_table(pq.read_table(path).slice(0, 1), path)
    assert not verify_hold(store, hold.hold_id)
    with pytest.raises(Conflict, match="SHA-256"):
        hold_records(store, hold.hold_id)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ip": "999.1.1.1"}, "not an IPv4"),
        ({"port": 70000}, "0..65535"),
        ({"end": T0 - DAY}, "before its start"),
        ({"kinds": ("nat", "dreams")}, "kinds"),
        ({"end": T0 + 500 * DAY}, "longer than"),
    ],
)
def test_bad_hold_criteria(store: TrafficStore, kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        place_hold(store, "ref", criteria(**kw), "user:x", T0)
    assert list_holds(store) == []


def test_bad_reference_and_unknown_hold(store: TrafficStore) -> None:
    with pytest.raises(ValidationFailed, match="reference"):
        place_hold(store, "", criteria(), "user:x", T0)
    with pytest.raises(ValidationFailed, match="reference"):
        place_hold(store, "x\ny", criteria(), "user:x", T0)
    with pytest.raises(ValidationFailed, match="not a hold id"):
        get_hold(store, "../../etc")
    with pytest.raises(NotFound):
        get_hold(store, "hold-0000000000000000")


def test_purge_respects_retention_per_kind_and_holds(store: TrafficStore) -> None:
    config = store.config
    config.retention_days["nat"] = 1
    config.retention_days["radius"] = 30
    save_config(store.root, config)
    store = TrafficStore(store.root)
    hold = place_hold(store, "ref-3", criteria(), "user:x", T0)
    # nothing is past retention yet
    assert purge(store, T0 + DAY).parts_deleted == 0
    report = purge(store, T0 + 5 * DAY)
    assert report.parts_deleted == 2  # both NAT days
    assert report.records_kept_for_holds == 1
    assert report.records_deleted == 2
    assert store.stats()["kinds"]["nat"]["rows"] == 1
    assert store.stats()["kinds"]["radius"]["rows"] == 2
    # the held session still answers from the store itself
    answer = lookup(store, "203.0.113.77", 51512, T0 + 30 * S)
    assert answer.best is not None and answer.best.subscriber == "acct-alice"
    assert lookup(store, "203.0.113.78", 51513, T0 + 30 * S).matches == ()
    # release, and the next purge takes it
    with pytest.raises(Conflict):
        release_hold(store, hold.hold_id, "user:x", T0 + 6 * DAY, "done")
        release_hold(store, hold.hold_id, "user:x", T0 + 6 * DAY, "again")
    assert get_hold(store, hold.hold_id).status == "released"
    assert not (store.root / "holds" / hold.hold_id / "records.parquet").exists()
    assert purge(store, T0 + 7 * DAY).records_deleted == 1
    assert "nat" not in store.stats()["kinds"]


def test_purge_dry_run_changes_nothing(store: TrafficStore) -> None:
    before = (store.root / "manifest.json").read_bytes()
    report = purge(store, T0 + 400 * DAY, dry_run=True)
    assert report.parts_deleted == 3 and report.records_deleted == 5
    assert (store.root / "manifest.json").read_bytes() == before


def test_purge_drops_archived_originals_no_longer_referenced(tmp_path: Path) -> None:
    from trailguard.traffic.model import ParseOptions

    store = open_store(tmp_path / "d")
    log = tmp_path / "asa.log"
    log.write_text(
        "Nov 20 2026 08:00:00 fw %ASA-6-305011: Built dynamic TCP translation from "
        "inside:100.64.0.7/4000 to outside:203.0.113.7/5000\n",
        encoding="utf-8",
    )
    report = store.ingest_file(log, provider="rio", options=ParseOptions(tz="UTC"))
    archived = store.root / store.manifest().sources[report.sha256].stored_as
    assert archived.exists()
    result = purge(store, T0 + 400 * DAY)
    assert result.sources_deleted == 1 and not archived.exists()


# --- property: no sequence of ingests, holds and purges loses a held record -----------------

IPS = ["203.0.113.1", "203.0.113.2", "2001:db8::1"]
step = st.one_of(
    st.tuples(st.just("ingest"), st.integers(0, 20), st.integers(1, 6), st.integers(0, 10**6)),
    st.tuples(st.just("hold"), st.integers(0, 20), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("purge"), st.integers(0, 40)),
    st.tuples(st.just("release"), st.integers(0, 5)),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step, min_size=1, max_size=12))
def test_no_sequence_loses_a_held_record(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int | str, ...]]
) -> None:
    store = open_store(tmp_path_factory.mktemp("prop"))
    config = store.config
    config.retention_days["nat"] = 2
    save_config(store.root, config)
    store = TrafficStore(store.root)
    now = T0
    held: dict[str, set[str]] = {}
    serial = 0
    for item in steps:
        kind = item[0]
        if kind == "ingest":
            _, day, count, salt = item
            serial += 1
            rows = [
                nat(
                    f"100.64.0.{i}",
                    1000 + i,
                    IPS[i % 3],
                    2000 + i,
                    T0 + int(day) * DAY + i * S,
                    T0 + int(day) * DAY + (i + 5) * S,
                    i + 1,
                )
                for i in range(int(count))
            ]
            store.ingest_table(
                table(rows), provider="rio", source_sha256=digest(f"{serial}-{salt}")
            )
        elif kind == "hold":
            _, day, ip, port = item
            c = HoldCriteria(
                ip=IPS[int(ip)],
                port=2000 + int(port) if port else None,
                start=T0 + int(day) * DAY,
                end=T0 + (int(day) + 1) * DAY,
                kinds=("nat",),
            )
            hold = place_hold(store, "prop", c, "user:p", now)
            held[hold.hold_id] = set(record_keys(hold_records(store, hold.hold_id)).to_pylist())
        elif kind == "purge":
            now = T0 + int(item[1]) * DAY
            purge(store, now)
        else:
            active = sorted(held)
            if active:
                victim = active[int(item[1]) % len(active)]
                release_hold(store, victim, "user:p", now)
                del held[victim]
        stored: set[str] = set()
        for part in store.parts(["nat"]):
            stored |= set(record_keys(store.read_part(part)).to_pylist())
        for hold_id, keys in held.items():
            assert keys <= stored, f"{hold_id} lost records after {kind}"
            assert set(record_keys(hold_records(store, hold_id)).to_pylist()) == keys
