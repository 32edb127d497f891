"""Live watch orders (Convention Art. 33, real-time collection of traffic data): what an order
says and how it is checked. Plain typed Python: no database, no web.

Council of Europe Convention on Cybercrime (ETS No. 185), Article 33 "Mutual assistance in the
real-time collection of traffic data": https://rm.coe.int/1680081561 . A watch order names
who asked and under which legal reference, the addresses (or prefixes) and optionally the ports
to watch, and the period; it is refused from a node not authorised to send it, or once past its
expiry, and stops matching at its end.

Order payload (message type ``traffic.watch_order``)::

    {"order_ref": "NL-RT-2026-0007", "requested_by": "Officer A. Example, NL 24/7 POC",
     "legal_reference": "ETS 185 Art. 33; ...", "case_reference": "NL-2026-CASE-12",
     "criteria": {"addresses": ["203.0.113.5", "2001:db8:42::/48"], "ports": [443, "40000-40100"],
                  "protocols": ["tcp"]},
     "start": "2026-11-27T10:00:00Z", "end": "2026-11-28T10:00:00Z"}
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.errors import ValidationFailed

MAX_ORDER_DAYS = 90
MAX_CRITERIA = 256
MIN_PREFIX = {4: 16, 6: 32}  # no wider watches than a /16 (IPv4) or /32 (IPv6)
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")
PROTOCOLS = ("tcp", "udp", "icmp", "icmp6", "sctp", "gre", "esp")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Criteria:
    networks: tuple[Network, ...]
    ports: tuple[tuple[int, int], ...] = ()  # inclusive ranges; empty = any port
    protocols: tuple[str, ...] = ()  # empty = any

    def to_json(self) -> dict[str, Any]:
        return {
            "addresses": [
                str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
                for n in self.networks
            ],
            "ports": [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ports],
            "protocols": list(self.protocols),
        }

    def port_ok(self, port: int | None, port_end: int | None = None) -> bool:
        if not self.ports:
            return True
        if port is None:
            return False
        hi = port if port_end is None else port_end
        return any(lo <= hi and port <= p_hi for lo, p_hi in self.ports)


@dataclass(frozen=True)
class WatchOrder:
    """A validated order (what the provider stores and matches)."""

    order_ref: str
    requester: str
    requested_by: str
    legal_reference: str
    case_reference: str
    criteria: Criteria
    start: datetime
    end: datetime
    id: int | None = None

    def active_at(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def to_payload(self) -> dict[str, Any]:
        return {
            "order_ref": self.order_ref,
            "requested_by": self.requested_by,
            "legal_reference": self.legal_reference,
            "case_reference": self.case_reference,
            "criteria": self.criteria.to_json(),
            "start": isoformat_z(self.start),
            "end": isoformat_z(self.end),
        }


def _text(payload: dict[str, Any], key: str, problems: list[str], *, limit: int,
          required: bool = True) -> str:  # fmt: skip
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(f"{key} must be text, not {type(value).__name__}")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{key} is required")
    if len(value) > limit:
        problems.append(f"{key} is {len(value)} characters, over the limit of {limit}")
    return value[:limit]


def _instant(payload: dict[str, Any], key: str, problems: list[str]) -> datetime | None:
    raw = payload.get(key)
    if not isinstance(raw, str):
        problems.append(f"{key} must be an ISO 8601 time with a zone, not {raw!r}")
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return ensure_utc(value)
    except ValueError:
        problems.append(f"{key} {raw!r} is not an ISO 8601 time with a zone")
        return None


def parse_network(text: Any) -> Network:
    if not isinstance(text, str):
        raise ValueError(f"address {text!r} must be text")
    net = ipaddress.ip_network(text.strip(), strict=True)
    if net.prefixlen < MIN_PREFIX[net.version]:
        raise ValueError(
            f"prefix {text!r} is wider than /{MIN_PREFIX[net.version]}: a watch names the"
            " addresses it needs, not whole networks"
        )
    return net


def parse_port_range(value: Any) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ValueError(f"port {value!r} is not a number")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str) and re.fullmatch(r"\d{1,5}(-\d{1,5})?", value.strip()):
        parts = value.strip().split("-")
        lo, hi = int(parts[0]), int(parts[-1])
    else:
        raise ValueError(f"port {value!r} is not a number or a range like 40000-40100")
    if not 0 <= lo <= hi <= 65535:
        raise ValueError(f"port range {value!r} is not within 0..65535 (low to high)")
    return lo, hi


def parse_criteria(raw: Any, problems: list[str]) -> Criteria | None:
    if not isinstance(raw, dict):
        problems.append("criteria must be an object with addresses (and optional ports)")
        return None
    addresses = raw.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        problems.append("criteria.addresses must list at least one address or prefix")
        return None
    if len(addresses) > MAX_CRITERIA:
        problems.append(f"criteria.addresses has {len(addresses)} entries, over {MAX_CRITERIA}")
        return None
    networks = []
    for item in addresses:
        try:
            networks.append(parse_network(item))
        except ValueError as exc:
            problems.append(f"criteria.addresses: {exc}")
    ports_raw = raw.get("ports") or []
    ports = []
    if not isinstance(ports_raw, list) or len(ports_raw) > MAX_CRITERIA:
        problems.append("criteria.ports must be a list of up to 256 ports or ranges")
    else:
        for item in ports_raw:
            try:
                ports.append(parse_port_range(item))
            except ValueError as exc:
                problems.append(f"criteria.ports: {exc}")
    protocols_raw = raw.get("protocols") or []
    protocols = []
    if not isinstance(protocols_raw, list):
        problems.append("criteria.protocols must be a list")
    else:
        for item in protocols_raw:
            if not isinstance(item, str) or item.lower() not in PROTOCOLS:
                problems.append(f"criteria.protocols: unknown protocol {item!r}")
            else:
                protocols.append(item.lower())
    unknown = set(raw) - {"addresses", "ports", "protocols"}
    if unknown:
        problems.append(f"criteria has unknown fields: {', '.join(sorted(unknown))}")
    return Criteria(tuple(networks), tuple(ports), tuple(protocols))


def parse_order(payload: Any, *, requester: str, now: datetime) -> WatchOrder:
    """Validate an order payload; ValidationFailed lists every problem, naming bad values.
    An order whose end is not after ``now`` (past its expiry) is refused."""
    if not isinstance(payload, dict):
        raise ValidationFailed("a watch order must be a JSON object", ["payload"])
    problems: list[str] = []
    ref = _text(payload, "order_ref", problems, limit=100)
    if ref and not _REF.fullmatch(ref):
        problems.append(f"order_ref {ref!r} may hold letters, digits and . _ : / - only")
    requested_by = _text(payload, "requested_by", problems, limit=300)
    legal = _text(payload, "legal_reference", problems, limit=2000)
    case = _text(payload, "case_reference", problems, limit=200, required=False)
    criteria = parse_criteria(payload.get("criteria"), problems)
    start = _instant(payload, "start", problems)
    end = _instant(payload, "end", problems)
    if start and end:
        if end <= start:
            problems.append(f"end {isoformat_z(end)} is not after start {isoformat_z(start)}")
        elif end - start > timedelta(days=MAX_ORDER_DAYS):
            problems.append(
                f"the period {isoformat_z(start)} .. {isoformat_z(end)} is longer than"
                f" {MAX_ORDER_DAYS} days; renew the order instead"
            )
        if end <= ensure_utc(now):
            problems.append(
                f"the order expired at {isoformat_z(end)}; it is now {isoformat_z(now)}"
            )
    if problems or criteria is None or start is None or end is None:
        raise ValidationFailed("the watch order is refused", problems)
    return WatchOrder(ref, requester, requested_by, legal, case, criteria, start, end)
