"""The Spark engine (local mode) gives the same answers as the embedded engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _store_factory import T0, digest, nat, synth_cgnat, table

from trailguard.traffic.query import lookup, lookup_many
from trailguard.traffic.store import open_store

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


def test_spark_answers_like_embedded(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    nat_table, rad, key = synth_cgnat(1500, publics=10, subscribers=100, days=2, seed=9)
    store.ingest_table(nat_table, provider="rio", source_sha256=digest("n"))
    store.ingest_table(rad, provider="rio", source_sha256=digest("r"))
    # an open session with no teardown, a port reused right after a session, IPv6
    extra = [
        nat("100.64.1.1", 1, "2001:db8::9", 9, T0, None, 1, "create"),
        nat("100.64.1.2", 2, "2001:db8::9", 9, T0 + timedelta(seconds=100), None, 2, "create"),
    ]
    store.ingest_table(table(extra), provider="rio", source_sha256=digest("x"))
    picks = list(range(0, 1500, 250))
    queries = [
        (
            key["public_ip"][i],
            key["public_port"][i],
            datetime.fromtimestamp(key["at_us"][i] / 1e6, UTC),
        )
        for i in picks
    ]
    queries += [
        ("2001:db8::9", 9, T0 + timedelta(seconds=50)),
        ("2001:db8::9", 9, T0 + timedelta(seconds=200)),
        ("2001:db8::9", None, T0 + timedelta(seconds=99)),
        ("192.0.2.1", 80, T0),
    ]
    for ip, port, at in queries:
        embedded = lookup(store, ip, port, at, timedelta(seconds=3))
        spark = lookup(store, ip, port, at, timedelta(seconds=3), engine="spark")
        assert spark.to_json() == embedded.to_json(), (ip, port, at)
    import numpy as np

    ats = np.asarray(key["at_us"], dtype=np.int64)
    a = lookup_many(store, key["public_ip"], key["public_port"], ats)
    b = lookup_many(store, key["public_ip"], key["public_port"], ats, engine="spark")
    assert a.best_table().equals(b.best_table())
    assert a.best_table().column("subscriber").to_pylist() == key["subscriber"]
