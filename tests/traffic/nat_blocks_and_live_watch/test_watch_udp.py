"""The UDP syslog path of the live watch: receive processes (one, or several with
SO_REUSEPORT), their pipe messages and bounded backlog, restart after a crash, the in-process
loop kept as an option, and the bytes fast path held to the Arrow/RE2 path it replaces."""

from __future__ import annotations

import dataclasses
import os
import pickle
import queue
import random
import socket
import struct
import threading
import time
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
from test_watch import (
    HIT_LINE,
    MISS_LINE,
    WRONG_PORT_LINE,
    payload,
    place_order,
    rows,
    wait_for,
)
from watch_kit import START, WatchNet

from trailguard.traffic.parsers import cisco_asa
from trailguard.traffic.watch import udp_receiver
from trailguard.traffic.watch.domain import parse_order
from trailguard.traffic.watch.listeners import SyslogUdpListener, udp_kernel_drops
from trailguard.traffic.watch.matcher import CompiledOrders
from trailguard.traffic.watch.orm import WatchHitRow
from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings, WatchStats


def _compiled(*addresses: str) -> CompiledOrders:
    order = parse_order(payload(criteria={"addresses": list(addresses)}), requester="nl-poc",
                        now=START)  # fmt: skip
    return CompiledOrders.build([dataclasses.replace(order, id=1)])


def _bare_runtime(compiled: CompiledOrders | None = None) -> WatchRuntime:
    """A runtime without node or threads, for the matching path alone."""
    rt = WatchRuntime.__new__(WatchRuntime)
    rt.settings = WatchSettings(parser=cisco_asa.PARSER, tz="UTC")
    rt.stats = WatchStats()
    rt.compiled = compiled or CompiledOrders.build([])
    rt.hits = queue.Queue()
    rt._tz = "UTC"
    return rt


def _messages(data: bytes) -> list[tuple[Any, ...]]:
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("!I", data, pos)
        out.append(pickle.loads(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return out


# --- the bytes fast path equals the Arrow path ------------------------------------------------

_FRAMING_CASES = [
    "<13>1 2026-11-27T10:00:00Z h a - - - m", "<13>Nov 27 10:00:00 h t: m", "<191>x", "<192>x",
    "<999>1 x", "<1234>x", "<12", "", "x", "<0>", "<099>1 y", "<1>", "<7>1 ", "<7>1", "1 <13>",
    "<13>\r", "<2x>", "<>", "<19>1x", "  <13>lead",
]  # fmt: skip


def test_framing_counts_on_bytes_equal_the_regex_counts() -> None:
    rng = random.Random(7)
    lines = _FRAMING_CASES + [rng.choice(_FRAMING_CASES) + rng.choice(["", "z", " q"])
                              for _ in range(500)]  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    fast, slow = _bare_runtime(), _bare_runtime()
    import numpy as np

    view = np.frombuffer(data, dtype=np.uint8)
    fast._count_framing_bytes(view, np.flatnonzero(view == 10))
    slow._count_framing(slow._lines_array(data, [(len(lines), "t")]))
    keys = ("rfc5424", "rfc3164", "bad_pri", "unframed")
    assert {k: fast.stats.counts[k] for k in keys} == {k: slow.stats.counts[k] for k in keys}
    assert fast.stats.counts["rfc5424"] > 0 and fast.stats.counts["bad_pri"] > 0


def test_candidate_lines_on_bytes_equal_the_regex_prefilter() -> None:
    c = _compiled("203.0.113.5", "198.51.100.0/22", "192.0.2.0/24")
    assert c.literals is not None
    lines = [
        "x 203.0.113.5/40001 y", "203.0.113.5", "x 203.0.113.50 y", "x 1203.0.113.5 y",
        "x 203.0.113.5", "a203.0.113.5b", "x 198.51.101.4", "x 198.52.0.1", "x 192.0.2.1",
        "x 192.0.3.1", "21.0.2.1 192.0.2.77/1", "", "nothing", "x 203.0.113.5\r",
    ]  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    mask = c.candidates(pa.array(lines)).to_pylist()
    assert c.candidate_lines(data, ends) == [i for i, m in enumerate(mask) if m]
    assert c.candidate_lines(data, ends) == [0, 1, 4, 5, 6, 8, 10, 13]
    # an IPv6 network sends every batch through the regex path
    assert _compiled("203.0.113.5", "2001:db8:42::/48").literals is None


@pytest.mark.parametrize("utf8", [True, False])
def test_bytes_path_and_arrow_path_give_the_same_hits(utf8: bool) -> None:
    lines = [MISS_LINE, HIT_LINE, WRONG_PORT_LINE, "<166>" + HIT_LINE.replace("51000", "51009")]
    data = ("\n".join(lines) + "\n").encode()
    if not utf8:
        data += b"<13>Nov 27 10:00:00 host \xff bad\n"  # takes the Arrow path, counted
    fast = _bare_runtime(_compiled("203.0.113.5"))
    n = data.count(b"\n")
    at = START + timedelta(minutes=1)
    assert fast.process_blob(data, [(n, "syslog-udp:192.0.2.1")], at, 1.0) == 3
    slow = _bare_runtime(_compiled("203.0.113.5"))
    arr = slow._lines_array(data, [(n, "syslog-udp:192.0.2.1")])
    assert slow._process_array(arr, [(n, "syslog-udp:192.0.2.1")], at, 1.0) == 3
    got = [fast.hits.get_nowait() for _ in range(3)]
    want = [slow.hits.get_nowait() for _ in range(3)]
    assert [(h.raw, h.source) for h in got] == [(h.raw, h.source) for h in want]
    assert fast.stats.counts == slow.stats.counts
    assert fast.stats.counts["bad_encoding"] == (0 if utf8 else 1)


def test_group_of_batches_keeps_each_hits_arrival() -> None:
    rt = _bare_runtime(_compiled("203.0.113.5"))
    first = (MISS_LINE + "\n" + MISS_LINE + "\n").encode()
    second = (MISS_LINE + "\n" + HIT_LINE + "\n").encode()
    hits = rt.process_group(
        [(first, [(2, "syslog-udp:a")], 10.0), (second, [(2, "syslog-udp:b")], 20.0)],
        START + timedelta(minutes=1),
    )
    assert hits == 1
    hit = rt.hits.get_nowait()
    assert (hit.arrived_perf, hit.source, hit.raw) == (20.0, "syslog-udp:b", HIT_LINE)
    assert rt.stats.counts["lines"] == 4


# --- the receive process -----------------------------------------------------------------------


def test_receiver_message_runs_oversize_and_framing() -> None:
    got = [(b"<13>a\r\n\x00", "192.0.2.1"), (b"<13>b", "192.0.2.1"), (b"x" * 50, "192.0.2.1"),
           (b"<13>c\nd", "192.0.2.2"), (b"<13>e", "192.0.2.1")]  # fmt: skip
    (message,) = _messages(udp_receiver.encode(1.5, got, max_datagram=20, refused=3))
    first, datagrams, runs, oversize, refused = message
    assert (first, datagrams, refused) == (1.5, 5, 3)
    assert oversize == [("192.0.2.1", 50)]
    assert runs == [
        ("192.0.2.1", 2, b"<13>a\n<13>b\n"),
        ("192.0.2.2", 1, b"<13>c d\n"),  # a newline inside a datagram: one line
        ("192.0.2.1", 1, b"<13>e\n"),
    ]


def test_receiver_backlog_is_bounded_and_what_it_refuses_is_counted() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    drops0 = udp_kernel_drops(port)
    out_r, out_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    # nobody reads the pipe while the datagrams come: 2 MB of them against a 64 KiB pipe and
    # a 200 KB backlog
    t = threading.Thread(target=udp_receiver.run,
                         args=(sock, out_w, ctl_r, 8192, 0.005, 50, 200_000))  # fmt: skip
    t.start()
    sent = 2000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(sent):
            s.sendto(b"<13>" + b"%06d" % i + b"y" * 990, ("127.0.0.1", port))
            if i % 100 == 99:
                time.sleep(0.002)
    time.sleep(0.3)
    chunks: list[bytes] = []

    def read_all() -> None:
        while chunk := os.read(out_r, 1 << 20):
            chunks.append(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    os.close(ctl_w)  # stop: the loop drains the socket, writes its backlog, and returns
    t.join(10)
    assert not t.is_alive()
    os.close(out_w)
    reader.join(10)
    messages = _messages(b"".join(chunks))
    delivered = sum(m[1] for m in messages)
    refused = sum(m[4] for m in messages)
    drops = udp_kernel_drops(port) - drops0
    assert refused > 0  # the backlog filled up: refused, and said so
    assert delivered + refused + drops == sent
    lines = b"".join(blob for m in messages for _, _, blob in m[2])
    assert lines.count(b"\n") == delivered
    sock.close()
    os.close(out_r)
    os.close(ctl_r)


def _udp_runtime(net: WatchNet, **kw: Any) -> WatchRuntime:
    settings = WatchSettings(syslog_udp_port=0, syslog_tcp_port=None, ipfix_port=None,
                             parser=cisco_asa.PARSER, transport=net.transport, **kw)  # fmt: skip
    return WatchRuntime(net.isp, settings)


def _send(port: int, lines: list[str], senders: int = 1) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
    try:
        for i, line in enumerate(lines):
            socks[i % senders].sendto(line.encode(), ("127.0.0.1", port))
            if i % 200 == 199:
                time.sleep(0.005)
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow
@pytest.mark.parametrize(("receivers", "in_process"), [(1, False), (2, False), (1, True)])
def test_every_datagram_is_processed_or_counted(
    wnet: WatchNet, receivers: int, in_process: bool
) -> None:
    """One receive process, two on one port (SO_REUSEPORT, several senders), or the loop in a
    thread of the node's process: the same hits and counts."""
    place_order(wnet)
    rt = _udp_runtime(wnet, udp_receivers=receivers, udp_receiver_process=not in_process)
    rt.start()
    sent = 1000
    lines = [MISS_LINE] * sent
    lines[500] = "<166>" + HIT_LINE
    try:
        udp = next(x for x in rt.listeners if isinstance(x, SyslogUdpListener))
        assert len(udp.children) == (0 if in_process else receivers)
        assert udp.rcvbuf > 0  # what the kernel granted, for the benchmark's report
        _send(udp.port, lines, senders=8)
        assert wait_for(lambda: rt.stats.counts["lines"] + udp.kernel_drops() >= sent, 10)
        rt.drain()
    finally:
        rt.stop()
    st = rt.stats.snapshot()
    assert st["datagrams"] + udp.kernel_drops() == sent
    assert st["lines"] == st["datagrams"]
    if not udp.kernel_drops():
        assert [h.raw for h in rows(wnet.isp, WatchHitRow)] == ["<166>" + HIT_LINE]
    if not in_process:
        assert all(c.proc.poll() is not None for c in udp.children)  # the children ended


@pytest.mark.slow
def test_a_receive_process_that_dies_is_restarted_and_reported(wnet: WatchNet) -> None:
    place_order(wnet)
    rt = _udp_runtime(wnet).start()
    try:
        udp = next(x for x in rt.listeners if isinstance(x, SyslogUdpListener))
        first = udp.children[0].proc
        first.kill()
        assert wait_for(lambda: rt.stats.counts["receiver_restarts"] == 1, 10)
        assert wait_for(lambda: udp.children[0].proc is not first, 10)
        _send(udp.port, [MISS_LINE, "<166>" + HIT_LINE])
        assert wait_for(lambda: rt.stats.counts["lines"] == 2, 10)
        rt.drain()
    finally:
        rt.stop()
    assert any("exited with code" in p[2] for p in rt.stats.problems)
    assert [h.raw for h in rows(wnet.isp, WatchHitRow)] == ["<166>" + HIT_LINE]


@pytest.mark.slow
def test_no_receive_process_falls_back_to_a_thread(
    wnet: WatchNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    def refuse(*args: Any, **kw: Any) -> Any:
        raise OSError("no interpreter here")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    place_order(wnet)
    rt = _udp_runtime(wnet, udp_receivers=2).start()
    try:
        udp = next(x for x in rt.listeners if isinstance(x, SyslogUdpListener))
        assert udp.in_process and udp.children == [] and len(udp.socks) == 1
        _send(udp.port, [MISS_LINE, "<166>" + HIT_LINE])
        assert wait_for(lambda: rt.stats.counts["lines"] == 2, 10)
        rt.drain()
    finally:
        rt.stop()
    assert rt.stats.counts["receiver_fallbacks"] == 1
    assert any("could not start (no interpreter here)" in p[2] for p in rt.stats.problems)
    assert [h.raw for h in rows(wnet.isp, WatchHitRow)] == ["<166>" + HIT_LINE]
