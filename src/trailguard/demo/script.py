"""The steps of Operation Nightjar. Each step is a small function that acts through the
nodes' HTTP API (as a person would) or the exchange (as a node would), checks what must
hold, and returns the lines to print. Later capabilities add steps to ``STEPS``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from rich.console import Console

from trailguard.accounts.domain import Role
from trailguard.core.config import NodeRole
from trailguard.demo.cluster import DemoCluster, NodeSpec, StepFailed, wait_for

US, NL, POLDERHOST, BR, RIO = "us-poc", "nl-poc", "nl-polderhost", "br-poc", "br-riolitoral"

SCENARIO_NODES = [
    NodeSpec(US, "United States 24/7 point of contact", "US", (NodeRole.POC,), "America/New_York",
             people=(("iris.reed", "Iris Reed", (Role.INVESTIGATOR,)),
                     ("dan.cole", "Dan Cole", (Role.DUTY_OFFICER,)),
                     ("carla.mendez", "Carla Mendez", (Role.CENTRAL_AUTHORITY,))),
             phone="+1 202 555 0100", email="duty@us-poc.example"),
    NodeSpec(NL, "Netherlands 24/7 point of contact", "NL", (NodeRole.POC,), "Europe/Amsterdam",
             languages=("nl", "en", "de"),
             people=(("noor.visser", "Noor Visser", (Role.DUTY_OFFICER,)),
                     ("joost.bakker", "Joost Bakker", (Role.DUTY_OFFICER,))),
             phone="+31 70 555 0100", email="duty@nl-poc.example"),
    NodeSpec(POLDERHOST, "Polderhost B.V.", "NL", (NodeRole.PROVIDER,), "Europe/Amsterdam",
             languages=("nl", "en"), prefixes=("198.51.100.0/24", "2001:db8:100::/48"),
             people=(("pim.dekker", "Pim Dekker", (Role.PROVIDER_LIAISON,)),),
             email="lea@polderhost.example"),
    NodeSpec(BR, "Brazil 24/7 point of contact", "BR", (NodeRole.POC,), "America/Sao_Paulo",
             languages=("pt", "en", "es"),
             people=(("bruna.alves", "Bruna Alves", (Role.DUTY_OFFICER,)),),
             phone="+55 61 5550 0100", email="plantao@br-poc.example"),
    NodeSpec(RIO, "Rio Litoral Telecom", "BR", (NodeRole.PROVIDER,), "America/Sao_Paulo",
             languages=("pt", "en"), prefixes=("203.0.113.0/24", "2001:db8:200::/48"),
             people=(("rafael.costa", "Rafael Costa", (Role.PROVIDER_LIAISON,)),),
             email="juridico@riolitoral.example"),
]

# Two shifts a day cover the clock; each person is the other's backup.
NL_ROSTER = [
    {"person": "Noor Visser", "role": "primary", "weekdays": [0, 1, 2, 3, 4, 5, 6],
     "start_time": "08:00", "end_time": "20:00", "phone": "+31 70 555 0101"},
    {"person": "Joost Bakker", "role": "primary", "weekdays": [0, 1, 2, 3, 4, 5, 6],
     "start_time": "20:00", "end_time": "08:00", "phone": "+31 70 555 0102"},
    {"person": "Joost Bakker", "role": "backup", "weekdays": [0, 1, 2, 3, 4, 5, 6],
     "start_time": "08:00", "end_time": "20:00", "phone": "+31 70 555 0102"},
    {"person": "Noor Visser", "role": "backup", "weekdays": [0, 1, 2, 3, 4, 5, 6],
     "start_time": "20:00", "end_time": "08:00", "phone": "+31 70 555 0101"},
]


@dataclass
class DemoContext:
    cluster: DemoCluster
    console: Console
    pages: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    title: str
    actor: str  # the node whose local time is shown
    run: Callable[[DemoContext], Iterator[str]]


def expect(condition: object, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def _json(answer: Any, what: str) -> Any:
    if answer.status_code >= 400:
        raise StepFailed(f"{what}: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()


# --- the network ---------------------------------------------------------------------------


def start_network(ctx: DemoContext) -> Iterator[str]:
    from trailguard.network.directory import Shift
    from trailguard.network.directory_service import publish_self

    cluster = ctx.cluster
    cluster.create()
    nl = cluster[NL].node
    with nl.db.session() as session:
        publish_self(session, nl, actor="system:demo",
                     roster=[Shift.from_json(shift, "NL roster") for shift in NL_ROSTER])
    imported = cluster.exchange_directories()
    expect(imported >= len(cluster.nodes) * (len(cluster.nodes) - 1),
           f"only {imported} directory entries were imported")
    cluster.start()
    for demo_node in cluster.nodes.values():
        health = demo_node.as_user(next(iter(demo_node.people))).get("/api/me")
        _json(health, f"{demo_node.spec.node_id} login")
        yield (f"{demo_node.spec.name} [{demo_node.spec.node_id}] up at {demo_node.url} "
               f"({demo_node.spec.timezone})")
    yield f"signed directories exchanged: {imported} entries imported, every signature verified"


def who_can_help(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    client = us.as_user("dan.cole")
    found = _json(client.get("/api/directory", params={"country": "NL", "language": "en"}),
                  "directory search")
    poc = [hit for hit in found["results"] if hit["entry"]["node_id"] == NL]
    expect(poc, "the NL 24/7 point of contact was not found in US's directory")
    hit = poc[0]
    expect(hit["on_duty"] is not None, "nobody is on duty at the NL point of contact")
    yield (f"US asks: who can help in NL now, in English? -> {hit['entry']['organisation']}, "
           f"on duty: {hit['on_duty']['person']} (backup {hit['backup']['person']}), "
           f"local time {hit['local_time'][11:16]} in {hit['entry']['timezone']}")
    provider = _json(client.get("/api/directory/lookup", params={"ip": "198.51.100.23"}),
                     "prefix lookup")
    match = provider["match"]
    expect(match and match["entry"]["node_id"] == POLDERHOST,
           f"198.51.100.23 should map to Polderhost, got {match}")
    ctx.facts["polderhost_prefix"] = match["prefix"]
    yield (f"198.51.100.23 lies in {match['prefix']}, operated by "
           f"{match['entry']['organisation']} ({match['entry']['country']})")
    ctx.pages.append(("US directory", f"{us.url}/directory"))


def signed_ping(ctx: DemoContext) -> Iterator[str]:
    us, nl = ctx.cluster[US], ctx.cluster[NL]
    sent = _json(us.as_user("dan.cole").post("/api/exchange/messages", json={
        "recipient": NL, "payload": {"text": "US 24/7 testing the channel before a request"}}),
        "send ping")
    message_id = sent["message_id"]
    yield f"US sends a signed, encrypted message {message_id} to NL (queued in the outbox)"

    def receipts() -> list[dict[str, Any]] | None:
        detail = _json(us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"),
                       "message detail")
        stages = {r["stage"] for r in detail["receipts"]}
        return detail["receipts"] if {"received", "accepted"} <= stages else None

    got = wait_for(receipts, what="the received and accepted receipts")
    for receipt in got:
        yield f"US holds NL's signed receipt: {receipt['stage']} at {receipt['at']}"
    inbox = _json(nl.as_user("noor.visser").get("/api/exchange/inbox",
                                                 params={"pending_only": True}), "NL inbox")
    mine = [m for m in inbox if m["message_id"] == message_id]
    expect(mine, "the message is not waiting in NL's inbox")
    yield f"NL's clock: acknowledgement due {mine[0]['ack_due']}"
    _json(nl.as_user("noor.visser").post(f"/api/exchange/inbox/{message_id}/ack",
                                          json={"note": "received, standing by"}), "ack")

    def acknowledged() -> bool:
        detail = _json(us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"),
                       "message detail")
        return any(r["stage"] == "acknowledged" for r in detail["receipts"])

    wait_for(acknowledged, what="NL's acknowledged receipt")
    yield "Noor Visser (NL) acknowledges; US holds the signed acknowledged receipt"
    ctx.pages.append(("NL exchange inbox", f"{nl.url}/exchange"))


STEPS: list[Step] = [
    Step("Five nodes start on loopback and exchange their signed directories", US, start_network),
    Step("The US duty officer asks the directory who can help", US, who_can_help),
    Step("A signed, encrypted message with receipts and an acknowledgement clock", US, signed_ping),
]


def verify_audit_chains(ctx: DemoContext) -> Iterator[str]:
    from trailguard.audit.service import verify

    for node_id, demo_node in ctx.cluster.nodes.items():
        with demo_node.node.db.session() as session:
            report = verify(session)
        expect(report.ok, f"{node_id}'s audit chain is broken: {report.problems[:3]}")
        yield f"{node_id}: audit chain intact, {report.entries} entries"


FINAL_STEPS: list[Step] = [
    Step("Every node's hash-chained audit log verifies", US, verify_audit_chains),
]
