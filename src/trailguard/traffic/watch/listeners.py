"""Listeners of the live watch: syslog over UDP (RFC 5426) and TCP (RFC 6587: octet counting
and non-transparent LF framing), carrying RFC 3164 or RFC 5424 messages, and an IPFIX /
NetFlow v9 / v5 collector over UDP (RFC 7011 section 10.3). Loopback by default.

Every input that is refused is counted and listed in the runtime's problems: datagrams over
``max_datagram`` bytes, TCP frames over ``max_tcp_frame``, a bad octet count, lines that are
not UTF-8, lines from a peer over its rate limit (token bucket), export packets that are
malformed, truncated, or whose template never came. The kernel's own count of UDP datagrams it
dropped (receive buffer full) is read from ``/proc/net/udp`` so that loss before the socket is
reported too.

Sources: RFC 5426 https://www.rfc-editor.org/rfc/rfc5426 , RFC 6587
https://www.rfc-editor.org/rfc/rfc6587 , RFC 3164 https://www.rfc-editor.org/rfc/rfc3164 ,
RFC 5424 https://www.rfc-editor.org/rfc/rfc5424 .
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trailguard.node import Node
from trailguard.traffic.parsers.netflow import FlowDecoder
from trailguard.traffic.watch.settings import WatchSettings, WatchStats


class WatchRuntime(Protocol):
    """What the listeners need of the runtime that owns them (``runtime.WatchRuntime``)."""

    node: Node
    settings: WatchSettings
    stats: WatchStats

    def submit_blob(
        self, data: bytes, runs: list[tuple[int, str]], arrived_perf: float
    ) -> None: ...

    def process_records(
        self,
        records: list[dict[str, Any]],
        source: str,
        raw: str,
        arrived_at: datetime,
        arrived_perf: float,
    ) -> int: ...


RCVBUF = 32 * 1024 * 1024
SWITCH_INTERVAL = 0.0005  # seconds; see SyslogUdpListener.start
_PRI_5424 = re.compile(r"^<(\d{1,3})>1 ")
_PRI = re.compile(r"^<(\d{1,3})>")
_DIGIT_LINE = re.compile(rb"\n[0-9]")


class UdpReceiver:
    """Drains a non-blocking UDP socket: every datagram waiting (up to ``limit``) per call,
    waiting up to ``timeout`` for the first. (``recvmmsg`` through ctypes was measured and is
    slower than ``recvfrom`` from Python: the per-datagram ctypes work outweighs the saved
    system calls.)"""

    def __init__(self, sock: socket.socket, limit: int = 1024) -> None:
        self.sock = sock
        self.limit = limit
        sock.setblocking(False)

    def recv(self, timeout: float) -> list[tuple[bytes, str, int]]:
        out: list[tuple[bytes, str, int]] = []
        recvfrom = self.sock.recvfrom
        for _ in range(self.limit):
            try:
                data, addr = recvfrom(65536)
            except BlockingIOError:
                if out:
                    break
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    break
                continue
            out.append((data, addr[0], len(data)))
        return out


def send_all(sock: socket.socket, datagrams: list[bytes], dest: tuple[str, int]) -> int:
    """Send datagrams to ``dest`` (replay of syslog into a listener; benchmarks, demo)."""
    sendto = sock.sendto
    for d in datagrams:
        while True:
            try:
                sendto(d, dest)
                break
            except BlockingIOError:
                time.sleep(0.0005)
    return len(datagrams)


def _force_rcvbuf(sock: socket.socket) -> None:
    """A large receive buffer; SO_RCVBUFFORCE passes the system cap where allowed (root)."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RCVBUF)
            return
        except OSError:
            continue


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take(n)`` returns how many were granted."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, n: int = 1) -> int:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = min(n, int(self.tokens))
        self.tokens -= granted
        return granted


def classify(line: str) -> str:
    """'rfc5424', 'rfc3164', 'bad_pri' (a PRI over 191) or 'unframed' (no PRI)."""
    m = _PRI_5424.match(line)
    if m:
        return "rfc5424" if int(m.group(1)) <= 191 else "bad_pri"
    m = _PRI.match(line)
    if m:
        return "rfc3164" if int(m.group(1)) <= 191 else "bad_pri"
    return "unframed"


class TcpFramer:
    """Splits a TCP syslog byte stream into messages (RFC 6587 section 3.4): octet counting
    (``LEN SP MSG``) when a frame starts with a digit, LF-terminated otherwise."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self.buf = bytearray()
        self.skip = 0  # bytes of an oversize octet-counted frame still to discard
        self.discarding = False  # inside an oversize LF-framed line
        self.problems: list[tuple[str, str]] = []  # (counter, text)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages so far, as pieces of newline-terminated lines (a newline inside
        an octet-counted message becomes a space)."""
        buf = bytes(self.buf) + data if self.buf else data
        pos, end = 0, len(buf)
        out: list[bytes] = []
        find = buf.find
        while pos < end:
            if self.skip:
                n = min(self.skip, end - pos)
                pos += n
                self.skip -= n
                continue
            if self.discarding:
                nl = find(b"\n", pos)
                if nl < 0:
                    pos = end
                    break
                pos = nl + 1
                self.discarding = False
                continue
            if 48 <= buf[pos] <= 57:
                sp = find(b" ", pos, pos + 12)
                if sp < 0:
                    if end - pos >= 12 or not buf[pos:end].isdigit():
                        self.problems.append(("framing_errors", "octet count without a space"))
                        pos = self._resync(buf, pos)
                        continue
                    break
                digits = buf[pos:sp]
                if not digits.isdigit():
                    self.problems.append(("framing_errors", f"bad octet count {digits[:12]!r}"))
                    pos = self._resync(buf, pos)
                    continue
                size = int(digits)
                if size > self.max_frame:
                    self.problems.append(
                        ("oversize", f"frame of {size} bytes over the limit {self.max_frame}")
                    )
                    pos = sp + 1
                    self.skip = size
                    continue
                if end < sp + 1 + size:
                    break
                frame = buf[sp + 1 : sp + 1 + size].rstrip(b"\r\n")
                if frame:
                    out.append(frame.replace(b"\n", b" ") + b"\n")
                pos = sp + 1 + size
            else:
                last = buf.rfind(b"\n", pos)
                if last > pos:
                    # a run of LF-framed lines, split in one go up to the first line that
                    # starts with a digit (which may open an octet-counted frame)
                    m = _DIGIT_LINE.search(buf, pos, last + 1)
                    stop = m.start() + 1 if m else last + 1
                    if stop > pos:
                        out.append(buf[pos:stop])
                        pos = stop
                        continue
                nl = find(b"\n", pos)
                if nl < 0:
                    if end - pos > self.max_frame:
                        self.problems.append(
                            ("oversize", f"line over {self.max_frame} bytes without a newline")
                        )
                        pos = end
                        self.discarding = True
                    break
                frame = buf[pos:nl].rstrip(b"\r")
                pos = nl + 1
                if frame:
                    out.append(frame + b"\n")
        self.buf = bytearray(buf[pos:])
        return out

    def _resync(self, buf: bytes, pos: int) -> int:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            self.discarding = True
            return len(buf)
        return nl + 1


def split_lines(pieces: list[bytes]) -> list[bytes]:
    """The lines in newline-terminated pieces (for callers that want them one by one)."""
    return [line.rstrip(b"\r") for line in b"".join(pieces).split(b"\n")[:-1]]


class _Batcher:
    """Collects newline-terminated lines as bytes and hands them to the runtime in batches
    (no per-line Python work: the runtime turns a batch into an Arrow column at once)."""

    def __init__(self, runtime: WatchRuntime) -> None:
        self.runtime = runtime
        self.blobs: list[bytes] = []
        self.runs: list[tuple[int, str]] = []  # (end line index, source) of each run
        self.count = 0
        self.first_perf = 0.0
        self.lock = threading.Lock()
        self.buckets: dict[str, TokenBucket] = {}

    def add(
        self, pieces: list[bytes], source: str, peer: str, arrived: float | None = None
    ) -> None:
        """Lines (newline-terminated pieces) from ``peer``; ``arrived`` is the perf_counter
        time their first datagram was read (now when not given)."""
        blob = b"".join(pieces)
        n = blob.count(b"\n")
        if not n:
            return
        settings = self.runtime.settings
        bucket = self.buckets.get(peer)
        if bucket is None:
            bucket = self.buckets[peer] = TokenBucket(settings.rate_limit, settings.rate_burst)
        granted = bucket.take(n)
        if granted < n:
            refused = n - granted
            self.runtime.stats.add("rate_limited", refused)
            self.runtime.stats.problem(source, f"rate limit {settings.rate_limit:.0f} lines/s"
                                       f" exceeded: {refused} lines refused")  # fmt: skip
            if not granted:
                return
            ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)
            blob = blob[: int(ends[granted - 1]) + 1]
            n = granted
        now = time.perf_counter() if arrived is None else arrived
        with self.lock:
            if not self.blobs:
                self.first_perf = now
            self.blobs.append(blob)
            self.count += n
            self.runs.append((self.count, source))
            if self.count >= settings.batch_lines:
                self._flush_locked()

    def flush_if_due(self) -> None:
        with self.lock:
            if self.blobs and (
                time.perf_counter() - self.first_perf >= self.runtime.settings.batch_seconds
            ):
                self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            if self.blobs:
                self._flush_locked()

    def _flush_locked(self) -> None:
        self.runtime.submit_blob(b"".join(self.blobs), self.runs, self.first_perf)
        self.blobs, self.runs, self.count = [], [], 0


def udp_kernel_drops(port: int) -> int:
    """Datagrams the kernel dropped for UDP sockets bound to ``port`` (Linux /proc)."""
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) >= 13 and int(cols[1].rsplit(":", 1)[1], 16) == port:
                total += int(cols[12])
    return total


class SyslogUdpListener:
    """Syslog over UDP. By default the receive loop runs in ``settings.udp_receivers`` child
    processes (``udp_receiver.py``; with more than one, each has its own socket on the same
    port with ``SO_REUSEPORT`` and the kernel spreads the senders over them), each handing
    batches of datagrams to a reader thread here over a pipe; the reader applies the rate limit
    and hands the lines to the runtime. ``udp_receiver_process=False`` keeps the loop in a
    thread of this process (as before; it then competes with matching and reporting for the
    GIL)."""

    def __init__(self, runtime: WatchRuntime, host: str, port: int) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.in_process = not settings.udp_receiver_process
        count = 1 if self.in_process else max(1, settings.udp_receivers)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            _force_rcvbuf(sock)
            sock.bind((host, port if not self.socks else self.socks[0].getsockname()[1]))
            self.socks.append(sock)
        self.sock = self.socks[0]
        self.port = self.sock.getsockname()[1]
        # what the kernel granted (Linux doubles the request for its bookkeeping)
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.batcher = _Batcher(runtime)
        self._stop = threading.Event()
        self._base_drops = udp_kernel_drops(self.port)
        self._final_drops: int | None = None
        self.threads: list[threading.Thread] = []
        self.children: list[_ReceiverChild] = []
        self.restarts = 0

    def start(self) -> SyslogUdpListener:
        # every recvfrom (in-process loop) or pipe read (reader of a receive process) releases
        # the GIL; with the default 5 ms switch interval the thread then waits behind the
        # processing threads (the convoy effect). A shorter interval lets it get the GIL back
        # quickly (process-wide; costs little for the other threads).
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        if not self.in_process:
            try:
                for sock in self.socks:
                    self.children.append(_ReceiverChild(sock, self.runtime.settings))
            except OSError as exc:  # no interpreter to start, no fd passing: receive here
                for child in self.children:
                    child.close_control()
                    child.kill_if_running()
                self.children = []
                for extra in self.socks[1:]:  # one socket, read by one thread
                    extra.close()
                self.socks = self.socks[:1]
                self.in_process = True
                self.runtime.stats.add("receiver_fallbacks")
                self.runtime.stats.problem("syslog-udp", f"UDP receive process could not start"
                                           f" ({exc}); receiving in this process")  # fmt: skip
        if self.in_process:
            self.receiver = UdpReceiver(self.sock)
            self.threads.append(
                threading.Thread(target=self._run, name="watch-syslog-udp", daemon=True)
            )
        else:
            for i in range(len(self.children)):
                self.threads.append(
                    threading.Thread(
                        target=self._read_child,
                        args=(i,),
                        name=f"watch-syslog-udp-{i}",
                        daemon=True,
                    )
                )
        for t in self.threads:
            t.start()
        return self

    def kernel_drops(self) -> int:
        if self._final_drops is not None:
            return self._final_drops
        return max(0, udp_kernel_drops(self.port) - self._base_drops)

    # -- receive loop in a child process ----------------------------------------------------
    def _read_child(self, i: int) -> None:
        stats = self.runtime.stats
        limit = self.runtime.settings.max_datagram
        while True:
            child = self.children[i]
            for first_perf, datagrams, runs, oversize, refused in child.messages():
                if refused:
                    stats.add("receiver_backlog_overflow", refused)
                    stats.problem("syslog-udp", f"{refused} datagrams refused: the receive"
                                  " process's backlog was full (matching is behind)")  # fmt: skip
                for peer, length in oversize:
                    stats.add("oversize")
                    stats.problem(f"syslog-udp:{peer}",
                                  f"datagram of {length} bytes over the limit {limit}")  # fmt: skip
                stats.add("datagrams", datagrams - len(oversize))
                for peer, _lines, blob in runs:
                    self.batcher.add([blob], f"syslog-udp:{peer}", peer, first_perf)
                self.batcher.flush()
            code = child.wait()
            if self._stop.is_set():
                break
            # the receive process ended on its own: say so, and start another on the socket
            stats.add("receiver_restarts")
            stats.problem("syslog-udp", f"UDP receive process {i} exited with code {code};"
                          " restarted")  # fmt: skip
            self.restarts += 1
            if self.restarts > 20:
                stats.problem("syslog-udp", "UDP receive process keeps failing; stopped")
                break
            time.sleep(0.1)
            self.children[i] = _ReceiverChild(self.socks[i], self.runtime.settings)
        self.batcher.flush()

    # -- receive loop in a thread of this process ------------------------------------------
    def _run(self) -> None:
        stats = self.runtime.stats
        limit = self.runtime.settings.max_datagram
        wait = self.runtime.settings.batch_seconds
        while not self._stop.is_set():
            try:
                got = self.receiver.recv(wait)
            except OSError:
                break
            if not got:
                self.batcher.flush_if_due()
                continue
            frames: list[bytes] = []
            peers: list[str] = []
            for data, peer, length in got:
                if length > limit:
                    stats.add("oversize")
                    stats.problem(f"syslog-udp:{peer}",
                                  f"datagram of {length} bytes over the limit {limit}")  # fmt: skip
                    continue
                frames.append(data.rstrip(b"\r\n\x00"))
                peers.append(peer)
            stats.add("datagrams", len(frames))
            self._deliver(frames, peers)
            self.batcher.flush_if_due()
            if len(got) < 16:
                time.sleep(0.001)  # let a few datagrams gather: fewer, larger batches
        self.batcher.flush()

    def _deliver(self, frames: list[bytes], peers: list[str]) -> None:
        if not frames:
            return
        start = 0
        for i in range(1, len(peers) + 1):
            if i == len(peers) or peers[i] != peers[start]:
                run = frames[start:i]
                blob = b"\n".join(run) + b"\n"
                if blob.count(b"\n") != len(run):  # a datagram with newlines inside
                    blob = b"\n".join(f.replace(b"\n", b" ") for f in run) + b"\n"
                self.batcher.add([blob], f"syslog-udp:{peers[start]}", peers[start])
                start = i

    def stop(self) -> None:
        self._stop.set()
        for child in self.children:
            child.close_control()  # the child drains its socket, writes, and exits
        for t in self.threads:
            t.join(10)
        for child in self.children:
            child.kill_if_running()
        self._final_drops = self.kernel_drops()
        for sock in self.socks:
            sock.close()


class _ReceiverChild:
    """One ``udp_receiver`` process reading ``sock``, with its pipe and control descriptor."""

    def __init__(self, sock: socket.socket, settings: Any) -> None:
        out_r, out_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        # the pipe keeps its default buffer (64 KiB on Linux): a 1 MiB buffer (F_SETPIPE_SZ)
        # was measured and made the kernel drop datagrams in 3 runs of 3 (benchmarks/watch.py)
        args = [sys.executable, "-m", "trailguard.traffic.watch.udp_receiver",
                str(sock.fileno()), str(out_w), str(ctl_r), str(settings.max_datagram),
                str(settings.batch_seconds), str(max(1, settings.batch_lines))]  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                args, pass_fds=(sock.fileno(), out_w, ctl_r), stdin=subprocess.DEVNULL
            )
        finally:
            os.close(out_w)
            os.close(ctl_r)
        self.out = out_r
        self.ctl: int | None = ctl_w

    def messages(self) -> Iterator[tuple[float, int, list[tuple[str, int, bytes]],
                                         list[tuple[str, int]], int]]:  # fmt: skip
        """Messages until the child closes its end of the pipe."""
        buf = bytearray()
        pos = 0
        try:
            while True:
                chunk = os.read(self.out, 1 << 20)
                if not chunk:
                    return
                buf += chunk
                while len(buf) - pos >= 4:
                    (size,) = struct.unpack_from("!I", buf, pos)
                    if len(buf) - pos - 4 < size:
                        break
                    body = bytes(buf[pos + 4 : pos + 4 + size])
                    pos += 4 + size
                    yield pickle.loads(body)  # noqa: S301 - our own child, our own pipe
                if pos:
                    del buf[:pos]
                    pos = 0
        finally:
            with contextlib.suppress(OSError):
                os.close(self.out)

    def close_control(self) -> None:
        if self.ctl is not None:
            with contextlib.suppress(OSError):
                os.close(self.ctl)
            self.ctl = None

    def wait(self) -> int:
        self.close_control()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class SyslogTcpListener:
    def __init__(self, runtime: WatchRuntime, host: str, port: int) -> None:
        self.runtime = runtime
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.batcher = _Batcher(runtime)
        self._stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, name="watch-syslog-tcp", daemon=True)
        self.flusher = threading.Thread(target=self._flush_loop, name="watch-tcp-flush",
                                        daemon=True)  # fmt: skip

    def start(self) -> SyslogTcpListener:
        self.thread.start()
        self.flusher.start()
        return self

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.runtime.settings.batch_seconds):
            self.batcher.flush_if_due()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, addr[0]), daemon=True,
                             name="watch-tcp-conn").start()  # fmt: skip

    def _serve(self, conn: socket.socket, peer: str) -> None:
        framer = TcpFramer(self.runtime.settings.max_tcp_frame)
        source = f"syslog-tcp:{peer}"
        stats = self.runtime.stats
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(262144)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                frames = framer.feed(data)
                for counter, text in framer.problems:
                    stats.add(counter)
                    stats.problem(source, text)
                framer.problems.clear()
                if frames:
                    stats.add("tcp_frames", sum(f.count(b"\n") for f in frames))
                    self.batcher.add(frames, source, peer)
            if framer.buf and not framer.discarding:
                stats.add("framing_errors")
                stats.problem(source, f"connection closed inside a frame ({len(framer.buf)}"
                              " bytes unframed)")  # fmt: skip
        self.batcher.flush()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        time.sleep(0.05)
        self.batcher.flush()


class IpfixUdpListener:
    """IPFIX / NetFlow v9 / v5 over UDP; templates are kept per exporter address."""

    def __init__(self, runtime: WatchRuntime, host: str, port: int) -> None:
        self.runtime = runtime
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        _force_rcvbuf(self.sock)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.decoder = FlowDecoder()
        self.packets = 0
        self._stop = threading.Event()
        self._base_drops = udp_kernel_drops(self.port)
        self._reported = 0
        self.thread = threading.Thread(target=self._run, name="watch-ipfix", daemon=True)

    def start(self) -> IpfixUdpListener:
        self.thread.start()
        return self

    def kernel_drops(self) -> int:
        return max(0, udp_kernel_drops(self.port) - self._base_drops)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            self.handle(data, addr[0])

    def handle(self, data: bytes, peer: str) -> None:
        rt = self.runtime
        perf = time.perf_counter()
        self.packets += 1
        records = self.decoder.decode(data, peer, self.packets)
        records += self.decoder.take_late()
        st = self.decoder.stats
        rt.stats.add("ipfix_packets")
        for name, value in (("ipfix_malformed", st.malformed), ("ipfix_truncated", st.truncated),
                            ("ipfix_unknown_template", st.unknown_template),
                            ("ipfix_before_template", st.before_template),
                            ("ipfix_releases_without_allocation",
                             st.releases_without_allocation),
                            ("ipfix_deletes_without_create", st.deletes_without_create),
                            ("ipfix_open_forgotten", st.open_forgotten)):  # fmt: skip
            already = rt.stats.counts.get(name, 0)
            if value > already:
                rt.stats.add(name, value - already)
        for packet_no, reason in st.problems[self._reported :]:
            rt.stats.problem(f"ipfix:{peer}", f"packet {packet_no}: {reason}")
        self._reported = len(st.problems)
        if records:
            rt.process_records(records, f"ipfix:{peer}", data[:1000].hex(), rt.node.clock.now(),
                               perf)  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
        self.decoder.finish()
        self.handle_finish()

    def handle_finish(self) -> None:
        st = self.decoder.stats
        already = self.runtime.stats.counts.get("ipfix_unknown_template", 0)
        if st.unknown_template > already:
            self.runtime.stats.add("ipfix_unknown_template", st.unknown_template - already)
        for packet_no, reason in st.problems[self._reported :]:
            self.runtime.stats.problem("ipfix", f"packet {packet_no}: {reason}")
        self._reported = len(st.problems)


def start_listeners(runtime: WatchRuntime) -> list[Any]:
    s = runtime.settings
    out: list[Any] = []
    if s.syslog_udp_port is not None:
        out.append(SyslogUdpListener(runtime, s.host, s.syslog_udp_port).start())
    if s.syslog_tcp_port is not None:
        out.append(SyslogTcpListener(runtime, s.host, s.syslog_tcp_port).start())
    if s.ipfix_port is not None:
        out.append(IpfixUdpListener(runtime, s.host, s.ipfix_port).start())
    return out
