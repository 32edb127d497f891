"""The Spark engine: the same lookups over the same Parquet files, for data beyond one machine.

``--engine spark`` (optional extra ``trailguard[spark]``). Spark supplies the candidate rows;
session grouping, ranking and the NAT -> assignment chain are the shared code in
``resolve.py``, so both engines give the same answers. Spark reads the parts, keeps the rows
of the queried keys (a broadcast semi-join) over the time their periods can span, and hands
them to the driver, which works out their periods over all parts at once with the store's
rule (``segments.effective_end``: a period ends at its closing record however many records lie
between, else just before the next period on the key, else at the open-session horizon) and
matches them to the queries.

Pass ``spark://...`` or ``yarn`` in ``TRAILGUARD_SPARK_MASTER`` to use a cluster; the default
is ``local[*]``. The store's Parquet paths must then be readable by the executors (shared
file system or object store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.index import CANDIDATE_SCHEMA, empty_candidates
from trailguard.traffic.layout import STORED_SCHEMA
from trailguard.traffic.segments import QueryArrays, effective_end
from trailguard.traffic.store import TrafficStore
from trailguard.traffic.values import ASSIGNMENT, PAIR_US, SEEN

_SESSION: Any = None


def spark_session() -> Any:
    """One local (or ``TRAILGUARD_SPARK_MASTER``) session per process, UTC, quiet."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ValidationFailed(
            "the Spark engine needs PySpark: install the extra with "
            "`pip install 'trailguard[spark]'` (or `uv sync --extra spark`) and Java 17+",
            ["engine"],
        ) from exc
    master = os.environ.get("TRAILGUARD_SPARK_MASTER", "local[*]")
    _SESSION = (
        SparkSession.builder.master(master)
        .appName("trailguard-traffic")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


class SparkEngine:
    name = "spark"

    def __init__(self, store: TrafficStore, session: Any = None) -> None:
        self.store = store
        self.config = store.config
        self.spark = session or spark_session()

    def candidates(
        self, kinds: frozenset[str], queries: QueryArrays, provider: str | None = None
    ) -> pa.Table:
        from pyspark.sql import functions as F

        if not len(queries):
            return empty_candidates()
        lo, hi = int(queries.at_lo.min()), int(queries.at_hi.max())
        horizon = max(self.config.open_us(k) for k in kinds)
        # rows of a period covering the window, and those that may end it (up to a horizon on)
        # or join it (an interim record up to a horizon back)
        lo_rows, hi_rows = lo - horizon - PAIR_US, hi + horizon
        parts = [
            p
            for p in self.store.parts(kinds, provider)
            if p.min_start_us <= hi_rows and p.max_reach_us(self.config) >= lo_rows
        ]
        if not parts:
            return empty_candidates()
        paths = [str(self.store.part_path(p)) for p in parts]
        order = {str(self.store.part_path(p).resolve()): i for i, p in enumerate(parts)}
        df = self.spark.read.parquet(*paths).withColumn("_file", F.input_file_name())
        assignment = [k.value for k in ASSIGNMENT]
        is_assignment = F.col("kind").isin(assignment)
        df = (
            df.where(F.col("kind").isin(sorted(kinds)))
            .withColumn(
                "_ip", F.when(is_assignment, F.col("inside_ip")).otherwise(F.col("public_ip"))
            )
            .withColumn(
                "_port_key",
                F.when(is_assignment, F.lit(0)).otherwise(
                    F.coalesce(F.col("public_port").cast("long") + 1, F.lit(0))
                ),
            )
            .withColumn("_start", F.unix_micros(F.col("start")))
            .withColumn("_end", F.unix_micros(F.col("end")))
        )
        ips = self.spark.createDataFrame(
            [(ip,) for ip in set(queries.ips.to_pylist())], "q_ip string"
        )
        df = df.join(F.broadcast(ips), df["_ip"] == ips["q_ip"], "left_semi").where(
            (F.col("_start") <= hi_rows) & (F.coalesce(F.col("_end"), F.col("_start")) >= lo_rows)
        )
        columns = [*STORED_SCHEMA.names, "_file"]
        rows = df.select(*columns).toArrow()
        if not rows.num_rows:
            return empty_candidates()
        return _match(rows, kinds, queries, self.config.open_us, order)


def _match(
    rows: pa.Table, kinds: frozenset[str], queries: QueryArrays, open_us: Any, order: dict
) -> pa.Table:
    """Periods of the rows (every part at once, per kind and key, ``segments.effective_end``)
    and the rows matching each query, as ``EmbeddedEngine.candidates`` gives them."""

    n = rows.num_rows
    kind = rows.column("kind").to_pylist()
    assignment = np.array([k in {a.value for a in ASSIGNMENT} for k in kind], dtype=bool)
    public_ip = rows.column("public_ip").to_pylist()
    inside_ip = rows.column("inside_ip").to_pylist()
    ip = [inside_ip[i] if assignment[i] else public_ip[i] for i in range(n)]
    port = rows.column("public_port").to_pylist()
    port_key = [0 if assignment[i] or port[i] is None else port[i] + 1 for i in range(n)]
    start = np.asarray(rows.column("start").cast(pa.int64()).to_numpy(zero_copy_only=False))
    end_col = rows.column("end").cast(pa.int64())
    has_end = np.asarray(pc.is_valid(end_col).to_numpy(zero_copy_only=False), dtype=bool)
    end = np.asarray(pc.fill_null(end_col, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    files = [
        order.get(str(Path(unquote(urlparse(f).path)).resolve()), 0)
        for f in rows.column("_file").to_pylist()
    ]
    line = rows.column("source_line").to_pylist()
    # the store's order: kind, key, start; ties as stored (part, then row)
    idx = sorted(
        range(n), key=lambda i: (kind[i], ip[i], port_key[i], int(start[i]), files[i], line[i])
    )
    groups: dict[tuple[str, str, int], int] = {}
    key = np.array([groups.setdefault((kind[i], ip[i], port_key[i]), len(groups)) for i in idx])
    subscriber = rows.column("subscriber").to_pylist()
    holder = [subscriber[i] if assignment[i] else inside_ip[i] for i in idx]
    holder_codes: dict[Any, int] = {}
    holder_arr = np.array([holder_codes.setdefault(h, len(holder_codes)) for h in holder])
    event = rows.column("event").to_pylist()
    interim = np.array([event[i] == SEEN for i in idx], dtype=bool)
    sel = np.array(idx, dtype=np.int64)
    eff = np.empty(n, dtype=np.int64)
    basis = np.empty(n, dtype=np.int8)
    # one kind at a time: each has its own horizon
    for k in sorted(set(kind)):
        mine = np.flatnonzero(np.array([kind[i] == k for i in idx], dtype=bool))
        e, b = effective_end(
            key[mine], start[sel][mine], end[sel][mine], has_end[sel][mine],
            holder_arr[mine], interim[mine], open_us(k),
        )  # fmt: skip
        eff[sel[mine]] = e
        basis[sel[mine]] = b
    q_rows: list[int] = []
    c_rows: list[int] = []
    by_ip: dict[str, list[int]] = {}
    for i in range(n):
        by_ip.setdefault(ip[i], []).append(i)
    port_end = rows.column("public_port_end").to_pylist()
    for q, q_ip in enumerate(queries.ips.to_pylist()):
        q_lo, q_hi = int(queries.at_lo[q]), int(queries.at_hi[q])
        p_lo, p_hi, q_port = int(queries.port_lo[q]), int(queries.port_hi[q]), int(queries.port[q])
        for i in by_ip.get(q_ip, []):
            if not (start[i] <= q_hi and eff[i] >= q_lo):
                continue
            if kind[i] == "port_block":
                if q_port >= 0 and not (
                    port_key[i] <= q_port + 1 and (port_end[i] or -1) >= q_port
                ):
                    continue
            elif not (p_lo <= port_key[i] < p_hi):
                continue
            q_rows.append(q)
            c_rows.append(i)
    if not c_rows:
        return empty_candidates()
    take = pa.array(c_rows, pa.int64())
    table = rows.select(STORED_SCHEMA.names).take(take)
    table = table.append_column("q", pa.array(q_rows, pa.int64()))
    table = table.append_column("end_eff", pa.array(eff[c_rows], pa.int64()))
    table = table.append_column("end_basis", pa.array(basis[c_rows], pa.int8()))
    # as the embedded engine gives them: by query within each part, rows in stored order
    rank = {i: r for r, i in enumerate(idx)}
    ordering = sorted(range(len(c_rows)), key=lambda j: (q_rows[j], rank[c_rows[j]]))
    return table.take(pa.array(ordering, pa.int64())).cast(CANDIDATE_SCHEMA)
