"""Builders of RECORD_SCHEMA tables for the store tests (documentation addresses only)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from trailguard.traffic.model import RECORD_SCHEMA

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)


def us(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """A RECORD_SCHEMA table from dicts (missing columns are null)."""
    filled = []
    for i, row in enumerate(rows, start=1):
        base = {f.name: None for f in RECORD_SCHEMA}
        base.update({"source_file": "test.log", "source_line": i})
        base.update(row)
        filled.append(base)
    return pa.Table.from_pylist(filled, schema=RECORD_SCHEMA)


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def nat(
    inside: str,
    inside_port: int,
    public: str,
    public_port: int,
    start: datetime,
    end: datetime | None,
    line: int,
    event: str = "teardown",
    proto: str = "tcp",
) -> dict[str, Any]:
    return {
        "kind": "nat",
        "event": event,
        "start": start,
        "end": end,
        "protocol": proto,
        "inside_ip": inside,
        "inside_port": inside_port,
        "public_ip": public,
        "public_port": public_port,
        "source_tz": "UTC",
        "source_line": line,
    }


def radius(
    ip: str, account: str, start: datetime, end: datetime | None, line: int, event: str = "stop"
) -> dict[str, Any]:
    return {
        "kind": "radius",
        "event": event,
        "start": start,
        "end": end,
        "inside_ip": ip,
        "subscriber": account,
        "source_tz": "UTC",
        "source_line": line,
    }


def synth_cgnat(
    sessions: int,
    *,
    publics: int = 50,
    subscribers: int = 500,
    days: int = 2,
    seed: int = 7,
    start: datetime = T0,
) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """A CGNAT day: NAT create+teardown records, one RADIUS session per subscriber covering
    the period, and an answer key (public ip, port, instant -> inside ip and subscriber).

    Ports are given out so that no (public ip, port) is reused while a session holds it."""
    rng = np.random.default_rng(seed)
    span_us = days * 86_400_000_000
    t0 = us(start)
    pub_ips = np.array(
        [f"203.0.113.{i % 250 + 1}" if i < 250 else f"2001:db8::{i:x}" for i in range(publics)],
        dtype=object,
    )
    sub_ips = np.array(
        [f"100.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}" for i in range(subscribers)],
        dtype=object,
    )
    accounts = np.array([f"subscriber-{i:06d}" for i in range(subscribers)], dtype=object)
    # each (public ip, port) slot carries consecutive non-overlapping sessions
    slot_pub = rng.integers(0, publics, sessions)
    slot_port = rng.integers(1024, 65536, sessions)
    begin = t0 + rng.integers(0, span_us - 3_600_000_000, sessions) // 1_000_000 * 1_000_000
    duration = rng.integers(1, 600, sessions) * 1_000_000
    order = np.lexsort((begin, slot_port, slot_pub))
    slot_pub, slot_port, begin, duration = (
        slot_pub[order],
        slot_port[order],
        begin[order],
        duration[order],
    )
    same = np.concatenate(
        [[False], (slot_pub[1:] == slot_pub[:-1]) & (slot_port[1:] == slot_port[:-1])]
    )
    prev_end = np.concatenate([[0], begin[:-1] + duration[:-1]])
    keep = ~same | (begin > prev_end + 2_000_000)
    slot_pub, slot_port, begin, duration = (
        slot_pub[keep],
        slot_port[keep],
        begin[keep],
        duration[keep],
    )
    n = len(begin)
    sub = rng.integers(0, subscribers, n)
    inside_port = rng.integers(1024, 65536, n)
    ts = pa.timestamp("us", tz="UTC")
    line = np.arange(1, 2 * n + 1)
    nat_table = pa.table(
        {
            "kind": pa.array(["nat"] * (2 * n)),
            "event": pa.array(["create"] * n + ["teardown"] * n),
            "start": pa.array(np.concatenate([begin, begin]), ts),
            "end": pa.array(
                np.concatenate([begin, begin + duration]),
                ts,
                mask=np.concatenate([np.ones(n, bool), np.zeros(n, bool)]),
            ),
            "source_tz": pa.array(["UTC"] * (2 * n)),
            "protocol": pa.array(["tcp"] * (2 * n)),
            "inside_ip": pa.array(np.concatenate([sub_ips[sub], sub_ips[sub]]).tolist()),
            "inside_port": pa.array(np.concatenate([inside_port, inside_port]), pa.int32()),
            "public_ip": pa.array(np.concatenate([pub_ips[slot_pub], pub_ips[slot_pub]]).tolist()),
            "public_port": pa.array(np.concatenate([slot_port, slot_port]), pa.int32()),
            "source_file": pa.array(["cgnat.log"] * (2 * n)),
            "source_line": pa.array(line, pa.int64()),
        }
    )
    nat_table = _complete(nat_table)
    rad = pa.table(
        {
            "kind": pa.array(["radius"] * subscribers),
            "event": pa.array(["stop"] * subscribers),
            "start": pa.array(np.full(subscribers, t0 - 3_600_000_000), ts),
            "end": pa.array(np.full(subscribers, t0 + span_us + 3_600_000_000), ts),
            "inside_ip": pa.array(sub_ips.tolist()),
            "subscriber": pa.array(accounts.tolist()),
            "source_file": pa.array(["radius.detail"] * subscribers),
            "source_line": pa.array(np.arange(1, subscribers + 1), pa.int64()),
        }
    )
    rad = _complete(rad)
    mid = begin + duration // 2
    key = {
        "public_ip": pub_ips[slot_pub].tolist(),
        "public_port": slot_port.tolist(),
        "at_us": mid,
        "inside_ip": sub_ips[sub].tolist(),
        "inside_port": inside_port.tolist(),
        "subscriber": accounts[sub].tolist(),
    }
    return nat_table, rad, key


def _complete(t: pa.Table) -> pa.Table:
    cols = []
    for f in RECORD_SCHEMA:
        if f.name in t.column_names:
            cols.append(t.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(t.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=RECORD_SCHEMA)
