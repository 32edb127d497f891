"""Steps 1-4 of Operation Nightjar: the five nodes start and exchange signed directories,
the US asks who can help, a signed message with receipts, the legal engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.demo.cluster import wait_for
from trailguard.demo.script.common import (
    NL,
    POLDERHOST,
    ROSTERS,
    US,
    DemoContext,
    _json,
    expect,
)
from trailguard.network.directory import Shift
from trailguard.network.directory_service import publish_self


def start_network(ctx: DemoContext) -> Iterator[str]:
    cluster = ctx.cluster
    cluster.create()
    for node_id, roster in ROSTERS.items():
        poc = cluster[node_id].node
        with poc.db.session() as session:
            publish_self(
                session,
                poc,
                actor="system:demo",
                roster=[Shift.from_json(shift, f"{node_id} roster") for shift in roster],
            )
    imported = cluster.exchange_directories()
    expect(
        imported >= len(cluster.nodes) * (len(cluster.nodes) - 1),
        f"only {imported} directory entries were imported",
    )
    cluster.start()
    for demo_node in cluster.nodes.values():
        health = demo_node.as_user(next(iter(demo_node.people))).get("/api/me")
        _json(health, f"{demo_node.spec.node_id} login")
        yield (
            f"{demo_node.spec.name} [{demo_node.spec.node_id}] up at {demo_node.url} "
            f"({demo_node.spec.timezone})"
        )
    yield f"signed directories exchanged: {imported} entries imported, every signature verified"


def who_can_help(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    client = us.as_user("dan.cole")
    found = _json(
        client.get("/api/directory", params={"country": "NL", "language": "en"}), "directory search"
    )
    poc = [hit for hit in found["results"] if hit["entry"]["node_id"] == NL]
    expect(poc, "the NL 24/7 point of contact was not found in US's directory")
    hit = poc[0]
    expect(hit["on_duty"] is not None, "nobody is on duty at the NL point of contact")
    yield (
        f"US asks: who can help in NL now, in English? -> {hit['entry']['organisation']}, "
        f"on duty: {hit['on_duty']['person']} (backup {hit['backup']['person']}), "
        f"local time {hit['local_time'][11:16]} in {hit['entry']['timezone']}"
    )
    provider = _json(
        client.get("/api/directory/lookup", params={"ip": "198.51.100.23"}), "prefix lookup"
    )
    match = provider["match"]
    expect(
        match and match["entry"]["node_id"] == POLDERHOST,
        f"198.51.100.23 should map to Polderhost, got {match}",
    )
    ctx.facts["polderhost_prefix"] = match["prefix"]
    yield (
        f"198.51.100.23 lies in {match['prefix']}, operated by "
        f"{match['entry']['organisation']} ({match['entry']['country']})"
    )
    ctx.pages.append(("US directory", f"{us.url}/directory"))


def signed_ping(ctx: DemoContext) -> Iterator[str]:
    us, nl = ctx.cluster[US], ctx.cluster[NL]
    sent = _json(
        us.as_user("dan.cole").post(
            "/api/exchange/messages",
            json={
                "recipient": NL,
                "payload": {"text": "US 24/7 testing the channel before a request"},
            },
        ),
        "send ping",
    )
    message_id = sent["message_id"]
    yield f"US sends a signed, encrypted message {message_id} to NL (queued in the outbox)"

    def receipts() -> list[dict[str, Any]] | None:
        detail = _json(
            us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"), "message detail"
        )
        stages = {r["stage"] for r in detail["receipts"]}
        return detail["receipts"] if {"received", "accepted"} <= stages else None

    got = wait_for(receipts, what="the received and accepted receipts")
    for receipt in got:
        yield f"US holds NL's signed receipt: {receipt['stage']} at {receipt['at']}"
    inbox = _json(
        nl.as_user("noor.visser").get("/api/exchange/inbox", params={"pending_only": True}),
        "NL inbox",
    )
    mine = [m for m in inbox if m["message_id"] == message_id]
    expect(mine, "the message is not waiting in NL's inbox")
    yield f"NL's clock: acknowledgement due {mine[0]['ack_due']}"
    _json(
        nl.as_user("noor.visser").post(
            f"/api/exchange/inbox/{message_id}/ack", json={"note": "received, standing by"}
        ),
        "ack",
    )

    def acknowledged() -> bool:
        detail = _json(
            us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"), "message detail"
        )
        return any(r["stage"] == "acknowledged" for r in detail["receipts"])

    wait_for(acknowledged, what="NL's acknowledged receipt")
    yield "Noor Visser (NL) acknowledges; US holds the signed acknowledged receipt"
    ctx.pages.append(("NL exchange inbox", f"{nl.url}/exchange"))


def ask_the_law(ctx: DemoContext) -> Iterator[str]:
    client = ctx.cluster[US].as_user("dan.cole")
    check = _json(
        client.get(
            "/api/law/check",
            params={
                "from": "US",
                "to": "NL",
                "conduct": "illegal_access",
                "measure": "preservation",
                "as_of": "2026-11-20",
            },
        ),
        "law check",
    )
    expect(
        check["dual_criminality"]["required"] is False,
        f"preservation should need no dual criminality: {check['dual_criminality']}",
    )
    reason = check["dual_criminality"]["reason"]
    yield f"dual criminality for preservation US -> NL: not required ({reason[:110]})"
    yield "cited: " + "; ".join(check["citations"][:3])
    channels = _json(
        client.get(
            "/api/law/channels",
            params={"from": "US", "to": "NL", "data": "traffic", "as_of": "2026-11-20"},
        ),
        "law channels",
    )
    expect(
        channels["channels"] and channels["channels"][0]["id"] == "preservation_24_7",
        f"the 24/7 preservation channel should come first: {channels['channels'][:1]}",
    )
    fastest = channels["channels"][0]
    yield f"fastest lawful channel: {fastest['name']} ({fastest['legal_basis']})"
    ctx.pages.append(("US legal engine", f"{ctx.cluster[US].url}/law"))
