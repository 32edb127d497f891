"""Schemathesis against a served node: every check, anonymous and with a token holding every
role; exits non-zero on any finding.

Serves a throwaway node (uvicorn on 127.0.0.1, a free port, loopback only) from a temporary
data directory, waits for it, runs ``schemathesis run <node>/openapi.json --checks all`` twice
(no credentials, then ``Authorization: Bearer <token of a user with every role>``), stops the
server (its own process only) and removes the directory. Bounded: ``--max-examples`` per
operation, one worker, a time budget per run and a hard timeout on each subprocess. The seed
is fixed (``--seed``) so that a finding replays.

Settings: ``.ci/schemathesis.toml`` (every check on; the exchange endpoints' signed bodies
cannot be generated valid, see there). Known findings not fixed yet are listed, each one, in
``.ci/schemathesis-baseline.json``; any other finding fails the run. ``--update-baseline``
merges this run's findings into that file (review the diff: each entry is a debt).

    uv run python .ci/fuzz_api.py [--max-examples 25] [--max-time 180] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# ``run_server`` runs in a child process: the node's app under uvicorn, nothing else (no
# delivery worker: schemathesis talks to this node only and no peer is reachable).
_SERVE = """
import sys
import uvicorn
from trailguard.app import create_app
from trailguard.registry import open_node
node = open_node(__import__("pathlib").Path(sys.argv[1]))
uvicorn.run(create_app(node), host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(data_dir: Path) -> str:
    """Initialise a node with every node role, a user with every person role, and return a
    fresh API token of that user."""
    from datetime import timedelta

    from trailguard.accounts.domain import Role
    from trailguard.accounts.service import create_user, issue_api_token
    from trailguard.bootstrap import initialise_node
    from trailguard.core.config import NodeRole
    from trailguard.registry import open_node

    initialise_node(
        data_dir,
        name="Fuzz node",
        country="NL",
        roles=list(NodeRole),
        node_id="fuzz-node",
        base_url="http://127.0.0.1",
        timezone="Europe/Amsterdam",
        admin_password="fuzz admin password 1",  # noqa: S106 - throwaway node
        database_url=None,
    )
    node = open_node(data_dir)
    try:
        with node.db.session() as session:
            user, _password = create_user(
                session,
                username="fuzzer",
                display_name="Fuzzer",
                roles=list(Role),
                now=node.clock.now(),
                actor="system:fuzz",
                password="fuzz user password 1",  # noqa: S106 - throwaway node
                one_time=False,
            )
            return issue_api_token(
                session,
                user,
                name="schemathesis",
                now=node.clock.now(),
                actor="system:fuzz",
                lifetime=timedelta(hours=1),
            )
    finally:
        node.close()


def _wait_for(url: str, server: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the node exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the node did not answer {url} within {seconds} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--max-time", type=int, default=180, help="seconds per schemathesis run")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--only", help="a path regex: fuzz these operations only (to debug)")
    args = parser.parse_args()
    os.environ.pop("TRAILGUARD_DATABASE_URL", None)  # the throwaway node's own SQLite file
    here = Path(__file__).resolve().parent
    baseline = here / "schemathesis-baseline.json"
    baseline_args = ["--baseline", str(baseline)] if baseline.exists() else []
    if args.update_baseline:
        baseline_args = ["--baseline", str(baseline), "--baseline-update"]

    failures = 0
    with tempfile.TemporaryDirectory(prefix="tg-fuzz-") as tmp:
        data_dir = Path(tmp) / "node"
        token = _prepare(data_dir)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(data_dir), str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_for(f"{base}/openapi.json", server, 60)
            for label, headers in (
                ("anonymous", []),
                ("every role", ["-H", f"Authorization: Bearer {token}"]),
            ):
                print(f"== schemathesis ({label}) against {base}", flush=True)
                command = [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "--config-file",
                    str(here / "schemathesis.toml"),
                    "run",
                    f"{base}/openapi.json",
                    "--checks",
                    "all",
                    "--workers",
                    "1",
                    "--max-examples",
                    str(args.max_examples),
                    "--max-time",
                    str(args.max_time),
                    "--request-timeout",
                    "20",
                    "--suppress-health-check",
                    "all",
                    "--output-sanitize",
                    "true",
                    "--seed",
                    str(args.seed),
                    *baseline_args,
                    *(["--include-path-regex", args.only] if args.only else []),
                    *headers,
                ]
                try:
                    result = subprocess.run(
                        command, cwd=tmp, timeout=args.max_time * 2 + 60, check=False
                    )
                except subprocess.TimeoutExpired:
                    print(f"schemathesis ({label}) did not finish in time", flush=True)
                    failures += 1
                    continue
                if result.returncode != 0:
                    failures += 1
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    if failures:
        print(f"schemathesis: {failures} run(s) with findings", flush=True)
        return 1
    print("schemathesis: no findings", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
