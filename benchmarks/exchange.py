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
    from trailguard.node import Node

    node = Node.open(data_dir)
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
    """The real HTTP transport, timing each delivery round trip."""

    def __init__(self) -> None:
        from trailguard.network.transport import HttpTransport

        self.inner = HttpTransport(
            httpx.Client(
                timeout=30, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
            )
        )
        self.latencies: list[float] = []
        self._lock = threading.Lock()

    def post_envelope(self, endpoint: str, envelope: bytes):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = self.inner.post_envelope(endpoint, envelope)
        elapsed = time.perf_counter() - start
        with self._lock:
            self.latencies.append(elapsed)
        return result


def run_engine(label: str, urls: list[str], messages: int, concurrency: int) -> dict[str, float]:
    from trailguard.bootstrap import initialise_node
    from trailguard.core.config import NodeRole
    from trailguard.network import deliver_pending, send_message
    from trailguard.network.directory_service import export_directory, import_directory
    from trailguard.network.identity import node_identity
    from trailguard.node import Node

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
        us = Node.open(root / "bench-us")
        nl = Node.open(root / "bench-nl")
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
            # warm up both paths
            with us.db.session() as session:
                for _ in range(20):
                    send_message(
                        session,
                        us,
                        recipient="bench-nl",
                        message_type="network.ping",
                        payload={"text": "warm-up"},
                        actor="bench",
                    )
            deliver_pending(us, concurrency=concurrency)
            payload = {
                "text": "preservation request for 198.51.100.23 port 41234",
                "observed_at": "2026-11-20T03:14:07.250-05:00",
                "pad": "x" * 400,
            }

            # baseline: plain unsigned POSTs of the same size
            with us.db.session() as session:
                probe = send_message(
                    session,
                    us,
                    recipient="bench-nl",
                    message_type="network.ping",
                    payload=payload,
                    actor="bench",
                )
            deliver_pending(us)
            from sqlalchemy import select

            from trailguard.network.orm import OutboxRow

            with us.db.session() as session:
                body = (
                    session.execute(
                        select(OutboxRow.envelope).where(OutboxRow.message_id == probe.message_id)
                    )
                    .scalar_one()
                    .encode()
                )
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

            # exchange: enqueue (sign + encrypt + outbox), then deliver
            start = time.perf_counter()
            for _ in range(messages):
                with us.db.session() as session:
                    send_message(
                        session,
                        us,
                        recipient="bench-nl",
                        message_type="network.ping",
                        payload=payload,
                        actor="bench",
                    )
            enqueue_elapsed = time.perf_counter() - start
            transport = TimedTransport()
            start = time.perf_counter()
            delivered = 0
            while delivered < messages:
                report = deliver_pending(
                    us, transport=transport, limit=1000, concurrency=concurrency
                )
                if report.rejected or report.failed or report.retrying:
                    raise SystemExit(f"delivery problems: {report}")
                delivered += len(report.delivered)
            deliver_elapsed = time.perf_counter() - start
            transport.inner.close()
        us.close()
        nl.close()
    result = {
        "baseline_rps": messages / baseline_elapsed,
        "baseline_p50_ms": statistics.median(baseline_latencies) * 1000,
        "baseline_p99_ms": percentile(baseline_latencies, 0.99) * 1000,
        "enqueue_rps": messages / enqueue_elapsed,
        "deliver_rps": messages / deliver_elapsed,
        "end_to_end_rps": messages / (enqueue_elapsed + deliver_elapsed),
        "p50_ms": statistics.median(transport.latencies) * 1000,
        "p99_ms": percentile(transport.latencies, 0.99) * 1000,
    }
    print(f"\n== {label}: {messages} messages, concurrency {concurrency}")
    print(
        f"  baseline plain POST   {result['baseline_rps']:8.1f} msgs/s   "
        f"p50 {result['baseline_p50_ms']:6.2f} ms   p99 {result['baseline_p99_ms']:6.2f} ms"
    )
    print(f"  enqueue (sign+seal+outbox) {result['enqueue_rps']:8.1f} msgs/s")
    print(
        f"  signed delivery       {result['deliver_rps']:8.1f} msgs/s   "
        f"p50 {result['p50_ms']:6.2f} ms   p99 {result['p99_ms']:6.2f} ms"
    )
    print(f"  end to end            {result['end_to_end_rps']:8.1f} msgs/s")
    print(
        f"  ratio delivery/baseline {result['deliver_rps'] / result['baseline_rps']:.2f}   "
        f"end-to-end/baseline {result['end_to_end_rps'] / result['baseline_rps']:.2f}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
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
        )
    postgres = os.environ.get("TRAILGUARD_TEST_POSTGRES_URL")
    if postgres:
        with postgres_schemas(postgres, 2) as urls:
            run_engine("PostgreSQL", urls, args.messages, args.concurrency)
    else:
        print("\n(PostgreSQL skipped: set TRAILGUARD_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
