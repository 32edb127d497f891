"""The store: atomic publish, sorted partitions, sources, bad input leaving it unchanged."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _store_factory import T0, digest, nat, radius, synth_cgnat, table

from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.traffic.layout import STORED_SCHEMA, load_config
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.store import TrafficStore, open_store

ASA = "Nov 20 2026 {t} fw1 %ASA-6-{mid}: {verb} dynamic TCP translation from inside:{i}/{ip_} to outside:{p}/{pp}{dur}\n"  # noqa: E501


def asa_line(
    t: str, inside: str, inside_port: int, public: str, public_port: int, teardown: bool = False
) -> str:
    return ASA.format(
        t=t,
        mid="305012" if teardown else "305011",
        verb="Teardown" if teardown else "Built",
        i=inside,
        ip_=inside_port,
        p=public,
        pp=public_port,
        dur=" duration 0:00:30" if teardown else "",
    )


def write_asa(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def snapshot(store: TrafficStore) -> tuple[bytes, list[str]]:
    manifest = (
        (store.root / "manifest.json").read_bytes()
        if (store.root / "manifest.json").exists()
        else b""
    )
    files = sorted(
        str(p.relative_to(store.root))
        for p in store.root.rglob("*")
        if p.is_file() and p.name != ".lock"
    )
    return manifest, files


def test_ingest_table_partitions_by_kind_and_day_and_sorts(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.root == tmp_path / "traffic"
    nat_table, rad, _ = synth_cgnat(3000, days=2)
    infos = store.ingest_table(nat_table, provider="rio-litoral", source_sha256=digest("a"))
    store.ingest_table(rad, provider="rio-litoral", source_sha256=digest("b"))
    days = sorted({i.day for i in infos})
    assert days == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert sum(i.rows for i in infos) == nat_table.num_rows
    for info in infos:
        path = store.root / info.path
        assert f"provider=rio-litoral/kind=nat/day={info.day}" in info.path
        data = pq.read_table(path)
        assert data.schema.names == STORED_SCHEMA.names
        keys = list(
            zip(
                data.column("public_ip").to_pylist(),
                data.column("public_port").to_pylist(),
                data.column("start").to_pylist(),
                strict=True,
            )
        )
        assert keys == sorted(keys)
        assert {d.date().isoformat() for d in data.column("start").to_pylist()} == {info.day}
    manifest = json.loads((store.root / "manifest.json").read_bytes())
    assert manifest["generation"] == 2
    assert {p["kind"] for p in manifest["parts"]} == {"nat", "radius"}


def test_store_reopens_with_same_content_and_duckdb_sees_only_published(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    nat_table, _, _ = synth_cgnat(500, days=1)
    store.ingest_table(nat_table, provider="rio", source_sha256=digest("x"))
    # a stray file (as a crash would leave) is not part of the store and is swept on open
    stray = store.root / "parts/provider=rio/kind=nat/day=2026-11-20/part-stray.parquet"
    pq.write_table(nat_table, stray)
    again = TrafficStore(store.root)
    assert not stray.exists()
    count = again.duckdb().execute("select count(*) from records").fetchone()
    assert count == (nat_table.num_rows,)
    assert again.stats()["records"] == nat_table.num_rows


def test_record_schema_is_enforced(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    bad = table([nat("100.64.0.1", 1, "203.0.113.1", 2, T0, None, 1)]).drop_columns(["kind"])
    with pytest.raises(ValidationFailed, match="lack columns"):
        store.ingest_table(bad, provider="rio", source_sha256=digest("y"))
    good = table([nat("100.64.0.1", 1, "203.0.113.1", 2, T0, None, 1)])
    with pytest.raises(ValidationFailed, match="SHA-256"):
        store.ingest_table(good, provider="rio", source_sha256="not-a-digest")
    with pytest.raises(ValidationFailed, match="provider id"):
        store.ingest_table(good, provider="Bad Provider!", source_sha256=digest("y"))
    unknown = good.set_column(0, "kind", pa.array(["telepathy"]))
    with pytest.raises(ValidationFailed, match="telepathy"):
        store.ingest_table(unknown, provider="rio", source_sha256=digest("y"))
    # a time no date can name (before year 1), which no parser check caught: the whole ingest
    # is refused with the line that holds it, nothing written
    rows = [nat("100.64.0.1", 1, "203.0.113.1", 2, T0, None, line) for line in (1, 2)]
    ancient = table(rows)
    starts = pa.array([ancient.column("start")[0].value, -70_000_000_000_000_000], pa.int64())
    ancient = ancient.set_column(
        ancient.schema.get_field_index("start"), "start", starts.cast(pa.timestamp("us", tz="UTC"))
    )
    with pytest.raises(ValidationFailed, match=r"test\.log line 2: start lies outside the years"):
        store.ingest_table(ancient, provider="rio", source_sha256=digest("y"))
    assert store.manifest().parts == []


def test_ingest_file_keeps_original_and_rereads_raw_line(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    lines = [
        asa_line("08:00:00", "100.64.0.7", 40000, "203.0.113.77", 51512),
        "Nov 20 2026 08:00:01 fw1 %ASA-6-302013: Built outbound TCP connection\n",
        asa_line("08:00:30", "100.64.0.7", 40000, "203.0.113.77", 51512, teardown=True),
    ]
    path = write_asa(tmp_path / "asa.log", lines)
    report = store.ingest_file(path, provider="rio", options=ParseOptions(tz="UTC"))
    assert report.refused is None
    assert (report.lines_read, report.records_stored, report.skipped_lines) == (3, 2, 1)
    source = store.manifest().sources[report.sha256]
    assert source.name == "asa.log" and (store.root / source.stored_as).exists()
    assert store.read_source_line(report.sha256, 3) == lines[2].rstrip("\n")
    assert store.verify_source(report.sha256)
    with pytest.raises(NotFound, match="no line 9"):
        store.read_source_line(report.sha256, 9)
    with pytest.raises(NotFound):
        store.read_source_line(digest("unknown"), 1)
    again = store.ingest_file(path, provider="rio", options=ParseOptions(tz="UTC"))
    assert again.duplicate and again.records_stored == 0
    assert store.stats()["records"] == 2


def test_gzip_original_is_kept_as_is(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    raw = asa_line("09:00:00", "100.64.0.8", 1000, "203.0.113.5", 2000)
    path = tmp_path / "asa.log.gz"
    path.write_bytes(gzip.compress(raw.encode()))
    report = store.ingest_file(
        path, provider="rio", format_name="cisco-asa", options=ParseOptions(tz="UTC")
    )
    assert report.records_stored == 1
    assert store.read_source_line(report.sha256, 1) == raw.rstrip("\n")
    assert store.verify_source(report.sha256)


def test_bad_lines_are_counted_with_numbers(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    lines = [
        asa_line("08:00:00", "100.64.0.7", 40000, "203.0.113.77", 51512),
        asa_line("08:00:01", "100.64.0.7", 40001, "203.0.113.77", 70000),  # port > 65535
        asa_line("08:00:02", "100.64.0.999", 40002, "203.0.113.77", 51514),  # bad address
        asa_line("08:00:03", "100.64.0.7", 40003, "203.0.113.77", 51515).replace(
            "Nov 20", "Feb 30"
        ),  # impossible date
        asa_line("08:00:04", "100.64.0.7", 40004, "2001:db8::77", 51516),
    ]
    path = write_asa(tmp_path / "asa.log", lines)
    report = store.ingest_file(path, provider="rio", options=ParseOptions(tz="UTC"))
    assert report.records_stored == 2
    assert [b.line_no for b in report.bad_lines] == [2, 3, 4]
    assert any("port" in b.reason for b in report.bad_lines)
    assert store.stats()["records"] == 2


@pytest.mark.parametrize(
    "case", ["wrong-format", "empty", "wrong-encoding", "cut-gzip", "missing-tz", "binary"]
)
def test_whole_file_refusals_leave_store_unchanged(tmp_path: Path, case: str) -> None:
    store = open_store(tmp_path / "data")
    good = write_asa(
        tmp_path / "good.log", [asa_line("08:00:00", "100.64.0.7", 40000, "203.0.113.77", 51512)]
    )
    store.ingest_file(good, provider="rio", options=ParseOptions(tz="UTC"))
    before = snapshot(store)
    options = ParseOptions(tz="UTC")
    path = tmp_path / "bad.log"
    if case == "wrong-format":
        path.write_text("just some text\nthat is no firewall log\n", encoding="utf-8")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "wrong-encoding":
        path.write_bytes(asa_line("08:00:00", "100.64.0.7", 4, "203.0.113.7", 5).encode("utf-16"))
    elif case == "cut-gzip":
        data = gzip.compress(
            "".join(
                asa_line("08:00:00", "100.64.0.7", 4 + i, "203.0.113.7", 5) for i in range(500)
            ).encode()
        )
        path = tmp_path / "bad.log.gz"
        path.write_bytes(data[: len(data) // 2])
    elif case == "missing-tz":
        path.write_text(asa_line("08:00:00", "100.64.0.7", 4, "203.0.113.7", 5), encoding="utf-8")
        options = ParseOptions()
    else:
        path.write_bytes(bytes(range(256)) * 4)
    report = store.ingest_file(path, provider="rio", format_name="cisco-asa", options=options)
    assert report.refused, case
    assert report.records_stored == 0
    assert snapshot(store) == before
    assert list((store.root / "staging").iterdir()) == []


def test_missing_file_and_bad_data_dir(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    with pytest.raises(ValidationFailed, match="not a readable file"):
        store.ingest_file(tmp_path / "nope.log", provider="rio")
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValidationFailed, match="not a directory"):
        open_store(afile)


def test_config_defaults_and_refusals(tmp_path: Path) -> None:
    root = tmp_path / "traffic"
    root.mkdir()
    assert load_config(root).retention_days["nat"] == 180
    (root / "config.toml").write_text("[retention_days]\nnat = 90\nflow = 30\n")
    config = load_config(root)
    assert config.retention_days["nat"] == 90 and config.retention_days["radius"] == 365
    (root / "config.toml").write_text("[retention_days]\nnat = -1\nmagic = 3\n")
    with pytest.raises(ValidationFailed) as info:
        load_config(root)
    assert any("-1" in p for p in info.value.problems)
    assert any("magic" in p for p in info.value.problems)
    (root / "config.toml").write_text("retention_days = [")
    with pytest.raises(ValidationFailed, match="not valid TOML"):
        load_config(root)


def test_assignment_kinds_sort_by_inside_ip(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    rows = [
        radius(f"100.64.0.{i}", f"acct-{i}", T0 + timedelta(minutes=i), None, i)
        for i in (9, 3, 7, 1)
    ]
    (info,) = store.ingest_table(table(rows), provider="rio", source_sha256=digest("r"))
    data = pq.read_table(store.root / info.path)
    ips = data.column("inside_ip").to_pylist()
    assert ips == sorted(ips)
    assert info.kind == "radius" and info.open_rows == 4
