"""Over real HTTP on loopback with uvicorn (``trailguard serve`` in a subprocess): the receiver
is down and comes back, and a sender killed with SIGKILL right after committing a message
still delivers it exactly once after a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from network_kit import count, link
from sqlalchemy import select

from helpers import make_node
from trailguard.core.clock import FixedClock
from trailguard.network import deliver_pending, send_message
from trailguard.network.orm import ExchangeMessageRow, OutboxRow
from trailguard.node import Node

# the served node runs in its own process on the real wall clock, which the tests' clocks
# follow: not run with --clock-ahead (a subprocess does not travel)
pytestmark = [pytest.mark.slow, pytest.mark.wall_clock]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trailguard",
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # a generous bound for a loaded machine: only a server that never starts fails here
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                # stop it first: reading a live server's output would wait forever
                process.kill()
                output = process.communicate(timeout=10)[0].decode() if process.stdout else ""
                raise AssertionError(f"server on {port} did not start: {output}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pair(
    tmp_path: Path, us_url: str, nl_url: str, clock: FixedClock | None = None
) -> tuple[Node, Node, int, int]:
    us_port, nl_port = _free_port(), _free_port()
    us = make_node(
        tmp_path,
        us_url,
        node_id="us-poc",
        country="US",
        roles=["poc"],
        base_url=f"http://127.0.0.1:{us_port}",
        timezone="America/New_York",
        clock=clock,
    )
    nl = make_node(
        tmp_path,
        nl_url,
        node_id="nl-poc",
        country="NL",
        roles=["poc"],
        base_url=f"http://127.0.0.1:{nl_port}",
        clock=clock,
    )
    link(us, nl)
    link(nl, us)
    return us, nl, us_port, nl_port


def test_receiver_down_then_up_over_real_http(
    tmp_path: Path, database_url: str, other_database_url: str
) -> None:
    clock = FixedClock(datetime.now(UTC))
    us, nl, _us_port, nl_port = _pair(tmp_path, database_url, other_database_url, clock)
    try:
        with us.db.session() as session:
            queued = send_message(
                session,
                us,
                recipient="nl-poc",
                message_type="network.ping",
                payload={"text": "are you there?"},
                actor="user:alice",
            )
        report = deliver_pending(us)
        assert queued.message_id in report.retrying
        assert "ConnectError" in report.retrying[queued.message_id]
        nl.close()
        with serving(nl.paths.data_dir, nl_port):
            clock.advance(timedelta(seconds=5))
            assert deliver_pending(us).delivered == [queued.message_id]
            clock.advance(timedelta(minutes=5))
            assert deliver_pending(us).attempted == 0
        assert count(nl, ExchangeMessageRow, direction="received") == 1
        with us.db.session() as session:
            row = session.execute(select(OutboxRow)).scalar_one()
        assert row.state == "delivered" and row.attempts == 2
    finally:
        us.close()
        nl.close()


SENDER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from trailguard.network import send_message
    from trailguard.registry import open_node

    node = open_node(Path(sys.argv[1]))
    with node.db.session() as session:
        queued = send_message(session, node, recipient="nl-poc", message_type="network.ping",
                              payload={"text": "sent just before the crash"}, actor="user:alice")
    print(queued.message_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_sender_killed_after_commit_delivers_once_after_restart(
    tmp_path: Path, database_url: str, other_database_url: str
) -> None:
    us, nl, us_port, nl_port = _pair(tmp_path, database_url, other_database_url)
    us.close()
    nl.close()
    crashed = subprocess.run(
        [sys.executable, "-c", SENDER, str(us.paths.data_dir)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    message_id = crashed.stdout.decode().strip()
    assert count(us, OutboxRow, message_id=message_id, state="pending") == 1
    with serving(nl.paths.data_dir, nl_port), serving(us.paths.data_dir, us_port):
        # the restarted sender's delivery worker finds the committed message and sends it
        deadline = time.monotonic() + 30
        while count(us, OutboxRow, message_id=message_id, state="delivered") == 0:
            assert time.monotonic() < deadline, "the message was not delivered after restart"
            time.sleep(0.2)
        time.sleep(1.5)  # give a duplicate delivery, if there were one, time to happen
    assert count(nl, ExchangeMessageRow, direction="received", message_id=message_id) == 1
    assert count(nl, ExchangeMessageRow) == 1
    us.close()
    nl.close()


def test_server_refuses_oversize_declared_length_over_real_http(
    tmp_path: Path, database_url: str, other_database_url: str
) -> None:
    _us, nl, _, nl_port = _pair(tmp_path, database_url, other_database_url)
    limit = nl.config.max_envelope_bytes
    nl.close()
    _us.close()
    with serving(nl.paths.data_dir, nl_port):
        answer = httpx.post(
            f"http://127.0.0.1:{nl_port}/exchange/v1/messages",
            content=b"x" * (limit + 1),
            timeout=10,
        )
        assert answer.status_code == 413 and answer.json()["error"] == "oversize"
        garbage = httpx.post(
            f"http://127.0.0.1:{nl_port}/exchange/v1/messages", content=b"\x00garbage", timeout=10
        )
        assert garbage.status_code == 400 and garbage.json()["error"] == "malformed"
    assert count(nl, ExchangeMessageRow) == 0


if os.name != "posix":  # SIGKILL semantics
    pytest.skip("POSIX only", allow_module_level=True)
