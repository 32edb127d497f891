"""What refusing costs: a per-source limit on refused exchange requests, and an audit log
that counts repeated refusals instead of writing one entry per request.

A *source* is the client's IPv4 address, or the /64 network of its IPv6 address (one
subscriber's allocation; RFC 6177), so rotating through a /64 gains nothing. Per source, a
window of ``refusal_window_seconds`` (``node.toml``) starts at its first refusal; once
``max_refusals_per_window`` requests from it have been refused in the window, every further
exchange request from it is answered 429 with ``Retry-After`` until the window ends, before
its body is read, parsed, verified or answered with a signature.

The audit log gets, per source and reason and window, the first refusal as its own entry
(``exchange.rejected`` with the detail, as before) and, when the window closes, one entry
``exchange.rejected.repeated`` with the number of further refusals of that source for that
reason in the window. Nothing is dropped: every refusal is in an entry or in a count. A
window's count is written when the next refusal after its end arrives, when the delivery
worker ticks (``flush``), or when the table of sources is full (oldest first). A process
that dies holding an open window loses that window's count (at most one window per source):
the limitation of keeping the counter in memory rather than writing each refusal.

Time comes from the node's injectable clock.
"""

from __future__ import annotations

import ipaddress
import threading
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.network.envelope import RejectionCode

if TYPE_CHECKING:
    from trailguard.node import Node

RATE_LIMITED = "rate_limited"
# Refusals before the sender is known to be who it says (no verified signature): these are
# counted per source and limited. Refusals of a verified sender's envelope (replay, expired,
# bad payload, refused by the handler) keep one audit entry each: they concern a real message.
UNAUTHENTICATED = frozenset(
    {
        RejectionCode.MALFORMED,
        RejectionCode.OVERSIZE,
        RejectionCode.WRONG_RECIPIENT,
        RejectionCode.WRONG_NETWORK,
        RejectionCode.UNKNOWN_SENDER,
        RejectionCode.BAD_SIGNATURE,
    }
)
MAX_SOURCES = 10_000  # sources tracked at once; beyond, the oldest windows are written out


def source_of(host: str | None) -> str:
    """The rate-limiting key of a client address: IPv4 as is, IPv6 by its /64."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Window:
    start: datetime
    refused: int = 0  # every refusal of this source in the window (for the limit)
    # reason -> refusals after the first one (the first has its own audit entry)
    repeated: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Whether a request from a source may be processed now; if not, how long to wait."""

    allowed: bool
    retry_after: int = 0


class RefusalGuard:
    """The per-node limiter and audit aggregator (thread-safe; one per ``Node``)."""

    def __init__(self, node: Node) -> None:
        self._node = weakref.ref(node)
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    @property
    def _config(self) -> Any:
        node = self._node()
        assert node is not None
        return node.config

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self._config.refusal_window_seconds)

    def check(self, source: str, now: datetime) -> Decision:
        """May ``source`` be served now? (Does not count anything.)"""
        with self._lock:
            current = self._windows.get(source)
            if current is None or now >= current.start + self.window:
                return Decision(True)
            if current.refused < self._config.max_refusals_per_window:
                return Decision(True)
            left = (current.start + self.window - now).total_seconds()
            return Decision(False, max(1, int(left + 0.999)))

    def note(
        self,
        source: str,
        reason: str,
        detail: str,
        now: datetime,
        *,
        message_id: str | None = None,
        sender: str | None = None,
    ) -> list[dict[str, Any]]:
        """Count one refusal of ``source``. Returns the audit entries to write now (as
        ``record`` keyword arguments): this refusal's own entry if it is the first of its
        reason in the source's window, and the counts of windows that have closed."""
        with self._lock:
            closed = self._take_closed(now)
            current = self._windows.get(source)
            if current is None or now >= current.start + self.window:
                if current is not None:
                    closed.append((source, current))
                current = self._windows[source] = _Window(start=now)
            if reason != RATE_LIMITED:
                current.refused += 1
            first = reason not in current.repeated
            if first:
                current.repeated[reason] = 0
            else:
                current.repeated[reason] += 1
            if len(self._windows) > MAX_SOURCES:
                oldest = min(self._windows, key=lambda s: self._windows[s].start)
                closed.append((oldest, self._windows.pop(oldest)))
        entries = self._counts(closed, now)
        if first:
            entries.append(
                {
                    "actor": f"node:{sender}" if sender else "network:unknown",
                    "action": "exchange.rejected",
                    "subject": f"message:{message_id or 'unreadable'}",
                    "details": {"reason": reason, "detail": detail[:300], "source": source},
                    "at": now,
                }
            )
        return entries

    def closed_counts(self, now: datetime, *, everything: bool = False) -> list[dict[str, Any]]:
        """The count entries of the windows that have closed (of all windows with
        ``everything``), taken out of the guard: the caller writes them."""
        with self._lock:
            if everything:
                closed = list(self._windows.items())
                self._windows.clear()
            else:
                closed = self._take_closed(now)
        return self._counts(closed, now)

    def _take_closed(self, now: datetime) -> list[tuple[str, _Window]]:
        ended = [s for s, w in self._windows.items() if now >= w.start + self.window]
        return [(s, self._windows.pop(s)) for s in ended]

    def _counts(self, closed: list[tuple[str, _Window]], now: datetime) -> list[dict[str, Any]]:
        entries = []
        for source, window in closed:
            until = min(now, window.start + self.window)
            for reason, count in sorted(window.repeated.items()):
                if count:
                    entries.append(
                        {
                            "actor": "network:unknown",
                            "action": "exchange.rejected.repeated",
                            "subject": f"source:{source}",
                            "details": {
                                "source": source,
                                "reason": reason,
                                "count": count,
                                "from": isoformat_z(window.start),
                                "until": isoformat_z(until),
                            },
                            "at": now,
                        }
                    )
        return entries


def write_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        record(session, **entry)


_GUARDS: dict[int, RefusalGuard] = {}
_GUARDS_LOCK = threading.Lock()


def guard_for(node: Node) -> RefusalGuard:
    """The node's guard, created on first use and forgotten with the node."""
    key = id(node)
    with _GUARDS_LOCK:
        guard = _GUARDS.get(key)
        if guard is None or guard._node() is not node:
            guard = _GUARDS[key] = RefusalGuard(node)
            weakref.finalize(node, _GUARDS.pop, key, None)
        return guard


def flush_refusals(node: Node, *, everything: bool = False) -> int:
    """Write the refusal counts of closed windows (of all windows with ``everything``) to the
    audit log; the delivery worker calls this on each tick. Returns the entries written."""
    entries = guard_for(node).closed_counts(node.clock.now(), everything=everything)
    if entries:
        # SQLite's in-process writer lock held for the block, as the exchange's
        # write_serialised does (PostgreSQL needs none)
        lock = node.db.write_lock
        with lock if lock is not None else nullcontext(), node.db.session() as session:
            write_entries(session, entries)
    return len(entries)
