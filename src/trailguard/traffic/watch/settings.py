"""What a live-watch runtime is told (ports, limits, batching) and what it counts; shared by
the runtime and its listeners."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from trailguard.traffic.model import Parser


@dataclass
class WatchSettings:
    host: str = "127.0.0.1"
    syslog_udp_port: int | None = 5514  # None: not listening
    syslog_tcp_port: int | None = 5514
    ipfix_port: int | None = 4739
    max_datagram: int = 8192  # RFC 5426 section 3.2: receivers SHOULD take 2048, MAY 8192
    max_tcp_frame: int = 65536
    rate_limit: float = 250_000.0  # syslog lines per second per peer (token bucket)
    rate_burst: float = 500_000.0
    parser: Parser | None = None  # the format of the syslog lines; None: detected per batch
    tz: str | None = None  # zone of syslog stamps without one (default: the node's zone)
    batch_lines: int = 4096
    batch_seconds: float = 0.02
    report_interval: float = 0.05
    orders_interval: float = 1.0
    deliver: bool = True  # run a delivery round right after each report
    transport: Any = None  # trailguard.network.transport.Transport for deliveries
    line_queue: int = 2000  # batches waiting for the processing thread
    coalesce_lines: int = 65536  # queued batches processed together, up to this many lines
    # UDP syslog: receive loops in child processes (one socket each, SO_REUSEPORT when more
    # than one), so that receiving never waits for this process's GIL; False: a thread here
    udp_receiver_process: bool = True
    udp_receivers: int = 1


@dataclass
class WatchStats:
    """Counters since start (thread-safe enough: each counter has one writer thread)."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=500))
    latency_reported: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))
    latency_delivered: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))
    latency_matched: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[name] += n

    def problem(self, source: str, text: str) -> None:
        self.problems.append((time.time(), source, text[:300]))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
