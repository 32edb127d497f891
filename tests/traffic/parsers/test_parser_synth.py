from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from parser_testkit import parse

from trailguard.traffic.synth import write_synthetic


def _key(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _resolve(nat_rows: list[dict[str, Any]], assign_rows: list[dict[str, Any]], key_row: dict):
    """The brute-force chain: public ip:port at an instant -> inside -> subscriber."""
    at = datetime.fromisoformat(key_row["at"])
    nat = [
        r
        for r in nat_rows
        if r["public_ip"] == key_row["public_ip"]
        and r["public_port"] == key_row["public_port"]
        and r["end"] is not None
        and r["start"] <= at <= r["end"]
    ]
    assert len(nat) == 1, (key_row, nat)
    inside = nat[0]["inside_ip"]
    who = [
        r
        for r in assign_rows
        if r["inside_ip"] == inside and r["end"] is not None and r["start"] <= at <= r["end"]
    ]
    assert len(who) == 1, (key_row, who)
    return inside, nat[0]["inside_port"], who[0]["subscriber"]


@pytest.mark.parametrize(
    ("fmt", "assignment"),
    [("cisco-asa", "freeradius-detail"), ("juniper-srx", "isc-dhcpd-leases")],
)
def test_synthetic_chain_resolves_every_key_entry(
    fmt: str, assignment: str, tmp_path: Path
) -> None:
    result = write_synthetic(
        fmt, tmp_path, 4000, seed=11, subscribers=40, days=2, assignment=assignment, lookups=60
    )
    assert result.records == 4000 and result.sessions == 2000 and result.lookups == 60
    nat = parse(fmt, result.files[fmt], tz=result.tz)
    assert nat.bad == [] and len(nat.rows) == 4000
    assign = parse(assignment, result.files[assignment])
    assert assign.bad == [] and len(assign.rows) >= 40 * 2
    ends = [r for r in nat.rows if r["end"] is not None]
    for row in _key(result.answer_key):
        assert _resolve(ends, assign.rows, row) == (
            row["inside_ip"],
            row["inside_port"],
            row["subscriber"],
        )


def test_no_two_sessions_share_a_public_port_at_once(tmp_path: Path) -> None:
    # a tiny pool forces many sessions onto each address and port
    result = write_synthetic(
        "cisco-asa",
        tmp_path,
        20000,
        seed=3,
        public_pool="203.0.113.7/32",
        public_ports=(40000, 40099),
        subscribers=20,
    )
    rows = parse("cisco-asa", result.files["cisco-asa"], tz="UTC").rows
    spans = defaultdict(list)
    for r in rows:
        if r["end"] is not None:
            spans[(r["public_ip"], r["public_port"])].append((r["start"], r["end"]))
    assert len(spans) == 100  # every port is reused many times over the day
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert end < start


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_synthetic("cisco-asa", tmp_path / "a", 1000, seed=5)
    b = write_synthetic("cisco-asa", tmp_path / "b", 1000, seed=5)
    c = write_synthetic("cisco-asa", tmp_path / "c", 1000, seed=6)
    data = [r.files["cisco-asa"].read_bytes() for r in (a, b, c)]
    assert data[0] == data[1] != data[2]
    assert a.answer_key.read_text() == b.answer_key.read_text()


def test_lines_are_in_time_order_and_use_documentation_addresses(tmp_path: Path) -> None:
    result = write_synthetic("cisco-asa", tmp_path, 3000, seed=1, days=3, compress=True)
    assert result.files["cisco-asa"].name.endswith(".gz")
    rows = parse("cisco-asa", result.files["cisco-asa"], tz="UTC").rows
    stamps = [r["end"] or r["start"] for r in rows]
    assert stamps == sorted(stamps)
    assert all(r["public_ip"].startswith("203.0.113.") for r in rows)
    assert all(r["inside_ip"].startswith("100.") for r in rows)
    assert result.start <= min(stamps) and max(stamps) <= result.end


def test_assignment_only_key(tmp_path: Path) -> None:
    result = write_synthetic("freeradius-detail", tmp_path, 0, seed=2, subscribers=30, lookups=10)
    rows = parse("freeradius-detail", result.files["freeradius-detail"]).rows
    assert len(rows) == 60
    for row in _key(result.answer_key):
        at = datetime.fromisoformat(row["at"])
        hits = [
            r
            for r in rows
            if r["inside_ip"] == row["public_ip"] and r["end"] and r["start"] <= at <= r["end"]
        ]
        assert [h["subscriber"] for h in hits] == [row["subscriber"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "zeek-conn"}, "no synthetic writer"),
        ({"assignment": "zeek-conn"}, "assignment"),
        ({"records": -1}, "records"),
        ({"start": datetime(2026, 11, 16)}, "timezone"),
        ({"subscribers": 10, "inside": "100.64.0.0/29"}, "do not fit"),
        ({"public_ports": (2000, 70000)}, "port range"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str, tmp_path: Path) -> None:
    args: dict[str, Any] = {"fmt": "cisco-asa", "out_dir": tmp_path, "records": 10, "seed": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        write_synthetic(**args)
    assert UTC  # the default start is UTC-aware
