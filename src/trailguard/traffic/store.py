"""The provider's traffic store: sorted Parquet partitions on local disk, published atomically.

Layout of a traffic data dir (``<node data dir>/traffic`` or any bare directory)::

    manifest.json            the source of truth: which part files exist (written to a temp
                             file, fsynced, renamed); a file not listed here is not in the store
    config.toml              retention days and open-session horizons per data kind
    parts/provider=P/kind=K/day=YYYY-MM-DD/part-<id>.parquet   sorted records (hive layout,
                             readable by DuckDB, Spark, pandas, ...)
    parts/.../part-<id>.idx.json   the sparse primary index of that part: the first and last
                             key of every row group (ClickHouse-style "marks")
    sources/<sha256>.zst|.gz the original files, content-addressed, compressed, for auditors
    holds/<hold_id>/         sealed hold sets (see ``holds.py``)
    staging/                 work in progress; emptied on every open

Records are sorted for lookups: NAT-like kinds (nat, port_block, flow, access) by
(public_ip, public_port, start); assignment kinds (dhcp, radius) by (inside_ip, start).
Each stored row carries ``source_sha256`` besides the contract's ``source_file`` and
``source_line``, so every answer names the raw file and line and ``read_source_line`` re-reads it.

Crash safety: part files are written and fsynced in ``staging/``, renamed into ``parts/``, and
only then listed in a new manifest (atomic rename). Removal works the other way round (manifest
first, files after). A crash at any point leaves either the old or the new manifest, and files
not listed are swept at the next open. Writers hold an exclusive ``flock`` on ``.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.traffic.holds import list_holds, recover_holds
from trailguard.traffic.index import EmbeddedEngine
from trailguard.traffic.layout import (
    MANIFEST,
    STORED_SCHEMA,
    LinePurged,
    Manifest,
    PartInfo,
    SourceInfo,
    atomic_write,
    crash_point,
    fsync_dir,
    fsync_file,
    index_path_for,
    load_config,
    sha256_file,
)
from trailguard.traffic.model import RECORD_SCHEMA, FormatError, ParseOptions
from trailguard.traffic.parts import (
    compact,
    concat_compact,
    conform,
    ingest_memory_pool,
    sort_for_store,
    write_part,
)
from trailguard.traffic.values import KIND_CODES, validate_provider

# --------------------------------------------------------------------------------------------
# ingest results


@dataclass(frozen=True)
class BadLineReport:
    line_no: int
    reason: str
    text: str


@dataclass
class IngestReport:
    """What one file's ingest did; ``refused`` is set (and nothing stored) on a FormatError."""

    path: str
    sha256: str
    format: str
    lines_read: int = 0
    records_stored: int = 0
    skipped_lines: int = 0
    bad_lines: list[BadLineReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    duplicate: bool = False
    refused: str | None = None

    @property
    def bad_line_count(self) -> int:
        return len(self.bad_lines)


# --------------------------------------------------------------------------------------------
# the store


class TrafficStore:
    """A traffic data dir. Readers use ``manifest`` (a snapshot); writers take the lock."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = Path(root)
        if not self.root.exists():
            if not create:
                raise NotFound(f"no traffic store at {self.root}")
            self.root.mkdir(parents=True)
        if not self.root.is_dir():
            raise ValidationFailed(f"{self.root} is not a directory", ["data_dir"])
        for sub in ("parts", "sources", "holds", "staging"):
            (self.root / sub).mkdir(exist_ok=True)
        self.config = load_config(self.root)
        self._manifest: Manifest | None = None
        self._manifest_mtime: int = -1
        self._engine: Any = None
        self._recover_if_idle()

    # -- locking and recovery ------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Exclusive writer lock (one ingest, purge or hold change at a time)."""
        with (self.root / ".lock").open("a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _recover_if_idle(self) -> None:
        """Recover when no writer is active. A writer at work holds the lock and owns its
        staging files; a reader must neither wait for it nor sweep its work."""
        with (self.root / ".lock").open("a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            try:
                self._recover()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _recover(self) -> None:
        """Sweep what a crash may have left: staging dirs, temp files, unlisted part files."""
        staging = self.root / "staging"
        for entry in staging.iterdir():
            if not entry.is_dir():
                entry.unlink()
                continue
            with (entry / ".owner").open("a+") as owner:
                try:
                    fcntl.flock(owner.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # an ingest or purge in another process is working here
                shutil.rmtree(entry, ignore_errors=True)
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        manifest = self.manifest(refresh=True)
        listed = {p.path for p in manifest.parts}
        listed_idx = {str(index_path_for(Path(p))) for p in listed}
        parts_dir = self.root / "parts"
        for path in parts_dir.rglob("*"):
            if path.is_file():
                rel = str(path.relative_to(self.root))
                if rel not in listed and rel not in listed_idx:
                    path.unlink()
        stored = {s.stored_as for s in manifest.sources.values()}
        for path in (self.root / "sources").iterdir():
            if path.is_file() and f"sources/{path.name}" not in stored:
                path.unlink()
        recover_holds(self)

    # -- manifest ------------------------------------------------------------------------

    def manifest(self, refresh: bool = False) -> Manifest:
        path = self.root / MANIFEST
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = 0
        if refresh or self._manifest is None or mtime != self._manifest_mtime:
            self._manifest = Manifest.from_json(path.read_bytes()) if mtime else Manifest()
            self._manifest_mtime = mtime
            self._engine = None
        return self._manifest

    def publish(self, manifest: Manifest) -> None:
        """Make ``manifest`` the store's state (atomic). Caller holds the writer lock."""
        manifest.generation += 1
        atomic_write(self.root / MANIFEST, manifest.to_json())
        self._manifest = manifest
        self._manifest_mtime = (self.root / MANIFEST).stat().st_mtime_ns
        self._engine = None

    def part_path(self, part: PartInfo) -> Path:
        return self.root / part.path

    def parts(
        self, kinds: Iterable[str] | None = None, provider: str | None = None
    ) -> list[PartInfo]:
        wanted = set(kinds) if kinds is not None else None
        return [
            p
            for p in self.manifest().parts
            if (wanted is None or p.kind in wanted) and (provider is None or p.provider == provider)
        ]

    def engine(self) -> Any:
        """The embedded lookup engine over the current manifest (cached until it changes)."""
        self.manifest()
        if self._engine is None:
            self._engine = EmbeddedEngine(self)
        return self._engine

    # -- ingest --------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging_area(self) -> Iterator[Path]:
        """A private work folder under ``staging/``, removed afterwards. Its owner holds a
        lock on ``.owner`` inside it, so that recovery in another process leaves it alone."""
        path = self.root / "staging" / uuid.uuid4().hex
        path.mkdir(parents=True)
        handle = (path / ".owner").open("a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            handle.close()

    def ingest_table(
        self,
        table: pa.Table,
        *,
        provider: str,
        source_sha256: str,
        source: SourceInfo | None = None,
        staged_source: Path | None = None,
        staging: Path | None = None,
    ) -> list[PartInfo]:
        """Sort, partition and publish ``table`` (RECORD_SCHEMA) as one atomic step."""
        validate_provider(provider)
        table = conform(table, source_sha256)
        if staging is None:
            with self.staging_area() as own:
                return self._publish(table, provider, source_sha256, source, staged_source, own)
        return self._publish(table, provider, source_sha256, source, staged_source, staging)

    def _publish(
        self,
        table: pa.Table,
        provider: str,
        source_sha256: str,
        source: SourceInfo | None,
        staged_source: Path | None,
        staging: Path,
    ) -> list[PartInfo]:
        infos: list[tuple[PartInfo, Path, Path]] = []
        if table.num_rows:
            ordered, kind_code, day = sort_for_store(table)
            boundaries = np.flatnonzero((np.diff(kind_code) != 0) | (np.diff(day) != 0)) + 1
            edges = [0, *boundaries.tolist(), ordered.num_rows]
            kind_names = list(KIND_CODES)
            jobs = [
                (kind_names[int(kind_code[lo])], int(day[lo]), lo, hi)
                for lo, hi in itertools.pairwise(edges)
            ]
            # partitions are independent files: write them in parallel (Arrow's Parquet
            # writer releases the GIL)
            with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
                infos = list(
                    pool.map(
                        lambda job: write_part(
                            staging,
                            provider,
                            job[0],
                            job[1],
                            ordered.slice(job[2], job[3] - job[2]),
                            [source_sha256],
                        ),
                        jobs,
                    )
                )
        crash_point("ingest:staged")
        with self.writing():
            manifest = self.manifest(refresh=True)
            if source is not None and source.sha256 in manifest.sources:
                raise Conflict(
                    f"{source.name} (SHA-256 {source.sha256}) was ingested "
                    "meanwhile by another process; not stored twice"
                )
            for info, staged, index in infos:
                final = self.root / info.path
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.replace(final)
                index.replace(index_path_for(final))
                fsync_dir(final.parent)
            if staged_source is not None and source is not None:
                target = self.root / source.stored_as
                if not target.exists():
                    staged_source.replace(target)
                    fsync_dir(target.parent)
            crash_point("ingest:moved")
            new = Manifest(
                manifest.generation,
                [*manifest.parts, *(i for i, _, _ in infos)],
                dict(manifest.sources),
                dict(manifest.purged_sources),
            )
            if source is not None:
                new.sources[source.sha256] = source
                new.purged_sources.pop(source.sha256, None)  # ingested again after its purge
            self.publish(new)
            crash_point("ingest:published")
        return [i for i, _, _ in infos]

    def ingest_file(
        self,
        path: Path,
        *,
        provider: str,
        format_name: str | None = None,
        options: ParseOptions | None = None,
        progress: Any = None,
    ) -> IngestReport:
        """Parse one file with its parser and publish it whole, or nothing of it.

        A ``FormatError`` (wrong format, cut-short gzip, wrong encoding, missing --tz) refuses
        the whole file: the report says why and the store is unchanged. Bad lines are
        counted with their numbers. A file already ingested (same SHA-256) is not stored twice.
        """
        # the parsers load numba (the compiled ASA scanner): ingest only, never a lookup
        from trailguard.traffic.parsers import detect_format, get_parser

        validate_provider(provider)
        path = Path(path)
        if not path.is_file():
            raise ValidationFailed(f"{path} is not a readable file", ["file"])
        report = IngestReport(path=str(path), sha256="", format=format_name or "")
        try:
            parser = get_parser(format_name) if format_name else detect_format(path)
        except FormatError as exc:
            digest = sha256_file(path)
            return self._duplicate(path, digest) or replace(report, sha256=digest, refused=str(exc))
        report.format = parser.NAME
        opts = options or ParseOptions()
        if opts.source_name is None:
            opts = replace(opts, source_name=path.name)
        with (
            ingest_memory_pool(),
            self.staging_area() as staging,
            ThreadPoolExecutor(max_workers=1) as archiver,
        ):
            # the original is hashed and compressed into staging in one read while the parser
            # works (both release the GIL); a refused file's copy goes with the staging folder.
            # A file already stored (same SHA-256) is answered as such whatever the parse gave.
            archived = archiver.submit(self._stage_source, path, staging)
            tables: list[pa.Table] = []
            try:
                for batch in parser.parse(path, opts):
                    # compact at once: a big log's batches would otherwise hold every
                    # repeated text (file name, device, zone) once per row until the end
                    tables.append(compact(batch.table))
                    report.lines_read += batch.lines_read
                    report.skipped_lines += batch.skipped_lines
                    report.bad_lines.extend(
                        BadLineReport(b.line_no, b.reason, b.text) for b in batch.bad_lines
                    )
                    for note in batch.notes:
                        if note not in report.notes:
                            report.notes.append(note)
                    if progress is not None:
                        progress(batch.lines_read)
            except FormatError as exc:
                digest, suffix, staged_source = archived.result()
                report.sha256 = digest
                report.refused = str(exc)
                report.records_stored = 0
                return self._duplicate(path, digest) or report
            digest, suffix, staged_source = archived.result()
            report.sha256 = digest
            duplicate = self._duplicate(path, digest)
            if duplicate is not None:
                return duplicate
            if report.lines_read == 0:
                report.refused = f"{path.name} is empty: no lines to ingest"
                return report
            table = concat_compact(tables) if tables else RECORD_SCHEMA.empty_table()
            del tables
            stored_as = f"sources/{digest}{suffix}"
            source = SourceInfo(
                sha256=digest,
                name=path.name,
                provider=provider,
                format=parser.NAME,
                size=path.stat().st_size,
                stored_as=stored_as,
                lines_read=report.lines_read,
                records=table.num_rows,
                bad_lines=report.bad_line_count,
                skipped_lines=report.skipped_lines,
                ingested_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            )
            try:
                infos = self.ingest_table(
                    table,
                    provider=provider,
                    source_sha256=digest,
                    source=source,
                    staged_source=staged_source,
                    staging=staging,
                )
            except Conflict as exc:
                report.duplicate = True
                report.notes.append(str(exc))
                return report
            report.records_stored = table.num_rows
            report.parts = [i.path for i in infos]
            return report

    def _duplicate(self, path: Path, digest: str) -> IngestReport | None:
        """The report for a file already ingested (same SHA-256), else None."""
        existing = self.manifest().sources.get(digest)
        if existing is None:
            return None
        report = IngestReport(path=str(path), sha256=digest, format=existing.format)
        report.duplicate = True
        report.notes.append(
            f"already ingested as {existing.name} on {existing.ingested_at}; not stored twice"
        )
        return report

    def _stage_source(self, path: Path, staging: Path) -> tuple[str, str, Path]:
        """Copy the original into staging, compressed (zstd), or as-is when already gzip,
        hashing it on the way: (SHA-256, suffix, staged file)."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            gz = handle.read(2) == b"\x1f\x8b"
        suffix = ".gz" if gz else ".zst"
        target = staging / f"source{suffix}"
        with path.open("rb") as src:
            if gz:
                with target.open("wb") as out:
                    while chunk := src.read(8 * 1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
            else:
                sink = pa.OSFile(str(target), "wb")
                with pa.CompressedOutputStream(sink, "zstd") as out:
                    while chunk := src.read(8 * 1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
        fsync_file(target)
        return digest.hexdigest(), suffix, target

    def read_source_line(self, sha256: str, line_no: int) -> str:
        """The raw text of line ``line_no`` (1-based) of an ingested original, for auditors.
        A line a purge removed raises ``LinePurged`` (its text is gone)."""
        manifest = self.manifest()
        source = manifest.sources.get(sha256) or manifest.purged_sources.get(sha256)
        if source is None:
            raise NotFound(f"no ingested source file with SHA-256 {sha256}")
        if line_no < 1:
            raise ValidationFailed(f"line number {line_no} must be 1 or more", ["line"])
        if sha256 not in manifest.sources and line_no > source.lines_read:
            raise NotFound(f"{source.name} had no line {line_no} (it had {source.lines_read})")
        if source.purged(line_no):
            raise LinePurged(
                f"line {line_no} of {source.name} (SHA-256 {sha256}) was purged on "
                f"{source.purged_at}: its records were past retention and no hold covered them"
            )
        path = self.root / source.stored_as
        codec = "gzip" if path.suffix == ".gz" else "zstd"
        with pa.CompressedInputStream(pa.OSFile(str(path)), codec) as raw:
            buffered = pa.input_stream(raw, buffer_size=1 << 20)
            count = 0
            pending = b""
            while True:
                chunk = buffered.read(1 << 20)
                if not chunk:
                    break
                data = pending + chunk
                lines = data.split(b"\n")
                pending = lines.pop()
                if count + len(lines) >= line_no:
                    return lines[line_no - count - 1].rstrip(b"\r").decode("utf-8", "replace")
                count += len(lines)
            if pending and count + 1 == line_no:
                return pending.rstrip(b"\r").decode("utf-8", "replace")
        raise NotFound(f"{source.name} has no line {line_no} (it has {count + bool(pending)})")

    def verify_source(self, sha256: str) -> bool:
        """Re-hash an archived original and compare with its name (after a purge removed
        some of its lines: with the digest recorded for the archive as the purge left it)."""
        source = self.manifest().sources.get(sha256)
        if source is None:
            raise NotFound(f"no ingested source file with SHA-256 {sha256}")
        path = self.root / source.stored_as
        digest = hashlib.sha256()
        if source.archive_sha256 is not None:
            with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as raw:
                while chunk := raw.read(8 * 1024 * 1024):
                    digest.update(chunk)
            return digest.hexdigest() == source.archive_sha256
        if path.suffix == ".gz":
            digest.update(path.read_bytes())
        else:
            with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as raw:
                while chunk := raw.read(8 * 1024 * 1024):
                    digest.update(chunk)
        return digest.hexdigest() == sha256

    # -- reading -------------------------------------------------------------------------

    def read_part(
        self, part: PartInfo, columns: list[str] | None = None, filters: Any = None
    ) -> pa.Table:
        return pq.read_table(
            self.part_path(part), columns=columns, filters=filters, schema=STORED_SCHEMA
        )

    def stats(self) -> dict[str, Any]:
        manifest = self.manifest()
        by_kind: dict[str, dict[str, Any]] = {}
        for part in manifest.parts:
            entry = by_kind.setdefault(
                part.kind, {"parts": 0, "rows": 0, "bytes": 0, "days": set(), "providers": set()}
            )
            entry["parts"] += 1
            entry["rows"] += part.rows
            entry["bytes"] += part.bytes
            entry["days"].add(part.day)
            entry["providers"].add(part.provider)
        kinds = {}
        for kind, entry in sorted(by_kind.items()):
            days = sorted(entry["days"])
            kinds[kind] = {
                "parts": entry["parts"],
                "rows": entry["rows"],
                "bytes": entry["bytes"],
                "bytes_per_record": round(entry["bytes"] / entry["rows"], 2)
                if entry["rows"]
                else None,
                "first_day": days[0],
                "last_day": days[-1],
                "days": len(days),
                "providers": sorted(entry["providers"]),
                "retention_days": self.config.retention_days.get(kind),
            }
        source_bytes = sum(
            (self.root / s.stored_as).stat().st_size
            for s in manifest.sources.values()
            if (self.root / s.stored_as).exists()
        )
        holds = list_holds(self)
        return {
            "root": str(self.root),
            "generation": manifest.generation,
            "records": sum(p.rows for p in manifest.parts),
            "parquet_bytes": sum(p.bytes for p in manifest.parts),
            "source_files": len(manifest.sources),
            "source_bytes": source_bytes,
            "kinds": kinds,
            "holds_active": sum(1 for h in holds if h.status == "active"),
            "holds_released": sum(1 for h in holds if h.status != "active"),
        }

    def duckdb(self) -> Any:
        """A DuckDB connection with a view ``records`` over exactly the published parts."""
        # DuckDB (a large native library) loads only for this ad-hoc view, not with the store
        import duckdb

        con = duckdb.connect()
        paths = [str(self.part_path(p)) for p in self.manifest().parts]
        if paths:
            listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            # the paths come from our own manifest and are quoted; DuckDB has no parameters
            # in CREATE VIEW
            con.execute(
                f"CREATE VIEW records AS SELECT * FROM read_parquet([{listing}], "  # noqa: S608
                "hive_partitioning = true, union_by_name = true)"
            )
        else:
            cols = ", ".join(f'CAST(NULL AS VARCHAR) AS "{f.name}"' for f in STORED_SCHEMA)
            con.execute(f"CREATE VIEW records AS SELECT {cols} WHERE false")
        return con


def open_store(data_dir: Path) -> TrafficStore:
    """The store of a data dir: always ``<data_dir>/traffic`` (``NodePaths.traffic``), whether
    the dir was made by ``trailguard init`` or is a bare directory (created when missing) of a
    provider who only uses the store."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ValidationFailed(f"{data_dir} is not a directory", ["data_dir"])
    return TrafficStore(data_dir / "traffic")
