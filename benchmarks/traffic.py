"""Traffic store benchmark (issue 5): one synthetic CGNAT dataset, measured side by side.

    uv run python benchmarks/traffic.py --records 5000000 [--days 7] [--out results.json]
    uv run python benchmarks/traffic.py --records 5000000 --ingest-only   # parse + ingest only

Builds a Cisco ASA NAT log (305011/305012, two lines per session) plus a FreeRADIUS detail
file and an answer key with ``trailguard.traffic.synth.write_synthetic``, then measures:

* parsing alone (``parse_only``): the compiled ASA scanner (lines read, split, checked, fields
  into columns), the whole parser module (records with UTC stamps), and DuckDB ``read_csv`` +
  ``string_split`` into the same columns on the same file (the issue's anchor), lines/s and
  CPU per line; the latency of parsing 10 lines (the live watch) and of the first call
  (loading the compiled code);
* ``zgrep -F`` over the gzipped raw log (the status quo);
* DuckDB over the parsed records in log (time) order in one Parquet file;
* DuckDB over the store's own sorted Parquet partitions (with page index);
* trailguard's store in-process: ingest lines/s, bytes per stored record, first lookup after
  opening, single lookups cold (sparse index) and warm, batches of 10,000;
* chdb (ClickHouse MergeTree) when it is installed (skipped otherwise);
* the CLI end to end (``python -m trailguard traffic lookup --json``, a new process).

Every lookup answer of the store is checked against the answer key. Times are wall clock on
whatever else the machine is doing; the JSON written with ``--out`` keeps every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from trailguard.traffic.index import segment_stats
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers import get_parser
from trailguard.traffic.query import lookup, lookup_many
from trailguard.traffic.store import TrafficStore, open_store
from trailguard.traffic.synth import write_synthetic
from trailguard.traffic.values import to_us

SQL = (
    'SELECT inside_ip, inside_port, start, "end", source_file, source_line FROM {src} '
    "WHERE public_ip = ? AND public_port = ? AND start <= ? "
    'AND coalesce("end", start) >= ? '
)


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "free": free,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in load),
    }


def key_queries(answer_key: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in answer_key.read_text().splitlines()]


def at_of(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def bench_zgrep(gz: Path, key: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    times = []
    for entry in key[:runs]:
        pattern = f"outside:{entry['public_ip']}/{entry['public_port']} "
        started = time.perf_counter()
        out = subprocess.run(["zgrep", "-F", "-e", pattern, str(gz)], capture_output=True)
        times.append(time.perf_counter() - started)
        assert out.returncode in (0, 1)
    return {
        "single_p50_ms": ms(pct(times, 50)),
        "single_p99_ms": ms(pct(times, 99)),
        "runs": len(times),
    }


DUCKDB_MEMORY = "4GB"  # the machine is shared: DuckDB would otherwise take 80 % of RAM


def duck(work_dir: Path | None) -> Any:
    """A DuckDB connection with a memory limit (sorts beyond it spill to ``work_dir``)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    if work_dir is not None:
        con.execute(f"SET temp_directory = '{work_dir / 'duckdb-tmp'}'")
    return con


def bench_duckdb(
    paths: list[str], key: list[dict[str, Any]], runs: int, batch: int, tolerance_us: int
) -> dict[str, Any]:
    import duckdb

    con = duck(work_dir=None)
    with contextlib.suppress(duckdb.Error):  # keep Parquet footers between queries
        con.execute("SET parquet_metadata_cache = true")
    listing = ", ".join(f"'{p}'" for p in paths)
    src = f"read_parquet([{listing}])"
    sql = SQL.format(src=src)
    times = []
    for entry in key[:runs]:
        at = at_of(entry)
        lo, hi = (
            at - timedelta(microseconds=tolerance_us),
            at + timedelta(microseconds=tolerance_us),
        )
        started = time.perf_counter()
        rows = con.execute(sql, [entry["public_ip"], entry["public_port"], hi, lo]).fetchall()
        times.append(time.perf_counter() - started)
        assert any(r[0] == entry["inside_ip"] for r in rows), (entry, rows)
    result: dict[str, Any] = {
        "single_p50_ms": ms(pct(times, 50)),
        "single_p99_ms": ms(pct(times, 99)),
        "runs": len(times),
    }
    if batch:
        sample = (key * (batch // len(key) + 1))[:batch]
        queries = pa.table(
            {
                "qi": pa.array(range(len(sample)), pa.int64()),
                "ip": pa.array([e["public_ip"] for e in sample]),
                "port": pa.array([e["public_port"] for e in sample], pa.int32()),
                "lo": pa.array([to_us(at_of(e)) - tolerance_us for e in sample], pa.int64()),
                "hi": pa.array([to_us(at_of(e)) + tolerance_us for e in sample], pa.int64()),
            }
        )
        con.register("queries", queries)
        started = time.perf_counter()
        found = con.execute(
            f"SELECT count(DISTINCT q.qi) FROM queries q JOIN {src} r "
            "ON r.public_ip = q.ip AND r.public_port = q.port "
            'AND epoch_us(r.start) <= q.hi AND epoch_us(coalesce(r."end", r.start)) >= q.lo'
        ).fetchone()
        elapsed = time.perf_counter() - started
        result["batch_lookups_per_s"] = round(len(sample) / elapsed)
        result["batch_found"] = found[0] if found else 0
    con.close()
    return result


def bench_chdb(table_path: str, key: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    try:
        import chdb  # noqa: F401
    except ImportError:
        return {"skipped": "chdb is not installed"}
    from chdb import session as chs

    sess = chs.Session()
    sess.query("CREATE DATABASE IF NOT EXISTS b")
    sess.query(
        "CREATE TABLE b.nat ENGINE = MergeTree ORDER BY (public_ip, public_port, start) "
        f"AS SELECT public_ip, public_port, start, `end`, inside_ip, inside_port "
        f"FROM file('{table_path}', Parquet)"
    )
    times = []
    for entry in key[:runs]:
        at = at_of(entry).strftime("%Y-%m-%d %H:%M:%S")
        started = time.perf_counter()
        sess.query(
            f"SELECT inside_ip FROM b.nat WHERE public_ip = '{entry['public_ip']}' "
            f"AND public_port = {entry['public_port']} AND start <= '{at}' "
            f"AND coalesce(`end`, start) >= '{at}'"
        )
        times.append(time.perf_counter() - started)
    return {"single_p50_ms": ms(pct(times, 50)), "single_p99_ms": ms(pct(times, 99))}


DUCKDB_SPLIT_SQL = """
CREATE OR REPLACE TEMP TABLE asa_columns AS
SELECT s[1] AS mon, s[2] AS day, s[3] AS year, s[4] AS clock, s[5] AS host, s[6] AS msg,
       s[9] AS proto,
       split_part(split_part(s[12], ':', 2), '/', 1) AS inside_ip,
       split_part(s[12], '/', 2) AS inside_port,
       split_part(split_part(s[14], ':', 2), '/', 1) AS public_ip,
       split_part(s[14], '/', 2) AS public_port,
       s[16] AS duration
FROM (
    SELECT string_split(line, ' ') AS s
    FROM read_csv(?, columns = {'line': 'VARCHAR'}, delim = '\\x01', header = false,
                  quote = '', escape = '', auto_detect = false)
)
"""


def bench_parse_only(asa: Path, lines: int, work: Path) -> dict[str, Any]:
    """ASA text -> columns in this process, side by side with DuckDB ``read_csv`` +
    ``string_split`` on the same file (the issue's anchor; DuckDB splits fields, it checks
    and converts nothing), and the latency of parsing a handful of lines (the live watch)."""
    from trailguard.traffic.parsers import _asa_fast
    from trailguard.traffic.parsers import _common as common

    out: dict[str, Any] = {"loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    parser = get_parser("cisco-asa")
    ten = work / "ten-lines.log"
    with asa.open("rb") as handle:
        ten.write_bytes(b"".join(handle.readline() for _ in range(10)))
    # the first call loads the compiled scanner (numba's on-disk cache, or compiles it)
    started = time.perf_counter()
    list(parser.parse(ten, ParseOptions(tz="UTC")))
    out["first_call_ms"] = ms(time.perf_counter() - started)
    tens = []
    for _ in range(50):
        started = time.perf_counter()
        list(parser.parse(ten, ParseOptions(tz="Europe/Amsterdam")))
        tens.append(time.perf_counter() - started)
    out["ten_lines_parse_p50_ms"] = ms(pct(tens, 50))
    out["ten_lines_parse_p99_ms"] = ms(pct(tens, 99))
    # the compiled scanner: lines read, split and checked, fields into columns (naive stamps,
    # ports, addresses and hosts as Arrow strings); batches dropped as they come
    started = time.perf_counter()
    cpu = time.process_time()
    taken = 0
    opts = ParseOptions(tz="UTC")
    for chunk in common.iter_line_chunks(asa, opts):
        fast, _ = _asa_fast.parse_fast(chunk.data, chunk.starts, chunk.ends, chunk.usable)
        taken += len(fast.rows)
    wall = time.perf_counter() - started
    out["scanner_lines_per_s"] = round(lines / wall)
    out["scanner_cpu_us_per_line"] = round((time.process_time() - cpu) / lines * 1e6, 3)
    out["scanner_lines_taken"] = taken
    gc.collect()
    # the whole parser module: records (UTC stamps, RECORD_SCHEMA), bad lines counted
    started = time.perf_counter()
    cpu = time.process_time()
    for _batch in parser.parse(asa, opts):
        pass
    wall = time.perf_counter() - started
    out["parser_lines_per_s"] = round(lines / wall)
    out["parser_cpu_us_per_line"] = round((time.process_time() - cpu) / lines * 1e6, 3)
    gc.collect()
    # DuckDB: read_csv of whole lines, string_split into the same columns, kept in a table
    con = duck(work)
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    con.execute(DUCKDB_SPLIT_SQL, [str(asa)])  # once to warm the page cache and the plan
    started = time.perf_counter()
    cpu = time.process_time()
    con.execute(DUCKDB_SPLIT_SQL, [str(asa)])
    wall = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM asa_columns").fetchone()
    assert rows is not None and rows[0] == lines
    out["duckdb_read_csv_split_lines_per_s"] = round(lines / wall)
    out["duckdb_read_csv_split_cpu_us_per_line"] = round(
        (time.process_time() - cpu) / lines * 1e6, 3
    )
    con.close()
    out["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return out


def check_batch(batch: Any, sample: list[dict[str, Any]]) -> int:
    best = batch.best_table()
    got = zip(
        best.column("inside_ip").to_pylist(), best.column("subscriber").to_pylist(), strict=True
    )
    return sum(
        1
        for (ip, sub), e in zip(got, sample, strict=True)
        if ip == e["inside_ip"] and sub == e["subscriber"]
    )


def bench_store(
    root: Path,
    key: list[dict[str, Any]],
    tolerance: timedelta,
    single_runs: int,
    batch: int,
    batches: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    # first lookup after opening the store (fresh store object; OS page cache warm)
    firsts = []
    for entry in key[:5]:
        gc.collect()
        started = time.perf_counter()
        store = TrafficStore(root)
        answer = lookup(store, entry["public_ip"], entry["public_port"], at_of(entry), tolerance)
        firsts.append(time.perf_counter() - started)
        assert answer.best is not None and answer.best.subscriber == entry["subscriber"]
    result["first_lookup_after_open_ms"] = {
        "median": ms(statistics.median(firsts)),
        "max": ms(max(firsts)),
    }
    # cold singles: the sparse index reads a few row groups per lookup
    store = TrafficStore(root)
    cold = []
    for entry in key[:single_runs]:
        started = time.perf_counter()
        answer = lookup(store, entry["public_ip"], entry["public_port"], at_of(entry), tolerance)
        cold.append(time.perf_counter() - started)
        assert answer.best is not None and answer.best.subscriber == entry["subscriber"]
    result["single_cold_p50_ms"] = ms(pct(cold, 50))
    result["single_cold_p99_ms"] = ms(pct(cold, 99))
    # warm: whole parts in memory
    rss_before = rss_mb()
    started = time.perf_counter()
    rows = store.engine().warm()
    result["warm_up_s"] = round(time.perf_counter() - started, 2)
    result["warm_rows"] = rows
    result["warm_memory_mb"] = round(rss_mb() - rss_before)
    result["warm_bytes_per_record"] = round(
        segment_stats(store.engine())["warm_bytes"] / max(rows, 1), 1
    )
    warm = []
    warm_cpu = []
    gc.collect()
    for entry in key[:single_runs]:
        at = at_of(entry)
        started = time.perf_counter()
        cpu = time.thread_time()
        answer = lookup(store, entry["public_ip"], entry["public_port"], at, tolerance)
        warm_cpu.append(time.thread_time() - cpu)
        warm.append(time.perf_counter() - started)
        assert answer.best is not None and answer.best.subscriber == entry["subscriber"]
    result["single_warm_p50_ms"] = ms(pct(warm, 50))
    result["single_warm_p99_ms"] = ms(pct(warm, 99))
    result["single_warm_p999_ms"] = ms(pct(warm, 99.9))
    # the same lookups in CPU time of this thread: what the code costs, without the time the
    # scheduler of a shared machine gives to others
    result["single_warm_cpu_p50_ms"] = ms(pct(warm_cpu, 50))
    result["single_warm_cpu_p99_ms"] = ms(pct(warm_cpu, 99))
    # batches of `batch` lookups, vectorised
    rate = []
    rate_cpu = []
    correct = total = 0
    rng = np.random.default_rng(1)
    for _ in range(batches):
        idx = rng.integers(0, len(key), batch)
        sample = [key[i] for i in idx]
        ips = [e["public_ip"] for e in sample]
        ports = [e["public_port"] for e in sample]
        ats = np.array([to_us(at_of(e)) for e in sample], dtype=np.int64)
        started = time.perf_counter()
        # the process's CPU time: a big batch searches its parts in two threads
        cpu = time.process_time()
        answers = lookup_many(store, ips, ports, ats, tolerance)
        answers.best_table()
        rate_cpu.append(batch / (time.process_time() - cpu))
        rate.append(batch / (time.perf_counter() - started))
        correct += check_batch(answers, sample)
        total += batch
    result["batch_size"] = batch
    result["batch_lookups_per_s"] = round(statistics.median(rate))
    result["batch_lookups_per_s_all"] = [round(r) for r in rate]
    result["batch_lookups_per_cpu_s"] = round(statistics.median(rate_cpu))
    result["batch_correct"] = f"{correct}/{total}"
    return result


def bench_cli(data_dir: Path, entry: dict[str, Any], runs: int = 3) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "trailguard",
                "traffic",
                "lookup",
                "--data-dir",
                str(data_dir),
                "--ip",
                entry["public_ip"],
                "--port",
                str(entry["public_port"]),
                "--at",
                entry["at"],
                "--json",
            ],
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - started)
        assert out.returncode == 0, out.stderr
        body = json.loads(out.stdout)
        assert body["matches"][0]["subscriber"] == entry["subscriber"]
    return {"end_to_end_median_ms": ms(statistics.median(times)), "runs": runs}


def finish(results: dict[str, Any], out: Path | None) -> None:
    results["machine"]["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps(results, indent=1))
    if out:
        out.write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        type=int,
        default=50_000_000,
        help="NAT log lines (= stored session records), default 50,000,000",
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--lookups", type=int, default=20_000, help="answer key size")
    parser.add_argument("--work", type=Path, default=None, help="work dir (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--out", type=Path, default=None, help="write results JSON here")
    parser.add_argument("--zgrep-runs", type=int, default=3)
    parser.add_argument("--duckdb-runs", type=int, default=20)
    parser.add_argument("--single-runs", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=9)
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="stop after the parse and ingest figures (no lookups, no DuckDB/zgrep lookups)",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tg-traffic-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    tolerance = timedelta(seconds=2)
    tol_us = 2_000_000
    results: dict[str, Any] = {
        "records": args.records,
        "days": args.days,
        "machine": machine(),
        "started": datetime.now().isoformat(),
    }
    try:
        print(
            f"building {args.records:,} ASA lines over {args.days} days in {work} ...", flush=True
        )
        started = time.perf_counter()
        synth = write_synthetic(
            "cisco-asa",
            work / "logs",
            args.records,
            args.seed,
            days=args.days,
            lookups=args.lookups,
        )
        results["synth_s"] = round(time.perf_counter() - started, 1)
        results["dataset"] = {
            "sessions": synth.sessions,
            "subscribers": synth.subscribers,
            "public_pool": "203.0.113.0/24",
            "inside": "100.64.0.0/10",
        }
        asa = synth.files["cisco-asa"]
        radius = synth.files["freeradius-detail"]
        key = key_queries(synth.answer_key)
        raw_bytes = asa.stat().st_size
        results["raw"] = {"bytes_per_record": round(raw_bytes / args.records, 2)}
        gz = work / "asa.log.gz"
        if not args.ingest_only:
            with gz.open("wb") as handle:
                subprocess.run(["gzip", "-6", "-c", str(asa)], stdout=handle, check=True)
            results["raw"]["gzip_bytes_per_record"] = round(gz.stat().st_size / args.records, 2)
            print("zgrep ...", flush=True)
            results["zgrep"] = bench_zgrep(gz, key, args.zgrep_runs)
            print(f"  {results['zgrep']}", flush=True)

        print("parse only ...", flush=True)
        results["parse_only"] = bench_parse_only(asa, args.records, work)
        print(f"  {results['parse_only']}", flush=True)
        # parse only (the parser's share of ingest); batches are dropped as they come
        started = time.perf_counter()
        cpu = time.process_time()
        parsed = 0
        for b in get_parser("cisco-asa").parse(asa, ParseOptions(tz="UTC")):
            parsed += b.table.num_rows
        parse_s = time.perf_counter() - started
        results["parse_lines_per_s"] = round(args.records / parse_s)
        results["parse_cpu_s"] = round(time.process_time() - cpu, 1)
        assert parsed == args.records
        gc.collect()

        print("ingest ...", flush=True)
        data_dir = work / "data"
        store = open_store(data_dir)
        rss_before_ingest = rss_mb()
        started = time.perf_counter()
        cpu = time.process_time()
        report = store.ingest_file(asa, provider="rio-litoral", options=ParseOptions(tz="UTC"))
        ingest_s = time.perf_counter() - started
        ingest_cpu_s = time.process_time() - cpu
        assert report.refused is None and report.bad_line_count == 0
        store.ingest_file(radius, provider="rio-litoral", options=ParseOptions(tz="UTC"))
        nat_parts = store.parts(["nat"])
        nat_rows = sum(p.rows for p in nat_parts)
        nat_bytes = sum(p.bytes for p in nat_parts)
        index_bytes = sum(
            (store.part_path(p).with_name(store.part_path(p).name.replace(".parquet", ".idx.json")))
            .stat()
            .st_size
            for p in nat_parts
        )
        source = store.manifest().sources[report.sha256]
        results["store"] = {
            "ingest_lines_per_s": round(args.records / ingest_s),
            "ingest_s": round(ingest_s, 2),
            "ingest_cpu_s": round(ingest_cpu_s, 1),
            "peak_rss_mb_after_ingest": round(peak_rss_mb()),
            "rss_mb_before_ingest": round(rss_before_ingest),
            "nat_records": nat_rows,
            "bytes_per_record_parquet": round(nat_bytes / nat_rows, 2),
            "bytes_per_record_with_index": round((nat_bytes + index_bytes) / nat_rows, 2),
            "bytes_per_session": round((nat_bytes + index_bytes) / synth.sessions, 2),
            "archived_original_bytes_per_record": round(
                (store.root / source.stored_as).stat().st_size / nat_rows, 2
            ),
        }
        print(f"  {results['store']}", flush=True)
        del store
        gc.collect()
        if args.ingest_only:
            finish(results, args.out)
            return

        # the same records in log order (by line number) in one Parquet file, written by
        # DuckDB out of core (no 50 M-row table in this process)

        unsorted_path = work / "unsorted.parquet"
        listing = ", ".join(
            f"'{TrafficStore(data_dir / 'traffic').part_path(p)}'" for p in nat_parts
        )
        duck(work).execute(
            f"COPY (SELECT * EXCLUDE (source_sha256) FROM read_parquet([{listing}]) "
            f"ORDER BY source_line) TO '{unsorted_path}' (FORMAT parquet, COMPRESSION zstd)"
        )
        results["duckdb_unsorted_bytes_per_record"] = round(
            unsorted_path.stat().st_size / nat_rows, 2
        )
        print("duckdb unsorted ...", flush=True)
        results["duckdb_unsorted"] = bench_duckdb(
            [str(unsorted_path)], key, max(3, args.duckdb_runs // 4), 0, tol_us
        )
        print(f"  {results['duckdb_unsorted']}", flush=True)
        print("duckdb sorted (one file written by DuckDB) ...", flush=True)
        part_paths = [str(TrafficStore(data_dir / "traffic").part_path(p)) for p in nat_parts]
        sorted_path = work / "sorted.parquet"
        listing = ", ".join(f"'{p}'" for p in part_paths)
        duck(work).execute(
            f"COPY (SELECT * FROM read_parquet([{listing}]) "
            "ORDER BY public_ip, public_port, start) "
            f"TO '{sorted_path}' (FORMAT parquet, COMPRESSION zstd)"
        )
        results["duckdb_sorted_bytes_per_record"] = round(sorted_path.stat().st_size / nat_rows, 2)
        results["duckdb_sorted"] = bench_duckdb(
            [str(sorted_path)], key, args.duckdb_runs, 10_000, tol_us
        )
        print(f"  {results['duckdb_sorted']}", flush=True)
        print("duckdb over the store's partitions ...", flush=True)
        results["duckdb_store_parts"] = bench_duckdb(
            [str(TrafficStore(data_dir / "traffic").part_path(p)) for p in nat_parts],
            key,
            args.duckdb_runs,
            10_000,
            tol_us,
        )
        print(f"  {results['duckdb_store_parts']}", flush=True)
        results["chdb"] = bench_chdb(str(unsorted_path), key, args.duckdb_runs)

        print("trailguard store ...", flush=True)
        results["trailguard"] = bench_store(
            data_dir / "traffic", key, tolerance, args.single_runs, 10_000, args.batches
        )
        print(f"  {results['trailguard']}", flush=True)
        results["cli"] = bench_cli(data_dir, key[0])
        print(f"  cli {results['cli']}", flush=True)

        tg, ds, zg = results["trailguard"], results["duckdb_sorted"], results["zgrep"]
        results["ratios"] = {
            "zgrep_p50_over_trailguard_warm_p50": (
                round(zg["single_p50_ms"] / tg["single_warm_p50_ms"]) if zg["runs"] else None
            ),
            "duckdb_sorted_p50_over_trailguard_warm_p50": round(
                ds["single_p50_ms"] / tg["single_warm_p50_ms"], 1
            ),
            "duckdb_unsorted_p50_over_trailguard_warm_p50": round(
                results["duckdb_unsorted"]["single_p50_ms"] / tg["single_warm_p50_ms"], 1
            ),
            "trailguard_batch_over_duckdb_sorted_batch": round(
                tg["batch_lookups_per_s"] / ds["batch_lookups_per_s"], 1
            ),
        }
        finish(results, args.out)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
