"""traffic capability: the provider's traffic-data store, lookups, holds and retention.

The typed in-process API (heavy modules are imported on first use, so that ``trailguard
--help`` stays quick)::

    from trailguard.traffic import open_store, lookup, lookup_many, flows
    store = open_store(data_dir)                       # <data_dir>/traffic
    store.ingest_file(path, provider="rio-litoral", options=ParseOptions(tz="UTC"))
    answer = lookup(store, "203.0.113.77", 51512, at, timedelta(seconds=2))
    answer.best.subscriber, answer.matches            # ranked candidates, with records
    batch = lookup_many(store, ips, ports, ats)       # vectorised; batch.best_table()
    hold = place_hold(store, "NL-PR-2026-0042", HoldCriteria(...), actor, now)
    purge(store, now)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from trailguard.traffic.resolve import BatchAnswer, LookupAnswer, StoredRecord
    from trailguard.traffic.store import TrafficStore

__all__ = [
    "Assignment", "BatchAnswer", "FormatError", "Hold", "HoldCriteria", "IngestReport",
    "LookupAnswer", "LookupQuery", "Match", "ParseOptions", "PurgeReport", "RecordKind",
    "StoredRecord", "TrafficStore", "detect_format", "flows", "get_engine", "get_hold",
    "get_parser", "list_holds", "lookup", "lookup_many", "open_store", "place_hold", "purge",
    "release_hold",
]  # fmt: skip

_LAZY = {
    "Assignment": "resolve", "BatchAnswer": "resolve", "LookupAnswer": "resolve",
    "LookupQuery": "resolve", "Match": "resolve", "StoredRecord": "resolve",
    "Hold": "holds", "HoldCriteria": "holds", "list_holds": "holds", "place_hold": "holds",
    "release_hold": "holds", "PurgeReport": "retention", "purge": "retention",
    "TrafficStore": "store", "IngestReport": "store", "open_store": "store",
    "ParseOptions": "model", "FormatError": "model", "RecordKind": "model",
    "get_parser": "parsers", "detect_format": "parsers", "get_hold": "holds",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trailguard.traffic' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"trailguard.traffic.{module}"), name)


def get_engine(store: TrafficStore, engine: str = "embedded") -> Any:
    """The lookup engine: ``embedded`` (in-process, cached per store) or ``spark``."""
    if engine == "embedded":
        return store.engine()
    if engine == "spark":
        from trailguard.traffic.spark import SparkEngine

        return SparkEngine(store)
    from trailguard.core.errors import ValidationFailed

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
    from trailguard.traffic.resolve import lookup_one

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
    import numpy as np

    from trailguard.traffic.resolve import lookup_batch, to_us

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
    from trailguard.traffic.resolve import flows as _flows

    return _flows(store, ip, start, end, kinds, limit)
