"""The UDP syslog receive loop, run in a process of its own (``python -m`` this module).

The listener (``listeners.SyslogUdpListener``) binds the socket and hands its descriptor to
this process; here a tight loop does nothing but ``recvfrom``, frame checks and batching, so
that it never waits for the GIL of the node's process (where matching, reporting and the web
server run) and the kernel's socket buffer is drained at the rate the datagrams come.

Every ``batch_seconds`` (or ``max_batch`` datagrams, whichever comes first) it writes one
message to its pipe: a 4-byte big-endian length, then a pickle of
``(first_perf, datagrams, runs, oversize, refused)`` where ``first_perf`` is the
``time.perf_counter()`` (CLOCK_MONOTONIC, the same clock in every process of the host) at which
the batch's first datagram was read, ``runs`` lists ``(peer, lines, blob)`` for consecutive
datagrams of one peer (each datagram one newline-terminated line, trailing CR/LF/NUL removed,
inner newlines made spaces: RFC 5426 section 3.1, one message per datagram), and ``oversize``
lists ``(peer, length)`` of datagrams over ``max_datagram`` (refused, counted by the parent).

The pipe is written without blocking: when the parent is behind (busy matching, or waiting
for its GIL), encoded batches wait here, up to ``MAX_BACKLOG`` bytes, and the socket keeps being
drained, so that the kernel's buffer does not overflow while this process has CPU. Datagrams
that find the backlog full are refused and their number (``refused``) is sent with the next
message (the parent counts them as ``receiver_backlog_overflow``); what the kernel itself drops
is read from /proc by the listener. Nothing is lost silently.

When the control descriptor becomes readable (the parent closed its end, or died) the loop
drains what the socket still holds, writes the backlog, and exits.

Arguments: socket fd, pipe write fd, control read fd, max_datagram, batch_seconds, max_batch.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time
from collections import deque

MAX_BACKLOG = 64 << 20  # bytes of batches held while the parent is behind
READ_SLICE = 256  # datagrams read between two attempts to write to the pipe


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def encode(
    first_perf: float,
    got: list[tuple[bytes, str]],
    max_datagram: int,
    refused: int = 0,
) -> bytes:
    """One pipe message for the datagrams ``got`` (see the module docstring)."""
    runs: list[tuple[str, int, bytes]] = []
    oversize: list[tuple[str, int]] = []
    frames: list[bytes] = []
    peer_of_run = ""
    for data, peer in got:
        if len(data) > max_datagram:
            oversize.append((peer, len(data)))
            continue
        if peer != peer_of_run and frames:
            runs.append(_run(peer_of_run, frames))
            frames = []
        peer_of_run = peer
        frames.append(data.rstrip(b"\r\n\x00"))
    if frames:
        runs.append(_run(peer_of_run, frames))
    body = pickle.dumps((first_perf, len(got), runs, oversize, refused), protocol=5)
    return struct.pack("!I", len(body)) + body


def _run(peer: str, frames: list[bytes]) -> tuple[str, int, bytes]:
    blob = b"\n".join(frames) + b"\n"
    if blob.count(b"\n") != len(frames):  # a datagram with newlines inside: one line each
        blob = b"\n".join(f.replace(b"\n", b" ") for f in frames) + b"\n"
    return peer, len(frames), blob


class _Backlog:
    """Encoded messages waiting for the pipe, written without blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.items: deque[bytes] = deque()
        self.held = 0  # bytes waiting
        self.sent = 0  # bytes of items[0] already written

    def push(self, message: bytes) -> None:
        self.items.append(message)
        self.held += len(message)

    def write(self) -> None:
        """Write what the pipe takes now; OSError when the parent is gone."""
        items = self.items
        while items:
            try:
                n = os.write(self.fd, memoryview(items[0])[self.sent :])
            except BlockingIOError:
                return
            self.sent += n
            if self.sent < len(items[0]):
                return  # the pipe is full
            self.held -= len(items.popleft())
            self.sent = 0

    def write_all_blocking(self) -> None:
        os.set_blocking(self.fd, True)
        while self.items:
            _write_all(self.fd, bytes(memoryview(self.items.popleft())[self.sent :]))
            self.sent = 0


def run(
    sock: socket.socket,
    out_fd: int,
    ctl_fd: int,
    max_datagram: int,
    batch_seconds: float,
    max_batch: int,
    max_backlog: int = MAX_BACKLOG,
) -> None:
    sock.setblocking(False)
    os.set_blocking(out_fd, False)
    recvfrom = sock.recvfrom
    perf = time.perf_counter
    got: list[tuple[bytes, str]] = []
    backlog = _Backlog(out_fd)
    refused = 0  # datagrams refused since the last message because the backlog was full
    first = 0.0
    stopping = False
    try:
        while True:
            if backlog.items:
                backlog.write()
            # read a slice of what is waiting (slices keep the pipe writes interleaved)
            n = 0
            while n < READ_SLICE and len(got) < max_batch:
                try:
                    data, addr = recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    stopping = True
                    break
                if not got:
                    first = perf()
                got.append((data, addr[0]))
                n += 1
            if got and (
                (stopping and not n) or len(got) >= max_batch or perf() - first >= batch_seconds
            ):
                if backlog.held < max_backlog:
                    backlog.push(encode(first, got, max_datagram, refused))
                    refused = 0
                    backlog.write()
                else:
                    refused += len(got)  # said in the next message that fits
                got = []
            if n:
                continue
            if stopping and not got:
                break
            # nothing waiting: sleep until a datagram, the control descriptor, or a free pipe
            timeout = batch_seconds if not got else max(0.0, first + batch_seconds - perf())
            writers = [out_fd] if backlog.items else []
            ready, _, _ = select.select([sock.fileno(), ctl_fd], writers, [], timeout)
            if ctl_fd in ready:
                stopping = True
        if refused:
            backlog.push(encode(perf(), [], max_datagram, refused))
        backlog.write_all_blocking()
    except OSError:
        return  # the parent is gone: nobody to hand the datagrams to


def main(argv: list[str]) -> int:
    sock_fd, out_fd, ctl_fd = (int(a) for a in argv[:3])
    max_datagram, batch_seconds, max_batch = int(argv[3]), float(argv[4]), int(argv[5])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (Ctrl-C)
    sock = socket.socket(fileno=sock_fd)
    try:
        run(sock, out_fd, ctl_fd, max_datagram, batch_seconds, max_batch)
    finally:
        with contextlib.suppress(OSError):
            os.close(out_fd)
        sock.detach()  # the parent owns the socket
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
