"""Deterministic NAT (RFC 7422): who used (outside address, port, time), computed from the NAT
configuration and its dated change history, with no per-session logs.

RFC 7422, "Deterministic Address Mapping to Reduce Logging in Carrier-Grade NAT Deployments",
https://www.rfc-editor.org/rfc/rfc7422 : the CGN maps each inside address to a fixed outside
address and port range by an algorithm, so the operator keeps only the configuration (and when
it changed) and the logs of dynamic overflow blocks handed out when a subscriber's fixed range
is full. Algorithms offered (``DetNatConfig.algorithm``):

``sequential``
    Consecutive inside addresses share an outside address: ``blocks = (last_port - first_port
    + 1) // ports``; subscriber ``i`` (offset from the first inside address) gets outside
    address ``i // blocks`` and ports ``first_port + (i % blocks) * ports`` onwards. This is the
    VPP det44 mapping and equals Juniper's when ``ports`` divides the port range.
``juniper``
    Juniper deterministic NAPT as documented (offsets over the concatenated port space of the
    pool, so a block may continue at the next outside address):
    ``Pr_Port_Offset = Pr_Offset * Block_Size``, ``Pu_Prefix = Base_Pu_Prefix +
    Pr_Port_Offset // 64512``, ``Pu_Start_Port = 1024 + Pr_Port_Offset % 64512`` (with 1024 and
    64512 generalised to ``first_port`` and the range size);
    https://www.juniper.net/documentation/us/en/software/junos/interfaces-adaptive-services/topics/topic-map/deterministic-nat.html
``round-robin``
    Consecutive inside addresses are spread over the outside addresses: subscriber ``i`` gets
    outside address ``i % n_outside`` and block ``i // n_outside``.

``exclude_boundary`` drops the network and broadcast addresses of an IPv4 inside prefix (the
Juniper default without ``include-boundary-addresses``). Ports of an outside address that no
subscriber's fixed range covers form the dynamic overflow area: an answer there rests on a
logged port block (``resolve`` combines both) or there is none.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed

ALGORITHMS = ("sequential", "juniper", "round-robin")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _addr(text: str, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise ValidationFailed(f"{what} {text!r} is not an IPv4 or IPv6 address", [what]) from None


def _pool(spec: str | Sequence[str]) -> list[int]:
    """Outside addresses, in order, from prefixes, 'a-b' ranges or single addresses."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[int] = []
    for item in items:
        text = str(item).strip()
        try:
            if "-" in text:
                lo_s, hi_s = text.split("-", 1)
                lo, hi = ipaddress.IPv4Address(lo_s.strip()), ipaddress.IPv4Address(hi_s.strip())
                if hi < lo:
                    raise ValueError("range ends before it starts")
                out.extend(range(int(lo), int(hi) + 1))
            elif "/" in text:
                net = ipaddress.IPv4Network(text, strict=True)
                out.extend(range(int(net.network_address), int(net.broadcast_address) + 1))
            else:
                out.append(int(ipaddress.IPv4Address(text)))
        except ValueError as exc:
            raise ValidationFailed(
                f"outside pool entry {text!r} is not an IPv4 address, prefix or range ({exc})",
                ["outside_pool"],
            ) from None
        if len(out) > 1 << 20:
            raise ValidationFailed(
                "the outside pool has over 1,048,576 addresses", ["outside_pool"]
            )
    if len(set(out)) != len(out):
        raise ValidationFailed("the outside pool lists an address twice", ["outside_pool"])
    if not out:
        raise ValidationFailed("the outside pool is empty", ["outside_pool"])
    return out


@dataclass(frozen=True)
class DetNatConfig:
    """One version of the deterministic NAT configuration, in force from ``valid_from``."""

    valid_from: datetime
    inside_prefix: str
    outside_pool: str | tuple[str, ...]
    ports_per_subscriber: int
    first_port: int = 1024
    last_port: int = 65535
    algorithm: str = "sequential"
    exclude_boundary: bool = False
    name: str = ""
    # derived, filled by __post_init__
    _in_base: int = field(default=0, init=False, repr=False, compare=False)
    _in_count: int = field(default=0, init=False, repr=False, compare=False)
    _in_v6: bool = field(default=False, init=False, repr=False, compare=False)
    _out: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)
    _out_pos: dict[int, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        try:
            ensure_utc(self.valid_from)
        except (ValueError, TypeError):
            raise ValidationFailed(
                f"valid_from {self.valid_from!r} must be a time zone aware datetime",
                ["valid_from"],
            ) from None
        try:
            net = ipaddress.ip_network(str(self.inside_prefix).strip(), strict=True)
        except ValueError as exc:
            raise ValidationFailed(
                f"inside prefix {self.inside_prefix!r} is not a network prefix ({exc})",
                ["inside_prefix"],
            ) from None
        if self.algorithm not in ALGORITHMS:
            raise ValidationFailed(
                f"unknown algorithm {self.algorithm!r}; use one of {', '.join(ALGORITHMS)}",
                ["algorithm"],
            )
        if not 0 <= self.first_port <= self.last_port <= 65535:
            problems.append(f"port range {self.first_port}-{self.last_port} is not within 0..65535")
        span = self.last_port - self.first_port + 1
        if not 1 <= self.ports_per_subscriber <= max(span, 1):
            problems.append(
                f"ports per subscriber {self.ports_per_subscriber} must be 1..{max(span, 1)}"
            )
        if problems:
            raise ValidationFailed("; ".join(problems), ["ports"])
        base, count = int(net.network_address), net.num_addresses
        if self.exclude_boundary and net.version == 4 and net.prefixlen <= 30:
            base, count = base + 1, count - 2
        out = _pool(self.outside_pool)
        blocks = span // self.ports_per_subscriber
        capacity = (
            len(out) * span // self.ports_per_subscriber
            if self.algorithm == "juniper"
            else len(out) * blocks
        )
        if count > capacity:
            raise ValidationFailed(
                f"{count} inside addresses need more than the {capacity} port ranges of"
                f" {self.ports_per_subscriber} ports that {len(out)} outside addresses offer",
                ["ports_per_subscriber"],
            )
        object.__setattr__(self, "_in_base", base)
        object.__setattr__(self, "_in_count", count)
        object.__setattr__(self, "_in_v6", net.version == 6)
        object.__setattr__(self, "_out", tuple(out))
        object.__setattr__(self, "_out_pos", {a: i for i, a in enumerate(out)})

    @property
    def span(self) -> int:
        return self.last_port - self.first_port + 1

    def _in_addr(self, idx: int) -> str:
        value = self._in_base + idx
        return str(ipaddress.IPv6Address(value) if self._in_v6 else ipaddress.IPv4Address(value))

    # -- forward: inside -> outside -----------------------------------------------------------
    def forward(self, inside_ip: str) -> list[tuple[str, int, int]]:
        """The (outside address, first port, last port) ranges of a subscriber (two when a
        ``juniper`` block continues at the next address); ValidationFailed if not inside."""
        addr = _addr(inside_ip, "inside_ip")
        idx = int(addr) - self._in_base
        if (addr.version == 6) != self._in_v6 or not 0 <= idx < self._in_count:
            raise ValidationFailed(
                f"{inside_ip} is not a subscriber address of {self.inside_prefix}", ["inside_ip"]
            )
        pps, span = self.ports_per_subscriber, self.span
        if self.algorithm == "sequential":
            blocks = span // pps
            o, b = divmod(idx, blocks)
            return [
                (self._out_str(o), self.first_port + b * pps, self.first_port + b * pps + pps - 1)
            ]
        if self.algorithm == "round-robin":
            b, o = divmod(idx, len(self._out))
            return [
                (self._out_str(o), self.first_port + b * pps, self.first_port + b * pps + pps - 1)
            ]
        off = idx * pps
        segments = []
        remaining = pps
        while remaining:
            o, p = divmod(off, span)
            take = min(remaining, span - p)
            segments.append((self._out_str(o), self.first_port + p, self.first_port + p + take - 1))
            off += take
            remaining -= take
        return segments

    def _out_str(self, pos: int) -> str:
        return str(ipaddress.IPv4Address(self._out[pos]))

    # -- reverse: outside -> inside (vectorised) ----------------------------------------------
    def reverse_indices(self, out_pos: np.ndarray, ports: np.ndarray) -> np.ndarray:
        """Subscriber offsets for outside address positions and ports; -1 where the port is
        outside every subscriber's fixed range (the overflow area) or the address unknown."""
        pps, span = self.ports_per_subscriber, self.span
        rel = ports.astype(np.int64) - self.first_port
        ok = (out_pos >= 0) & (rel >= 0) & (rel < span)
        if self.algorithm == "sequential":
            blocks = span // pps
            b = rel // pps
            ok &= b < blocks
            idx = out_pos * blocks + b
        elif self.algorithm == "round-robin":
            idx = (rel // pps) * len(self._out) + out_pos
        else:
            idx = (out_pos * span + rel) // pps
        ok &= (idx >= 0) & (idx < self._in_count)
        return np.where(ok, idx, -1)

    def out_positions(self, public_ips: Sequence[str]) -> np.ndarray:
        pos = np.full(len(public_ips), -1, dtype=np.int64)
        for i, ip in enumerate(public_ips):
            try:
                a = ipaddress.ip_address(ip)
            except ValueError:
                continue
            if a.version == 4:
                pos[i] = self._out_pos.get(int(a), -1)
        return pos


@dataclass(frozen=True)
class DetNatAnswer:
    """One candidate subscriber for (public ip, port, time)."""

    inside_ip: str
    public_ip: str
    port_first: int
    port_last: int
    basis: str  # "deterministic" (computed from the configuration) or "logged_block"
    config_from: datetime | None  # the configuration version used (deterministic answers)
    start: datetime | None = None  # the logged block's period (logged answers)
    end: datetime | None = None
    record: dict[str, Any] | None = None  # the port-block record it rests on
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "inside_ip": self.inside_ip,
            "public_ip": self.public_ip,
            "port_block": [self.port_first, self.port_last],
            "basis": self.basis,
            "config_from": isoformat_z(self.config_from) if self.config_from else None,
            "start": isoformat_z(self.start) if self.start else None,
            "end": isoformat_z(self.end) if self.end else None,
            "note": self.note,
        }


class DetNatPlan:
    """The dated history of a deterministic NAT configuration: each version is in force from
    its ``valid_from`` until the next one's."""

    def __init__(self, versions: Sequence[DetNatConfig]) -> None:
        if not versions:
            raise ValidationFailed("a deterministic NAT plan needs at least one configuration")
        ordered = sorted(versions, key=lambda v: ensure_utc(v.valid_from))
        froms = [ensure_utc(v.valid_from) for v in ordered]
        if len(set(froms)) != len(froms):
            raise ValidationFailed("two configuration versions have the same valid_from")
        self.versions = ordered
        self._froms = froms

    def in_force(self, at: datetime) -> DetNatConfig | None:
        i = bisect.bisect_right(self._froms, ensure_utc(at)) - 1
        return self.versions[i] if i >= 0 else None

    def forward(self, inside_ip: str, at: datetime) -> list[tuple[str, int, int]]:
        cfg = self.in_force(at)
        if cfg is None:
            raise ValidationFailed(f"no deterministic NAT configuration was in force at {at}")
        return cfg.forward(inside_ip)

    def reverse(
        self, public_ip: str, port: int, at: datetime, tolerance: timedelta = timedelta(0)
    ) -> list[DetNatAnswer]:
        """Deterministic candidates; two when a configuration change falls within the
        tolerance of ``at`` (both are returned, the one in force at ``at`` first)."""
        _addr(public_ip, "public_ip")
        if not 0 <= port <= 65535:
            raise ValidationFailed(f"port {port} is out of range 0..65535", ["port"])
        at = ensure_utc(at)
        configs: list[DetNatConfig] = []
        for t in (at, at - tolerance, at + tolerance):
            cfg = self.in_force(t)
            if cfg is not None and cfg not in configs:
                configs.append(cfg)
        out = []
        for cfg in configs:
            pos = cfg.out_positions([public_ip])
            idx = int(cfg.reverse_indices(pos, np.array([port]))[0])
            if idx < 0:
                continue
            inside = cfg._in_addr(idx)
            for ip, lo, hi in cfg.forward(inside):
                if ip == str(ipaddress.ip_address(public_ip)) and lo <= port <= hi:
                    note = "" if cfg is configs[0] else "configuration change within tolerance"
                    out.append(DetNatAnswer(inside, ip, lo, hi, "deterministic",
                                            ensure_utc(cfg.valid_from), note=note))  # fmt: skip
        return out

    def reverse_many(
        self, public_ips: Sequence[str], ports: Sequence[int] | np.ndarray, at_us: np.ndarray
    ) -> list[str | None]:
        """Vectorised reverse mapping at exact instants (microseconds since 1970, UTC):
        the inside address or None (overflow area, unknown address, no configuration)."""
        ports_arr = np.asarray(ports, dtype=np.int64)
        at_arr = np.asarray(at_us, dtype=np.int64)
        result: list[str | None] = [None] * len(public_ips)
        froms_us = np.array([int(f.timestamp() * 1_000_000) for f in self._froms], dtype=np.int64)
        which = np.searchsorted(froms_us, at_arr, side="right") - 1
        for v, cfg in enumerate(self.versions):
            sel = np.flatnonzero(which == v)
            if not len(sel):
                continue
            pos = cfg.out_positions([public_ips[i] for i in sel.tolist()])
            idx = cfg.reverse_indices(pos, ports_arr[sel])
            for i, k in zip(sel.tolist(), idx.tolist(), strict=True):
                if k >= 0:
                    result[i] = cfg._in_addr(k)
        return result


def resolve(
    plan: DetNatPlan,
    public_ip: str,
    port: int,
    at: datetime,
    tolerance: timedelta = timedelta(seconds=2),
    logged_blocks: pa.Table | None = None,
) -> list[DetNatAnswer]:
    """Every candidate for (public ip, port, at): logged dynamic (overflow) port blocks that
    cover the port at that time (± tolerance), then the deterministic mapping. A logged block
    wins over the computed range: it is listed first."""
    at = ensure_utc(at)
    answers = []
    if logged_blocks is not None and logged_blocks.num_rows:
        answers += _logged(logged_blocks, public_ip, port, at, tolerance)
    answers += plan.reverse(public_ip, port, at, tolerance)
    return answers


def _logged(
    table: pa.Table, public_ip: str, port: int, at: datetime, tolerance: timedelta
) -> list[DetNatAnswer]:
    ip = str(_addr(public_ip, "public_ip"))
    at_us = int(at.timestamp() * 1_000_000)
    tol = int(tolerance / timedelta(microseconds=1))
    t = table.filter(pc.equal(table["public_ip"], ip))
    if not t.num_rows:
        return []
    lo = pc.fill_null(t["public_port"], -1)
    hi = pc.fill_null(pc.coalesce(t["public_port_end"], t["public_port"]), -1)
    t = t.filter(pc.and_(pc.less_equal(lo, port), pc.greater_equal(hi, port)))
    # one block = its allocation, interim and release records (same inside, ports and, where
    # the log gives one, session id): its period runs from the allocation to the release
    blocks: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in sorted(t.to_pylist(), key=lambda r: r["start"]):
        key = (r["inside_ip"], r["public_port"], r["public_port_end"] or r["public_port"],
               r.get("session_id") or "")  # fmt: skip
        block = blocks.get(key)
        if block is None or (block["end"] is not None and r["start"] > block["end"]):
            if block is not None:  # the same block handed out again later: a new period
                blocks[(*key, block["start"])] = block
            blocks[key] = block = {"start": r["start"], "end": None, "record": r}
        if r["end"] is not None:
            block["end"] = r["end"] if block["end"] is None else max(block["end"], r["end"])
            block["record"] = r
    out = []
    for key, block in sorted(blocks.items(), key=lambda kv: kv[1]["start"]):
        s_us = int(block["start"].timestamp() * 1_000_000)
        e_us = int(block["end"].timestamp() * 1_000_000) if block["end"] is not None else 2**62
        if not (s_us - tol <= at_us <= e_us + tol):
            continue
        r = block["record"]
        out.append(
            DetNatAnswer(
                inside_ip=key[0],
                public_ip=ip,
                port_first=key[1],
                port_last=key[2],
                basis="logged_block",
                config_from=None,
                start=block["start"],
                end=block["end"],
                record=r,
                note="dynamic overflow block from the NAT log: the subscriber is identified"
                " by the block, not by a session",
            )
        )
    return out
