"""Deterministic NAT (RFC 7422): forward and reverse mapping, change history, overflow blocks,
and agreement with a session-logged run of the same synthetic traffic."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.detnat import DetNatConfig, DetNatPlan, resolve
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers import cisco_xr_cgn, juniper_pba

T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)  # the configuration changes here
T_END = T0 + timedelta(hours=2)


def cfg(**kw: object) -> DetNatConfig:
    base: dict[str, object] = {
        "valid_from": T0,
        "inside_prefix": "100.64.0.0/24",
        "outside_pool": "203.0.113.0/29",
        "ports_per_subscriber": 1008,
    }
    base.update(kw)
    return DetNatConfig(**base)  # type: ignore[arg-type]


def expected_table(c: DetNatConfig) -> dict[str, tuple[str, int, int]]:
    """Build the mapping by walking the algorithm's description (not its formula)."""
    net = ipaddress.ip_network(c.inside_prefix)
    inside = [str(a) for a in net]
    pool = [str(a) for a in ipaddress.ip_network(str(c.outside_pool))]
    pps = c.ports_per_subscriber
    starts = list(range(c.first_port, c.last_port - pps + 2, pps))
    slots: list[tuple[str, int]] = []
    if c.algorithm == "sequential":
        slots = [(o, s) for o in pool for s in starts]
    else:
        slots = [(o, s) for s in starts for o in pool]
    return {ip: (o, s, s + pps - 1) for ip, (o, s) in zip(inside, slots, strict=False)}


@pytest.mark.parametrize("algorithm", ["sequential", "round-robin"])
def test_forward_and_reverse_match_the_described_algorithm(algorithm: str) -> None:
    c = cfg(algorithm=algorithm)
    plan = DetNatPlan([c])
    table = expected_table(c)
    rng = random.Random(7)
    for inside in rng.sample(sorted(table), 40):
        assert plan.forward(inside, T0) == [table[inside]]
        ip, lo, hi = table[inside]
        for port in (lo, hi, rng.randint(lo, hi)):
            (ans,) = plan.reverse(ip, port, T0 + timedelta(minutes=5))
            assert ans.inside_ip == inside and (ans.port_first, ans.port_last) == (lo, hi)
            assert ans.basis == "deterministic" and ans.config_from == T0


def test_juniper_formula_blocks_may_continue_on_next_address() -> None:
    # 64512 ports per address, 1000 per subscriber: subscriber 64 straddles two addresses
    c = cfg(algorithm="juniper", ports_per_subscriber=1000)
    segs = c.forward("100.64.0.64")
    assert segs == [("203.0.113.0", 65024, 65535), ("203.0.113.1", 1024, 1511)]
    plan = DetNatPlan([c])
    assert plan.reverse("203.0.113.1", 1511, T0)[0].inside_ip == "100.64.0.64"
    assert plan.reverse("203.0.113.1", 1512, T0)[0].inside_ip == "100.64.0.65"
    # documented formula: Pu_Prefix = base + off // 64512, port = 1024 + off % 64512
    off = 200 * 1000
    assert c.forward("100.64.0.200")[0] == (
        "203.0.113.3",
        1024 + off % 64512,
        1024 + off % 64512 + 999,
    )


def test_overflow_area_and_unknown_addresses_have_no_deterministic_answer() -> None:
    plan = DetNatPlan([cfg()])  # 256 subscribers x 1008 ports fill 4 of the 8 addresses
    assert plan.reverse("203.0.113.3", 65535, T0)  # the last fixed range
    assert plan.reverse("203.0.113.4", 2000, T0) == []  # overflow area
    assert plan.reverse("203.0.113.0", 80, T0) == []  # below first_port
    assert plan.reverse("198.51.100.1", 2000, T0) == []  # not in the pool
    assert plan.reverse("203.0.113.0", 2000, T0 - timedelta(seconds=1)) == []  # before config


def test_boundary_addresses_excluded() -> None:
    c = cfg(exclude_boundary=True)
    with pytest.raises(ValidationFailed, match="not a subscriber address"):
        c.forward("100.64.0.0")
    assert c.forward("100.64.0.1") == [("203.0.113.0", 1024, 2031)]


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="inside prefix"):
        cfg(inside_prefix="100.64.0.1/24")
    with pytest.raises(ValidationFailed, match="unknown algorithm"):
        cfg(algorithm="random")
    with pytest.raises(ValidationFailed, match="port ranges"):
        cfg(ports_per_subscriber=64512, outside_pool="203.0.113.0/30")
    with pytest.raises(ValidationFailed, match="outside pool entry"):
        cfg(outside_pool="203.0.113.300")
    with pytest.raises(ValidationFailed, match="ports per subscriber"):
        cfg(ports_per_subscriber=0)
    with pytest.raises(ValidationFailed, match="aware"):
        cfg(valid_from=datetime(2026, 1, 1))
    with pytest.raises(ValidationFailed, match="same valid_from"):
        DetNatPlan([cfg(), cfg()])
    with pytest.raises(ValidationFailed, match="out of range"):
        DetNatPlan([cfg()]).reverse("203.0.113.0", 70000, T0)


def test_change_history_and_tolerance() -> None:
    v1 = cfg()
    v2 = cfg(valid_from=T1, algorithm="round-robin")
    plan = DetNatPlan([v2, v1])
    assert plan.in_force(T1 - timedelta(microseconds=1)) is v1
    assert plan.in_force(T1) is v2
    # 203.0.113.1 port 1024: v1 (sequential) gives subscriber 64, v2 (round-robin) gives 1
    assert [a.inside_ip for a in plan.reverse("203.0.113.1", 1024, T1 - timedelta(seconds=5))] == [
        "100.64.0.64"
    ]
    near = plan.reverse("203.0.113.1", 1024, T1 - timedelta(seconds=1), timedelta(seconds=2))
    assert [a.inside_ip for a in near] == ["100.64.0.64", "100.64.0.1"]
    assert "change within tolerance" in near[1].note


# --- one synthetic run, logged two ways -------------------------------------------------------

PPS = 4  # small fixed ranges, so that busy subscribers overflow into logged dynamic blocks
OVERFLOW_IP = "203.0.113.7"
OVERFLOW_BLOCK = 64


def _stamp(t: datetime) -> str:
    return t.strftime("%b %d %H:%M:%S")


def _simulate(seed: int, n_sessions: int) -> tuple[list[dict[str, object]], list[str], list[str]]:
    """Run a CGN: every session takes a free port of its subscriber's fixed range or, when that
    is full, of a dynamic overflow block (allocated and released with Juniper PBA logs). Returns
    the sessions, the session log (Cisco CGN SessionbasedA/W) and the overflow block log."""
    rng = random.Random(seed)
    configs = [
        (T0, expected_table(cfg(ports_per_subscriber=PPS))),
        (T1, expected_table(cfg(valid_from=T1, ports_per_subscriber=PPS,
                                algorithm="round-robin"))),
    ]  # fmt: skip
    subscribers = [f"100.64.0.{i}" for i in range(0, 256, 5)]  # 52 subscribers
    starts = sorted(rng.uniform(0, 7190) for _ in range(n_sessions))
    sessions: list[dict[str, object]] = []
    busy: dict[tuple[str, int], datetime] = {}  # (public ip, port) -> busy until
    # the overflow pool: ports of 203.0.113.7 that no fixed range of either version covers
    free_blocks = list(range(30000, 30000 + OVERFLOW_BLOCK * 40, OVERFLOW_BLOCK))
    blocks: dict[str, list[tuple[int, datetime, datetime, int]]] = {}  # inside -> open blocks
    pba: list[tuple[datetime, str]] = []
    for s in starts:
        start = T0 + timedelta(seconds=int(s))
        dur = rng.randint(2, 900)
        end = start + timedelta(seconds=dur)
        if start < T1 < end + timedelta(seconds=1):
            end = T1 - timedelta(seconds=1)  # the change resets every translation
            if end - start < timedelta(seconds=2):
                continue
        # release overflow blocks whose sessions have all ended
        for inside, lst in blocks.items():
            for blk in list(lst):
                first, alloc, last_use, _ = blk
                if last_use < start:
                    lst.remove(blk)
                    free_blocks.append(first)
                    hexv = hex(int(alloc.timestamp()))
                    pba.append((last_use + timedelta(seconds=1),
                                f"JSERVICES_NAT_PORT_BLOCK_RELEASE: {inside} -> {OVERFLOW_IP}:"
                                f"{first}-{first + OVERFLOW_BLOCK - 1} {hexv}"))  # fmt: skip
        table = configs[1][1] if start >= T1 else configs[0][1]
        inside = rng.choice(subscribers)
        ip, lo, hi = table[inside]
        port = next((p for p in range(lo, hi + 1) if busy.get((ip, p), T0) < start), None)
        overflow = False
        if port is None:
            overflow = True
            ip = OVERFLOW_IP
            for i, (first, alloc, last_use, _) in enumerate(blocks.get(inside, [])):
                port = next((p for p in range(first, first + OVERFLOW_BLOCK)
                             if busy.get((ip, p), T0) < start), None)  # fmt: skip
                if port is not None:
                    blocks[inside][i] = (first, alloc, max(last_use, end), 0)
                    break
            if port is None:
                first = free_blocks.pop(0)
                blocks.setdefault(inside, []).append((first, start, end, 0))
                pba.append((start, f"JSERVICES_NAT_PORT_BLOCK_ALLOC: {inside} -> {OVERFLOW_IP}:"
                                   f"{first}-{first + OVERFLOW_BLOCK - 1}"
                                   f" {hex(int(start.timestamp()))}"))  # fmt: skip
                port = first
        busy[(ip, port)] = end
        sessions.append({"inside": inside, "ip": ip, "port": port, "start": start, "end": end,
                         "overflow": overflow})  # fmt: skip
    session_log = []
    for k, sess in enumerate(sessions):
        for ev, t in (("SessionbasedA", sess["start"]), ("SessionbasedW", sess["end"])):
            assert isinstance(t, datetime)
            session_log.append((t, k, f"<134>1 {t:%Y %b %d %H:%M:%S} 198.51.100.1 - - NAT44 - "
                                      f"[{ev} 6 {sess['inside']} - - {sess['ip']} {40000 + k % 999}"
                                      f" {sess['port']} - 192.0.2.80 443]"))  # fmt: skip
    session_log.sort(key=lambda x: (x[0], x[1]))
    pba.sort(key=lambda x: x[0])
    pba_lines = [f"{_stamp(t)} cgn-1 {{cgn}}[FWNAT]: {msg}" for t, msg in pba]
    return sessions, [line for _, _, line in session_log], pba_lines


@pytest.mark.slow
def test_deterministic_answers_agree_with_session_logged_run(tmp_path: Path) -> None:
    sessions, session_lines, pba_lines = _simulate(seed=20261127, n_sessions=3000)
    slog = tmp_path / "sessions.log"
    slog.write_text("\n".join(session_lines) + "\n")
    plog = tmp_path / "pba.log"
    plog.write_text("\n".join(pba_lines) + "\n")
    nat = pa.concat_tables(
        b.table for b in cisco_xr_cgn.PARSER.parse(slog, ParseOptions(tz="UTC"))
    ).to_pylist()
    blocks = pa.concat_tables(
        b.table for b in juniper_pba.PARSER.parse(plog, ParseOptions(tz="UTC", year=2026))
    )
    # the session-logged answer: pair each create with its delete
    open_: dict[tuple[str, str, int], datetime] = {}
    periods: dict[tuple[str, int], list[tuple[datetime, datetime, str]]] = {}
    for r in nat:
        key = (r["inside_ip"], r["public_ip"], r["public_port"])
        if r["event"] == "create":
            open_[key] = r["start"]
        else:
            periods.setdefault((r["public_ip"], r["public_port"]), []).append(
                (open_.pop(key), r["end"], r["inside_ip"])
            )
    plan = DetNatPlan([
        cfg(ports_per_subscriber=PPS),
        cfg(valid_from=T1, ports_per_subscriber=PPS, algorithm="round-robin"),
    ])  # fmt: skip
    overflowed = agreed = 0
    rng = random.Random(1)
    for sess in sessions:
        start, end = sess["start"], sess["end"]
        assert isinstance(start, datetime) and isinstance(end, datetime)
        at = start + timedelta(seconds=rng.randint(1, int((end - start).total_seconds()) - 1))
        ip, port = str(sess["ip"]), int(str(sess["port"]))
        logged = [ins for s, e, ins in periods[(ip, port)] if s <= at <= e]
        computed = resolve(plan, ip, port, at, timedelta(0), blocks)
        assert len(logged) == 1
        assert computed, f"no deterministic answer for {ip}:{port} at {at}"
        assert computed[0].inside_ip == logged[0] == sess["inside"]
        assert computed[0].basis == ("logged_block" if sess["overflow"] else "deterministic")
        overflowed += bool(sess["overflow"])
        agreed += 1
    assert agreed > 2500
    assert overflowed > 100  # the run did exercise the dynamic overflow blocks
    assert any(s["start"] >= T1 for s in sessions)  # and both configuration versions
    # the vectorised reverse agrees on the deterministic sessions
    det = [s for s in sessions if not s["overflow"]]
    at_us = np.array([int(s["start"].timestamp() * 1e6) + 1_000_000 for s in det])  # type: ignore[attr-defined]
    got = plan.reverse_many([str(s["ip"]) for s in det], [int(str(s["port"])) for s in det], at_us)
    assert got == [s["inside"] for s in det]
