"""traffic capability: the provider's traffic-data store, lookups, holds and retention.

The face other capabilities use (every call audited on the node, roles checked)::

    from trailguard.traffic import lookup, lookup_batch, flows, place_hold
    answer = lookup(node, principal, "203.0.113.77", 51512, at, reference="NL-PR-2026-0042")
    answer.best.subscriber, answer.matches            # ranked candidates, with records
    hold = place_hold(node, principal, "NL-PR-2026-0042", HoldCriteria(...))

Store-level, unaudited queries for the provider's own tooling are in ``traffic.query``. Heavy
modules (NumPy, Arrow, the compiled kernels) load on first use, so that ``trailguard --help``
stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trailguard.traffic.access import require_hold_role
    from trailguard.traffic.answers import LookupAnswer, StoredRecord
    from trailguard.traffic.holds import Hold, HoldCriteria
    from trailguard.traffic.model import FormatError, ParseOptions, RecordKind
    from trailguard.traffic.parsers import detect_format, get_parser
    from trailguard.traffic.retention import PurgeReport
    from trailguard.traffic.service import (
        flows,
        get_hold,
        ingest_files,
        list_holds,
        lookup,
        lookup_batch,
        place_hold,
        purge,
        release_hold,
        store_for,
    )
    from trailguard.traffic.sessions import BatchAnswer
    from trailguard.traffic.store import IngestReport, TrafficStore, open_store

__all__ = [
    "BatchAnswer", "FormatError", "Hold", "HoldCriteria", "IngestReport", "LookupAnswer",
    "ParseOptions", "PurgeReport", "RecordKind", "StoredRecord", "TrafficStore", "detect_format",
    "flows", "get_hold", "get_parser", "ingest_files", "list_holds", "lookup", "lookup_batch",
    "open_store", "place_hold", "purge", "release_hold", "require_hold_role", "store_for",
]  # fmt: skip

_LAZY = {
    "BatchAnswer": "resolve", "LookupAnswer": "resolve", "StoredRecord": "resolve",
    "Hold": "holds", "HoldCriteria": "holds", "PurgeReport": "retention",
    "TrafficStore": "store", "IngestReport": "store", "open_store": "store",
    "flows": "service", "list_holds": "service", "ingest_files": "service", "lookup": "service",
    "lookup_batch": "service", "place_hold": "service", "purge": "service",
    "release_hold": "service", "require_hold_role": "access", "store_for": "service",
    "get_hold": "service",
    "FormatError": "model", "ParseOptions": "model", "RecordKind": "model",
    "detect_format": "parsers", "get_parser": "parsers",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trailguard.traffic' has no attribute {name!r}")
    # NumPy, Arrow and the numba kernels load on first use, not at `trailguard --help`
    return getattr(importlib.import_module(f"trailguard.traffic.{module}"), name)
