"""Fixtures for the requests tests: principals, one node, and a three-node network (US and NL
points of contact, a Dutch provider) linked by signed directories over an in-process router."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))

from req_kit import START, principal

from trailguard.accounts.domain import Principal, Role


@pytest.fixture(autouse=True)
def _no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")


@pytest.fixture
def people() -> dict[str, Principal]:
    return {
        "investigator": principal("ivy", Role.INVESTIGATOR),
        "duty": principal("dora", Role.DUTY_OFFICER),
        "duty2": principal("dirk", Role.DUTY_OFFICER),
        "central": principal("cora", Role.CENTRAL_AUTHORITY),
        "admin": principal("adam", Role.ADMIN),
        "liaison": principal("lia", Role.PROVIDER_LIAISON),
    }


@pytest.fixture
def net3(tmp_path: Path, database_url: str) -> Iterator[object]:
    from network_kit import Net, link, second_database_url

    from helpers import make_node

    urls = second_database_url(database_url, tmp_path)
    nl_url = next(urls)
    third = second_database_url(database_url, tmp_path / "third")
    (tmp_path / "third").mkdir()
    provider_url = next(third)
    net = Net.build(tmp_path, database_url, nl_url, start=START)
    provider = make_node(
        tmp_path,
        provider_url,
        node_id="nl-polderhost",
        country="NL",
        roles=["provider"],
        timezone="Europe/Amsterdam",
        clock=net.clock,
    )
    for other in (net.us, net.nl):
        link(provider, other)
        link(other, provider)
    net.router.add(provider)
    net.extra.append(provider)
    try:
        yield net
    finally:
        net.close()
        for gen in (urls, third):
            gen.close()
