"""Evidence packages: packaging and verifying a large file against ``sha256sum`` on the same
file, and a transfer between two loopback nodes against a plain HTTP copy of the same bytes.

    uv run python benchmarks/evidence.py [--size-mb 1024] [--chunk-mb 4] [--rounds 2]
                                         [--no-transfer]

On one random file of ``--size-mb`` MiB, baseline and trailguard alternately, ``--rounds``
times (each ratio compares a step with the baseline run just before it, under the same load):

* ``sha256sum FILE`` (coreutils; wall clock and CPU of the child);
* package: ``create_package`` of that file on a fresh node, one streaming pass: the file is
  read once (from the page cache, as ``sha256sum`` reads it), hashed with SHA-256 and SHA-512
  and written to the store (synced) and, with ``PayloadMode.COPY`` (the default), to the bag
  in the same pass (both copies written with O_DIRECT); ``PayloadMode.LINK``
  hard-links the store's copy into the bag instead; then CASE/UCO, custody log, signature;
* verify: ``verify_package`` of the copy-mode bag (a full re-read: every manifest entry
  streamed through both digests, signature, custody chains), against ``sha256sum`` of that
  bag's payload file; both read it from disk (the file's pages are evicted before each, with
  ``posix_fadvise``; the copy was written around the page cache anyway);
* transfer: two nodes served by uvicorn on loopback (``DemoCluster``), the package offered
  over the exchange (tar of the bag, hashed while written) and pushed in encrypted chunks,
  unpacked, verified and imported by the recipient (``push_chunks`` end to end);
* its baseline: the same archive PUT (streamed) to a trivial endpoint of a uvicorn server in
  the same process that writes it to disk.

Printed: seconds, MiB/s and CPU seconds (user, system; this process's threads and children)
for each step, the ratios (baseline seconds / trailguard seconds, i.e. throughput ratio) and
the load average after each round.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
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


class Step:
    """Wall clock and CPU seconds (this process's threads and its children) of one step."""

    def __enter__(self) -> Step:
        self.start = time.perf_counter()
        self.cpu = _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        user, system = (after - before for after, before in zip(_cpu(), self.cpu, strict=True))
        self.user, self.system = user, system

    def cpu_text(self) -> str:
        return f"cpu user {self.user:6.2f} s sys {self.system:6.2f} s"


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + children.ru_utime, me.ru_stime + children.ru_stime


def _load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def _settle() -> None:
    """Before each timed step (not timed): write back what earlier steps left in the page
    cache, so no step pays for another's writes."""
    os.sync()


def _evict(path: Path) -> None:
    """Drop this one file's clean pages from the page cache (its next read is from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _sha256sum_step(path: Path) -> Step:
    _settle()
    with Step() as step:
        subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-transfer", action="store_true")
    args = parser.parse_args()

    from trailguard.accounts.domain import Role
    from trailguard.core.config import NodeRole
    from trailguard.demo.cluster import DemoCluster, NodeSpec
    from trailguard.evidence.bag import PayloadMode
    from trailguard.evidence.domain import LegalBasis
    from trailguard.evidence.service import create_package, verify_package
    from trailguard.evidence.transfer import _tar_bag, offer_package, push_chunks

    size = args.size_mb
    root = Path(tempfile.mkdtemp(prefix="trailguard-evidence-bench-"))
    print(
        f"machine: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
        f"python {platform.python_version()}; {_load()} at start"
    )
    try:
        source = root / "item.bin"
        _random_file(source, size)
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
        print(f"size {size} MiB; baseline and trailguard alternately, {args.rounds} rounds")
        bags = []
        for number in range(1, args.rounds + 1):
            for mode in (PayloadMode.COPY, PayloadMode.LINK):
                sha = _sha256sum_step(source)
                print(f"[{number}] sha256sum         {_rate(size, sha.seconds)}  {sha.cpu_text()}")
                out = root / f"bag-{number}-{mode.value}"
                _settle()
                with Step() as made_step:
                    made = create_package(
                        nl,
                        out=out,
                        reference=f"BENCH-{number}",
                        basis=LegalBasis.parse(f"preservation: BENCH-{number}"),
                        user="noor",
                        files=[source],
                        recipient="us-poc",
                        payload=mode,
                    )
                print(
                    f"[{number}] package ({mode.value:4})  {_rate(size, made_step.seconds)}  "
                    f"{made_step.cpu_text()}  ratio {sha.seconds / made_step.seconds:.2f}"
                )
                bags.append(made.path)
            # verify the copy-mode bag: its payload was written around the page cache, so
            # both sha256sum (of that payload) and verify read it from disk (evicted before each)
            bag = bags[-2]
            [payload] = [p for p in (bag / "data").rglob("*") if p.is_file()]
            _evict(payload)
            sha = _sha256sum_step(payload)
            print(
                f"[{number}] sha256sum (bag)   {_rate(size, sha.seconds)}  {sha.cpu_text()}  "
                "(from disk)"
            )
            _settle()
            _evict(payload)
            with Step() as check:
                report = verify_package(bag, node=nl)
            assert report.ok, report.problems
            print(
                f"[{number}] verify            {_rate(size, check.seconds)}  "
                f"{check.cpu_text()}  ratio {sha.seconds / check.seconds:.2f}"
            )
            print(f"[{number}] {_load()}")
        if not args.no_transfer:
            cluster.start()
            server, thread, port = _baseline_server(root)
            try:
                for number in range(1, args.rounds + 1):
                    bag = bags[2 * (number - 1)]
                    archive = root / "archive.tar"
                    _tar_bag(bag, archive)
                    _settle()
                    with httpx.Client(timeout=600) as client, Step() as plain:
                        answer = client.put(
                            f"http://127.0.0.1:{port}/upload",
                            content=_chunks(archive, args.chunk_mb * MIB),
                        )
                    assert answer.json()["size"] == archive.stat().st_size
                    archive.unlink()
                    (root / "upload.bin").unlink()
                    print(
                        f"[{number}] plain HTTP copy   {_rate(size, plain.seconds)}  "
                        f"{plain.cpu_text()}"
                    )
                    _settle()
                    with Step() as offered:
                        offer = offer_package(
                            nl, bag, recipient="us-poc", user="noor",
                            chunk_size=args.chunk_mb * MIB,
                        )  # fmt: skip
                    _settle()
                    with httpx.Client(timeout=600) as client, Step() as pushed:
                        result = push_chunks(nl, offer.transfer_id, client)
                    assert result.ok, result.problems
                    print(
                        f"[{number}] offer (tar+hash)  {_rate(size, offered.seconds)}  "
                        f"{offered.cpu_text()}"
                    )
                    print(
                        f"[{number}] transfer+import   {_rate(size, pushed.seconds)}  "
                        f"{pushed.cpu_text()}  ratio transfer/plain "
                        f"{plain.seconds / pushed.seconds:.2f} ({offer.chunk_count} chunks of "
                        f"{args.chunk_mb} MiB: encrypt, PUT, decrypt, unpack, verify, import)"
                    )
                    print(f"[{number}] {_load()}")
            finally:
                server.should_exit = True
                thread.join(timeout=10)
                cluster.stop()
        else:
            for demo_node in cluster.nodes.values():
                demo_node.node.close()
        print(f"{_load()} at end")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
