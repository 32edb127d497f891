"""The compiled loops of warm batches (``traffic._kernels``) answer exactly as the NumPy
stages they replaced, and their part search selects exactly the rows a scan selects.

Random small stores make the awkward cases common: few addresses and ports (port reuse, ties
in time, several sessions per query), open sessions, create + teardown pairs, port blocks,
IPv6, directly assigned addresses, unknown addresses and zero tolerance.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _store_factory import T0, digest, nat, radius, table, us
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trailguard.core.errors import ValidationFailed
from trailguard.traffic import segments, values, warm_batch, warm_parts
from trailguard.traffic.query import lookup
from trailguard.traffic.resolve import lookup_batch
from trailguard.traffic.store import TrafficStore, open_store
from trailguard.traffic.warm_parts import Strings, WarmSegment

S = timedelta(seconds=1)
PUBLICS = ["203.0.113.7", "203.0.113.8", "2001:db8::77"]
INSIDES = ["100.64.0.1", "100.64.0.2", "100.64.0.3", "fd00::5"]
DIRECT = "198.51.100.23"
ACCOUNTS = ["acct-ana", "acct-ben", "acct-cy"]
PORTS = [1000, 1001, 1002]

nat_rows = st.lists(
    st.tuples(
        st.sampled_from(INSIDES),
        st.sampled_from(PUBLICS),
        st.sampled_from(PORTS),
        st.integers(0, 10),  # start, s after T0 (few values: ties are common)
        st.one_of(st.none(), st.integers(0, 8)),  # duration; None = open (no teardown)
        st.booleans(),  # also log the create record of a closed session (a pair)
        st.sampled_from(["tcp", "udp"]),
    ),
    min_size=1,
    max_size=30,
)
block_rows = st.lists(
    st.tuples(
        st.sampled_from(INSIDES),
        st.sampled_from(PUBLICS),
        st.integers(0, 20),
        st.one_of(st.none(), st.integers(0, 30)),
    ),
    max_size=4,
)
assignment_rows = st.lists(
    st.tuples(
        st.sampled_from([*INSIDES, DIRECT]),
        st.sampled_from(ACCOUNTS),
        st.integers(-10, 20),
        st.one_of(st.none(), st.integers(0, 15)),
    ),
    max_size=12,
)
queries = st.lists(
    st.tuples(
        st.sampled_from([*PUBLICS, DIRECT, "192.0.2.1"]),
        st.one_of(st.none(), st.sampled_from([*PORTS, 1003, 1040])),
        st.integers(-3, 25),
    ),
    min_size=1,
    max_size=60,
)


def _build(
    root: Path,
    flows: list[tuple[Any, ...]],
    blocks: list[tuple[Any, ...]],
    assigns: list[tuple[Any, ...]],
) -> None:
    store = open_store(root)
    rows: list[dict[str, Any]] = []
    for inside, public, port, start, duration, paired, proto in flows:
        at = T0 + start * S
        port_in = 40000 + len(rows)
        if duration is None:
            rows.append(nat(inside, port_in, public, port, at, None, 0, "create", proto))
            continue
        if paired:
            rows.append(nat(inside, port_in, public, port, at, None, 0, "create", proto))
        rows.append(nat(inside, port_in, public, port, at, at + duration * S, 0, proto=proto))
    for inside, public, start, duration in blocks:
        at = T0 + start * S
        rows.append(
            {
                "kind": "port_block",
                "event": "allocate",
                "start": at,
                "end": None if duration is None else at + duration * S,
                "inside_ip": inside,
                "public_ip": public,
                "public_port": 1000,
                "public_port_end": 1001,
            }
        )
    store.ingest_table(table(rows), provider="rio", source_sha256=digest("flows"))
    if assigns:
        store.ingest_table(
            table(
                [
                    radius(
                        ip,
                        account,
                        T0 + start * S,
                        None if duration is None else T0 + (start + duration) * S,
                        0,
                        "start" if duration is None else "stop",
                    )
                    for ip, account, start, duration in assigns
                ]
            ),
            provider="rio",
            source_sha256=digest("assignments"),
        )


def _answers(store: TrafficStore, qs: list[tuple[Any, ...]], tol: timedelta) -> Any:
    ips = [q[0] for q in qs]
    ports = [q[1] for q in qs]
    ats = np.array([us(T0 + q[2] * S) for q in qs], dtype=np.int64)
    batch = lookup_batch(store.engine(), ips, ports, ats, tol)
    assert batch.nat.source is not None  # the warm path answered
    return batch, [batch.answer(i).to_json() for i in range(len(qs))]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    flows=nat_rows,
    blocks=block_rows,
    assigns=assignment_rows,
    qs=queries,
    tol_s=st.sampled_from([0, 1, 3]),
    split=st.sampled_from([4096, 2, 7]),
)
def test_compiled_batch_equals_the_numpy_stages(
    flows: list[tuple[Any, ...]],
    blocks: list[tuple[Any, ...]],
    assigns: list[tuple[Any, ...]],
    qs: list[tuple[Any, ...]],
    tol_s: int,
    split: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tol = tol_s * S
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _build(root, flows, blocks, assigns)
        store = TrafficStore(root / "traffic")
        store.engine().warm()
        with monkeypatch.context() as patch:
            # small batches too are searched in two threads (halves of the queries)
            patch.setattr(warm_batch, "SPLIT_QUERIES", split)
            compiled, answers = _answers(store, qs, tol)
        with monkeypatch.context() as patch:
            patch.setattr(warm_batch, "COMPILED", False)
            reference, expected = _answers(store, qs, tol)
        assert answers == expected
        assert compiled.best_table().equals(reference.best_table())
        for name in ("q", "rank", "first_row", "n_rows", "start", "has_end", "distance", "order"):
            for stage in ("nat", "direct", "assign"):
                got = getattr(getattr(compiled, stage), name)
                want = getattr(getattr(reference, stage), name)
                assert np.array_equal(got, want), (stage, name)
        # and against the plain-Python single lookups (their own code): the same matches
        # (exact ties may come in another order), ranked by the same (distance, open, start)
        for (ip, port, at_s), i in zip(qs, range(len(qs)), strict=True):
            single = lookup(store, ip, port, T0 + at_s * S, tol)
            mine = compiled.answer(i)
            assert sorted(map(_facts, single.matches)) == sorted(map(_facts, mine.matches))
            assert [_order_key(m) for m in single.matches] == [_order_key(m) for m in mine.matches]


def _facts(match: Any) -> str:
    """What a match says, apart from the order of exact ties."""
    return repr(
        (
            match.kind,
            match.inside_ip,
            match.inside_port,
            match.public_ip,
            match.public_port,
            match.start,
            match.end,
            match.distance,
            match.records,
            match.port_block,
            sorted(
                repr((a.subscriber, a.start, a.end, a.distance, a.records))
                for a in match.assignments
            ),
        )
    )


def _order_key(match: Any) -> tuple[Any, ...]:
    return (match.distance, match.end is None, -match.start.timestamp())


def _whole_address(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(n, np.int64), np.full(n, 1 << 17, np.int64), np.full(n, -1, np.int64)


def _brute_force(segment: WarmSegment, gcode: int, port: int, lo: int, hi: int) -> list[int]:
    """Rows of the part matching one query, by a scan of every row."""
    local = segment.g_map[gcode] if 0 <= gcode < len(segment.g_map) else -1
    if local < 0:
        return []
    key_code = segment.key >> 17
    key_port = (segment.key & ((1 << 17) - 1)) - 1
    match = (key_code == local) & (segment.start <= hi) & (segment.end_eff >= lo)
    if segment.port_block:
        if port >= 0:
            assert segment.port_end is not None
            match &= (key_port <= port) & (segment.port_end >= port)
    elif port >= 0:
        match &= key_port == port
    return [int(r) for r in np.flatnonzero(match)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    flows=nat_rows,
    blocks=block_rows,
    assigns=assignment_rows,
    seed=st.integers(0, 2**32),
    stride=st.sampled_from([64, 1, 2, 3, 5]),
)
def test_search_part_equals_a_scan(
    flows: list[tuple[Any, ...]],
    blocks: list[tuple[Any, ...]],
    assigns: list[tuple[Any, ...]],
    seed: int,
    stride: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tempfile.TemporaryDirectory() as tmp, monkeypatch.context() as patch:
        root = Path(tmp)
        _build(root, flows, blocks, assigns)
        # small strides make the sampled first steps run on these small parts
        patch.setattr(warm_parts, "SAMPLE_STRIDE", stride)
        engine = TrafficStore(root / "traffic").engine()
        engine.warm()
        strings = engine.strings
        rng = np.random.default_rng(seed)
        # more queries than lanes: several rounds of lockstep searches
        n = 70
        pool = [*PUBLICS, *INSIDES, DIRECT, "192.0.2.1"]
        gcodes = np.array(
            [strings.codes.get(pool[i], -1) for i in rng.integers(0, len(pool), n)],
            dtype=np.int64,
        )
        gcodes[:3] = [-1, len(strings.values) + 5, 10**6]  # unknown codes
        port = rng.choice(np.array([-1, 999, *PORTS, 1003]), n).astype(np.int64)
        at = us(T0) + rng.integers(-3, 40, n) * 1_000_000
        tol = rng.choice(np.array([0, 1_000_000, 3_000_000]), n)
        port_lo = np.where(port >= 0, port + 1, 0)
        port_hi = np.where(port >= 0, port + 2, 1 << 17)
        for segment in engine._full.values():
            # an assignment part is searched by address alone
            by_address = segment.part.kind in ("radius", "dhcp")
            whole = _whole_address(n)
            ranges = whole if by_address else (port_lo, port_hi, port)
            qi, rows = segment.search_interned(gcodes, *ranges, at - tol, at + tol)
            got = list(zip(qi.tolist(), rows.tolist(), strict=True))
            want = [
                (q, r)
                for q in range(n)
                for r in _brute_force(
                    segment,
                    int(gcodes[q]),
                    -1 if by_address else int(port[q]),
                    int(at[q] - tol[q]),
                    int(at[q] + tol[q]),
                )
            ]
            # queries in order, rows ascending per query
            assert got == want
            # and every row is found by a query for its own key at its own start (no row's
            # effective end comes before its start)
            assert (segment.end_eff >= segment.start).all()
            rows = np.arange(segment.rows)
            own = segment.g_sorted[np.argsort(segment.g_local)][segment.key >> 17]
            own_port = (segment.key & ((1 << 17) - 1)) - 1
            qi, found = segment.search_interned(
                own.astype(np.int64),
                *(
                    _whole_address(segment.rows)
                    if by_address
                    else (own_port + 1, own_port + 2, own_port)
                ),
                segment.start,
                segment.start,
            )
            assert set(zip(qi.tolist(), found.tolist(), strict=True)) >= set(
                zip(rows.tolist(), rows.tolist(), strict=True)
            )


def test_group_rank_breaks_ties_like_lexsort(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows that tie on every key keep their input order (stable); text is numbered by first
    appearance over the whole batch; sessions that tie on distance, openness and start rank
    by the inside address first seen. The same as the NumPy stages."""
    c = {
        "q": np.array([1, 0, 1, 1, 0]),
        "start": np.full(5, 10_000_000),
        "end": np.full(5, 20_000_000),
        "end_eff": np.full(5, 20_000_000),
        "end_basis": np.zeros(5),
        "kind": np.full(5, 2),
        "inside_ip": np.array([7, 8, 8, 7, 7]),
        "public_ip": np.full(5, 3),
        "protocol": np.full(5, 2),
        "subscriber": np.full(5, -1),
        "mac": np.full(5, -1),
        "inside_port": np.array([5, 6, 6, 5, 5]),
        "public_port": np.full(5, 1000),
        "_seg": np.zeros(5),
        "_row": np.arange(5),
    }
    c = {k: v.astype(np.int64) for k, v in c.items()}
    at = np.array([15_000_000, 15_000_000], dtype=np.int64)

    strings = Strings()
    strings.encode([f"text-{i}" for i in range(10)])
    got = warm_batch._group_warm(c, at, "public_port", strings)
    monkeypatch.setattr(warm_batch, "COMPILED", False)
    want = warm_batch._group_warm(c, at, "public_port", strings)
    # address 7 is seen first (row 0), so it sorts first in both queries; rows 0 and 3 are
    # one session (same keys, same start), in input order
    assert got.cands.column("_row").to_pylist() == [4, 1, 0, 3, 2]
    assert got.q.tolist() == [0, 0, 1, 1]
    assert got.n_rows.tolist() == [1, 1, 2, 1]
    assert got.rank.tolist() == [0, 1, 0, 1]
    for name in ("q", "rank", "first_row", "n_rows", "start", "end", "has_end", "distance"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.cands.equals(want.cands)


def test_the_first_lookup_after_opening_does_not_load_numba(tmp_path: Path) -> None:
    """numba costs about a second to import and load: the first lookup after opening a
    store (row groups through the sparse index) must not need it; warming a part loads the
    compiled loops (so that the first batch does not pay for them)."""
    store = open_store(tmp_path)
    store.ingest_table(
        table([nat("100.64.0.1", 40000, "203.0.113.7", 1000, T0, T0 + 5 * S, 1)]),
        provider="rio",
        source_sha256=digest("one"),
    )
    script = f"""
import sys
from datetime import datetime, UTC
from trailguard.traffic.query import lookup
from trailguard.traffic.store import TrafficStore
store = TrafficStore({str(tmp_path / "traffic")!r})
answer = lookup(store, "203.0.113.7", 1000, datetime(2026, 11, 20, 8, 0, 2, tzinfo=UTC))
print(answer.best.inside_ip, "numba" in sys.modules)
store.engine().warm()
from trailguard.traffic import _kernels
print(_kernels._primed)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["100.64.0.1", "False", "True"]


def test_warm_batch_with_other_spellings_of_an_address(tmp_path: Path) -> None:
    """Queries that write one address differently (IPv6 case and zeros) are one address."""
    _build(
        tmp_path,
        [("100.64.0.1", "2001:db8::77", 1000, 2, 5, True, "tcp")],
        [],
        [("100.64.0.1", "acct-ana", 0, 10)],
    )
    store = TrafficStore(tmp_path / "traffic")
    store.engine().warm()
    spellings = ["2001:DB8::77", "2001:db8:0:0:0:0:0:77", "2001:db8::77", "203.0.113.7"]
    ats = np.full(4, us(T0 + 4 * S), dtype=np.int64)
    batch = lookup_batch(store.engine(), spellings, [1000] * 4, ats, S)
    best = batch.best_table().to_pylist()
    assert [b["subscriber"] for b in best] == ["acct-ana"] * 3 + [None]
    assert [batch.answer(i).query.public_ip for i in range(4)] == ["2001:db8::77"] * 3 + [
        "203.0.113.7"
    ]
    with pytest.raises(ValidationFailed):
        lookup_batch(store.engine(), ["2001:db8::77", "not-an-address"], [1, 2], ats[:2], S)


def test_concurrent_warm_batches_answer_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API requests run in threads; the searches of every batch share one helper thread."""
    from concurrent.futures import ThreadPoolExecutor

    flows = [
        (
            INSIDES[i % 4],
            PUBLICS[i % 3],
            PORTS[i % 3],
            i % 11,
            None if i % 5 == 0 else i % 7,
            i % 2 == 0,
            "tcp",
        )
        for i in range(60)
    ]
    assigns = [
        (INSIDES[i % 4], ACCOUNTS[i % 3], i - 5, None if i % 4 == 0 else 9) for i in range(12)
    ]
    _build(tmp_path, flows, [], assigns)
    store = TrafficStore(tmp_path / "traffic")
    store.engine().warm()
    monkeypatch.setattr(warm_batch, "SPLIT_QUERIES", 16)
    batches = [
        [(PUBLICS[(i + k) % 3], [*PORTS, None][(i * k) % 4], (i + k) % 25) for i in range(40 + k)]
        for k in range(8)
    ]
    expected = [_answers(store, qs, 2 * S)[1] for qs in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda qs: _answers(store, qs, 2 * S)[1], batches * 3))
    assert got == expected * 3
    assert any(m["matches"] for answers in expected for m in answers)


def _child_batch(store: TrafficStore, conn: Any) -> None:
    """In a forked child: a batch on the store its parent warmed."""
    qs = [(PUBLICS[i % 3], PORTS[i % 3], i % 12) for i in range(40)]
    try:
        conn.send(_answers(store, qs, 2 * S)[1])
    except Exception as exc:  # the parent reports it
        conn.send(repr(exc))
    conn.close()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_searches_with_its_own_helper_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server may warm parts and then fork workers: the child does not wait on the helper
    thread of its parent's pool (which it does not have)."""
    import multiprocessing

    flows = [
        (INSIDES[i % 4], PUBLICS[i % 3], PORTS[i % 3], i % 11, i % 7, True, "tcp")
        for i in range(30)
    ]
    _build(tmp_path, flows, [], [(INSIDES[i], ACCOUNTS[i % 3], -5, 30) for i in range(4)])
    monkeypatch.setattr(warm_batch, "SPLIT_QUERIES", 16)
    store = TrafficStore(tmp_path / "traffic")
    store.engine().warm()
    qs = [(PUBLICS[i % 3], PORTS[i % 3], i % 12) for i in range(40)]
    expected = _answers(store, qs, 2 * S)[1]  # the parent's pool now has its thread
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    # the warm store itself goes to the child (fork: nothing is pickled)
    child = context.Process(target=_child_batch, args=(store, send), daemon=True)
    child.start()
    try:
        assert receive.poll(60), "the forked child did not answer"
        assert receive.recv() == expected
        child.join(30)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # key (few: rows on the same key are common)
            st.integers(0, 4_000_000),  # start, us
            st.one_of(st.none(), st.integers(-2_000_000, 5_000_000)),  # end - start; None = open
            st.integers(0, 2),  # holder
            st.booleans(),  # interim
        ),
        max_size=40,
    ),
    st.sampled_from([0, 3_000_000, 86_400_000_000]),
)
def test_compiled_effective_end_is_the_python_rule(
    rows: list[tuple[int, int, int | None, int, bool]], open_us: int
) -> None:
    from trailguard.traffic import _kernels

    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    key = np.array([r[0] for r in rows], dtype=np.int64)
    start = np.array([r[1] for r in rows], dtype=np.int64)
    has_end = np.array([r[2] is not None for r in rows], dtype=bool)
    end = np.array([r[1] + (r[2] or 0) for r in rows], dtype=np.int64)
    holder = np.array([r[3] for r in rows], dtype=np.int64)
    interim = np.array([r[4] for r in rows], dtype=bool)
    want, want_basis = segments.effective_end(key, start, end, has_end, holder, interim, open_us)
    got, basis = _kernels.effective_end(
        key, start, end, has_end, holder, interim, open_us, values.PAIR_US
    )
    assert got.tolist() == want.tolist()
    assert basis.tolist() == want_basis.tolist()
    # an open row never ends before it starts
    assert (got[~has_end] >= start[~has_end]).all()


def test_a_new_session_is_not_paired_with_the_teardown_of_the_one_before(tmp_path: Path) -> None:
    """A zero-length session on 203.0.113.7:1000 (create and teardown at T0) and a new create
    on the same public port half a second later, without a teardown yet: the new create is its
    own open session, found at its start, cold and warm; it is not closed at T0 by the earlier
    session's teardown."""
    half = timedelta(microseconds=500_000)
    rows = [
        nat("100.64.0.1", 4000, "203.0.113.7", 1000, T0, None, 1, event="create"),
        nat("100.64.0.1", 4000, "203.0.113.7", 1000, T0, T0, 2),
        nat("100.64.0.2", 4001, "203.0.113.7", 1000, T0 + half, None, 3, event="create"),
    ]
    TrafficStore(tmp_path / "traffic").ingest_table(
        table(rows), provider="isp-nl", source_sha256=digest("asa")
    )
    for warm in (False, True):
        store = TrafficStore(tmp_path / "traffic")
        if warm:
            store.engine().warm()
        answer = lookup(store, "203.0.113.7", 1000, T0 + half + S, timedelta(0))
        assert [m.inside_ip for m in answer.matches] == ["100.64.0.2"], warm
