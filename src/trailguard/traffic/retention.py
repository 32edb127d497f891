"""Retention: delete what is past its kind's retention period, except what a hold covers.

Purging works on whole day partitions: a partition of day D and kind K goes when
D + 1 day + retention_days(K) <= now (its newest possible record is past retention). If an
active hold covers some of its records, the partition is rewritten with those records only.
Order of work (crash safe): rewritten parts are written and fsynced first, then the manifest
without the expired parts (and with the rewritten ones) is published, then the old files and
the archived originals no part refers to any more are deleted. A crash before the publish
leaves the old state; after it, the next open sweeps the unlisted files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc

from trailguard.core.clock import ensure_utc
from trailguard.traffic.holds import active_held_keys, record_keys
from trailguard.traffic.store import (
    Manifest,
    PartInfo,
    TrafficStore,
    crash_point,
    fsync_dir,
    index_path_for,
    write_part,
)


@dataclass
class PurgeReport:
    now: str
    dry_run: bool
    parts_deleted: int = 0
    parts_kept_for_holds: int = 0
    records_deleted: int = 0
    records_kept_for_holds: int = 0
    bytes_freed: int = 0
    sources_deleted: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def expiry_of(part: PartInfo, retention_days: int) -> datetime:
    """The instant from which the whole partition is past retention."""
    day = date.fromisoformat(part.day)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 + retention_days)


def purge(store: TrafficStore, now: datetime, *, dry_run: bool = False) -> PurgeReport:
    now = ensure_utc(now)
    report = PurgeReport(now=now.isoformat(), dry_run=dry_run)
    with store.writing():
        manifest = store.manifest(refresh=True)
        config = store.config
        expired = [
            p for p in manifest.parts if expiry_of(p, config.retention_days.get(p.kind, 0)) <= now
        ]
        if not expired:
            return report
        held = active_held_keys(store)
        with store.staging_area() as staging:
            rewritten: list[tuple[PartInfo, Path, Path]] = []
            for part in expired:
                kept = 0
                if len(held):
                    table = store.read_part(part)
                    mask = pc.is_in(record_keys(table), value_set=held)
                    kept = int(pc.sum(mask).as_py() or 0)
                    if kept:
                        subset = table.filter(mask)
                        sources = sorted(set(subset.column("source_sha256").to_pylist()))
                        day_number = (date.fromisoformat(part.day) - date(1970, 1, 1)).days
                        if not dry_run:
                            rewritten.append(
                                write_part(
                                    staging, part.provider, part.kind, day_number, subset, sources
                                )
                            )
                        report.parts_kept_for_holds += 1
                        report.records_kept_for_holds += kept
                report.parts_deleted += 1
                report.records_deleted += part.rows - kept
                report.bytes_freed += part.bytes
                report.by_kind[part.kind] = report.by_kind.get(part.kind, 0) + part.rows - kept
            if dry_run:
                return report
            crash_point("purge:staged")
            for info, staged, index in rewritten:
                final = store.root / info.path
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.replace(final)
                index.replace(index_path_for(final))
                fsync_dir(final.parent)
            gone = {p.part_id for p in expired}
            remaining = [p for p in manifest.parts if p.part_id not in gone]
            remaining += [info for info, _, _ in rewritten]
            referenced = {sha for p in remaining for sha in p.source_sha256}
            kept_sources = {k: v for k, v in manifest.sources.items() if k in referenced}
            dropped_sources = [v for k, v in manifest.sources.items() if k not in referenced]
            store.publish(Manifest(manifest.generation, remaining, kept_sources))
            crash_point("purge:published")
            for part in expired:
                path = store.part_path(part)
                path.unlink(missing_ok=True)
                index_path_for(path).unlink(missing_ok=True)
            for source in dropped_sources:
                (store.root / source.stored_as).unlink(missing_ok=True)
            report.sources_deleted = len(dropped_sources)
            report.bytes_freed -= sum(info.bytes for info, _, _ in rewritten)
            return report


def retention_deadline(part: PartInfo, store: TrafficStore) -> datetime:
    """When this part will be purged (unless held)."""
    return expiry_of(part, store.config.retention_days.get(part.kind, 0))
