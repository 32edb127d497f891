"""Fixtures for the trace tests: a US and an NL point of contact linked by signed
directories (the network tests' in-process router), with the scenario's providers and the
Brazilian point of contact entered in the US directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))

from trace_kit import enter, principal

from trailguard.accounts.domain import Principal, Role

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def samples_dir() -> Path:
    """The real third-party samples beside the project (../shared/samples), or skip."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not present on this machine")
    return SAMPLES


# The login at the bank: 2026-11-20 03:14:07.250 -05:00; the trace starts an hour later.
START = datetime(2026, 11, 20, 9, 14, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")


@pytest.fixture
def people() -> dict[str, Principal]:
    return {
        "iris": principal("iris", Role.INVESTIGATOR),
        "dan": principal("dan", Role.DUTY_OFFICER),
        "noor": principal("noor", Role.DUTY_OFFICER),
        "joost": principal("joost", Role.DUTY_OFFICER),
        "outsider": principal("olga", Role.INVESTIGATOR),
        "admin": principal("adam", Role.ADMIN),
        # a provider's law-enforcement liaison: the one who looks up its own traffic data
        "pim": principal("pim", Role.PROVIDER_LIAISON),
    }


@pytest.fixture
def net(tmp_path: Path, database_url: str) -> Iterator[Any]:
    from network_kit import Net, second_database_url

    urls = second_database_url(database_url, tmp_path)
    network = Net.build(tmp_path, database_url, next(urls), start=START)
    for node in (network.us, network.nl):
        enter(
            node,
            "nl-polderhost",
            "provider",
            "NL",
            "Polderhost B.V.",
            ("198.51.100.0/24", "2001:db8:100::/48"),
        )
        enter(
            node,
            "br-riolitoral",
            "provider",
            "BR",
            "Rio Litoral Telecom",
            ("203.0.113.0/24", "2001:db8:200::/48"),
        )
        enter(node, "br-poc", "poc", "BR", "Brazil 24/7 point of contact")
    try:
        yield network
    finally:
        network.close()
        urls.close()


@pytest.fixture
def net_br(net: Any, tmp_path: Path, database_url: str) -> Iterator[Any]:
    """``net`` with a real Brazilian point of contact linked to the US node (its keys in the
    US directory), so the US can send the BR request of the trace's next hop."""
    from network_kit import link, second_database_url

    from helpers import make_node

    (tmp_path / "br").mkdir()
    urls = second_database_url(database_url, tmp_path / "br", name="br")
    br = make_node(
        tmp_path / "br",
        next(urls),
        node_id="br-poc",
        country="BR",
        timezone="America/Sao_Paulo",
        clock=net.clock,
    )
    link(br, net.us)
    link(net.us, br)
    net.router.add(br)
    net.extra.append(br)
    try:
        yield net
    finally:
        urls.close()
