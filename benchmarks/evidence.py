"""Evidence packages: packaging and verifying a large file against ``sha256sum`` on the same
file, and a transfer between two loopback nodes against a plain HTTP copy of the same bytes.

    uv run python benchmarks/evidence.py [--size-mb 1024] [--chunk-mb 4] [--no-transfer]

In one run, on one random file of ``--size-mb`` MiB:

* ``sha256sum FILE`` (coreutils; wall clock), run before and after the trailguard steps;
* package: ``create_package`` of that file on a fresh node (acquire: copy into the store
  with SHA-256 + SHA-512 in one pass; bag: copy into the bag with both digests again,
  CASE/UCO, custody log, signature);
* verify: ``verify_package`` of the bag (every manifest entry streamed through both
  digests, signature, custody chains);
* transfer: two nodes served by uvicorn on loopback (``DemoCluster``), the package offered
  over the exchange and pushed in encrypted chunks, joined, verified and imported by the
  recipient (``push_chunks`` end to end, after the offer and its archive are made);
* baseline: the same archive PUT (streamed) to a trivial endpoint of a uvicorn server in
  the same process that writes it to disk.

Printed: seconds and MiB/s for each, and the ratios (trailguard / baseline throughput).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MIB = 1 << 20


def _random_file(path: Path, size_mb: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size_mb // 4):
            handle.write(os.urandom(4 * MIB))
        handle.write(os.urandom((size_mb % 4) * MIB))


def _sha256sum(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - start


def _rate(size_mb: int, seconds: float) -> str:
    return f"{seconds:7.2f} s  {size_mb / seconds:8.1f} MiB/s"


def _baseline_server(folder: Path) -> tuple[uvicorn.Server, threading.Thread, int]:
    from trailguard.demo.cluster import free_port

    async def upload(request: Request) -> JSONResponse:
        size = 0
        with (folder / "upload.bin").open("wb") as handle:
            async for part in request.stream():
                handle.write(part)
                size += len(part)
        return JSONResponse({"size": size})

    port = free_port()
    app = Starlette(routes=[Route("/upload", upload, methods=["PUT"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, port


def _chunks(path: Path, size: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(size):
            yield block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=4)
    parser.add_argument("--no-transfer", action="store_true")
    args = parser.parse_args()

    from trailguard.accounts.domain import Role
    from trailguard.core.config import NodeRole
    from trailguard.demo.cluster import DemoCluster, NodeSpec
    from trailguard.evidence.domain import LegalBasis
    from trailguard.evidence.service import create_package, verify_package
    from trailguard.evidence.transfer import offer_package, push_chunks

    root = Path(tempfile.mkdtemp(prefix="trailguard-evidence-bench-"))
    print(
        f"machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.1f} at start"
    )
    try:
        source = root / "item.bin"
        _random_file(source, args.size_mb)
        before = _sha256sum(source)
        specs = [
            NodeSpec("us-poc", "US", "US", (NodeRole.POC,), "America/New_York",
                     people=(("iris", "Iris", (Role.INVESTIGATOR,)),)),
            NodeSpec("nl-poc", "NL", "NL", (NodeRole.POC,), "Europe/Amsterdam",
                     people=(("noor", "Noor", (Role.DUTY_OFFICER,)),)),
        ]  # fmt: skip
        cluster = DemoCluster(root / "nodes", specs)
        cluster.root.mkdir()
        cluster.create()
        cluster.exchange_directories()
        nl = cluster["nl-poc"].node
        start = time.perf_counter()
        made = create_package(
            nl,
            out=root / "bag",
            reference="BENCH-1",
            basis=LegalBasis.parse("preservation: BENCH-1"),
            user="noor",
            files=[source],
            recipient="us-poc",
        )
        package_s = time.perf_counter() - start
        start = time.perf_counter()
        report = verify_package(made.path, node=nl)
        verify_s = time.perf_counter() - start
        assert report.ok, report.problems
        after = _sha256sum(source)
        sha = min(before, after)
        print(f"size {args.size_mb} MiB")
        print(
            f"sha256sum          {_rate(args.size_mb, sha)}  (runs {before:.2f} s, {after:.2f} s)"
        )
        print(
            f"package            {_rate(args.size_mb, package_s)}  "
            f"ratio {sha / package_s:.2f} of sha256sum"
        )
        print(
            f"verify             {_rate(args.size_mb, verify_s)}  "
            f"ratio {sha / verify_s:.2f} of sha256sum"
        )
        if not args.no_transfer:
            cluster.start()
            try:
                start = time.perf_counter()
                offer = offer_package(
                    nl, made.path, recipient="us-poc", user="noor", chunk_size=args.chunk_mb * MIB
                )
                offer_s = time.perf_counter() - start
                with httpx.Client(timeout=600) as client:
                    start = time.perf_counter()
                    pushed = push_chunks(nl, offer.transfer_id, client)
                    push_s = time.perf_counter() - start
                assert pushed.ok, pushed.problems
                archive = root / "archive.tar"
                from trailguard.evidence.transfer import _tar_bag

                _tar_bag(made.path, archive)
                server, thread, port = _baseline_server(root)
                with httpx.Client(timeout=600) as client:
                    start = time.perf_counter()
                    answer = client.put(
                        f"http://127.0.0.1:{port}/upload",
                        content=_chunks(archive, args.chunk_mb * MIB),
                    )
                    plain_s = time.perf_counter() - start
                assert answer.json()["size"] == archive.stat().st_size
                server.should_exit = True
                thread.join(timeout=10)
                print(f"offer (tar + hash) {_rate(args.size_mb, offer_s)}")
                print(
                    f"transfer+import    {_rate(args.size_mb, push_s)}  "
                    f"({offer.chunk_count} chunks of {args.chunk_mb} MiB: encrypt, PUT, "
                    "decrypt, join, verify, import)"
                )
                print(
                    f"plain HTTP copy    {_rate(args.size_mb, plain_s)}  "
                    f"ratio transfer/plain {plain_s / push_s:.2f}"
                )
            finally:
                cluster.stop()
        else:
            for demo_node in cluster.nodes.values():
                demo_node.node.close()
        print(f"load {os.getloadavg()[0]:.1f} at end")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
