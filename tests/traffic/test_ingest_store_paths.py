"""The ingest's cheaper building blocks give exactly what the plain ones give: typed null
columns over lazily zeroed buffers, one-chunk columns without a copy, and a part written from
them reads back the same as one written from ``pa.nulls``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trailguard.traffic import store as S

TYPES = [pa.string(), pa.int32(), pa.int64(), pa.timestamp("us", tz="UTC")]


@pytest.mark.parametrize("type_", TYPES, ids=str)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 8193])
def test_typed_nulls_equal_pa_nulls(type_: pa.DataType, n: int) -> None:
    arr = S.typed_nulls(n, type_)
    arr.validate(full=True)
    assert arr.type == type_ and arr.null_count == n and len(arr) == n
    assert arr.equals(pa.nulls(n, type_))
    assert arr.to_pylist() == [None] * n


def test_one_chunk_column_is_not_copied() -> None:
    values = pa.array(np.arange(100, dtype=np.int64))
    sliced = pa.table({"x": values}).slice(10, 50).column("x")
    arr = S._array(sliced)
    assert arr.to_pylist() == list(range(10, 60))
    assert arr.buffers()[1].address == values.buffers()[1].address  # the same memory
    two = pa.chunked_array([values.slice(0, 3), values.slice(3, 2)])
    assert S._array(two).to_pylist() == [0, 1, 2, 3, 4]


def test_part_with_null_columns_reads_back_the_same(tmp_path: Path) -> None:
    n = 20_000
    table = pa.table(
        {
            "a": pa.array(np.arange(n, dtype=np.int64)),
            "s": S.typed_nulls(n, pa.string()),
            "i": S.typed_nulls(n, pa.int32()),
            "t": S.typed_nulls(n, pa.timestamp("us", tz="UTC")),
        }
    )
    reference = pa.table(
        {
            "a": table.column("a"),
            "s": pa.nulls(n, pa.string()),
            "i": pa.nulls(n, pa.int32()),
            "t": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "fast.parquet", row_group_size=S.ROW_GROUP_ROWS)
    pq.write_table(reference, tmp_path / "plain.parquet", row_group_size=S.ROW_GROUP_ROWS)
    assert pq.read_table(tmp_path / "fast.parquet").equals(reference)
    assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()
