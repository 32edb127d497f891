"""Holds: sealed copies of the records a preservation covers, which purges cannot remove.

Placing a hold selects the stored records matching its criteria (an address, optionally a port,
a time window, the data kinds; with ``include_assignments`` also the DHCP/RADIUS records of the
inside addresses the NAT records name), writes them to ``holds/<hold_id>/records.parquet``,
and seals it: the file is made read-only and its SHA-256 is written to ``hold.json`` and
returned (the requests capability records it on the preservation request). While the hold is
active, ``purge`` keeps these records in the store as well. Releasing it (authorised at the
service layer) marks it released and deletes the copy; the digest stays on record.

A hold set is built in ``holds/.staging-<id>/`` and renamed into place, so a crash leaves
either no hold or a complete one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailguard.core.clock import ensure_utc
from trailguard.core.errors import Conflict, NotFound, ValidationFailed
from trailguard.traffic.layout import (
    STORED_SCHEMA,
    atomic_write,
    crash_point,
    fsync_dir,
    fsync_file,
    sha256_file,
)
from trailguard.traffic.values import ASSIGNMENT, KIND_CODES, canonical_ip, check_port, to_us

if TYPE_CHECKING:  # the store recovers and counts holds: annotations only
    from trailguard.traffic.store import TrafficStore

_REFERENCE = re.compile(r"^[\w./:#@+-][\w ./:#@+-]{0,199}$")
_HOLD_ID = re.compile(r"^hold-[0-9a-f]{16}$")
MAX_WINDOW = timedelta(days=400)


@dataclass(frozen=True)
class HoldCriteria:
    """Which records a hold covers."""

    ip: str
    start: datetime
    end: datetime
    port: int | None = None
    kinds: tuple[str, ...] = ("nat", "port_block", "flow", "dhcp", "radius", "access")
    include_assignments: bool = True

    def validated(self) -> HoldCriteria:
        problems = []
        try:
            start, end = ensure_utc(self.start), ensure_utc(self.end)
        except ValueError as exc:
            raise ValidationFailed(str(exc), ["start", "end"]) from exc
        if end < start:
            problems.append(f"window end {end.isoformat()} is before its start {start.isoformat()}")
        if end - start > MAX_WINDOW:
            problems.append(f"window of {end - start} is longer than {MAX_WINDOW}")
        unknown = [k for k in self.kinds if k not in KIND_CODES]
        if unknown or not self.kinds:
            problems.append(f"kinds {list(self.kinds)!r} must be among {sorted(KIND_CODES)}")
        if problems:
            raise ValidationFailed("bad hold criteria: " + "; ".join(problems), problems)
        return HoldCriteria(
            canonical_ip(self.ip),
            start,
            end,
            check_port(self.port),
            tuple(sorted(set(self.kinds))),
            self.include_assignments,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "port": self.port,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kinds": list(self.kinds),
            "include_assignments": self.include_assignments,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HoldCriteria:
        return cls(
            ip=raw["ip"],
            port=raw["port"],
            start=datetime.fromisoformat(raw["start"]),
            end=datetime.fromisoformat(raw["end"]),
            kinds=tuple(raw["kinds"]),
            include_assignments=bool(raw["include_assignments"]),
        )


@dataclass
class Hold:
    hold_id: str
    reference: str
    criteria: HoldCriteria
    placed_by: str
    placed_at: str
    records: int
    sha256: str
    status: str = "active"
    released_by: str | None = None
    released_at: str | None = None
    release_reason: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["criteria"] = self.criteria.to_json()
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Hold:
        raw = dict(raw)
        raw["criteria"] = HoldCriteria.from_json(raw["criteria"])
        return cls(**raw)


def _holds_dir(store: TrafficStore) -> Path:
    return store.root / "holds"


def _overlap_mask(table: pa.Table, lo_us: int, hi_us: int) -> pa.Array:
    start = table.column("start").cast(pa.int64())
    end = pc.coalesce(table.column("end").cast(pa.int64()), start)
    return pc.and_(pc.less_equal(start, hi_us), pc.greater_equal(end, lo_us))


def select_records(store: TrafficStore, criteria: HoldCriteria) -> pa.Table:
    """The stored records a hold with these criteria covers (STORED_SCHEMA)."""
    lo, hi = to_us(criteria.start), to_us(criteria.end)
    pieces: list[pa.Table] = []
    ip = criteria.ip
    ip_filter = [[("public_ip", "=", ip)], [("inside_ip", "=", ip)], [("dst_ip", "=", ip)]]
    config = store.config
    nat_inside: set[str] = set()
    for part in store.parts(criteria.kinds):
        if part.min_start_us > hi or part.max_reach_us(config) < lo:
            continue
        table = store.read_part(part, filters=ip_filter)
        if not table.num_rows:
            continue
        mask = _overlap_mask(table, lo, hi)
        if criteria.port is not None:
            port = criteria.port
            block = pc.and_(
                pc.less_equal(table.column("public_port"), port),
                pc.greater_equal(table.column("public_port_end"), port),
            )
            hits = [
                pc.fill_null(pc.equal(table.column(c), port), False)
                for c in ("public_port", "inside_port", "dst_port")
            ]
            hits.append(pc.fill_null(block, False))
            port_hit = pc.or_(pc.or_(hits[0], hits[1]), pc.or_(hits[2], hits[3]))
            addressless = pa.array(
                np.isin(
                    table.column("kind").to_numpy(zero_copy_only=False),
                    [k.value for k in ASSIGNMENT],
                )
            )
            mask = pc.and_(mask, pc.or_(port_hit, addressless))
        picked = table.filter(pc.fill_null(mask, False))
        if picked.num_rows:
            pieces.append(picked)
            if part.kind in ("nat", "port_block"):
                nat_inside.update(v for v in picked.column("inside_ip").to_pylist() if v)
    if criteria.include_assignments and nat_inside:
        value_set = pa.array(sorted(nat_inside), pa.string())
        for part in store.parts([k.value for k in ASSIGNMENT]):
            if part.min_start_us > hi or part.max_reach_us(config) < lo:
                continue
            table = store.read_part(part, filters=[("inside_ip", "in", sorted(nat_inside))])
            mask = pc.and_(
                _overlap_mask(table, lo, hi),
                pc.is_in(table.column("inside_ip"), value_set=value_set),
            )
            picked = table.filter(pc.fill_null(mask, False))
            if picked.num_rows:
                pieces.append(picked)
    if not pieces:
        return STORED_SCHEMA.empty_table()
    table = pa.concat_tables(pieces)
    keys = record_keys(table)
    _, first = np.unique(np.asarray(keys.to_numpy(zero_copy_only=False)), return_index=True)
    return table.take(pa.array(np.sort(first)))


def record_keys(table: pa.Table) -> pa.Array:
    """The identity of a stored record: source digest, line, kind and start."""
    if not table.num_rows:
        return pa.array([], pa.string())
    cols = [
        table.column("source_sha256").cast(pa.string()),
        table.column("source_line").cast(pa.string()),
        table.column("kind").cast(pa.string()),
        table.column("start").cast(pa.int64()).cast(pa.string()),
    ]
    joined = pc.binary_join_element_wise(*cols, ":")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def place_hold(
    store: TrafficStore, reference: str, criteria: HoldCriteria, actor: str, now: datetime
) -> Hold:
    """Copy the matching records into a sealed hold set; returns it with its SHA-256."""
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise ValidationFailed(
            f"hold reference {reference!r} must be 1-200 letters, digits, spaces or ./:#@+-_",
            ["reference"],
        )
    if not actor:
        raise ValidationFailed("a hold needs the actor who places it", ["actor"])
    criteria = criteria.validated()
    now = ensure_utc(now)
    holds_dir = _holds_dir(store)
    with store.writing():
        table = select_records(store, criteria)
        hold_id = f"hold-{uuid.uuid4().hex[:16]}"
        staging = holds_dir / f".staging-{hold_id}"
        staging.mkdir(parents=True)
        records_path = staging / "records.parquet"
        pq.write_table(table, records_path, compression="zstd")
        fsync_file(records_path)
        digest = sha256_file(records_path)
        os.chmod(records_path, 0o444)
        kinds: dict[str, int] = {}
        for kind in table.column("kind").to_pylist():
            kinds[kind] = kinds.get(kind, 0) + 1
        hold = Hold(
            hold_id=hold_id,
            reference=reference,
            criteria=criteria,
            placed_by=actor,
            placed_at=now.isoformat(),
            records=table.num_rows,
            sha256=digest,
            kinds=kinds,
        )
        atomic_write(staging / "hold.json", json.dumps(hold.to_json(), indent=1).encode())
        crash_point("hold:staged")
        staging.rename(holds_dir / hold_id)
        fsync_dir(holds_dir)
        return hold


def list_holds(store: TrafficStore) -> list[Hold]:
    holds = []
    for path in sorted(_holds_dir(store).glob("hold-*/hold.json")):
        holds.append(Hold.from_json(json.loads(path.read_bytes())))
    holds.sort(key=lambda h: h.placed_at)
    return holds


def get_hold(store: TrafficStore, hold_id: str) -> Hold:
    if not isinstance(hold_id, str) or not _HOLD_ID.fullmatch(hold_id):
        raise ValidationFailed(f"{hold_id!r} is not a hold id (hold-<16 hex digits>)", ["hold_id"])
    path = _holds_dir(store) / hold_id / "hold.json"
    if not path.exists():
        raise NotFound(f"no hold {hold_id}")
    return Hold.from_json(json.loads(path.read_bytes()))


def hold_records(store: TrafficStore, hold_id: str) -> pa.Table:
    """The sealed records of an active hold, after checking the seal (SHA-256)."""
    hold = get_hold(store, hold_id)
    if hold.status != "active":
        raise Conflict(f"{hold_id} was released on {hold.released_at}; its copy is gone")
    path = _holds_dir(store) / hold_id / "records.parquet"
    if sha256_file(path) != hold.sha256:
        raise Conflict(f"{hold_id}: the sealed records no longer match their SHA-256")
    return pq.read_table(path)


def verify_hold(store: TrafficStore, hold_id: str) -> bool:
    hold = get_hold(store, hold_id)
    path = _holds_dir(store) / hold_id / "records.parquet"
    return hold.status == "active" and path.exists() and sha256_file(path) == hold.sha256


def release_hold(
    store: TrafficStore, hold_id: str, actor: str, now: datetime, reason: str = ""
) -> Hold:
    """Mark a hold released and delete its copy. Authorisation is the service layer's job."""
    with store.writing():
        hold = get_hold(store, hold_id)
        if hold.status != "active":
            raise Conflict(f"{hold_id} was already released on {hold.released_at}")
        hold.status = "released"
        hold.released_by = actor
        hold.released_at = ensure_utc(now).isoformat()
        hold.release_reason = reason[:500] or None
        folder = _holds_dir(store) / hold_id
        atomic_write(folder / "hold.json", json.dumps(hold.to_json(), indent=1).encode())
        _drop_copy(folder)
        return hold


def _drop_copy(folder: Path) -> None:
    records = folder / "records.parquet"
    if records.exists():
        os.chmod(records, 0o644)
        records.unlink()


def active_held_keys(store: TrafficStore) -> pa.Array:
    """Identity keys of every record under an active hold."""
    keys = [
        record_keys(
            pq.read_table(
                _holds_dir(store) / h.hold_id / "records.parquet",
                columns=["source_sha256", "source_line", "kind", "start"],
            )
        )
        for h in list_holds(store)
        if h.status == "active"
    ]
    keys = [k for k in keys if len(k)]
    if not keys:
        return pa.array([], pa.string())
    return pc.unique(pa.concat_arrays(keys))


def recover_holds(store: TrafficStore) -> None:
    """After a crash: drop half-built hold sets and copies of released holds."""
    holds_dir = _holds_dir(store)
    for staging in holds_dir.glob(".staging-*"):
        for path in staging.iterdir():
            os.chmod(path, 0o644)
        shutil.rmtree(staging, ignore_errors=True)
    for hold in list_holds(store):
        if hold.status != "active":
            _drop_copy(holds_dir / hold.hold_id)
