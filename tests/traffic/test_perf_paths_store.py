"""The ingest's compact path stores exactly what the plain path stores.

Batches are kept compact in memory (text with few values dictionary-encoded, all-null columns
as the null type, the file digest as a one-value dictionary); the parts written from them must
be the same records, with Parquet's own plain types, as parts written from plain tables.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _store_factory import T0, digest, nat, radius, synth_cgnat, table

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.layout import STORED_SCHEMA
from trailguard.traffic.model import RECORD_SCHEMA
from trailguard.traffic.parts import compact, concat_compact, conform, sort_for_store
from trailguard.traffic.store import open_store


def _records(store_root: Path) -> list[dict[str, object]]:
    store = (
        open_store(store_root.parent) if store_root.name == "traffic" else open_store(store_root)
    )
    rows: list[dict[str, object]] = []
    for part in sorted(store.parts(), key=lambda p: (p.kind, p.day)):
        rows.extend(store.read_part(part).to_pylist())
    for row in rows:
        row.pop("source_sha256")
    return rows


def test_compact_ingest_stores_the_same_parts_as_plain(tmp_path: Path) -> None:
    nat_table, rad, _ = synth_cgnat(3000, publics=6, subscribers=80, days=2, seed=2)
    mixed = pa.concat_tables([nat_table, rad])
    plain = open_store(tmp_path / "plain")
    plain.ingest_table(mixed, provider="rio", source_sha256=digest("m"))
    small = open_store(tmp_path / "compact")
    # batches of different shapes: the same column plain in one, encoded in another
    pieces = [compact(mixed.slice(0, 2500)), mixed.slice(2500, 700), compact(mixed.slice(3200))]
    assert {str(p.schema.field("public_ip").type) for p in pieces} != {"string"}
    small.ingest_table(concat_compact(pieces), provider="rio", source_sha256=digest("m"))
    assert _records(tmp_path / "plain") == _records(tmp_path / "compact")
    assert [(p.kind, p.day, p.rows) for p in plain.parts()] == [
        (p.kind, p.day, p.rows) for p in small.parts()
    ]
    # on disk: Parquet's plain types, whatever the form in memory; DuckDB reads them
    part = small.parts(["nat"])[0]
    schema = pq.read_schema(small.part_path(part))
    assert not any(pa.types.is_dictionary(f.type) for f in schema)
    assert schema.field("start").type == pa.timestamp("us", tz="UTC")
    assert schema.field("public_port").type == pa.int32()
    assert schema.field("subscriber").type == pa.string()
    assert not schema.field("kind").nullable and schema.field("subscriber").nullable
    path = small.part_path(part)
    sql = f"SELECT count(*), count(DISTINCT source_sha256) FROM read_parquet('{path}')"
    count = duckdb.connect().execute(sql).fetchone()
    assert count == (part.rows, 1)


def test_compact_keeps_values_and_drops_only_buffers() -> None:
    nat_table, _, _ = synth_cgnat(2000, publics=4, subscribers=50, days=1, seed=4)
    small = compact(nat_table)
    assert pa.types.is_dictionary(small.schema.field("public_ip").type)
    assert pa.types.is_null(small.schema.field("subscriber").type)
    assert small.nbytes < nat_table.nbytes
    for name in nat_table.column_names:
        assert small.column(name).to_pylist() == nat_table.column(name).to_pylist()
    # a column with many distinct values stays plain text
    assert small.schema.field("source_line").type == pa.int64()


def test_conform_on_compact_columns_still_refuses_bad_records() -> None:
    rows = [
        nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, None, i, "create")
        for i in range(1, 1200)
    ]
    good = compact(table(rows))
    conformed = conform(good, digest("x"))
    assert conformed.column("source_sha256").to_pylist() == [digest("x")] * len(rows)
    with pytest.raises(ValidationFailed, match="empty 'start'"):
        conform(
            good.set_column(good.schema.get_field_index("start"), "start", pa.nulls(len(rows))),
            digest("x"),
        )
    wrong = good.set_column(
        good.schema.get_field_index("inside_port"), "inside_port", pa.array(["x"] * len(rows))
    )
    with pytest.raises(ValidationFailed, match="record schema"):
        conform(wrong, digest("x"))
    with pytest.raises(ValidationFailed, match="SHA-256"):
        conform(good, "not-a-digest")


def test_sort_for_store_is_the_same_on_compact_and_plain_tables() -> None:
    nat_table, rad, _ = synth_cgnat(1500, publics=5, subscribers=40, days=2, seed=9)
    rows = table(
        [
            radius("100.64.0.9", "acct-z", T0, T0 + timedelta(seconds=60), 1),
            nat("100.64.0.9", 1, "2001:db8::5", 2, T0, None, 2, "create"),
        ]
    )
    mixed = pa.concat_tables([nat_table, rad, rows])
    a, kind_a, day_a = sort_for_store(conform(mixed, digest("s")))
    b, kind_b, day_b = sort_for_store(conform(compact(mixed), digest("s")))
    assert (kind_a == kind_b).all() and (day_a == day_b).all()
    assert a.cast(STORED_SCHEMA).to_pylist() == b.cast(STORED_SCHEMA).to_pylist()
    assert set(RECORD_SCHEMA.names) <= set(b.column_names)


def test_one_read_hashes_and_archives_and_duplicates_are_answered_first(tmp_path: Path) -> None:
    """The original is hashed while it is compressed (no separate pass); a file already stored
    is answered as a duplicate even when this ingest's options would refuse it."""
    import hashlib

    from trailguard.traffic.model import ParseOptions
    from trailguard.traffic.synth import write_synthetic

    logs = write_synthetic("cisco-asa", tmp_path / "logs", 4000, seed=3)
    asa = logs.files["cisco-asa"]
    store = open_store(tmp_path / "data")
    first = store.ingest_file(asa, provider="rio", options=ParseOptions(tz="UTC"))
    assert first.refused is None and first.records_stored == 4000
    digest_hex = hashlib.sha256(asa.read_bytes()).hexdigest()
    assert first.sha256 == digest_hex
    source = store.manifest().sources[digest_hex]
    assert source.stored_as == f"sources/{digest_hex}.zst"
    assert store.verify_source(digest_hex)
    assert store.read_source_line(digest_hex, 2) == asa.read_text().splitlines()[1]
    generation = store.manifest().generation
    again = store.ingest_file(asa, provider="rio", options=ParseOptions(tz="UTC"))
    no_zone = store.ingest_file(asa, provider="rio", options=ParseOptions())
    for report in (again, no_zone):
        assert report.duplicate and report.refused is None and report.records_stored == 0
        assert report.sha256 == digest_hex and report.format == "cisco-asa"
        assert "already ingested" in report.notes[0]
    assert store.manifest().generation == generation
    # a file that is refused and not a duplicate is still refused, with its digest
    other = tmp_path / "other.log"
    other.write_text(asa.read_text().replace("2026", "2027", 1))
    refused = store.ingest_file(other, provider="rio", options=ParseOptions())
    assert refused.refused is not None and "--tz" in refused.refused
    assert refused.sha256 == hashlib.sha256(other.read_bytes()).hexdigest()
    assert store.manifest().generation == generation
    assert not any((store.root / "staging").iterdir())


def test_part_reach_ends_with_paired_sessions(tmp_path: Path) -> None:
    """A create whose teardown is in the same part ends with it: the part's reach is the
    session's end, not the open-session horizon; an unpaired create still runs to the
    horizon; a manifest written before the pairing keeps the horizon bound."""
    from dataclasses import replace

    from trailguard.traffic.layout import PartInfo

    s = timedelta(seconds=1)
    store = open_store(tmp_path)
    paired = [
        nat("100.64.1.1", 1000, "203.0.113.5", 2000, T0, None, 1, "create"),
        nat("100.64.1.1", 1000, "203.0.113.5", 2000, T0, T0 + 60 * s, 2),
    ]
    store.ingest_table(table(paired), provider="rio", source_sha256=digest("p"))
    (part,) = store.parts(["nat"])
    assert part.open_rows == 1
    assert part.paired_reach_us == part.max_end_us and part.unpaired_max_start_us is None
    assert part.max_reach_us(store.config) == part.max_end_us  # not start + 24 h
    # an unpaired create in another file: its part reaches the horizon
    lone = [nat("100.64.1.2", 1001, "203.0.113.5", 2001, T0, None, 1, "create")]
    store.ingest_table(table(lone), provider="rio", source_sha256=digest("l"))
    other = next(p for p in store.parts(["nat"]) if p.part_id != part.part_id)
    horizon = store.config.open_us("nat")
    assert other.max_reach_us(store.config) == other.max_start_us + horizon
    # a lookup an hour later meets only the unpaired part
    engine = store.engine()
    at = part.max_end_us + 3_600_000_000
    assert [p.part_id for p in engine.parts_for(frozenset({"nat"}), at, at)] == [other.part_id]
    # parts listed by an older manifest (no pairing figures) keep the horizon bound
    old = PartInfo(**{**part.__dict__, "paired_reach_us": None, "unpaired_max_start_us": None})
    assert old.max_reach_us(store.config) == part.max_start_us + horizon
    assert replace(old, open_rows=0).max_reach_us(store.config) == part.max_end_us
