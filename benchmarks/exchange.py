"""Signed, encrypted messages per second between two trailguard nodes on loopback.

    uv run python benchmarks/exchange.py [--messages 2000] [--concurrency 8]
    TRAILGUARD_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        uv run python benchmarks/exchange.py

For each engine (SQLite always; PostgreSQL when TRAILGUARD_TEST_POSTGRES_URL is set, each node
in its own schema) two nodes are created and linked by their signed directories, and each is
served by its own uvicorn process. In the same run:

* baseline: plain unsigned HTTP POSTs of an envelope-sized JSON body to a trivial endpoint
  of the receiver's server, ``concurrency`` at a time;
* exchange: the sender enqueues N messages through ``send_message`` (Ed25519 signature,
  X25519 sealed box, outbox row and audit entry in one transaction each), then delivers them
  with ``deliver_pending`` over HTTP; the receiver verifies, decrypts, stores, audits and
  returns two signed receipts, which the sender verifies and stores.

Printed: msgs/s for the baseline, for delivery, and end to end (enqueue + delivery), p50/p99
of each delivery round trip (post + receiver processing + receipt storage), and the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, port: int) -> None:
    """Server mode: the node's real app plus a trivial echo route for the baseline."""
    import uvicorn

    from trailguard.app import create_app
    from trailguard.registry import open_node

    node = open_node(data_dir)
    app = create_app(node)

    @app.post("/bench/echo", response_model=None)
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"ok": True, "bytes": len(body)})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(data_dir), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server on port {port} did not start")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def postgres_schemas(base_url: str, count: int) -> Iterator[list[str]]:
    import sqlalchemy as sa

    from trailguard.core.db import make_engine

    admin = make_engine(base_url)
    schemas = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield [f"{base_url}{separator}options=-csearch_path%3D{schema}" for schema in schemas]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class TimedTransport:
    """The real HTTP transport, timing each post. With ``batches`` False it has no
    ``post_batch``-capable face, so ``deliver_pending`` posts one envelope per request (the
    path a peer without the batch endpoint gets)."""

    def __init__(self) -> None:
        from trailguard.network.transport import HttpTransport

        self.inner = HttpTransport(
            httpx.Client(
                timeout=30, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
            )
        )
        self.latencies: list[float] = []
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def post_envelope(self, endpoint: str, envelope: bytes):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = self.inner.post_envelope(endpoint, envelope)
        elapsed = time.perf_counter() - start
        with self._lock:
            self.latencies.append(elapsed)
            self.batch_sizes.append(1)
        return result

    def close(self) -> None:
        self.inner.close()


class TimedBatchTransport(TimedTransport):
    def post_batch(self, endpoint: str, envelopes: list[bytes]):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = self.inner.post_batch(endpoint, envelopes)
        elapsed = time.perf_counter() - start
        with self._lock:
            self.latencies.append(elapsed)
            self.batch_sizes.append(len(envelopes))
        return result


PAYLOAD = {
    "text": "preservation request for 198.51.100.23 port 41234",
    "observed_at": "2026-11-20T03:14:07.250-05:00",
    "pad": "x" * 400,
}


def _enqueue(us, count: int) -> float:  # type: ignore[no-untyped-def]
    """Enqueue ``count`` messages, one transaction each (as separate requests would be)."""
    from trailguard.network import send_message

    start = time.perf_counter()
    for _ in range(count):
        with us.db.session() as session:
            send_message(
                session,
                us,
                recipient="bench-nl",
                message_type="network.ping",
                payload=PAYLOAD,
                actor="bench",
            )
    return time.perf_counter() - start


def _drain(us, transport, count: int, concurrency: int, batch: int = 100) -> float:  # type: ignore[no-untyped-def]
    from trailguard.network import deliver_pending

    start = time.perf_counter()
    delivered = 0
    while delivered < count:
        report = deliver_pending(
            us, transport=transport, limit=1000, concurrency=concurrency, batch_size=batch
        )
        if report.rejected or report.failed or report.retrying:
            raise SystemExit(f"delivery problems: {report}")
        delivered += len(report.delivered)
    return time.perf_counter() - start


def _steady(us, rate: float, seconds: float, producers: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Offered load: ``producers`` threads enqueue at ``rate`` messages/s in total, each
    message its own transaction, while one delivery worker loops ``deliver_pending`` (batched)
    as ``trailguard serve`` does. Latency per message is outbox ``created_at`` to
    ``delivered_at`` (the sender holds the receiver's signed receipts at that moment)."""
    from sqlalchemy import select

    from trailguard.network import deliver_pending, send_message
    from trailguard.network.orm import OutboxRow

    with us.db.session() as session:
        first_id = session.scalar(select(OutboxRow.id).order_by(OutboxRow.id.desc()).limit(1)) or 0
    total = int(rate * seconds)
    stop = threading.Event()
    transport = TimedBatchTransport()
    per_producer = total // producers
    t0 = time.perf_counter()

    def produce(k: int) -> None:
        interval = producers / rate
        for i in range(per_producer):
            due = t0 + (i * producers + k) / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with us.db.session() as session:
                send_message(
                    session,
                    us,
                    recipient="bench-nl",
                    message_type="network.ping",
                    payload=PAYLOAD,
                    actor="bench",
                )
        del interval

    def deliver() -> None:
        while not stop.is_set():
            report = deliver_pending(us, transport=transport, limit=1000)
            if report.rejected or report.failed or report.retrying:
                raise SystemExit(f"delivery problems: {report}")
            if not report.attempted:
                time.sleep(0.002)

    worker = threading.Thread(target=deliver, daemon=True)
    worker.start()
    with ThreadPoolExecutor(producers) as pool:
        list(pool.map(produce, range(producers)))
    produced_at = time.perf_counter()
    expected = per_producer * producers
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with us.db.session() as session:
            rows = session.execute(
                select(OutboxRow.created_at, OutboxRow.delivered_at).where(
                    OutboxRow.id > first_id, OutboxRow.state == "delivered"
                )
            ).all()
        if len(rows) >= expected:
            break
        time.sleep(0.01)
    done_at = time.perf_counter()
    stop.set()
    worker.join()
    transport.close()
    latencies = [(d - c).total_seconds() for c, d in rows]
    return {
        "offered_rps": rate,
        "enqueued_rps": expected / (produced_at - t0),
        "delivered_rps": len(rows) / (done_at - t0),
        "lag_after_last_s": done_at - produced_at,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_batch": statistics.mean(transport.batch_sizes) if transport.batch_sizes else 0.0,
    }


def run_engine(
    label: str, urls: list[str], messages: int, concurrency: int, rate: float, seconds: float
) -> dict[str, float]:
    from trailguard.bootstrap import initialise_node
    from trailguard.core.config import NodeRole
    from trailguard.network import deliver_pending
    from trailguard.network.directory_service import export_directory, import_directory
    from trailguard.network.identity import node_identity
    from trailguard.network.orm import OutboxRow
    from trailguard.registry import open_node

    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        root = Path(tmp)
        ports = [_free_port(), _free_port()]
        names = [("bench-us", "US"), ("bench-nl", "NL")]
        for (node_id, country), port, url in zip(names, ports, urls, strict=True):
            initialise_node(
                root / node_id,
                name=f"{country} bench",
                country=country,
                roles=[NodeRole.POC],
                node_id=node_id,
                base_url=f"http://127.0.0.1:{port}",
                admin_password="correct horse battery staple",
                database_url=url,
            )
        us = open_node(root / "bench-us")
        nl = open_node(root / "bench-nl")
        for publisher, importer in ((us, nl), (nl, us)):
            with publisher.db.session() as session:
                document = export_directory(session, publisher, actor="bench").to_json()
            with importer.db.session() as session:
                import_directory(
                    session,
                    importer,
                    document,
                    actor="bench",
                    publisher_key=node_identity(publisher).current.signing_key,
                )
        with serving(root / "bench-nl", ports[1]), serving(root / "bench-us", ports[0]):
            _enqueue(us, 20)  # warm up both paths
            deliver_pending(us, concurrency=concurrency)
            from sqlalchemy import select

            with us.db.session() as session:
                body = (
                    session.execute(select(OutboxRow.envelope).order_by(OutboxRow.id).limit(1))
                    .scalar_one()
                    .encode()
                )
            # baseline: plain unsigned POSTs of an envelope's size to a trivial route
            client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
            echo = f"http://127.0.0.1:{ports[1]}/bench/echo"
            baseline_latencies: list[float] = []

            def plain(_: int) -> None:
                start = time.perf_counter()
                answer = client.post(
                    echo, content=body, headers={"Content-Type": "application/json"}
                )
                answer.raise_for_status()
                baseline_latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(plain, range(messages)))
            baseline_elapsed = time.perf_counter() - start
            client.close()

            # a backlog of N messages delivered one envelope per request
            enqueue_elapsed = _enqueue(us, messages)
            single = TimedTransport()
            single_elapsed = _drain(us, single, messages, concurrency)
            single.close()
            # the same backlog delivered in batches of 100, then of 20
            _enqueue(us, messages)
            batched = TimedBatchTransport()
            batch_elapsed = _drain(us, batched, messages, concurrency)
            batched.close()
            _enqueue(us, messages)
            small = TimedBatchTransport()
            small_elapsed = _drain(us, small, messages, concurrency, batch=20)
            small.close()
            # offered load, as in service
            steady = _steady(us, rate, seconds, producers=4)
        us.close()
        nl.close()
    result = {
        "baseline_rps": messages / baseline_elapsed,
        "baseline_p50_ms": statistics.median(baseline_latencies) * 1000,
        "baseline_p99_ms": percentile(baseline_latencies, 0.99) * 1000,
        "enqueue_rps": messages / enqueue_elapsed,
        "single_rps": messages / single_elapsed,
        "single_p50_ms": statistics.median(single.latencies) * 1000,
        "single_p99_ms": percentile(single.latencies, 0.99) * 1000,
        "batch_rps": messages / batch_elapsed,
        "batch_post_p50_ms": statistics.median(batched.latencies) * 1000,
        "batch_post_p99_ms": percentile(batched.latencies, 0.99) * 1000,
        "batch_mean_size": statistics.mean(batched.batch_sizes),
        "small_rps": messages / small_elapsed,
        "small_post_p50_ms": statistics.median(small.latencies) * 1000,
        "small_post_p99_ms": percentile(small.latencies, 0.99) * 1000,
        **{f"steady_{k}": v for k, v in steady.items()},
    }
    r = result
    print(f"\n== {label}: {messages} messages, concurrency {concurrency}")
    print(
        f"  baseline plain POST          {r['baseline_rps']:8.1f} msgs/s   "
        f"p50 {r['baseline_p50_ms']:6.2f} ms   p99 {r['baseline_p99_ms']:6.2f} ms"
    )
    print(f"  enqueue (sign+seal+outbox)   {r['enqueue_rps']:8.1f} msgs/s (one transaction each)")
    print(
        f"  delivery, one per request    {r['single_rps']:8.1f} msgs/s   "
        f"p50 {r['single_p50_ms']:6.2f} ms   p99 {r['single_p99_ms']:6.2f} ms per post"
    )
    print(
        f"  delivery, batched            {r['batch_rps']:8.1f} msgs/s   "
        f"p50 {r['batch_post_p50_ms']:6.2f} ms   p99 {r['batch_post_p99_ms']:6.2f} ms per post "
        f"(mean {r['batch_mean_size']:.0f} messages per post)"
    )
    print(
        f"  delivery, batches of 20      {r['small_rps']:8.1f} msgs/s   "
        f"p50 {r['small_post_p50_ms']:6.2f} ms   p99 {r['small_post_p99_ms']:6.2f} ms per post"
    )
    print(
        f"  steady state, offered {rate:.0f}/s for {seconds:.0f} s (4 producers): enqueued "
        f"{r['steady_enqueued_rps']:.1f}/s, delivered {r['steady_delivered_rps']:.1f}/s, "
        f"latency enqueue->receipts p50 {r['steady_p50_ms']:.1f} ms "
        f"p99 {r['steady_p99_ms']:.1f} ms, "
        f"mean batch {r['steady_mean_batch']:.1f}, drained {r['steady_lag_after_last_s']:.2f} s "
        "after the last enqueue"
    )
    print(
        f"  ratios to baseline: one per request {r['single_rps'] / r['baseline_rps']:.2f}, "
        f"batched {r['batch_rps'] / r['baseline_rps']:.2f}; batched / one per request "
        f"{r['batch_rps'] / r['single_rps']:.1f}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate", type=float, default=300.0, help="offered msgs/s (steady)")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady-state duration")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_engine(
            "SQLite",
            [f"sqlite:///{tmp}/us.db", f"sqlite:///{tmp}/nl.db"],
            args.messages,
            args.concurrency,
            args.rate,
            args.seconds,
        )
    postgres = os.environ.get("TRAILGUARD_TEST_POSTGRES_URL")
    if postgres:
        with postgres_schemas(postgres, 2) as urls:
            run_engine("PostgreSQL", urls, args.messages, args.concurrency, args.rate, args.seconds)
    else:
        print("\n(PostgreSQL skipped: set TRAILGUARD_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
