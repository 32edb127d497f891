"""Traffic services for a node: the store plus authorisation and the audit log.

The store (``store.py``) is DB-free so that a provider can run it alone; here every ingest,
lookup, hold, release and purge done through a ``Node`` is written to the node's hash-chained
audit log in one transaction, and holds need a principal with the provider liaison or admin
role. Other capabilities (the requests engineer's preservation flow, the demo) call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.node import Node
from trailguard.traffic.access import require_hold_role
from trailguard.traffic.answers import LookupAnswer, StoredRecord
from trailguard.traffic.detnat.service import (
    DetNatBatchAnswer,
    combine_batch,
    combine_one,
    plans_for,
)
from trailguard.traffic.holds import Hold, HoldCriteria
from trailguard.traffic.holds import get_hold as _get_hold
from trailguard.traffic.holds import list_holds as _list_holds
from trailguard.traffic.holds import place_hold as _place_hold
from trailguard.traffic.holds import release_hold as _release_hold
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.resolve import flows as _flows
from trailguard.traffic.resolve import lookup_batch as _lookup_batch
from trailguard.traffic.resolve import lookup_one
from trailguard.traffic.retention import PurgeReport
from trailguard.traffic.retention import purge as _purge
from trailguard.traffic.sessions import BatchAnswer
from trailguard.traffic.store import IngestReport, TrafficStore

_STORES: dict[Path, TrafficStore] = {}


def store_for(node: Node) -> TrafficStore:
    """The node's traffic store (``<data dir>/traffic``), opened once per process."""
    root = Path(node.paths.traffic).resolve()
    store = _STORES.get(root)
    if store is None:
        store = TrafficStore(root)
        _STORES[root] = store
    return store


def audit_event(node: Node, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    with node.db.session() as session:
        record(
            session,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            at=node.clock.now(),
        )


def ingest_files(
    node: Node,
    paths: Sequence[Path],
    *,
    provider: str,
    actor: str,
    format_name: str | None = None,
    options: ParseOptions | None = None,
    progress: Any = None,
) -> list[IngestReport]:
    store = store_for(node)
    reports = []
    for path in paths:
        report = store.ingest_file(
            Path(path),
            provider=provider,
            format_name=format_name,
            options=options,
            progress=progress,
        )
        action = "traffic.ingest_refused" if report.refused else "traffic.ingest"
        audit_event(
            node,
            actor,
            action,
            f"traffic-source:{report.sha256}",
            {
                "file": Path(path).name,
                "provider": provider,
                "format": report.format,
                "lines_read": report.lines_read,
                "records_stored": report.records_stored,
                "bad_lines": report.bad_line_count,
                "duplicate": report.duplicate,
                "refused": report.refused,
            },
        )
        reports.append(report)
    return reports


def lookup(
    node: Node,
    principal: Principal,
    public_ip: str,
    public_port: int | None,
    at: datetime,
    tolerance: timedelta = timedelta(seconds=2),
    reference: str | None = None,
) -> LookupAnswer:
    """A lookup by a person, audited (who asked about which address, port and time). When the
    node has a deterministic NAT configuration history (``detnat_service``), its computed
    answers join the logged ones and every match says its ``basis``."""
    require_hold_role(principal)
    engine = store_for(node).engine()
    answer = lookup_one(engine, public_ip, public_port, at, tolerance)
    plans = plans_for(node)
    if plans:
        answer = combine_one(engine, plans, answer)
    audit_event(
        node,
        principal.actor,
        "traffic.lookup",
        f"address:{answer.query.public_ip}",
        {
            "port": public_port,
            "at": answer.query.to_json()["at"],
            "tolerance_seconds": tolerance.total_seconds(),
            "matches": len(answer.matches),
            "deterministic": sum(
                1 for m in answer.matches if getattr(m, "basis", None) == "deterministic"
            ),
            "reference": reference,
        },
    )
    return answer


def lookup_batch(
    node: Node,
    principal: Principal,
    ips: Sequence[str],
    ports: Sequence[int | None],
    ats_us: Any,
    tolerance: timedelta = timedelta(seconds=2),
) -> BatchAnswer | DetNatBatchAnswer:
    """Many lookups at once (vectorised), audited as one entry; with deterministic NAT
    configured, its answers are added as in ``lookup``."""
    require_hold_role(principal)
    engine = store_for(node).engine()
    batch: BatchAnswer | DetNatBatchAnswer = _lookup_batch(engine, ips, ports, ats_us, tolerance)
    plans = plans_for(node)
    if plans:
        assert isinstance(batch, BatchAnswer)
        batch = combine_batch(engine, plans, batch, ips, ports)
    found = int(batch.best_table().column("found").to_numpy(zero_copy_only=False).sum())
    audit_event(
        node,
        principal.actor,
        "traffic.lookup_batch",
        "traffic-store",
        {"queries": len(ips), "found": found},
    )
    return batch


def flows(
    node: Node,
    principal: Principal,
    ip: str,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
    limit: int = 1000,
) -> list[StoredRecord]:
    require_hold_role(principal)
    records = _flows(store_for(node), ip, start, end, kinds, limit)
    audit_event(
        node,
        principal.actor,
        "traffic.flows",
        f"address:{ip}",
        {"start": start.isoformat(), "end": end.isoformat(), "records": len(records)},
    )
    return records


def place_hold(node: Node, principal: Principal, reference: str, criteria: HoldCriteria) -> Hold:
    """Preserve: copy the matching records into a sealed hold set. ``Hold.sha256`` is the
    digest to record on the preservation request."""
    require_hold_role(principal)
    hold = _place_hold(store_for(node), reference, criteria, principal.actor, node.clock.now())
    audit_event(
        node,
        principal.actor,
        "traffic.hold_placed",
        f"hold:{hold.hold_id}",
        {
            "reference": reference,
            "criteria": hold.criteria.to_json(),
            "records": hold.records,
            "sha256": hold.sha256,
        },
    )
    return hold


def release_hold(node: Node, principal: Principal, hold_id: str, reason: str = "") -> Hold:
    require_hold_role(principal)
    hold = _release_hold(store_for(node), hold_id, principal.actor, node.clock.now(), reason)
    audit_event(
        node,
        principal.actor,
        "traffic.hold_released",
        f"hold:{hold_id}",
        {"reference": hold.reference, "sha256": hold.sha256, "reason": reason or None},
    )
    return hold


def list_holds(node: Node) -> list[Hold]:
    return _list_holds(store_for(node))


def get_hold(node: Node, hold_id: str) -> Hold:
    """One hold of this node's store (NotFound when there is none)."""
    return _get_hold(store_for(node), hold_id)


def purge(
    node: Node, actor: str, now: datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    report = _purge(store_for(node), now or node.clock.now(), dry_run=dry_run)
    if not dry_run:
        audit_event(
            node,
            actor,
            "traffic.purge",
            "traffic-store",
            {
                "now": report.now,
                "parts_deleted": report.parts_deleted,
                "records_deleted": report.records_deleted,
                "records_kept_for_holds": report.records_kept_for_holds,
                "by_kind": report.by_kind,
                "source_lines_purged": report.source_lines_purged,
                "source_lines_kept_for_holds": report.source_lines_kept_for_holds,
                "sources_rewritten": report.sources_rewritten,
                "sources_deleted": report.sources_deleted,
                "sources_kept_whole": report.sources_kept_whole,
            },
        )
    return report
