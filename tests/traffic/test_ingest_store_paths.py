"""The ingest's cheaper building blocks give exactly what the plain ones give: typed null
columns over lazily zeroed buffers, one-chunk columns without a copy, and a part written from
them reads back the same as one written from ``pa.nulls``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from trailguard.traffic import layout as L
from trailguard.traffic import parts as P
from trailguard.traffic import store as S
from trailguard.traffic import values as V
from trailguard.traffic.model import ParseOptions

TYPES = [pa.string(), pa.int32(), pa.int64(), pa.timestamp("us", tz="UTC")]


@pytest.mark.parametrize("type_", TYPES, ids=str)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 8193])
def test_typed_nulls_equal_pa_nulls(type_: pa.DataType, n: int) -> None:
    arr = P.typed_nulls(n, type_)
    arr.validate(full=True)
    assert arr.type == type_ and arr.null_count == n and len(arr) == n
    assert arr.equals(pa.nulls(n, type_))
    assert arr.to_pylist() == [None] * n


def test_one_chunk_column_is_not_copied() -> None:
    values = pa.array(np.arange(100, dtype=np.int64))
    sliced = pa.table({"x": values}).slice(10, 50).column("x")
    arr = P._array(sliced)
    assert arr.to_pylist() == list(range(10, 60))
    assert arr.buffers()[1].address == values.buffers()[1].address  # the same memory
    two = pa.chunked_array([values.slice(0, 3), values.slice(3, 2)])
    assert P._array(two).to_pylist() == [0, 1, 2, 3, 4]


def test_part_with_null_columns_reads_back_the_same(tmp_path: Path) -> None:
    n = 20_000
    table = pa.table(
        {
            "a": pa.array(np.arange(n, dtype=np.int64)),
            "s": P.typed_nulls(n, pa.string()),
            "i": P.typed_nulls(n, pa.int32()),
            "t": P.typed_nulls(n, pa.timestamp("us", tz="UTC")),
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
    pq.write_table(table, tmp_path / "fast.parquet", row_group_size=L.ROW_GROUP_ROWS)
    pq.write_table(reference, tmp_path / "plain.parquet", row_group_size=L.ROW_GROUP_ROWS)
    assert pq.read_table(tmp_path / "fast.parquet").equals(reference)
    assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()


def _sessions(rng: np.random.Generator, n: int) -> pa.Table:
    """Creates and teardowns (some without partner) over few addresses and ports."""
    ips = pa.array([f"203.0.113.{i}" for i in rng.integers(1, 5, n)])
    ports = rng.integers(1000, 1010, n)
    starts = np.sort(rng.integers(0, 60_000_000, n))
    has_end = rng.random(n) < 0.5
    ends = np.where(has_end, starts + rng.integers(0, 5_000_000, n), 0)
    return pa.table(
        {
            "public_ip": ips,
            "inside_ip": ips,
            "public_port": pa.array(ports, pa.int32()),
            "start": pa.array(starts, pa.int64()),
            "end": pa.array(ends, pa.int64(), mask=~has_end),
        }
    )


@pytest.mark.parametrize("kind", ["nat", "radius"])
@pytest.mark.parametrize("seed", range(5))
def test_reach_same_for_compact_and_plain_columns(kind: str, seed: int) -> None:
    """Paired-session reach from a dictionary column (as the ingest hands it over, before the
    written form) equals the reach from the plain text column, also when the dictionary
    repeats a value."""
    table = _sessions(np.random.default_rng(seed), 3000)
    starts = table.column("start").to_numpy()
    end_col = table.column("end").combine_chunks()
    plain = P._reach(kind, table, starts, end_col)
    ip_name = V.sort_ip_column(kind)
    encoded = pc.dictionary_encode(table.column(ip_name).combine_chunks())
    compact = table.set_column(table.schema.get_field_index(ip_name), ip_name, encoded)
    assert P._reach(kind, compact, starts, end_col) == plain


def test_reach_with_a_dictionary_that_repeats_a_value() -> None:
    """A create and its teardown whose address is the same text under two dictionary codes are
    still one session (the pair ends at the teardown's end, nothing is left open)."""
    starts = np.array([0, 500_000], dtype=np.int64)
    end_col = pa.array([0, 10_000_000], pa.int64(), mask=np.array([True, False]))
    ip = pa.DictionaryArray.from_arrays(
        pa.array([0, 1], pa.int32()), pa.array(["203.0.113.9", "203.0.113.9"])
    )
    table = pa.table({"public_ip": ip, "public_port": pa.array([7, 7], pa.int32())})
    assert P._reach("nat", table, starts, end_col) == (10_000_000, None)
    plain = table.set_column(0, "public_ip", ip.cast(pa.string()))
    assert P._reach("nat", plain, starts, end_col) == (10_000_000, None)


@pytest.mark.parametrize("seed", range(4))
def test_radix_order_is_lexsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 50_000
    key = rng.integers(0, [1 << 32, 70_000, 3][seed % 3], n, dtype=np.int64)
    start = np.cumsum(rng.integers(-5, 20, n))  # mostly rising, with ties and steps back
    start[rng.integers(0, n, 100)] = 0
    order, keys = P.radix_order(key, start)
    assert (order == np.lexsort((start, key))).all()
    assert (keys == key[order]).all()


def _records(rng: np.random.Generator, n: int, ips: int) -> pa.Table:
    """Record rows of several kinds and days, with ties on (address, port, start)."""
    kinds = rng.choice(["nat", "radius", "flow", "dhcp"], n)
    starts = rng.integers(0, 3 * V.US_PER_DAY, n) // 1_000_000 * 1_000_000
    starts[: n // 4] = starts[n // 4 : n // 2]  # repeated starts
    addr = [f"10.{i // 256}.{i % 256}.1" for i in rng.integers(0, ips, n)]
    table = pa.table(
        {
            "kind": pa.array(kinds),
            "start": pa.array(starts, pa.timestamp("us", tz="UTC")),
            "public_ip": pa.array(addr),
            "inside_ip": pa.array(addr[::-1]),
            "public_port": pa.array(rng.integers(0, 65536, n), pa.int32()),
            "row": pa.array(np.arange(n)),
        }
    )
    return table


@pytest.mark.parametrize("ips", [3, 300, 70_000])
def test_sort_for_store_order(ips: int) -> None:
    """The store's order (kind, day, key address, port, start; ties in input order), by either
    sorting path (small key spaces take the radix path, large ones lexsort), against a sort
    done with Python tuples."""
    rng = np.random.default_rng(ips)
    table = _records(rng, 20_000, ips)
    ordered, kind_code, day = P.sort_for_store(table)
    rows = table.to_pylist()

    def key(r: dict) -> tuple:
        assignment = r["kind"] in ("dhcp", "radius")
        ip = r["inside_ip"] if assignment else r["public_ip"]
        port = 0 if assignment else r["public_port"] + 1
        start = int(r["start"].timestamp() * 1_000_000)
        return (V.KIND_CODES[r["kind"]], start // V.US_PER_DAY, ip, port, start, r["row"])

    expected = [r["row"] for r in sorted(rows, key=key)]
    assert ordered.column("row").to_pylist() == expected
    assert (np.diff(kind_code * 100_000 + day) >= 0).all()


def test_ingest_memory_pool_is_switched_and_restored() -> None:
    import threading

    before = pa.default_memory_pool().backend_name
    try:
        jemalloc = pa.jemalloc_memory_pool().backend_name
    except NotImplementedError:  # pragma: no cover - depends on the pyarrow build
        jemalloc = before
    seen: list[str] = []
    inside = threading.Barrier(3)

    def ingest_like() -> None:
        with P.ingest_memory_pool():
            inside.wait()  # all three are inside at once
            seen.append(pa.default_memory_pool().backend_name)
            inside.wait()

    threads = [threading.Thread(target=ingest_like) for _ in range(2)]
    for t in threads:
        t.start()
    with P.ingest_memory_pool():
        inside.wait()
        seen.append(pa.default_memory_pool().backend_name)
        inside.wait()
    for t in threads:
        t.join()
    assert seen == [jemalloc] * 3
    assert pa.default_memory_pool().backend_name == before
    # a failing ingest restores it too
    with pytest.raises(RuntimeError), P.ingest_memory_pool():
        raise RuntimeError("boom")
    assert pa.default_memory_pool().backend_name == before


def test_ingest_without_jemalloc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pyarrow build without jemalloc ingests with its own default pool."""

    def unavailable() -> pa.MemoryPool:
        raise NotImplementedError("built without jemalloc")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", unavailable)
    before = pa.default_memory_pool().backend_name
    log = tmp_path / "asa.log"
    log.write_text(
        "Nov 17 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
        "inside:100.64.0.1/1 to outside:203.0.113.1/2\n"
    )
    with P.ingest_memory_pool():
        assert pa.default_memory_pool().backend_name == before
    store = S.TrafficStore(tmp_path / "store")
    report = store.ingest_file(log, provider="isp", options=ParseOptions(tz="UTC"))
    assert report.refused is None and report.records_stored == 1
    assert pa.default_memory_pool().backend_name == before


def test_dictionary_rank_gives_one_rank_per_text_even_when_a_dictionary_repeats_one() -> None:
    # the sort groups rows by this rank: two codes for one address would split its rows
    ips = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2, None, 3, 2], pa.int32()),
        pa.array(["203.0.113.9", "203.0.113.10", "203.0.113.9", "2001:db8::1"]),
    )
    rank, _ = P._dictionary_rank(ips)
    # as text: "2001:db8::1" < "203.0.113.10" < "203.0.113.9"
    assert rank.tolist()[:3] == [2, 1, 2]
    assert rank[5] == rank[0] and rank[4] == 0
    assert rank[3] > rank.max(initial=0, where=[True, True, True, False, True, True])  # null last
