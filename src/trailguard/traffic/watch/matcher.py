"""Matching records against the active watch orders, in bulk.

Text lines go through a vectorised prefilter first (one RE2 pattern built from the watched
addresses, run over the whole batch as an Arrow column); only the lines it keeps are parsed by
the vendor parser and matched exactly. Records (parsed lines, flow records) match an order when
one of their addresses (public, inside or destination) is in the order's networks, the port on
that side is in the order's ports (a port block matches when the block overlaps them), the
protocol is one of the order's (when the record has one), and the record arrived while the
order is in force.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.watch.domain import Network, WatchOrder

_SIDES = (("public_ip", "public_port"), ("inside_ip", "inside_port"), ("dst_ip", "dst_port"))


@lru_cache(maxsize=200_000)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _v4_pattern(net: ipaddress.IPv4Network) -> str:
    octets = str(net.network_address).split(".")
    if net.prefixlen == 32:
        return r"(?:^|[^0-9])" + re.escape(".".join(octets)) + r"(?:[^0-9]|$)"
    keep = max(1, net.prefixlen // 8)
    return r"(?:^|[^0-9])" + re.escape(".".join(octets[:keep]) + ".")


def _v6_pattern(net: ipaddress.IPv6Network) -> str:
    hextets = net.network_address.exploded.split(":")
    first = hextets[0].lstrip("0") or "0"
    second = hextets[1].lstrip("0") or "0"
    tail = f"0*{second}:" if second != "0" else "(?:0*:|:)"
    return r"(?:^|[^0-9a-f:])0*" + first + ":" + tail


def ipv4_literals(orders: list[WatchOrder]) -> list[tuple[bytes, bool]] | None:
    """The texts ``_v4_pattern`` looks for, for ``bytes.find``; None if any network is IPv6."""
    out: set[tuple[bytes, bool]] = set()
    for order in orders:
        for net in order.criteria.networks:
            if not isinstance(net, ipaddress.IPv4Network):
                return None
            octets = str(net.network_address).split(".")
            if net.prefixlen == 32:
                out.add((".".join(octets).encode(), True))
            else:
                keep = max(1, net.prefixlen // 8)
                out.add((".".join(octets[:keep]).encode() + b".", False))
    return sorted(out)


def prefilter_pattern(orders: list[WatchOrder]) -> str | None:
    """One case-insensitive pattern that every line naming a watched address matches (it may
    match a few more; the exact match follows)."""
    parts = set()
    for order in orders:
        for net in order.criteria.networks:
            if isinstance(net, ipaddress.IPv4Network):
                parts.add(_v4_pattern(net))
            else:
                parts.add(_v6_pattern(net))
    if not parts:
        return None
    return "(?i)(?:" + "|".join(sorted(parts)) + ")"


@dataclass
class CompiledOrders:
    """The orders in force, prepared for matching (rebuilt when the orders change)."""

    orders: list[WatchOrder]
    pattern: str | None = None
    exact: dict[str, list[int]] = field(default_factory=dict)  # address text -> order indexes
    prefixes: list[tuple[Network, int]] = field(default_factory=list)
    # IPv4 orders only: (text searched for, whole address: no digit may follow); None when an
    # order names an IPv6 network (those go through the regex prefilter)
    literals: list[tuple[bytes, bool]] | None = None

    @classmethod
    def build(cls, orders: list[WatchOrder]) -> CompiledOrders:
        out = cls(list(orders), prefilter_pattern(orders))
        out.literals = ipv4_literals(orders)
        for i, order in enumerate(out.orders):
            for net in order.criteria.networks:
                if net.prefixlen == net.max_prefixlen:
                    out.exact.setdefault(str(net.network_address), []).append(i)
                else:
                    out.prefixes.append((net, i))
        return out

    def __bool__(self) -> bool:
        return bool(self.orders)

    def candidates(self, lines: pa.Array) -> pa.Array:
        """Boolean mask of the lines that may name a watched address."""
        if self.pattern is None or len(lines) == 0:
            return pa.array([False] * len(lines))
        return pc.fill_null(pc.match_substring_regex(lines, self.pattern), False)

    def candidate_lines(self, data: bytes, ends: np.ndarray) -> list[int]:
        """Indices of the newline-terminated lines of ``data`` (``ends``: positions of their
        newlines) that may name a watched IPv4 address: the same lines as ``candidates`` keeps,
        found with ``bytes.find`` over the whole batch instead of a regex per line."""
        if not self.literals:
            return []
        found: set[int] = set()
        for text, whole in self.literals:
            pos = data.find(text)
            while pos >= 0:
                before = data[pos - 1] if pos else 10
                after = data[pos + len(text)] if pos + len(text) < len(data) else 10
                if not 48 <= before <= 57 and not (whole and 48 <= after <= 57):
                    found.add(pos)
                pos = data.find(text, pos + 1)
        if not found:
            return []
        lines = np.searchsorted(ends, np.fromiter(found, dtype=np.int64, count=len(found)))
        return sorted({int(i) for i in lines if i < len(ends)})

    def orders_for(self, address: str | None) -> list[int]:
        if not address:
            return []
        hits = list(self.exact.get(address, ()))
        if self.prefixes:
            ip = _ip(address)
            if ip is not None:
                hits += [i for net, i in self.prefixes if ip.version == net.version and ip in net]
        return hits

    def match_records(
        self, records: list[dict[str, Any]], arrived_at: datetime
    ) -> list[tuple[WatchOrder, dict[str, Any]]]:
        """(order, record) pairs for every record that matches an order in force."""
        out: list[tuple[WatchOrder, dict[str, Any]]] = []
        live = [o.active_at(arrived_at) for o in self.orders]
        if not any(live):
            return out
        for rec in records:
            matched: set[int] = set()
            for ip_key, port_key in _SIDES:
                for i in self.orders_for(rec.get(ip_key)):
                    if i in matched or not live[i]:
                        continue
                    crit = self.orders[i].criteria
                    port_end = rec.get("public_port_end") if port_key == "public_port" else None
                    if not crit.port_ok(rec.get(port_key), port_end):
                        continue
                    proto = rec.get("protocol")
                    if crit.protocols and proto and proto not in crit.protocols:
                        continue
                    matched.add(i)
                    out.append((self.orders[i], rec))
        return out

    def match_table(
        self, table: pa.Table, arrived_at: datetime
    ) -> list[tuple[WatchOrder, dict[str, Any]]]:
        """As ``match_records`` for a RECORD_SCHEMA table: rows are looked at only when one
        of their addresses is watched (decided once per distinct address)."""
        if not self.orders or table.num_rows == 0:
            return []
        mask = None
        for ip_key, _ in _SIDES:
            col = table.column(ip_key)
            uniques = [u for u in pc.unique(col).to_pylist() if u and self.orders_for(u)]
            if not uniques:
                continue
            m = pc.fill_null(pc.is_in(col, value_set=pa.array(uniques, pa.string())), False)
            mask = m if mask is None else pc.or_(mask, m)
        if mask is None:
            return []
        rows = table.filter(mask).to_pylist()
        return self.match_records(rows, arrived_at)
