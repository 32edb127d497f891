"""Live watch throughput and hit-to-report latency on loopback, beside a bare UDP receive loop.

    uv run python benchmarks/watch.py [--rate 60000] [--udp-rate 60000] [--udp-senders 3]
        [--seconds 10] [--hits 200] [--mode tcp|udp|both] [--udp-receivers 1]
        [--udp-in-process] [--same-session]

Two nodes (a provider and the requester of a watch order, SQLite, linked by their signed
directories; the requester's inbox served in-process) are created in a temporary directory and
the requester's order is registered at the provider over the exchange. Sender processes then
replay synthetic Cisco ASA 305011 syslog lines (documentation addresses) for ``--seconds``: over
TCP one connection at ``--rate`` lines per second; over UDP ``--udp-senders`` processes sharing
``--udp-rate`` datagrams per second (one Python sender tops out near 20,000 ``sendto`` calls a
second on a small VM, so several are needed to offer 50,000/s), with ``--hits`` lines spread
over the run that match the order, twice in the same run:

* baseline: a bare ``recvfrom`` loop that only counts datagrams;
* watch: the provider's live watch (``WatchRuntime``: UDP syslog listener with its receive
  process(es), or ``--udp-in-process`` the loop in a thread of the provider, batching,
  vectorised prefilter, ASA parser on candidates, matching, hit recorded + audited + sent over
  the exchange, delivery round to the requester).

The senders and the requester node stand for other machines: each runs in a session of its own
(``os.setsid``), so that Linux autogroup scheduling does not put them in the provider's CPU
share; ``--same-session`` keeps them in the benchmark's session (the condition of runs before
2026-11-27 evening).

Printed: datagrams sent, received and processed per second for each, kernel drops (from
/proc/net/udp), the receive buffer the kernel granted, lines refused by the rate limit, the
ratio watch/baseline, CPU of the provider and of its receive processes, and for the hits:
p50/p99 latency from arrival to the report being committed, from arrival to delivery at the
requester, and from the sender's send time to the requester's receipt (same host clock).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx


def _line(rng: random.Random, hit: int | None) -> str:
    if hit is None:
        inside = f"100.64.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        outside = f"198.51.100.{rng.randint(1, 254)}"
        port_in, port_out = rng.randint(1024, 65535), rng.randint(1024, 65535)
    else:
        inside, outside, port_in, port_out = "100.64.77.7", "203.0.113.5", 20000 + hit, 40000
    stamp = time.strftime("%b %d %Y %H:%M:%S", time.gmtime())
    return (f"<166>{stamp} fw01 %ASA-6-305011: Built dynamic TCP translation from "
            f"inside:{inside}/{port_in} to outside:{outside}/{port_out}")  # fmt: skip


# Senders and the requester node stand for other machines: by default each runs in a session
# of its own, so that the kernel's autogroup scheduling (CONFIG_SCHED_AUTOGROUP, on when
# /proc/sys/kernel/sched_autogroup_enabled is 1) does not make them share one CPU share with
# the provider whose throughput is measured. --same-session keeps them in the benchmark's.
SEPARATE_SESSIONS = True


def _own_session() -> None:
    import os

    if SEPARATE_SESSIONS:
        os.setsid()


def sender(
    port: int, rate: int, seconds: float, hits: int, out: Any, seed: int, k0: int = 0
) -> None:
    """Send ``rate`` datagrams per second (paced every 5 ms); report the send time of each
    hit line (hit numbers from ``k0``, so that several senders' hits stay apart)."""
    from trailguard.traffic.watch.listeners import send_all

    _own_session()
    rng = random.Random(seed)
    total = int(rate * seconds)
    hit_at = set(rng.sample(range(total), hits)) if hits else set()
    noise = [_line(rng, None).encode() for _ in range(5000)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    dest = ("127.0.0.1", port)
    sent_hits: dict[int, float] = {}
    start = time.perf_counter()
    per_tick = max(1, rate // 200)
    i, k = 0, k0
    while i < total:
        batch = []
        hit_ks = []
        for _ in range(min(per_tick, total - i)):
            if i in hit_at:
                batch.append(_line(rng, k).encode())
                hit_ks.append(k)
                k += 1
            else:
                batch.append(noise[i % len(noise)])
            i += 1
        now = time.time()
        for hk in hit_ks:
            sent_hits[hk] = now
        send_all(sock, batch, dest)
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.perf_counter() - start
    sock.close()
    out.put({"sent": total, "elapsed": elapsed, "hits": sent_hits})


def udp_senders(port: int, rate: int, seconds: float, hits: int, n: int) -> dict[str, Any]:
    """``n`` sender processes sharing ``rate`` and ``hits``; their results merged (sent summed,
    elapsed the longest, hit send times by hit number)."""
    q: Any = mp.Queue()
    procs = []
    for j in range(n):
        share = rate // n + (1 if j < rate % n else 0)
        share_hits = hits // n + (1 if j < hits % n else 0)
        k0 = sum(hits // n + (1 if i < hits % n else 0) for i in range(j))
        procs.append(mp.Process(target=sender, args=(port, share, seconds, share_hits, q,
                                                     2 + j, k0)))  # fmt: skip
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    merged: dict[int, float] = {}
    for r in results:
        merged.update(r["hits"])
    return {"sent": sum(r["sent"] for r in results),
            "elapsed": max(r["elapsed"] for r in results), "hits": merged}  # fmt: skip


def tcp_sender(port: int, rate: int, seconds: float, hits: int, out: Any, seed: int) -> None:
    """Send ``rate`` LF-framed lines per second over one TCP connection (RFC 6587 3.4.2),
    written in chunks every 5 ms; report the send time of each hit line."""
    _own_session()
    rng = random.Random(seed)
    total = int(rate * seconds)
    hit_at = set(rng.sample(range(total), hits)) if hits else set()
    noise = [_line(rng, None).encode() + b"\n" for _ in range(5000)]
    sock = socket.create_connection(("127.0.0.1", port))
    sent_hits: dict[int, float] = {}
    start = time.perf_counter()
    per_tick = max(1, rate // 200)
    i = k = 0
    while i < total:
        parts = []
        hit_ks = []
        for _ in range(min(per_tick, total - i)):
            if i in hit_at:
                parts.append(_line(rng, k).encode() + b"\n")
                hit_ks.append(k)
                k += 1
            else:
                parts.append(noise[i % len(noise)])
            i += 1
        now = time.time()
        for hk in hit_ks:
            sent_hits[hk] = now
        sock.sendall(b"".join(parts))
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.perf_counter() - start
    sock.close()
    out.put({"sent": total, "elapsed": elapsed, "hits": sent_hits})


def tcp_baseline(rate: int, seconds: float) -> dict[str, Any]:
    """A TCP receive loop that only counts newlines."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    count = [0]

    def loop() -> None:
        conn, _ = srv.accept()
        with conn:
            while True:
                data = conn.recv(262144)
                if not data:
                    break
                count[0] += data.count(b"\n")

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    q: Any = mp.Queue()
    p = mp.Process(target=tcp_sender, args=(port, rate, seconds, 0, q, 1))
    p.start()
    result = q.get()
    p.join()
    t.join(10)
    srv.close()
    return {"sent": result["sent"], "received": count[0], "elapsed": result["elapsed"]}


def udp_drops(port: int) -> int:
    from trailguard.traffic.watch.listeners import udp_kernel_drops

    return udp_kernel_drops(port)


def baseline(rate: int, seconds: float, hits: int, senders: int = 1) -> dict[str, Any]:
    """A bare ``recvfrom`` loop that only counts datagrams."""
    from trailguard.traffic.watch.listeners import _force_rcvbuf

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _force_rcvbuf(sock)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    drops0 = udp_drops(port)
    count = [0]
    stop = threading.Event()

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                sock.recvfrom(65536)
            except TimeoutError:
                continue
            count[0] += 1

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    result = udp_senders(port, rate, seconds, hits, senders)
    time.sleep(0.5)
    stop.set()
    t.join()
    drops = udp_drops(port) - drops0
    sock.close()
    return {"sent": result["sent"], "received": count[0], "kernel_drops": drops,
            "elapsed": result["elapsed"]}  # fmt: skip


class _Router(httpx.BaseTransport):
    def __init__(self, apps: dict[str, Any]) -> None:
        from fastapi.testclient import TestClient

        self.clients = {host: TestClient(app) for host, app in apps.items()}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        client = self.clients[request.url.host]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = client.request(request.method, request.url.raw_path.decode(),
                                content=request.read(), headers=headers)  # fmt: skip
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def serve(data_dir: str, port: int) -> None:
    """Server mode: the requester node's app (with the watch handlers) under uvicorn."""
    import uvicorn

    from trailguard.app import create_app
    from trailguard.registry import open_node

    node = open_node(Path(data_dir), database_url=f"sqlite:///{data_dir}.db")
    uvicorn.run(create_app(node), host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_nodes(root: Path) -> tuple[Any, Any, Any, Any]:
    """The provider (in this process) and the requester (served by uvicorn in a child
    process, reached over real HTTP); returns (provider, requester, order transport, server)."""
    import subprocess

    from trailguard.app import create_app
    from trailguard.bootstrap import initialise_node
    from trailguard.core.config import NodeRole
    from trailguard.network.directory_service import export_directory, import_directory
    from trailguard.network.identity import node_identity
    from trailguard.network.transport import HttpTransport
    from trailguard.registry import open_node

    port = _free_port()
    nodes = []
    for node_id, role, url in (("nl-isp", NodeRole.PROVIDER, "http://nl-isp.test"),
                               ("nl-poc", NodeRole.POC, f"http://127.0.0.1:{port}")):  # fmt: skip
        data = root / node_id
        initialise_node(data, name=node_id, country="NL", roles=[role], node_id=node_id,
                        base_url=url, admin_password="bench-pass-1234567",
                        database_url=f"sqlite:///{root / node_id}.db")  # fmt: skip
        nodes.append(open_node(data, database_url=f"sqlite:///{root / node_id}.db"))
    isp, poc = nodes
    for pub, imp in ((isp, poc), (poc, isp)):
        with pub.db.session() as s:
            doc = export_directory(s, pub, actor="system:bench").to_json()
        with imp.db.session() as s:
            import_directory(s, imp, doc, actor="system:bench",
                             publisher_key=node_identity(pub).current.signing_key)  # fmt: skip
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(root / "nl-poc"),
                               str(port)], start_new_session=SEPARATE_SESSIONS)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    router = _Router({"nl-isp.test": create_app(isp)})
    return isp, poc, HttpTransport(httpx.Client(transport=router, timeout=10)), server


def watch_run(
    rate: int,
    seconds: float,
    hits: int,
    root: Path,
    mode: str,
    senders: int = 1,
    receivers: int = 1,
    in_process: bool = False,
) -> dict[str, Any]:
    from sqlalchemy import select

    from trailguard.core.clock import isoformat_z
    from trailguard.network import deliver_pending
    from trailguard.traffic.parsers import cisco_asa
    from trailguard.traffic.watch import service
    from trailguard.traffic.watch.listeners import SyslogTcpListener, SyslogUdpListener
    from trailguard.traffic.watch.orm import WatchReceivedRow
    from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings, percentile

    isp, poc, order_transport, server = build_nodes(root)
    try:
        now = isp.clock.now()
        with isp.db.session() as s:
            service.authorise_requester(s, isp, "nl-poc", actor="system:bench")
        with poc.db.session() as s:
            service.send_order(s, poc, recipient="nl-isp", actor="system:bench", payload={
                "order_ref": "BENCH-1", "requested_by": "benchmark",
                "legal_reference": "ETS 185 Art. 33 (benchmark)",
                "criteria": {"addresses": ["203.0.113.5"], "ports": ["40000"]},
                "start": isoformat_z(now), "end": isoformat_z(now + _days(1))})  # fmt: skip
        report = deliver_pending(poc, transport=order_transport)
        assert report.delivered, report
        settings = WatchSettings(
            syslog_udp_port=0 if mode == "udp" else None,
            syslog_tcp_port=0 if mode == "tcp" else None,
            ipfix_port=None, parser=cisco_asa.PARSER, tz="UTC",
            udp_receivers=receivers, udp_receiver_process=not in_process,
        )  # fmt: skip
        rt = WatchRuntime(isp, settings).start()
        kind = SyslogUdpListener if mode == "udp" else SyslogTcpListener
        lst = next(x for x in rt.listeners if isinstance(x, kind))
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        if mode == "udp":
            result = udp_senders(lst.port, rate, seconds, hits, senders)
        else:
            q: Any = mp.Queue()
            p = mp.Process(target=tcp_sender, args=(lst.port, rate, seconds, hits, q, 2))
            p.start()
            result = q.get()
            p.join()
        drops = lst.kernel_drops() if mode == "udp" else 0
        rcvbuf = lst.rcvbuf if mode == "udp" else 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            rt.stats.counts["lines"] + rt.stats.counts["rate_limited"] + drops < result["sent"]
        ):
            time.sleep(0.02)
            drops = lst.kernel_drops() if mode == "udp" else 0
        processed_at = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        receiver_cpu = sum(_proc_cpu(c.proc.pid) for c in getattr(lst, "children", []))
        rt.drain(30)
        rt.stop()
        stats = rt.stats.snapshot()
        deadline = time.monotonic() + 10
        received: list[Any] = []
        while time.monotonic() < deadline:
            with poc.db.session() as s:
                received = list(s.scalars(select(WatchReceivedRow)))
            if len(received) >= stats.get("hits", 0):
                break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)
    e2e = []
    for row in received:
        raw = json.loads(row.hit)["raw"]
        k = int(raw.split("inside:100.64.77.7/")[1].split(" ")[0]) - 20000
        sent_at = result["hits"].get(k)
        if sent_at is not None:
            e2e.append(row.received_at.timestamp() - sent_at)
    order_transport.close()
    isp.close()
    poc.close()
    return {
        "sent": result["sent"], "elapsed": result["elapsed"], "processed_within": processed_at,
        "cpu": cpu, "queue_overflow": stats.get("queue_overflow", 0),
        "lines": stats.get("lines", 0), "kernel_drops": drops, "rcvbuf": rcvbuf,
        "receiver_restarts": stats.get("receiver_restarts", 0), "receiver_cpu": receiver_cpu,
        "rate_limited": stats.get("rate_limited", 0), "candidates": stats.get("candidates", 0),
        "hits": stats.get("hits", 0), "reported": stats.get("reported", 0),
        "delivered": stats.get("delivered", 0), "hits_sent": len(result["hits"]),
        "hits_received": len(received),
        "lat_matched": (percentile(rt.stats.latency_matched, 50),
                        percentile(rt.stats.latency_matched, 99)),
        "lat_reported": (percentile(rt.stats.latency_reported, 50),
                         percentile(rt.stats.latency_reported, 99)),
        "lat_delivered": (percentile(rt.stats.latency_delivered, 50),
                          percentile(rt.stats.latency_delivered, 99)),
        "lat_e2e": (percentile(e2e, 50), percentile(e2e, 99)),
    }  # fmt: skip


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc/<pid>/stat)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


def _report_watch(name: str, w: dict[str, Any], base_rate: float) -> bool:
    send = w["sent"] / w["elapsed"]
    rate = w["lines"] / w["processed_within"]
    print(
        f"watch over {name}: sent {w['sent']} at {send:,.0f}/s; processed {w['lines']} lines,"
        f" the last {w['processed_within']:.2f}s after the sender started ({rate:,.0f}/s"
        f" sustained); kernel drops {w['kernel_drops']}, rate-limited {w['rate_limited']}"
    )
    if w["rcvbuf"]:
        print(f"  socket receive buffer granted by the kernel: {w['rcvbuf']:,} bytes per socket;"
              f" receive process restarts {w['receiver_restarts']}")  # fmt: skip
    print(f"  ratio watch/baseline ({name}) lines per second: {rate / base_rate:.3f}; provider"
          f" process CPU (without its receive processes) {w['cpu']:.1f} s in"
          f" {w['processed_within']:.1f} s"
          f" ({w['cpu'] / w['processed_within']:.2f} cores) + receive processes"
          f" {w['receiver_cpu']:.1f} s, processing queue overflow"
          f" {w['queue_overflow']}")  # fmt: skip
    print(
        f"  hits: sent {w['hits_sent']}, matched {w['hits']}, reported {w['reported']},"
        f" delivered {w['delivered']}, received at the requester {w['hits_received']}"
    )
    for label, key in (("arrival -> matched (queued for report)", "lat_matched"),
                       ("arrival -> report committed", "lat_reported"),
                       ("arrival -> delivered to requester", "lat_delivered"),
                       ("sender -> stored at requester", "lat_e2e")):  # fmt: skip
        p50, p99 = w[key]
        print(f"  latency {label}: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    ok = rate >= 50_000 and w["lat_e2e"][1] < 1.0 and w["hits_received"] == w["hits_sent"]
    print(
        f"  target (>= 50,000 lines/s, p99 < 1 s, every hit received): {'met' if ok else 'NOT met'}"
    )
    return ok


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=60_000, help="TCP lines per second to send")
    ap.add_argument("--udp-rate", type=int, default=60_000, help="UDP datagrams per second")
    ap.add_argument("--udp-senders", type=int, default=3, help="UDP sender processes")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--hits", type=int, default=200, help="matching lines in each run")
    ap.add_argument("--mode", choices=["tcp", "udp", "both"], default="both")
    ap.add_argument(
        "--udp-receivers",
        type=int,
        default=1,
        help="UDP receive processes (SO_REUSEPORT when more than one)",
    )
    ap.add_argument(
        "--same-session",
        action="store_true",
        help="senders and requester in the benchmark's own session (one autogroup CPU share)",
    )
    ap.add_argument(
        "--udp-in-process",
        action="store_true",
        help="receive UDP in a thread of the provider process (the old listener)",
    )
    args = ap.parse_args()
    global SEPARATE_SESSIONS
    SEPARATE_SESSIONS = not args.same_session
    where = "in this session" if args.same_session else "in sessions of their own"
    print(
        f"# live watch benchmark: {platform.platform()}, Python {sys.version.split()[0]},"
        f" {mp.cpu_count()} CPUs; {args.seconds}s per run, {args.hits} hits per watch run;"
        f" senders and requester {where} (autogroup {_autogroup()});"
        f" load average {_load()} (the machine is shared)"
    )
    if args.mode in ("tcp", "both"):
        base = tcp_baseline(args.rate, args.seconds)
        base_rate = base["received"] / base["elapsed"]
        print(
            f"baseline TCP (bare recv loop counting lines): sent {base['sent']} at"
            f" {base['sent'] / base['elapsed']:,.0f}/s, received {base['received']}"
            f" ({base_rate:,.0f}/s)"
        )
        with tempfile.TemporaryDirectory(prefix="tg-watch-bench-") as tmp:
            w = watch_run(args.rate, args.seconds, args.hits, Path(tmp), "tcp")
        _report_watch("TCP", w, base_rate)
    if args.mode in ("udp", "both"):
        base = baseline(args.udp_rate, args.seconds, 0, args.udp_senders)
        base_rate = base["received"] / base["elapsed"]
        print(
            f"baseline UDP (bare recvfrom loop, {args.udp_senders} senders): sent {base['sent']} at"
            f" {base['sent'] / base['elapsed']:,.0f}/s, received {base['received']}"
            f" ({base_rate:,.0f}/s), kernel drops {base['kernel_drops']}"
        )
        with tempfile.TemporaryDirectory(prefix="tg-watch-bench-") as tmp:
            w = watch_run(args.udp_rate, args.seconds, args.hits, Path(tmp), "udp",
                          args.udp_senders, args.udp_receivers, args.udp_in_process)  # fmt: skip
        how = ("a thread of the provider process" if args.udp_in_process
               else f"{args.udp_receivers} receive process(es)")  # fmt: skip
        _report_watch(f"UDP ({how})", w, base_rate)
    print(f"load average at the end: {_load()}")


def _autogroup() -> str:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return "n/a"


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
