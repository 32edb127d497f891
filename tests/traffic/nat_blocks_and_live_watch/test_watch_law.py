"""The live watch asks the law engine before it takes an order (issue 16 point 2): real-time
collection of traffic data (ETS 185 Art. 33) as limited by the provider country's Art. 14(3)
reservations. The answer is stored with the order, audited on both sides, and shown on the
page and by ``traffic watch orders``. Table-driven, each case citing the reservation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from watch_kit import START

from helpers import make_node
from law_data_kit import edit
from network.network_kit import Router, link
from trailguard.audit.orm import AuditEntryRow
from trailguard.core.clock import FixedClock, isoformat_z, set_default_clock
from trailguard.core.errors import ValidationFailed
from trailguard.law import LegalEngine, load_dataset
from trailguard.network import deliver_pending, send_message
from trailguard.network.transport import HttpTransport
from trailguard.node import Node
from trailguard.traffic.watch import service
from trailguard.traffic.watch.orm import WatchOrderRow

BG_RESERVATION = "BG reservation ETS 185 Art. 14(3)(a)"
BG_SOURCE = "CoE Treaty Office, reservations of Bulgaria to Treaty 185"


@dataclass
class LawNet:
    poc: Node  # requester: the Dutch 24/7 point of contact
    bg: Node  # provider in Bulgaria (Art. 14(3)(a) reservation in reservations.yaml)
    de: Node  # provider in Germany (no Art. 14(3) entry in the data)
    clock: FixedClock
    transport: HttpTransport


@pytest.fixture(autouse=True)
def _no_background_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAILGUARD_NO_WORKER", "1")


@pytest.fixture
def lnet(tmp_path: Path, database_url_factory: Callable[[], str]) -> Iterator[LawNet]:
    clock = FixedClock(START)
    previous = set_default_clock(clock)
    poc = make_node(tmp_path, database_url_factory(), node_id="nl-poc", country="NL",
                    roles=["poc"], clock=clock)  # fmt: skip
    bg = make_node(tmp_path, database_url_factory(), node_id="bg-isp", country="BG",
                   roles=["provider"], clock=clock, timezone="Europe/Sofia")  # fmt: skip
    de = make_node(tmp_path, database_url_factory(), node_id="de-isp", country="DE",
                   roles=["provider"], clock=clock, timezone="Europe/Berlin")  # fmt: skip
    nodes = (poc, bg, de)
    for a in nodes:
        for b in nodes:
            if a is not b:
                link(a, b)
    router = Router()
    for n in nodes:
        router.add(n)
    transport = HttpTransport(httpx.Client(transport=router, timeout=5))
    for provider in (bg, de):
        with provider.db.session() as session:
            service.authorise_requester(session, provider, "nl-poc", actor="user:liaison")
    service.REFUSALS.clear()
    try:
        yield LawNet(poc, bg, de, clock, transport)
    finally:
        transport.close()
        for n in nodes:
            n.close()
        set_default_clock(previous)


def order(now: datetime, ref: str) -> dict[str, Any]:
    return {
        "order_ref": ref,
        "requested_by": "Officer A. Example, NL 24/7 point of contact",
        "legal_reference": "ETS 185 Art. 33; synthetic national order",
        "case_reference": "NL-2026-0042",
        "criteria": {"addresses": ["203.0.113.5"]},
        "start": isoformat_z(now),
        "end": isoformat_z(now + timedelta(days=1)),
    }


def place(net: LawNet, provider: Node, ref: str) -> WatchOrderRow:
    with net.poc.db.session() as session:
        mid = service.send_order(
            session, net.poc, recipient=provider.config.node_id,
            payload=order(net.clock.now(), ref), actor="user:officer",
        )  # fmt: skip
    report = deliver_pending(net.poc, transport=net.transport)
    assert mid in report.delivered
    with provider.db.session() as session:
        row = session.scalar(select(WatchOrderRow).where(WatchOrderRow.order_ref == ref))
        assert row is not None
        session.expunge(row)
        return row


def audit(node: Node, action: str) -> list[dict[str, Any]]:
    with node.db.session() as session:
        entries = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == action).order_by(AuditEntryRow.seq)
        )
        return [json.loads(e.details) if isinstance(e.details, str) else e.details for e in entries]


def withdrawn_bg_engine(data_copy: Path) -> LegalEngine:
    """The packaged data with Bulgaria's Art. 14(3)(a) reservation withdrawn (ETS 185 Art. 43)
    with effect from 2026-11-01 (no entry of the real data has a withdrawal: a test copy)."""
    edit(data_copy / "reservations.yaml", "    valid_from: 2005-08-01\n    made: 2005-04-07\n",
         "    valid_from: 2005-08-01\n    valid_until: 2026-11-01\n    made: 2005-04-07\n"
         "    withdrawn: 2026-10-20\n")  # fmt: skip
    return LegalEngine(load_dataset(data_copy))


def read_de_engine(data_copy: Path) -> LegalEngine:
    """The packaged data with a record that Germany's Art. 14(3) reservations were read: none."""
    path = data_copy / "reservations.yaml"
    path.write_text(path.read_text("utf-8") + (
        "\nread:\n  - instrument: ets185\n    country: \"DE\"\n    articles: [\"14(3)\"]\n"
        "    source: coe_reservations_bg\n    as_of: 2021-03-06\n    verified: true\n"
    ), "utf-8")  # fmt: skip
    return LegalEngine(load_dataset(path.parent))


@dataclass(frozen=True)
class Case:
    name: str
    cites: str  # the provision the case turns on
    provider: str  # "bg" or "de"
    data: Callable[[Path], LegalEngine] | None  # None: the packaged data
    day: datetime
    decision: str
    status: str  # reservations_known status of the provider's country
    condition: str | None  # text one stored condition must contain (None: no condition)


CASES = [
    Case("bg_reservation_limits_collection", "BG Art. 14(3)(a)", "bg", None, START,
         "conditional", "known", BG_RESERVATION),
    Case("de_not_read_is_not_no_reservation", "DE Art. 14(3) (not read)", "de", None, START,
         "conditional", "not_read", "have not been read into the data"),
    Case("de_read_none_accepted", "DE Art. 14(3) read: none", "de", read_de_engine, START,
         "accepted", "none", None),
    Case("bg_before_withdrawal", "BG Art. 14(3)(a), withdrawn from 2026-11-01", "bg",
         withdrawn_bg_engine, datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "conditional", "known",
         BG_RESERVATION),
    Case("bg_after_withdrawal", "BG Art. 14(3)(a), withdrawn from 2026-11-01", "bg",
         withdrawn_bg_engine, datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "accepted", "none", None),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_watch_order_carries_the_law_answer(
    lnet: LawNet, case: Case, data_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.data is not None:
        engine = case.data(data_copy)
        monkeypatch.setattr(service, "law_engine", lambda: engine)
    lnet.clock.set(case.day)
    provider = lnet.bg if case.provider == "bg" else lnet.de
    row = place(lnet, provider, f"NL-RT-{case.name}")
    assert row.state == "active"
    assert row.law_decision == case.decision, case.cites
    law = json.loads(row.law_answer or "{}")
    assert (law["requesting"], law["requested"], law["as_of"]) == (
        "NL",
        provider.config.country,
        case.day.date().isoformat(),
    )
    assert [k["status"] for k in law["reservations_known"]] == [case.status]
    conditions = " ".join(law["conditions"])
    if case.condition is None:
        assert law["allowed"] is True and law["reservations"] == []
        assert "Not checked" not in conditions
    else:
        assert case.condition in conditions
    if case.condition == BG_RESERVATION:
        # the reservation is named with its source
        assert BG_SOURCE in conditions and any(BG_RESERVATION in r for r in law["reservations"])
    # audited with the order at the provider, and with the sending at the requester
    (registered,) = audit(provider, "traffic.watch_order_registered")
    assert registered["law"]["decision"] == case.decision
    assert registered["law"]["reservations_known"] == [
        {"country": provider.config.country, "status": case.status}
    ]
    sent = audit(lnet.poc, "traffic.watch_order_sent")[-1]
    assert (sent["law"]["decision"], sent["law"]["requested"]) == (
        case.decision, provider.config.country)  # fmt: skip


def test_law_refusal_keeps_the_order_out(lnet: LawNet, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer ``allowed: False`` (no basis) stops the order at the requester before it is
    sent, and refuses it at the provider (counted, nothing stored). The engine gives False for
    no Party in today's data, so the check itself is replaced here."""
    with lnet.poc.db.session() as session:  # a recipient not in the directory: not checked
        decision, law = service.law_check(session, lnet.poc, requester="nl-poc",
                                          provider="zz-isp", day=START)  # fmt: skip
    assert decision == "conditional" and law["allowed"] is None
    assert "'zz-isp' is not in this node's directory" in law["conditions"][0]
    calls: list[str] = []

    def refusing(session: Any, node: Node, *, requester: str, provider: str,
                 day: datetime) -> tuple[str, dict[str, Any]]:  # fmt: skip
        calls.append(node.config.node_id)
        return "refused", {"requesting": "NL", "requested": "BG", "as_of": "2026-11-27",
                           "conditions": ["test: no basis"]}  # fmt: skip

    monkeypatch.setattr(service, "law_check", refusing)
    with lnet.poc.db.session() as session, pytest.raises(ValidationFailed, match="not sent"):
        service.send_order(session, lnet.poc, recipient="bg-isp",
                           payload=order(START, "NL-RT-X"), actor="user:officer")  # fmt: skip
    assert calls == ["nl-poc"]
    with lnet.poc.db.session() as session:  # sent past the requester's own check
        msg = send_message(session, lnet.poc, recipient="bg-isp", message_type=service.ORDER,
                           payload=order(START, "NL-RT-Y"), actor="user:officer")  # fmt: skip
    report = deliver_pending(lnet.poc, transport=lnet.transport)
    assert msg.message_id in report.rejected
    assert calls == ["nl-poc", "bg-isp"]
    assert service.REFUSALS["law"] == 1
    with lnet.bg.db.session() as session:
        assert session.scalars(select(WatchOrderRow)).all() == []


@pytest.mark.slow
def test_page_and_cli_show_the_law_answer(lnet: LawNet, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from helpers import client_for
    from trailguard.accounts.domain import Role
    from trailguard.traffic.watch import web
    from trailguard.traffic.watch.cli import app

    place(lnet, lnet.bg, "NL-RT-BG-1")
    client = client_for(lnet.bg, [Role.PROVIDER_LIAISON])
    client.app.include_router(web.router)  # type: ignore[attr-defined]
    page = client.get("/traffic/watch")
    assert page.status_code == 200
    assert "conditional" in page.text and BG_RESERVATION in page.text
    assert "BG reservations: known" in page.text
    listed = CliRunner().invoke(app, ["orders", "--data-dir", str(tmp_path / "bg-isp"), "--json"])
    (row,) = json.loads(listed.output)
    assert row["law_decision"] == "conditional"
    assert any(BG_RESERVATION in c for c in row["law"]["conditions"])
    text = CliRunner().invoke(app, ["orders", "--data-dir", str(tmp_path / "bg-isp")])
    flat = " ".join(text.output.split())
    assert text.exit_code == 0 and "NL-RT-BG-1: condition:" in flat
    assert BG_RESERVATION in flat
