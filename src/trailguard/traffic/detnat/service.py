"""Deterministic NAT (RFC 7422) at a provider node: the stored, dated configuration history and
the lookups that combine it with the logged records.

A provider whose CGN maps subscribers deterministically keeps no per-session log; it records
each configuration version here (``add_version``: inside prefix, outside pool, ports per
subscriber, algorithm, valid from), per NAT plan (a CGN or NAT pool named by the provider).
Versions are only added, never changed (``detnat_orm``); each addition is audited in the same
transaction. ``combine_one`` / ``combine_batch`` add the deterministic answers to what the
store's lookup found (logged dynamic overflow port blocks, sessions, assignments) in the same
``LookupAnswer`` / ``Match`` shape, each match saying what it rests on in ``basis``:

``session``
    a logged NAT session (create/teardown records);
``logged_block``
    a logged port block (for a deterministic CGN: a dynamic overflow block), the subscriber
    identified by the block, not by a session;
``deterministic``
    computed from the configuration version in force (RFC 7422 section 2: no log at all; the
    match lists the version it rests on in ``detnat`` and the subscriber's DHCP/RADIUS
    assignment of the inside address in ``records``);
``assignment``
    the address was assigned directly (a public lease or framed address).

Ranking, best first: distance from the instant (0 when the match covers it), then logged
before computed (a logged overflow block wins over a fixed range that would cover the same
port, as ``detnat.resolve`` does), then the store's own order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from trailguard.accounts import Principal
from trailguard.audit import record
from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed
from trailguard.node import Node
from trailguard.traffic.access import require_hold_role
from trailguard.traffic.answers import Assignment, LookupAnswer, Match
from trailguard.traffic.detnat.domain import ALGORITHMS, DetNatConfig, DetNatPlan
from trailguard.traffic.detnat.orm import DetNatVersionRow
from trailguard.traffic.resolve import CandidateEngine, lookup_batch, lookup_one
from trailguard.traffic.sessions import BatchAnswer
from trailguard.traffic.values import from_us, to_us

_PLAN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
BASIS_ORDER = {"session": 0, "logged_block": 0, "deterministic": 1, "assignment": 2}


# --------------------------------------------------------------------------------------------
# the stored history


@dataclass(frozen=True)
class DetNatVersion:
    """One stored configuration version of a provider's NAT plan."""

    id: int
    provider: str
    plan: str
    config: DetNatConfig
    note: str
    sha256: str
    recorded_at: datetime
    recorded_by: str

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "id": self.id,
            "provider": self.provider,
            "plan": self.plan,
            "valid_from": isoformat_z(ensure_utc(c.valid_from)),
            "inside_prefix": c.inside_prefix,
            "outside_pool": _pool_list(c.outside_pool),
            "ports_per_subscriber": c.ports_per_subscriber,
            "first_port": c.first_port,
            "last_port": c.last_port,
            "algorithm": c.algorithm,
            "exclude_boundary": c.exclude_boundary,
            "note": self.note,
            "sha256": self.sha256,
            "recorded_at": isoformat_z(self.recorded_at),
            "recorded_by": self.recorded_by,
        }


@dataclass(frozen=True)
class NamedPlan:
    """The whole history of one plan, ready to answer."""

    provider: str
    plan: str
    versions: tuple[DetNatVersion, ...]
    detnat: DetNatPlan

    def version_at(self, config: DetNatConfig) -> tuple[DetNatVersion, datetime | None]:
        """The stored version of ``config`` and when the next one took over (None: still in
        force)."""
        for i, v in enumerate(self.versions):
            if v.config is config:
                nxt = self.versions[i + 1].config.valid_from if i + 1 < len(self.versions) else None
                return v, ensure_utc(nxt) if nxt else None
        raise KeyError(config)


def _pool_list(pool: str | tuple[str, ...]) -> list[str]:
    return [pool] if isinstance(pool, str) else list(pool)


def config_digest(config: DetNatConfig) -> str:
    """SHA-256 of the configuration's canonical JSON (what an auditor re-computes)."""
    body = {
        "valid_from": isoformat_z(ensure_utc(config.valid_from)),
        "inside_prefix": config.inside_prefix,
        "outside_pool": _pool_list(config.outside_pool),
        "ports_per_subscriber": config.ports_per_subscriber,
        "first_port": config.first_port,
        "last_port": config.last_port,
        "algorithm": config.algorithm,
        "exclude_boundary": config.exclude_boundary,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _version(row: DetNatVersionRow) -> DetNatVersion:
    pool = json.loads(row.outside_pool)
    config = DetNatConfig(
        valid_from=row.valid_from,
        inside_prefix=row.inside_prefix,
        outside_pool=tuple(pool),
        ports_per_subscriber=row.ports_per_subscriber,
        first_port=row.first_port,
        last_port=row.last_port,
        algorithm=row.algorithm,
        exclude_boundary=row.exclude_boundary,
        name=f"{row.provider}/{row.plan}",
    )
    return DetNatVersion(row.id, row.provider, row.plan, config, row.note, row.sha256,
                         row.recorded_at, row.recorded_by)  # fmt: skip


def _require_role(principal: Principal) -> None:
    require_hold_role(principal)


def add_version(
    node: Node,
    principal: Principal,
    *,
    provider: str,
    plan: str,
    valid_from: datetime,
    inside_prefix: str,
    outside_pool: Sequence[str],
    ports_per_subscriber: int,
    first_port: int = 1024,
    last_port: int = 65535,
    algorithm: str = "sequential",
    exclude_boundary: bool = False,
    note: str = "",
) -> DetNatVersion:
    """Record a new configuration version of ``provider``'s ``plan``, in force from
    ``valid_from`` (until a later version's). A version with the same ``valid_from`` is
    refused: history is added to, never rewritten. Audited."""
    _require_role(principal)
    if not _PROVIDER.fullmatch(provider or ""):
        raise ValidationFailed(
            f"provider id {provider!r} must be 1-63 lower-case letters, digits, dots, dashes or"
            " underscores",
            ["provider"],
        )
    if not _PLAN.fullmatch(plan or ""):
        raise ValidationFailed(
            f"plan name {plan!r} must be 1-63 lower-case letters, digits, dots, dashes or"
            " underscores (e.g. the CGN's name)",
            ["plan"],
        )
    if algorithm not in ALGORITHMS:
        raise ValidationFailed(
            f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}", ["algorithm"]
        )
    pool = tuple(str(p).strip() for p in outside_pool if str(p).strip())
    config = DetNatConfig(
        valid_from=valid_from,
        inside_prefix=str(inside_prefix).strip(),
        outside_pool=pool,
        ports_per_subscriber=ports_per_subscriber,
        first_port=first_port,
        last_port=last_port,
        algorithm=algorithm,
        exclude_boundary=exclude_boundary,
        name=f"{provider}/{plan}",
    )  # validates: prefix, pool, port range, capacity
    valid_from = ensure_utc(valid_from)
    digest = config_digest(config)
    now = node.clock.now()
    with node.db.session() as session:
        rows = session.scalars(
            select(DetNatVersionRow).where(
                DetNatVersionRow.provider == provider, DetNatVersionRow.plan == plan
            )
        ).all()
        clash = [r for r in rows if ensure_utc(r.valid_from) == valid_from]
        if clash:
            raise ValidationFailed(
                f"{provider}/{plan} already has a configuration version valid from"
                f" {isoformat_z(valid_from)} (recorded {isoformat_z(clash[0].recorded_at)} by"
                f" {clash[0].recorded_by}); versions are never overwritten: record the change"
                " as a new version with a later valid-from",
                ["valid_from"],
            )
        later = [r for r in rows if ensure_utc(r.valid_from) > valid_from]
        row = DetNatVersionRow(
            provider=provider,
            plan=plan,
            valid_from=valid_from,
            inside_prefix=config.inside_prefix,
            outside_pool=json.dumps(list(pool)),
            ports_per_subscriber=ports_per_subscriber,
            first_port=first_port,
            last_port=last_port,
            algorithm=algorithm,
            exclude_boundary=exclude_boundary,
            note=note,
            sha256=digest,
            recorded_at=now,
            recorded_by=principal.actor,
        )
        session.add(row)
        session.flush()
        record(
            session,
            actor=principal.actor,
            action="traffic.detnat_version_added",
            subject=f"detnat:{provider}/{plan}",
            details={
                "version_id": row.id,
                "valid_from": isoformat_z(valid_from),
                "sha256": digest,
                "inside_prefix": config.inside_prefix,
                "outside_pool": list(pool),
                "ports_per_subscriber": ports_per_subscriber,
                "ports": [first_port, last_port],
                "algorithm": algorithm,
                "exclude_boundary": exclude_boundary,
                "backdated_before_versions": len(later),
                "note": note or None,
            },
            at=now,
        )
        return _version(row)


def list_versions(
    node: Node, provider: str | None = None, plan: str | None = None
) -> list[DetNatVersion]:
    """Stored versions, by provider, plan and valid-from."""
    query = select(DetNatVersionRow)
    if provider is not None:
        query = query.where(DetNatVersionRow.provider == provider)
    if plan is not None:
        query = query.where(DetNatVersionRow.plan == plan)
    with node.db.session() as session:
        rows = session.scalars(query).all()
        versions = [_version(r) for r in rows]
    versions.sort(key=lambda v: (v.provider, v.plan, ensure_utc(v.config.valid_from)))
    return versions


def plans_for(node: Node, provider: str | None = None) -> list[NamedPlan]:
    """Every plan with its history (empty when this node has no deterministic NAT)."""
    by_plan: dict[tuple[str, str], list[DetNatVersion]] = {}
    for v in list_versions(node, provider):
        by_plan.setdefault((v.provider, v.plan), []).append(v)
    out = []
    for (prov, name), versions in sorted(by_plan.items()):
        out.append(NamedPlan(prov, name, tuple(versions), DetNatPlan([v.config for v in versions])))
    return out


# --------------------------------------------------------------------------------------------
# answers


@dataclass(frozen=True)
class BasisMatch(Match):
    """A ``Match`` that says what it rests on; deterministic ones name their configuration."""

    basis: str = "session"
    detnat: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["basis"] = self.basis
        if self.detnat is not None:
            out["detnat"] = self.detnat
        return out


def basis_of(match: Match) -> str:
    if isinstance(match, BasisMatch):
        return match.basis
    if match.kind == "port_block":
        return "logged_block"
    if match.kind == "nat":
        return "session"
    return "assignment"


def _with_basis(match: Match) -> BasisMatch:
    if isinstance(match, BasisMatch):
        return match
    fields = {f: getattr(match, f) for f in match.__dataclass_fields__}
    return BasisMatch(**fields, basis=basis_of(match))


def _assignments(answer: LookupAnswer) -> tuple[Assignment, ...]:
    return tuple(
        Assignment(
            kind=m.kind,
            ip=m.inside_ip,
            subscriber=m.subscriber,
            start=m.start,
            end=m.end,
            distance=m.distance,
            records=m.records,
        )
        for m in answer.matches
    )


def _distance(at: datetime, start: datetime, end: datetime | None) -> timedelta:
    if at < start:
        return start - at
    if end is not None and at >= end:
        return at - end + timedelta(microseconds=1)
    return timedelta(0)


def deterministic_matches(
    engine: CandidateEngine,
    plans: Sequence[NamedPlan],
    public_ip: str,
    port: int,
    at: datetime,
    tolerance: timedelta,
) -> list[BasisMatch]:
    """The deterministic candidates of every plan, each chained to the DHCP/RADIUS assignment
    of its inside address at the instant (the subscriber)."""
    out = []
    for named in plans:
        for ans in named.detnat.reverse(public_ip, port, at, tolerance):
            config = named.detnat.in_force(at)
            cfg = next(v.config for v in named.versions if v.config.valid_from == ans.config_from)
            version, until = named.version_at(cfg)
            start = ensure_utc(cfg.valid_from)
            assigned = lookup_one(engine, ans.inside_ip, None, at, tolerance, named.provider)
            assignments = _assignments(assigned)
            out.append(
                BasisMatch(
                    rank=0,
                    kind="port_block",
                    inside_ip=ans.inside_ip,
                    inside_port=None,
                    public_ip=ans.public_ip,
                    public_port=port,
                    protocol=None,
                    start=start,
                    end=until,
                    distance=_distance(at, start, until),
                    subscriber=assignments[0].subscriber if assignments else None,
                    records=(),
                    assignments=assignments,
                    port_block=(ans.port_first, ans.port_last),
                    basis="deterministic",
                    detnat={
                        "provider": named.provider,
                        "plan": named.plan,
                        "version_id": version.id,
                        "valid_from": isoformat_z(start),
                        "valid_until": isoformat_z(until) if until else None,
                        "algorithm": cfg.algorithm,
                        "inside_prefix": cfg.inside_prefix,
                        "ports_per_subscriber": cfg.ports_per_subscriber,
                        "sha256": version.sha256,
                        "in_force_at_instant": cfg is config,
                        "note": "computed from the NAT configuration (RFC 7422); no session or"
                        " block was logged",
                    },
                )
            )
    return out


def combine_one(
    engine: CandidateEngine, plans: Sequence[NamedPlan], logged: LookupAnswer
) -> LookupAnswer:
    """``logged`` (the store's answer) plus the deterministic candidates, ranked."""
    q = logged.query
    matches = [_with_basis(m) for m in logged.matches]
    if q.public_port is not None and plans:
        matches += deterministic_matches(
            engine, plans, q.public_ip, q.public_port, q.at, q.tolerance
        )
    order = sorted(
        range(len(matches)),
        key=lambda i: (matches[i].distance, BASIS_ORDER.get(matches[i].basis, 3), i),
    )
    ranked = tuple(replace(matches[i], rank=r) for r, i in enumerate(order))
    return LookupAnswer(q, ranked, logged.engine)


class DetNatBatchAnswer:
    """A ``BatchAnswer`` with the deterministic answers added: ``best_table()`` (vectorised,
    with a ``basis`` column) and ``answer(i)`` (``combine_one``), like the store's."""

    def __init__(
        self,
        engine: CandidateEngine,
        plans: Sequence[NamedPlan],
        logged: BatchAnswer,
        ips: list[str],
        ports: np.ndarray,
        at: np.ndarray,
    ) -> None:
        self.engine_obj = engine
        self.plans = list(plans)
        self.logged = logged
        self.queries = logged.queries
        self.at = logged.at
        self.tolerance = logged.tolerance
        self.engine = logged.engine
        n = len(ips)
        self._det_ip: list[str | None] = [None] * n
        self._det_plan = np.full(n, -1, dtype=np.int64)
        for p, named in enumerate(self.plans):
            has_port = ports >= 0
            got = named.detnat.reverse_many(ips, np.where(has_port, ports, 0), at)
            for i, inside in enumerate(got):
                if inside is not None and has_port[i] and self._det_ip[i] is None:
                    self._det_ip[i], self._det_plan[i] = inside, p
        self._subscribers: list[str | None] = [None] * n
        for p, named in enumerate(self.plans):
            sel = np.flatnonzero(self._det_plan == p)
            if not len(sel):
                continue
            inside_ips = [str(self._det_ip[i]) for i in sel.tolist()]
            chained = lookup_batch(engine, inside_ips, [None] * len(sel), at[sel],
                                   self.tolerance, named.provider).best_table()  # fmt: skip
            for i, sub in zip(sel.tolist(), chained.column("subscriber").to_pylist(), strict=True):
                self._subscribers[i] = sub

    def __len__(self) -> int:
        return len(self.at)

    def answer(self, i: int) -> LookupAnswer:
        return combine_one(self.engine_obj, self.plans, self.logged.answer(i))

    def best_table(self) -> pa.Table:
        best = self.logged.best_table()
        n = best.num_rows
        ts = pa.timestamp("us", tz="UTC")
        found = np.asarray(best.column("found").to_numpy(zero_copy_only=False), dtype=bool)
        start = np.asarray(
            pc.fill_null(best.column("start").cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        )
        end_col = best.column("end").cast(pa.int64())
        open_end = np.asarray(pc.is_null(end_col).to_numpy(zero_copy_only=False), dtype=bool)
        end = np.asarray(pc.fill_null(end_col, 0).to_numpy(zero_copy_only=False))
        at = np.asarray(self.at, dtype=np.int64)
        covers = found & (start <= at) & (open_end | (end >= at))
        det = self._det_plan >= 0
        use_det = det & ~covers
        logged_basis = self._logged_basis(n)
        basis = [
            "deterministic" if use_det[i] else (logged_basis[i] if found[i] else None)
            for i in range(n)
        ]
        d_start = np.zeros(n, dtype=np.int64)
        d_end = np.zeros(n, dtype=np.int64)
        d_open = np.ones(n, dtype=bool)
        for i in np.flatnonzero(use_det).tolist():
            named = self.plans[int(self._det_plan[i])]
            cfg = named.detnat.in_force(from_us(int(at[i])))
            assert cfg is not None
            _, until = named.version_at(cfg)
            d_start[i] = to_us(cfg.valid_from)
            if until is not None:
                d_end[i], d_open[i] = to_us(until), False
        mask = pa.array(use_det)
        det_ip = pa.array([ip if u else None for ip, u in zip(self._det_ip, use_det, strict=True)],
                          pa.string())  # fmt: skip
        det_sub = pa.array(
            [s if u else None for s, u in zip(self._subscribers, use_det, strict=True)],
            pa.string(),
        )
        return pa.table(
            {
                "found": pa.array(found | det),
                "inside_ip": pc.if_else(mask, det_ip, best.column("inside_ip")),
                "inside_port": pc.if_else(
                    mask, pa.nulls(n, pa.int32()), best.column("inside_port").cast(pa.int32())
                ),
                "start": pc.if_else(mask, pa.array(d_start, ts), best.column("start")),
                "end": pc.if_else(
                    mask, pa.array(d_end, ts, mask=d_open), best.column("end").cast(ts)
                ),
                "subscriber": pc.if_else(mask, det_sub, best.column("subscriber")),
                "candidates": pa.array(
                    np.asarray(best.column("candidates").to_numpy(zero_copy_only=False))
                    + det.astype(np.int64),
                    pa.int32(),
                ),
                "basis": pa.array(basis, pa.string()),
            }
        )

    def _logged_basis(self, n: int) -> list[str]:
        """Basis of each query's best logged match: its NAT session's kind (the store ranks
        NAT matches first), else a direct assignment."""
        out = ["assignment"] * n
        nat = self.logged.nat
        best = np.flatnonzero(nat.rank == 0)
        if len(best):
            kinds = nat.cands.column("kind").take(pa.array(nat.first_row[best], pa.int64()))
            for q, kind in zip(nat.q[best].tolist(), kinds.to_pylist(), strict=True):
                out[q] = "logged_block" if kind == "port_block" else "session"
        return out


def combine_batch(
    engine: CandidateEngine,
    plans: Sequence[NamedPlan],
    logged: BatchAnswer,
    ips: Sequence[str],
    ports: Sequence[int | None] | np.ndarray,
) -> DetNatBatchAnswer:
    """The batch ``logged`` plus the deterministic answers of ``plans`` (exact instants; the
    tolerance applies to ``answer(i)``)."""
    port_arr = np.asarray([-1 if p is None else int(p) for p in ports], dtype=np.int64)
    canonical = [str(v) for v in logged.queries.ips.to_pylist()]
    return DetNatBatchAnswer(engine, plans, logged, canonical, port_arr, logged.at)
