"""The files of a traffic data dir: ``config.toml``, ``manifest.json`` and what it lists (parts,
archived sources), and the durable-write helpers (fsync, atomic rename, crash points for the
crash tests). The layout itself is described in ``store.py``."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import tomli_w

from trailguard.core.errors import NotFound, ValidationFailed
from trailguard.traffic.model import RECORD_SCHEMA
from trailguard.traffic.values import KIND_CODES

MANIFEST = "manifest.json"
CONFIG = "config.toml"
ROW_GROUP_ROWS = 8192  # one "granule": the unit the sparse index points at


STORED_SCHEMA = RECORD_SCHEMA.append(pa.field("source_sha256", pa.string(), nullable=False))


# Days each kind is kept when config.toml says nothing (a provider sets its own legal periods).
DEFAULT_RETENTION_DAYS = {
    "nat": 180, "port_block": 180, "flow": 30, "dhcp": 365, "radius": 365, "access": 90,
}  # fmt: skip
# How long a record without an end (a "create" with no teardown yet, a RADIUS start without a
# stop) is taken to last at most, unless a later record for the same key starts first.
DEFAULT_OPEN_HOURS = {
    "nat": 24, "port_block": 24, "flow": 1, "dhcp": 168, "radius": 168, "access": 0,
}  # fmt: skip


CRASH_ENV = "TRAILGUARD_TRAFFIC_CRASH_AT"


def crash_point(name: str) -> None:
    """Test hook: when ``TRAILGUARD_TRAFFIC_CRASH_AT`` names this point, write a marker file
    (``<value of TRAILGUARD_TRAFFIC_CRASH_MARKER>``) and sleep so that a test can SIGKILL us
    exactly here. Costs one environment read otherwise."""
    if os.environ.get(CRASH_ENV) != name:
        return
    marker = os.environ.get("TRAILGUARD_TRAFFIC_CRASH_MARKER")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    time.sleep(float(os.environ.get("TRAILGUARD_TRAFFIC_CRASH_SLEEP", "60")))


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class StoreConfig:
    retention_days: dict[str, int]
    open_hours: dict[str, int]

    @classmethod
    def default(cls) -> StoreConfig:
        return cls(dict(DEFAULT_RETENTION_DAYS), dict(DEFAULT_OPEN_HOURS))

    def open_us(self, kind: str) -> int:
        return int(self.open_hours.get(kind, 0)) * 3_600_000_000


def load_config(root: Path) -> StoreConfig:
    """``config.toml`` in the traffic dir; absent keys take the defaults; bad values refused."""
    config = StoreConfig.default()
    path = root / CONFIG
    if not path.exists():
        return config
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path} is not valid TOML: {exc}", ["config"]) from exc
    problems: list[str] = []
    for section, target in (
        ("retention_days", config.retention_days),
        ("open_hours", config.open_hours),
    ):
        values = raw.get(section, {})
        if not isinstance(values, dict):
            problems.append(f"[{section}] must be a table of kind = number")
            continue
        for kind, days in values.items():
            if kind not in KIND_CODES:
                problems.append(f"[{section}] names unknown kind {kind!r}")
            elif isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36500:
                problems.append(f"[{section}] {kind} = {days!r} must be a whole number 0..36500")
            else:
                target[kind] = days
    if problems:
        raise ValidationFailed(f"{path} has bad values: " + "; ".join(problems), problems)
    return config


def save_config(root: Path, config: StoreConfig) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps({"retention_days": config.retention_days, "open_hours": config.open_hours})
    atomic_write(root / CONFIG, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# manifest


@dataclass(frozen=True)
class PartInfo:
    """One published, immutable, sorted Parquet file of one partition."""

    part_id: str
    provider: str
    kind: str
    day: str  # YYYY-MM-DD of the records' start (UTC)
    path: str  # relative to the traffic dir
    rows: int
    bytes: int
    sha256: str
    min_start_us: int
    max_start_us: int
    max_end_us: int  # over records that have an end (or min_start_us when none does)
    open_rows: int  # records without an end
    row_groups: int
    source_sha256: list[str] = field(default_factory=list)
    # Records without an end whose session partner (a teardown, a stop) is in the part end
    # with it; only the others run to the open-session horizon. Written since the store
    # pairs them at write time (older manifests lack them: the horizon bounds every open row).
    paired_reach_us: int | None = None  # latest end of closed and paired records
    unpaired_max_start_us: int | None = None  # latest start of unpaired open ones, if any

    def max_reach_us(self, config: StoreConfig) -> int:
        """The latest instant any record of this part can cover."""
        if self.paired_reach_us is not None:
            reach = self.paired_reach_us
            if self.unpaired_max_start_us is not None:
                reach = max(reach, self.unpaired_max_start_us + config.open_us(self.kind))
            return max(reach, self.max_start_us)
        reach = self.max_end_us
        if self.open_rows:
            reach = max(reach, self.max_start_us + config.open_us(self.kind))
        return max(reach, self.max_start_us)


@dataclass(frozen=True)
class SourceInfo:
    """One ingested original file."""

    sha256: str
    name: str
    provider: str
    format: str
    size: int
    stored_as: str  # relative path under sources/
    lines_read: int
    records: int
    bad_lines: int
    skipped_lines: int
    ingested_at: str
    # After a purge removed some of its lines (see ``retention``): the purged line ranges
    # [first, last] (1-based, inclusive, sorted), when, and the SHA-256 of the archived text
    # as it is now (its purged lines empty); ``sha256`` stays the original's.
    purged_lines: list[list[int]] = field(default_factory=list)
    purged_at: str | None = None
    archive_sha256: str | None = None

    def purged(self, line_no: int) -> bool:
        """Whether a purge removed line ``line_no`` from the archive."""
        at = bisect.bisect_right(self.purged_lines, [line_no, 2**62]) - 1
        return at >= 0 and self.purged_lines[at][0] <= line_no <= self.purged_lines[at][1]


@dataclass
class Manifest:
    generation: int = 0
    parts: list[PartInfo] = field(default_factory=list)
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    # originals a purge deleted whole: what they were, every line purged, no file (so that an
    # auditor asking for one of their lines is told it was purged, not that it never existed)
    purged_sources: dict[str, SourceInfo] = field(default_factory=dict)

    def to_json(self) -> bytes:
        payload = {
            "format": "trailguard-traffic-store/1",
            "generation": self.generation,
            "parts": [asdict(p) for p in self.parts],
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
        }
        if self.purged_sources:
            payload["purged_sources"] = {
                k: asdict(v) for k, v in sorted(self.purged_sources.items())
            }
        return json.dumps(payload, indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = json.loads(data)
        return cls(
            generation=int(raw["generation"]),
            parts=[PartInfo(**p) for p in raw["parts"]],
            sources={k: SourceInfo(**v) for k, v in raw["sources"].items()},
            purged_sources={k: SourceInfo(**v) for k, v in raw.get("purged_sources", {}).items()},
        )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, rename over ``path``, fsync dir."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class LinePurged(NotFound):
    """The line asked for was removed from its archived original by a purge."""


def rewrite_source(
    path: Path, target: Path, drop: Callable[[np.ndarray], np.ndarray]
) -> tuple[str, int]:
    """Copy the archived original ``path`` (zstd or gzip) to ``target`` (zstd) with the lines
    for which ``drop(line_numbers)`` is True emptied (their line ends kept, so every other line
    keeps its number); fsynced. Returns the SHA-256 of the text written and its line count."""
    codec = "gzip" if path.suffix == ".gz" else "zstd"
    digest = hashlib.sha256()
    line = 1
    pending = b""
    sink = pa.OSFile(str(target), "wb")
    with (
        pa.CompressedInputStream(pa.OSFile(str(path)), codec) as raw,
        pa.CompressedOutputStream(sink, "zstd") as out,
    ):

        def emit(data: bytes) -> None:
            if data:
                digest.update(data)
                out.write(data)

        while True:
            chunk = raw.read(4 * 1024 * 1024)
            data = pending + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                body, pending = data[:cut], data[cut:]
            else:
                body, pending = data, b""
            if body:
                buf = np.frombuffer(body, dtype=np.uint8)
                ends = np.flatnonzero(buf == 10) + 1  # each line's end, its newline included
                if not len(ends) or ends[-1] != len(body):  # the last line, without a newline
                    ends = np.append(ends, len(body))
                starts = np.concatenate([[0], ends[:-1]])
                dropped = np.asarray(drop(np.arange(line, line + len(ends))), dtype=bool)
                edges = np.flatnonzero(np.diff(dropped.view(np.int8))) + 1
                for lo, hi in itertools.pairwise([0, *edges.tolist(), len(ends)]):
                    if dropped[lo]:
                        newlines = int((buf[ends[lo:hi] - 1] == 10).sum())
                        emit(b"\n" * newlines)
                    else:
                        emit(body[starts[lo] : ends[hi - 1]])
                line += len(ends)
            if not chunk:
                break
    fsync_file(target)
    return digest.hexdigest(), line - 1


def index_path_for(part_path: Path) -> Path:
    return part_path.with_name(part_path.name.replace(".parquet", ".idx.json"))
