"""Fixtures for the live watch tests: a requester (24/7 point of contact), a provider and an
unauthorised node, each with its own database, linked by signed directories and talking through
the in-process router of the network tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from watch_kit import START, WatchNet

from helpers import make_node
from network.network_kit import Router, link
from trailguard.core.clock import FixedClock, set_default_clock
from trailguard.network.transport import HttpTransport
from trailguard.traffic.watch import service


@pytest.fixture(autouse=True)
def _no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")


@pytest.fixture
def wnet(tmp_path: Path, database_url_factory: Callable[[], str]) -> Iterator[WatchNet]:
    clock = FixedClock(START)
    # commands run in these tests (the watch CLI) open the node themselves: they read the
    # scenario's clock too, never the wall clock
    previous = set_default_clock(clock)
    poc = make_node(tmp_path, database_url_factory(), node_id="nl-poc", country="NL",
                    roles=["poc"], clock=clock)  # fmt: skip
    isp = make_node(tmp_path, database_url_factory(), node_id="nl-isp", country="NL",
                    roles=["provider"], clock=clock)  # fmt: skip
    rogue = make_node(tmp_path, database_url_factory(), node_id="xx-poc", country="FR",
                      roles=["poc"], clock=clock)  # fmt: skip
    for a in (poc, isp, rogue):
        for b in (poc, isp, rogue):
            if a is not b:
                link(a, b)
    router = Router()
    for n in (poc, isp, rogue):
        router.add(n)
    transport = HttpTransport(httpx.Client(transport=router, timeout=5))
    with isp.db.session() as session:
        service.authorise_requester(session, isp, "nl-poc", actor="user:liaison",
                                    note="NL 24/7 POC, standing arrangement")  # fmt: skip
    service.REFUSALS.clear()
    net = WatchNet(poc, isp, rogue, clock, transport)
    try:
        yield net
    finally:
        transport.close()
        for n in (poc, isp, rogue):
            n.close()
        set_default_clock(previous)
