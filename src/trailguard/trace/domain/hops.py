"""Hops of a trace and what decides them: plain typed Python.

A hop is one address (and port) seen at one time. The trace decides, for each hop, who holds
the data that says where the connection came from: this node (a look-up in its own store),
another node (a preservation request to that country's 24/7 point of contact), or nobody (a
dead end with its reason). Before a request goes out, ``presend_checks`` names the reasons
providers most often refuse or cannot answer; an error blocks sending, a warning is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from trailguard.core.clock import isoformat_z


class HopState(StrEnum):
    OPEN = "open"  # decided nothing yet
    AMBIGUOUS = "ambiguous"  # several candidates: shown, the missing fact asked for
    LOOKED_UP = "looked_up"  # own data answered
    DRAFTED = "drafted"  # a preservation request waits for approval
    SENT = "sent"  # the request is on its way / being executed
    PRESERVED = "preserved"  # the custodian preserved the data
    ADVANCED = "advanced"  # the answer named where the connection came from: next hop exists
    SUBSCRIBER = "subscriber"  # the trail ends at a subscriber, whose data is preserved
    DEAD_END = "dead_end"  # the trail ends here, with its reason


class TraceState(StrEnum):
    OPEN = "open"
    SUBSCRIBER = "subscriber"
    DEAD_END = "dead_end"


DEAD_END_REASONS = {
    "no_data": "the custodian holds no record of this connection",
    "retention_over": "the custodian's retention for the data needed is over",
    "no_lawful_channel": "no lawful channel to the country that holds the data",
    "refusal": "the requested side refused",
    "unserved": "no one in the directory serves this address",
    "special_address": "the address is not globally reachable; it cannot be a hop on the Internet",
    "loop": "the trail returns to a hop already seen",
}

# Record kinds that identify a subscriber (an assignment of an address to an account or line).
SUBSCRIBER_KINDS = frozenset({"radius", "dhcp"})
# Record kinds kept by an operator that translates addresses (carrier-grade NAT).
CGN_KINDS = frozenset({"nat", "port_block"})


@dataclass(frozen=True)
class Custodian:
    """What a provider keeps and for how long (as it declared it), with the source."""

    node_id: str
    retention_days: dict[str, int]
    source: str = ""

    @property
    def translates(self) -> bool:
        return bool(CGN_KINDS & set(self.retention_days))

    def kinds_needed(self) -> list[str]:
        """The kinds a preservation should name: translations first, then assignments, then
        flows; whatever this custodian keeps of them."""
        order = ["port_block", "nat", "radius", "dhcp", "flow", "access"]
        return [kind for kind in order if kind in self.retention_days]


@dataclass(frozen=True)
class Check:
    level: str  # error / warning
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "code": self.code, "message": self.message}


@dataclass
class HopFacts:
    """What the checks look at."""

    ip: str
    port: int | None
    at: datetime | None
    tolerance_s: float
    special: str | None
    provider_node: str | None
    provider_country: str | None
    recipient_country: str | None
    data_kinds: list[str] = field(default_factory=list)


def dies_at(at: datetime | None, custodian: Custodian | None, kinds: list[str]) -> datetime | None:
    """When the trail dies at this hop: the earliest end of retention among the kinds the next
    step needs (None when the custodian's retention or the time is unknown)."""
    if at is None or custodian is None:
        return None
    days = [custodian.retention_days[k] for k in kinds if k in custodian.retention_days]
    if not days:
        return None
    return at + timedelta(days=min(days))


def presend_checks(
    facts: HopFacts, custodian: Custodian | None, now: datetime, *, wide_after_s: float = 300
) -> list[Check]:
    checks: list[Check] = []
    cgn = facts.special == "shared" or (custodian is not None and custodian.translates)
    if facts.at is None:
        checks.append(
            Check(
                "error",
                "time_without_zone",
                "the time has no zone: the custodian cannot "
                "find the record (give the offset or zone the source used)",
            )
        )
    if cgn and facts.port is None:
        checks.append(
            Check(
                "error",
                "cgn_without_port",
                f"{facts.ip} is shared by many subscribers "
                "behind address translation: without the source port nobody can be singled "
                "out (RFC 6302)",
            )
        )
    if cgn and facts.tolerance_s > 2:
        checks.append(
            Check(
                "warning",
                "cgn_time_not_exact",
                f"a translated address needs an exact time; "
                f"the window is ±{facts.tolerance_s:g} s (ports are reused within seconds)",
            )
        )
    if facts.tolerance_s > wide_after_s:
        checks.append(
            Check(
                "warning",
                "window_too_wide",
                f"the window ±{facts.tolerance_s:g} s is wider "
                "than needed: providers refuse or return many candidates",
            )
        )
    if facts.provider_node is None:
        checks.append(Check("error", "unserved", f"no provider in the directory serves {facts.ip}"))
    elif facts.recipient_country and facts.provider_country != facts.recipient_country:
        checks.append(
            Check(
                "error",
                "prefix_not_recipients",
                f"{facts.ip} belongs to a provider in "
                f"{facts.provider_country}, not in the recipient's {facts.recipient_country}",
            )
        )
    if custodian is None:
        checks.append(
            Check(
                "warning",
                "retention_unknown",
                "the custodian's retention is not recorded: the deadline of this hop is unknown",
            )
        )
    else:
        missing = [k for k in facts.data_kinds if k not in custodian.retention_days]
        if missing:
            checks.append(
                Check(
                    "error",
                    "kind_not_kept",
                    f"the custodian does not keep {', '.join(missing)}"
                    f" (it keeps {', '.join(sorted(custodian.retention_days)) or 'nothing'})",
                )
            )
        end = dies_at(facts.at, custodian, facts.data_kinds or custodian.kinds_needed())
        if end is not None and end <= now:
            checks.append(
                Check(
                    "error",
                    "retention_over",
                    f"the custodian's retention ended {isoformat_z(end)}: the data is gone",
                )
            )
    return checks


def blocking(checks: list[Check]) -> bool:
    return any(check.level == "error" for check in checks)


def same_hop(a: tuple[str, int | None], b: tuple[str, int | None]) -> bool:
    """A loop: the trail names an address and port already on it."""
    return a[0] == b[0] and (a[1] is None or b[1] is None or a[1] == b[1])


def hop_json_time(value: datetime | None) -> str | None:
    return isoformat_z(value) if value is not None else None


def graph(trace: dict[str, Any], hops: list[dict[str, Any]]) -> dict[str, Any]:
    """The trace graph (format ``trailguard.trace-graph.v1``, documented in ARCHITECTURE.md):
    nodes are endpoints (address[:port]), providers and subscribers; edges are connections
    (from the endpoint seen at a hop to the endpoint that hop's answer named, or to the
    subscriber), ``operated_by`` (endpoint -> provider), each with its time, source and
    confidence."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def endpoint(ip: str, port: int | None) -> str:
        key = f"endpoint:{ip}" + (f":{port}" if port is not None else "")
        nodes.setdefault(key, {"id": key, "type": "endpoint", "ip": ip, "port": port})
        return key

    target = trace.get("target")
    previous: str | None = None
    if target:
        previous = "victim"
        nodes[previous] = {"id": "victim", "type": "victim", "label": target.get("label")}
    for hop in hops:
        here = endpoint(hop["ip"], hop["port"])
        if hop.get("provider"):
            provider = f"provider:{hop['provider']['node_id']}"
            nodes.setdefault(
                provider,
                {
                    "id": provider,
                    "type": "provider",
                    "node_id": hop["provider"]["node_id"],
                    "organisation": hop["provider"]["organisation"],
                    "country": hop["provider"]["country"],
                },
            )
            edges.append(
                {
                    "type": "operated_by",
                    "from": here,
                    "to": provider,
                    "source": {"kind": "directory", "prefix": hop["provider"]["prefix"]},
                    "confidence": "directory",
                }
            )
        if previous is not None:
            edges.append(
                {
                    "type": "connection",
                    "from": here,
                    "to": previous,
                    "at": hop["at"],
                    "tolerance_s": hop["tolerance_s"],
                    "protocol": hop["protocol"],
                    "hop": hop["seq"],
                    "source": hop["source"],
                    "confidence": hop["confidence"],
                }
            )
        if hop["state"] == HopState.SUBSCRIBER.value:
            subscriber = f"subscriber:{hop['id']}"
            nodes[subscriber] = {
                "id": subscriber,
                "type": "subscriber",
                "identified_by": hop.get("subscriber") or "preserved by the custodian",
            }
            edges.append(
                {
                    "type": "session",
                    "from": subscriber,
                    "to": here,
                    "at": hop["at"],
                    "hop": hop["seq"],
                    "source": hop["source"],
                    "confidence": hop["confidence"],
                }
            )
        previous = here
    return {
        "format": "trailguard.trace-graph.v1",
        "trace": {k: trace[k] for k in ("id", "label", "state", "end_reason") if k in trace},
        "nodes": list(nodes.values()),
        "edges": edges,
    }
