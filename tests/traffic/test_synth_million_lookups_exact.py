"""Done-when check of issue 5: ``traffic synth`` + ``traffic ingest`` + the answer key give
100% correct lookups for one million records (slow; run with the default suite in CI)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from trailguard.traffic.model import ParseOptions
from trailguard.traffic.query import lookup, lookup_many
from trailguard.traffic.store import open_store
from trailguard.traffic.values import to_us

synth = pytest.importorskip("trailguard.traffic.synth")


def _check(tmp_path: Path, records: int, lookups: int, seed: int) -> None:
    result = synth.write_synthetic(
        "cisco-asa", tmp_path / "logs", records, seed, days=2, lookups=lookups
    )
    store = open_store(tmp_path / "data")
    for fmt, path in result.files.items():
        report = store.ingest_file(
            path, provider="rio-litoral", format_name=fmt, options=ParseOptions(tz=result.tz)
        )
        assert report.refused is None and report.bad_line_count == 0, report.refused
    assert store.stats()["kinds"]["nat"]["rows"] == records
    key = [json.loads(line) for line in result.answer_key.read_text().splitlines()]
    assert len(key) == lookups
    ats = np.array([to_us(datetime.fromisoformat(k["at"])) for k in key], dtype=np.int64)
    batch = lookup_many(
        store,
        [k["public_ip"] for k in key],
        [k["public_port"] for k in key],
        ats,
        timedelta(seconds=2),
    )
    best = batch.best_table()
    got = list(
        zip(
            best.column("inside_ip").to_pylist(),
            best.column("inside_port").to_pylist(),
            best.column("subscriber").to_pylist(),
            strict=True,
        )
    )
    want = [(k["inside_ip"], k["inside_port"], k["subscriber"]) for k in key]
    wrong = [(k, g) for k, g, w in zip(key, got, want, strict=True) if g != w]
    assert not wrong, f"{len(wrong)} of {len(key)} lookups wrong, first: {wrong[:3]}"
    assert max(best.column("candidates").to_pylist()) == 1  # the key is unambiguous
    # and one by one through the public single-lookup API, on a sample
    for k in key[:: max(1, lookups // 200)]:
        answer = lookup(
            store,
            k["public_ip"],
            k["public_port"],
            datetime.fromisoformat(k["at"]),
            timedelta(seconds=2),
        )
        assert answer.best is not None and answer.best.subscriber == k["subscriber"]
        assert {r.source_file for r in answer.best.records} >= {"asa.log"}


def test_small_synthetic_run_is_fully_correct(tmp_path: Path) -> None:
    _check(tmp_path, 20_000, 2_000, seed=5)


@pytest.mark.slow
def test_one_million_records_fully_correct(tmp_path: Path) -> None:
    _check(tmp_path, 1_000_000, 20_000, seed=42)
