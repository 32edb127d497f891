"""Retention: delete what is past its kind's retention period, except what a hold covers.

Purging works on whole day partitions: a partition of day D and kind K goes when
D + 1 day + retention_days(K) <= now (its newest possible record is past retention). If an
active hold covers some of its records, the partition is rewritten with those records only.
Order of work (crash safe): rewritten parts are written and fsynced first, then the manifest
without the expired parts (and with the rewritten ones) is published, then the old files and
the archived originals no part refers to any more are deleted. A crash before the publish
leaves the old state; after it, the next open sweeps the unlisted files.

The archived originals (``sources/``) go the same way, line by line: a purge leaves in an
original only the lines that are still within retention or under a hold, and empties the others
(their line ends kept, so every line keeps its number; the manifest lists the purged line
ranges and ``read_source_line`` answers "purged" for them). Which lines are past retention:

- a line that gave records is past retention when each of its records is (its partition is
  expired); a hold keeps it when the hold covers one of its records;
- a line that gave no record (a header, a comment, a bad or a skipped line) shares the
  retention of the nearest record line before it (for lines before the first record line: of
  that one); holds cover record lines only;
- in the block formats (``BLOCK_FORMATS``: DHCP leases, RADIUS detail) a record is written over
  several lines; the lines from a record's first line up to the next record's first line share
  that record's fate, its hold included.

The rewritten original is written to staging and fsynced, renamed to a new name under
``sources/`` and listed by the same manifest publish as the parts; the old one is deleted
after it (a crash leaves either the old manifest and original, or the new ones; the next open
sweeps the unlisted file). Binary originals (``LINELESS_FORMATS``: NetFlow/IPFIX export packets
and pcaps) have no lines to empty: such a file is kept whole while a record of it is kept (held
or within retention) and deleted with its last record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.core.clock import ensure_utc
from trailguard.traffic.holds import active_held_keys, record_keys
from trailguard.traffic.layout import (
    Manifest,
    PartInfo,
    SourceInfo,
    crash_point,
    fsync_dir,
    index_path_for,
    rewrite_source,
)
from trailguard.traffic.parts import write_part
from trailguard.traffic.store import TrafficStore

# formats whose records span several lines (a record's lines run to the next record's first)
BLOCK_FORMATS = frozenset({"isc-dhcpd-leases", "freeradius-detail"})
# binary formats: no lines to empty, the original is kept whole while a record of it is kept
LINELESS_FORMATS = frozenset({"netflow"})


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
    # lines of archived originals: emptied by this purge, kept only because a hold covers
    # them, originals rewritten, and binary originals kept whole for a held record
    source_lines_purged: int = 0
    source_lines_kept_for_holds: int = 0
    sources_rewritten: int = 0
    sources_kept_whole: int = 0


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
        gone = {p.part_id for p in expired}
        touched = {sha for p in expired for sha in p.source_sha256}
        lines = _RecordLines(touched)
        with store.staging_area() as staging:
            rewritten: list[tuple[PartInfo, Path, Path]] = []
            for part in expired:
                kept = 0
                table = store.read_part(part, columns=None if len(held) else _LINE_COLUMNS)
                lines.add("expired", table)
                if len(held):
                    mask = pc.is_in(record_keys(table), value_set=held)
                    kept = int(pc.sum(mask).as_py() or 0)
                    if kept:
                        subset = table.filter(mask)
                        lines.add("held", subset)
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
            for part in manifest.parts:
                if part.part_id not in gone and touched.intersection(part.source_sha256):
                    lines.add("live", store.read_part(part, columns=_LINE_COLUMNS))
            # which lines of each touched original stay (see the module's docstring)
            plans: dict[str, _LinePlan] = {}
            for sha in sorted(touched):
                original = manifest.sources.get(sha)
                plan = lines.plan(sha, original) if original is not None else None
                if plan is None or original is None:
                    continue
                if original.format in LINELESS_FORMATS:
                    if plan.held_only_whole:
                        report.sources_kept_whole += 1
                    continue
                fresh, held_only = plan.counts(original.lines_read)
                report.source_lines_kept_for_holds += held_only
                if fresh and plan.any_kept:
                    report.source_lines_purged += fresh
                    report.sources_rewritten += 1
                    plans[sha] = plan
            if dry_run:
                return report
            new_sources: dict[str, SourceInfo] = {}
            for sha, plan in plans.items():
                old = manifest.sources[sha]
                staged = staging / f"source-{sha}.zst"
                digest, total = rewrite_source(store.root / old.stored_as, staged, plan.drop)
                new_sources[sha] = replace(
                    old,
                    stored_as=f"sources/{sha}.{uuid.uuid4().hex[:12]}.zst",
                    purged_lines=plan.purged_ranges(total),
                    purged_at=now.isoformat(),
                    archive_sha256=digest,
                )
                plan.staged = staged
            crash_point("purge:staged")
            for info, staged, index in rewritten:
                final = store.root / info.path
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.replace(final)
                index.replace(index_path_for(final))
                fsync_dir(final.parent)
            for sha, source in new_sources.items():
                plans[sha].staged.replace(store.root / source.stored_as)
            if new_sources:
                fsync_dir(store.root / "sources")
            crash_point("purge:moved")
            remaining = [p for p in manifest.parts if p.part_id not in gone]
            remaining += [info for info, _, _ in rewritten]
            referenced = {sha for p in remaining for sha in p.source_sha256}
            kept_sources = {
                k: new_sources.get(k, v) for k, v in manifest.sources.items() if k in referenced
            }
            dropped_sources = [v for k, v in manifest.sources.items() if k not in referenced]
            purged_sources = dict(manifest.purged_sources)
            for source in dropped_sources:
                purged_sources[source.sha256] = replace(
                    source,
                    stored_as="",
                    purged_lines=[[1, source.lines_read]] if source.lines_read else [],
                    purged_at=now.isoformat(),
                    archive_sha256=None,
                )
            store.publish(Manifest(manifest.generation, remaining, kept_sources, purged_sources))
            crash_point("purge:published")
            for part in expired:
                path = store.part_path(part)
                path.unlink(missing_ok=True)
                index_path_for(path).unlink(missing_ok=True)
            for source in dropped_sources:
                (store.root / source.stored_as).unlink(missing_ok=True)
            for sha in new_sources:
                (store.root / manifest.sources[sha].stored_as).unlink(missing_ok=True)
            report.sources_deleted = len(dropped_sources)
            report.source_lines_purged += sum(
                s.lines_read - _count_ranges(s.purged_lines) for s in dropped_sources
            )
            report.bytes_freed -= sum(info.bytes for info, _, _ in rewritten)
            return report


_LINE_COLUMNS = ["source_sha256", "source_line"]


def _count_ranges(ranges: list[list[int]]) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


class _LinePlan:
    """Which lines of one archived original a purge keeps."""

    def __init__(
        self,
        rec: np.ndarray,
        time_keep: np.ndarray,
        hold_keep: np.ndarray,
        block: bool,
        done: list[list[int]],
    ) -> None:
        self.rec = rec  # sorted line numbers that gave records
        self.time_keep = time_keep  # per record line: a record of it is within retention
        self.keep = time_keep | hold_keep  # ... or under a hold
        self.block = block
        self.done_lo = np.array([r[0] for r in done], dtype=np.int64)
        self.done_hi = np.array([r[1] for r in done], dtype=np.int64)
        self.any_kept = bool(self.keep.any())
        self.held_only_whole = bool(hold_keep.any() and not time_keep.any())
        self.staged = Path()

    def _kept(self, numbers: np.ndarray, per_record: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.rec, numbers, side="right") - 1
        before = idx < 0
        idx = np.maximum(idx, 0)
        if self.block:
            kept = per_record[idx]
            kept[before] = self.time_keep[0]
        else:
            is_rec = self.rec[idx] == numbers
            kept = np.where(is_rec, per_record[idx], self.time_keep[idx])
        return kept

    def already(self, numbers: np.ndarray) -> np.ndarray:
        if not len(self.done_lo):
            return np.zeros(len(numbers), dtype=bool)
        idx = np.searchsorted(self.done_lo, numbers, side="right") - 1
        ok = idx >= 0
        return ok & (numbers <= self.done_hi[np.maximum(idx, 0)])

    def drop(self, numbers: np.ndarray) -> np.ndarray:
        """True for the lines that are not in the rewritten original."""
        return ~self._kept(numbers, self.keep) | self.already(numbers)

    def counts(self, total: int) -> tuple[int, int]:
        """(lines this purge empties, lines kept only because a hold covers them)."""
        fresh = held_only = 0
        for lo in range(1, total + 1, _STEP):
            numbers = np.arange(lo, min(lo + _STEP, total + 1), dtype=np.int64)
            done = self.already(numbers)
            kept = self._kept(numbers, self.keep)
            by_time = self._kept(numbers, self.time_keep)
            fresh += int((~kept & ~done).sum())
            held_only += int((kept & ~by_time & ~done).sum())
        return fresh, held_only

    def purged_ranges(self, total: int) -> list[list[int]]:
        ranges: list[list[int]] = []
        for lo in range(1, total + 1, _STEP):
            numbers = np.arange(lo, min(lo + _STEP, total + 1), dtype=np.int64)
            dropped = self.drop(numbers).view(np.int8)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], dropped, [0]])))
            for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
                first, last = int(numbers[a]), int(numbers[b - 1])
                if ranges and ranges[-1][1] == first - 1:
                    ranges[-1][1] = last
                else:
                    ranges.append([first, last])
        return ranges


_STEP = 1 << 22


class _RecordLines:
    """The line numbers that gave records, per original, from expired, held and live parts."""

    def __init__(self, touched: set[str]) -> None:
        self.touched = touched
        self.found: dict[str, dict[str, list[np.ndarray]]] = {}

    def add(self, which: str, table: pa.Table) -> None:
        if not table.num_rows:
            return
        shas = table.column("source_sha256")
        for sha in pc.unique(shas).to_pylist():
            if sha not in self.touched:
                continue
            picked = table.column("source_line").filter(pc.equal(shas, sha))
            numbers = np.asarray(picked.to_numpy(), dtype=np.int64)
            self.found.setdefault(sha, {}).setdefault(which, []).append(numbers)

    def _lines(self, sha: str, which: str) -> np.ndarray:
        arrays = self.found.get(sha, {}).get(which, [])
        if not arrays:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(arrays))

    def plan(self, sha: str, info: SourceInfo) -> _LinePlan | None:
        expired, held, live = (self._lines(sha, w) for w in ("expired", "held", "live"))
        rec = np.unique(np.concatenate([expired, live]))
        if not len(rec):
            return None
        return _LinePlan(
            rec,
            np.isin(rec, live),
            np.isin(rec, held),
            info.format in BLOCK_FORMATS,
            info.purged_lines,
        )


def retention_deadline(part: PartInfo, store: TrafficStore) -> datetime:
    """When this part will be purged (unless held)."""
    return expiry_of(part, store.config.retention_days.get(part.kind, 0))
