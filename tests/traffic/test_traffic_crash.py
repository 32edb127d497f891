"""SIGKILL during ingest, purge or hold leaves the store consistent and loses nothing held.

A child process runs the operation with ``TRAILGUARD_TRAFFIC_CRASH_AT`` naming a point inside
it; there it writes a marker file and sleeps, and the test kills it with SIGKILL. The store is
then reopened and checked: the manifest parses, every listed part exists with its SHA-256, no
unlisted part is left, the contents are the old state or the new one, and held records remain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _store_factory import T0, digest, nat, table

from trailguard.traffic.holds import (
    HoldCriteria,
    hold_records,
    list_holds,
    place_hold,
    record_keys,
)
from trailguard.traffic.layout import save_config, sha256_file
from trailguard.traffic.store import TrafficStore, open_store

HERE = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from pathlib import Path
    from _store_factory import T0, digest, synth_cgnat
    from trailguard.traffic.store import TrafficStore
    from trailguard.traffic.retention import purge
    from trailguard.traffic.holds import HoldCriteria, place_hold
    store = TrafficStore(Path(sys.argv[1]))
    op = sys.argv[2]
    if op == "ingest":
        nat, _, _ = synth_cgnat(2000, days=3, seed=11)
        store.ingest_table(nat, provider="rio", source_sha256=digest("second"))
    elif op == "purge":
        purge(store, T0 + timedelta(days=30))
    elif op == "hold":
        place_hold(store, "crash", HoldCriteria(ip="203.0.113.1", start=T0,
                   end=T0 + timedelta(days=3)), "user:x", T0)
""")


def run_until_killed(root: Path, op: str, point: str, tmp_path: Path) -> None:
    marker = tmp_path / f"marker-{op}-{point.replace(':', '_')}"
    env = dict(
        os.environ,
        TRAILGUARD_TRAFFIC_CRASH_AT=point,
        TRAILGUARD_TRAFFIC_CRASH_MARKER=str(marker),
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), op],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                _out, err = child.communicate()
                pytest.fail(f"child ended before {point}: {err.decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"child never reached {point}")
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL


def check_consistent(root: Path) -> TrafficStore:
    store = TrafficStore(root)  # recovery runs here
    manifest = store.manifest()
    listed = set()
    for part in manifest.parts:
        path = store.part_path(part)
        assert path.exists(), part.path
        assert sha256_file(path) == part.sha256
        listed.add(path)
        listed.add(path.with_name(path.name.replace(".parquet", ".idx.json")))
    on_disk = {p for p in (root / "parts").rglob("*") if p.is_file()}
    assert on_disk == listed
    assert list((root / "staging").iterdir()) == []
    assert not list((root / "holds").glob(".staging-*"))
    for source in manifest.sources.values():
        assert (root / source.stored_as).exists()
    return store


def seed_store(root: Path) -> tuple[TrafficStore, int]:
    import sys as _sys

    _sys.path.insert(0, str(HERE))
    from _store_factory import synth_cgnat

    store = open_store(root)
    nat_table, _, _ = synth_cgnat(1000, days=3, seed=5)
    store.ingest_table(nat_table, provider="rio", source_sha256=digest("first"))
    return store, nat_table.num_rows


@pytest.mark.parametrize("point", ["ingest:staged", "ingest:moved", "ingest:published"])
def test_sigkill_during_ingest(tmp_path: Path, point: str) -> None:
    store, rows = seed_store(tmp_path / "d")
    run_until_killed(store.root, "ingest", point, tmp_path)
    after = check_consistent(store.root)
    total = after.stats()["records"]
    if point == "ingest:published":
        assert total > rows  # the new manifest was in place before the kill
    else:
        assert total == rows  # old state, nothing half visible
    assert after.duckdb().execute("select count(*) from records").fetchone() == (total,)


@pytest.mark.parametrize("point", ["purge:staged", "purge:published"])
def test_sigkill_during_purge_keeps_held_records(tmp_path: Path, point: str) -> None:
    store, _rows = seed_store(tmp_path / "d")
    extra = [nat("100.64.9.9", 4242, "203.0.113.200", 4242, T0, T0, 1)]
    store.ingest_table(table(extra), provider="rio", source_sha256=digest("extra"))
    config = store.config
    config.retention_days["nat"] = 1
    save_config(store.root, config)
    store = TrafficStore(store.root)
    hold = place_hold(
        store,
        "keep",
        HoldCriteria(ip="203.0.113.200", start=T0, end=T0, kinds=("nat",)),
        "user:x",
        T0,
    )
    held = set(record_keys(hold_records(store, hold.hold_id)).to_pylist())
    assert len(held) == 1
    run_until_killed(store.root, "purge", point, tmp_path)
    after = check_consistent(store.root)
    stored = set()
    for part in after.parts(["nat"]):
        stored |= set(record_keys(after.read_part(part)).to_pylist())
    assert held <= stored
    assert set(record_keys(hold_records(after, hold.hold_id)).to_pylist()) == held
    if point == "purge:published":
        assert after.stats()["records"] == 1


def test_sigkill_while_sealing_a_hold_leaves_no_half_hold(tmp_path: Path) -> None:
    store, _ = seed_store(tmp_path / "d")
    run_until_killed(store.root, "hold", "hold:staged", tmp_path)
    after = check_consistent(store.root)
    assert list_holds(after) == []
