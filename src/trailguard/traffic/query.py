"""Store-level queries, unaudited: the provider's own tooling (the ``traffic`` CLI on a bare
store, benchmarks, tests). Other capabilities use the audited ``trailguard.traffic.lookup``
(``service.lookup``: node, principal, audit entry) instead.

    from trailguard.traffic.query import lookup, lookup_many, flows
    answer = lookup(store, "203.0.113.77", 51512, at, timedelta(seconds=2))
    answer.best.subscriber, answer.matches            # ranked candidates, with records
    batch = lookup_many(store, ips, ports, ats)       # vectorised; batch.best_table()
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from trailguard.core.errors import ValidationFailed
from trailguard.traffic.answers import LookupAnswer, StoredRecord
from trailguard.traffic.resolve import flows as _flows
from trailguard.traffic.resolve import lookup_batch, lookup_one
from trailguard.traffic.sessions import BatchAnswer
from trailguard.traffic.store import TrafficStore
from trailguard.traffic.values import to_us


def get_engine(store: TrafficStore, engine: str = "embedded") -> Any:
    """The lookup engine: ``embedded`` (in-process, cached per store) or ``spark``."""
    if engine == "embedded":
        return store.engine()
    if engine == "spark":
        # pyspark is an optional extra: loaded only when the Spark engine is asked for
        from trailguard.traffic.spark import SparkEngine

        return SparkEngine(store)
    raise ValidationFailed(f"unknown engine {engine!r}; use embedded or spark", ["engine"])


def lookup(
    store: TrafficStore,
    public_ip: str,
    public_port: int | None,
    at: datetime,
    tolerance: timedelta = timedelta(seconds=2),
    *,
    engine: str = "embedded",
    provider: str | None = None,
) -> LookupAnswer:
    """Who used ``public_ip``:``public_port`` at ``at`` (± tolerance): every candidate
    translation, ranked, chained to the DHCP/RADIUS assignment and subscriber."""
    return lookup_one(get_engine(store, engine), public_ip, public_port, at, tolerance, provider)


def lookup_many(
    store: TrafficStore,
    ips: Sequence[str],
    ports: Sequence[int | None],
    ats: Sequence[datetime] | np.ndarray,
    tolerance: timedelta = timedelta(seconds=2),
    *,
    engine: str = "embedded",
    provider: str | None = None,
) -> BatchAnswer:
    """Thousands of lookups in one vectorised call; ``ats`` are aware datetimes or int64
    microseconds since the epoch (UTC)."""
    if isinstance(ats, np.ndarray):
        at_us = ats.astype(np.int64)
    else:
        at_us = np.array([to_us(a) for a in ats], dtype=np.int64)
    return lookup_batch(get_engine(store, engine), ips, ports, at_us, tolerance, provider)


def flows(
    store: TrafficStore,
    ip: str,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
    limit: int = 10_000,
) -> list[StoredRecord]:
    """Records to or from ``ip`` overlapping the window, oldest first."""
    return _flows(store, ip, start, end, kinds, limit)
