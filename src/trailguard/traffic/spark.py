"""The Spark engine: the same lookups over the same Parquet files, for data beyond one machine.

``--engine spark`` (optional extra ``trailguard[spark]``). Spark supplies the candidate rows;
session grouping, ranking and the NAT -> assignment chain are the shared code in
``resolve.py``, so both engines give the same answers. The effective end of a record without an
end is computed with window functions per file and key, exactly as ``index.Segment`` does
(the end of a paired record starting within a second, else the next session's start, else
start + the kind's open-session horizon).

Pass ``spark://...`` or ``yarn`` in ``TRAILGUARD_SPARK_MASTER`` to use a cluster; the default
is ``local[*]``. The store's Parquet paths must then be readable by the executors (shared
file system or object store).
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.index import CANDIDATE_SCHEMA, PAIR_US, QueryArrays, empty_candidates
from trailguard.traffic.store import ASSIGNMENT, STORED_SCHEMA, TrafficStore

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
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        if not len(queries):
            return empty_candidates()
        lo, hi = int(queries.at_lo.min()), int(queries.at_hi.max())
        parts = [
            p
            for p in self.store.parts(kinds, provider)
            if p.min_start_us <= hi and p.max_reach_us(self.config) >= lo
        ]
        if not parts:
            return empty_candidates()
        paths = [str(self.store.part_path(p)) for p in parts]
        df = self.spark.read.parquet(*paths).withColumn("_file", F.input_file_name())
        assignment = [k.value for k in ASSIGNMENT]
        is_assignment = F.col("kind").isin(assignment)
        df = (
            df.withColumn(
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
        open_us = F.lit(0)
        for kind in sorted(kinds):
            open_us = F.when(F.col("kind") == kind, F.lit(self.config.open_us(kind))).otherwise(
                open_us
            )
        window = Window.partitionBy("_file", "_ip", "_port_key").orderBy("_start")
        paired = F.max(F.col("_end")).over(window.rangeBetween(-PAIR_US, PAIR_US))
        next_start = F.min(F.col("_start")).over(
            window.rangeBetween(PAIR_US + 1, Window.unboundedFollowing)
        )
        fallback = F.least(
            F.col("_start") + open_us,
            F.greatest(F.coalesce(next_start - 1, F.col("_start") + open_us), F.col("_start")),
        )
        df = df.withColumn(
            "end_eff",
            F.when(F.col("_end").isNotNull(), F.col("_end")).otherwise(
                F.coalesce(paired, fallback)
            ),
        )
        rows = list(
            zip(
                range(len(queries)),
                queries.ips.to_pylist(),
                queries.port_lo.tolist(),
                queries.port_hi.tolist(),
                queries.port.tolist(),
                queries.at_lo.tolist(),
                queries.at_hi.tolist(),
                strict=True,
            )
        )
        q = self.spark.createDataFrame(
            rows,
            "q long, q_ip string, q_port_lo long, q_port_hi long, q_port long, "
            "q_lo long, q_hi long",
        )
        port_block = F.col("kind") == "port_block"
        port_ok = F.when(
            port_block,
            (
                (F.col("q_port") < 0)
                | (
                    (F.col("_port_key") <= F.col("q_port") + 1)
                    & (F.col("public_port_end") >= F.col("q_port"))
                )
            ),
        ).otherwise(
            (F.col("_port_key") >= F.col("q_port_lo")) & (F.col("_port_key") < F.col("q_port_hi"))
        )
        joined = df.join(F.broadcast(q), df["_ip"] == q["q_ip"]).where(
            port_ok & (F.col("_start") <= F.col("q_hi")) & (F.col("end_eff") >= F.col("q_lo"))
        )
        columns = [*STORED_SCHEMA.names, "q", "end_eff"]
        result = joined.select(*columns)
        table = result.toArrow()
        if not table.num_rows:
            return empty_candidates()
        return table.select(columns).cast(CANDIDATE_SCHEMA)
