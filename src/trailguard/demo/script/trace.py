"""Steps 10-11, through the trace capability: the US opens the investigation from the bank's
log line and starts the trace (adopting the NL request already preserved); Polderhost's
trace service prepares the Art. 30 disclosure and the third-country notice from its own
look-up and sends it to NL, whose trace capability drafts the disclosure to the US; NL
approves and sends it; the US trace advances as it arrives and drafts the BR request (Dan Cole
approves it, Iris Reed sends it: no person drafted it, so two people look at it); Rio
Litoral's preservation ends it at the subscriber. No step calls ``sync``: answers are pushed.
``--check`` verifies the trace's end, every hop preserved, the notice received, the graph
exported and valid (``case_validate``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from trailguard.demo import data
from trailguard.demo.script.acts import (
    forward_at_poc,
    nl_releases_disclosure,
    open_case,
    polderhost_discloses,
    record_custodians,
    rio_preserve,
    start_trace,
    wait_trace,
)
from trailguard.demo.script.common import BR, POLDERHOST, RIO, US, DemoContext, _json, expect


def art30_disclosure(ctx: DemoContext) -> Iterator[str]:
    case, observation = open_case(ctx)
    yield (
        f"Iris Reed opens investigation {case['reference']} with the bank's log line: "
        f"{observation['ip']}:{observation['port']} at {observation['at']} "
        f"(source offset {observation['source_zone']}, ±{observation['tolerance_s']:g} s)"
    )
    record_custodians(ctx)
    started = start_trace(ctx, case, observation, adopt_request=ctx.facts["nl_request"])
    ctx.facts["trace"] = started["id"]
    hop1 = started["hops"][0]
    expect(hop1["provider"]["node_id"] == POLDERHOST, f"hop 1 provider {hop1['provider']}")
    expect(hop1["state"] == "preserved", f"hop 1 is {hop1['state']}")
    yield (
        f"the trace's hop 1: {hop1['ip']} is {hop1['provider']['organisation']} "
        f"({hop1['provider']['country']}); request {hop1['request_reference']} preserved, "
        f"digest {str(hop1['hold_digest'])[:16]}...; the trail dies there {hop1['dies_at']}"
    )
    sent = polderhost_discloses(ctx, ctx.facts["polderhost_request"])
    body = sent["body"]
    source = body["path"][0]["source"]
    ctx.facts["ssh_flow"] = {"start": source["timestamp"]}
    yield (
        f"Polderhost's own look-up of its preserved flows finds the SSH session from "
        f"{source['ip']}:{source['port']}; its trace service prepares the Art. 30 disclosure "
        f'and the notice and sends them to NL: "{body["third_country_notice"][:80]}..."'
    )
    released = nl_releases_disclosure(ctx, ctx.facts["polderhost_request"])
    ctx.facts["art30"] = released["id"]
    yield (
        f"NL's trace capability drafted {released['reference']} to the US from Polderhost's "
        "answer; Joost Bakker approves it (four eyes) and Noor Visser sends it"
    )
    moved = wait_trace(
        ctx,
        started["id"],
        lambda t: len(t["hops"]) == 2 and t["hops"][1]["state"] != "open",
        "the US trace to advance when the disclosure arrives",
    )
    hop2 = moved["hops"][1]
    expect(moved["hops"][0]["state"] == "advanced", f"hop 1 is {moved['hops'][0]['state']}")
    expect(hop2["state"] == "drafted", f"hop 2 is {hop2['state']}: {hop2['next_action']}")
    expect(hop2["recipient_node"] == BR, f"hop 2 goes to {hop2['recipient_node']}")
    ctx.facts["br_request"] = hop2["request_id"]
    yield (
        f"the disclosure arrives and the US trace advances at once: hop 2 "
        f"{hop2['ip']}:{hop2['port']} is {hop2['provider']['organisation']} (BR), a third "
        f"country; it drafts {hop2['request_reference']} to the BR 24/7 point of contact via "
        f"{hop2['channel']['name']} ({', '.join(hop2['channel']['citations'][:2])}); the trail "
        f"dies there {hop2['dies_at']}"
    )
    yield (
        "the preservation itself stays in force: Art. 30 disclosure is partial, the full "
        "data waits for the MLA request"
    )


def preservation_to_br(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    dan = us.as_user("dan.cole")
    draft_id = ctx.facts["br_request"]
    draft = _json(dan.get(f"/api/requests/{draft_id}"), "BR draft")
    _json(dan.post(f"/api/requests/{draft_id}/approve"), "approve")
    # no person drafted it (the trace did, from the disclosure): the approver may not also
    # send it, so a second person does (four eyes)
    _json(us.as_user("iris.reed").post(f"/api/requests/{draft_id}/send", json={}), "send")
    yield (
        f"Dan Cole approves the trace's draft {draft['reference']} (four eyes) and Iris Reed "
        "sends it to the BR point of contact (a new Art. 29 request)"
    )
    copy_id = forward_at_poc(ctx, BR, "bruna.alves", draft_id, RIO, "rafael.costa")
    yield "Bruna Alves (BR) acknowledges and forwards it to Rio Litoral Telecom"
    done = rio_preserve(ctx, copy_id, draft["reference"], ctx.facts["ssh_flow"]["start"])
    best, hold = done["best"], done["hold"]
    yield (
        f"Rafael Costa looks up {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} at "
        f"{done['at'][11:19]}Z: port block {data.BLOCK_FIRST}-{data.BLOCK_LAST} -> "
        f"{best['inside_ip']} -> account {best['subscriber']} (records: "
        f"{', '.join(done['kinds'])})"
    )
    yield (
        f"hold {hold['hold_id']} seals {hold['records']} NAT and RADIUS records, SHA-256 "
        f"{hold['sha256'][:16]}..."
    )
    trace_id = ctx.facts["trace"]
    ended = wait_trace(
        ctx,
        trace_id,
        lambda t: t["state"] != "open",
        "the US trace to end when Rio Litoral's preservation arrives",
    )
    yield "the preservation and its digest travel back Rio -> BR -> US; the trace moves with it"
    # --check: the trace's end, every hop preserved, the notice sent, the graph valid.
    expect(ended["state"] == "subscriber", f"the trace ends {ended['state']}")
    expect(
        [h["hold_digest"] for h in ended["hops"]]
        == [ctx.facts["polderhost_hold"]["sha256"], hold["sha256"]],
        f"not every hop is preserved: {[h['hold_digest'] for h in ended['hops']]}",
    )
    notice = _json(dan.get(f"/api/requests/{ctx.facts['art30']}"), "notice")
    expect(
        notice["body"].get("third_country_notice") and notice["direction"] == "inbound",
        "the third-country notice did not reach the US",
    )
    iris = us.as_user("iris.reed")
    graph = _json(iris.get(f"/api/traces/{trace_id}/graph"), "graph export")
    check_graph(graph, ended)
    bundle = _json(iris.get(f"/api/traces/{trace_id}/case"), "CASE export")
    checked = check_case(ctx, bundle)
    yield (
        f"the trace ends at the subscriber: {len(ended['hops'])} hops across NL and BR, each "
        f"preserved (digests match), the third-country notice received; graph exported "
        f"({len(graph['nodes'])} nodes, {len(graph['edges'])} edges) and {checked}"
    )
    picture = f"{us.url}/traces/{trace_id}"
    yield f"the picture (graph across countries, UTC timeline): {picture} (log in as iris.reed)"
    ctx.pages.append(("US trace: graph across countries and timeline", picture))
    ctx.pages.append(("Rio Litoral traffic and holds", f"{ctx.cluster[RIO].url}/traffic"))


def check_graph(graph: dict[str, Any], trace: dict[str, Any]) -> None:
    expect(graph.get("format") == "trailguard.trace-graph.v1", "graph format")
    ids = {n["id"] for n in graph["nodes"]}
    expect(all(e["from"] in ids and e["to"] in ids for e in graph["edges"]), "dangling edge")
    kinds = {n["type"] for n in graph["nodes"]}
    expect({"victim", "endpoint", "provider", "subscriber"} <= kinds, f"graph nodes {kinds}")
    hops = [e for e in graph["edges"] if e["type"] == "connection"]
    expect(len(hops) == len(trace["hops"]), "one connection per hop")


def check_case(ctx: DemoContext, bundle: dict[str, Any]) -> str:
    """Validate with case_validate (case-utils) when it is installed, else the structure."""
    types = {o["@type"] for o in bundle.get("uco-core:object", [])}
    expect("uco-observable:NetworkConnection" in types, "CASE export has no NetworkConnection")
    validator = shutil.which("case_validate")
    if validator is None:
        return "CASE/UCO JSON-LD exported (case_validate not installed: structure checked)"
    path = ctx.cluster.root / "trace-case.jsonld"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    done = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=300)
    expect(done.returncode == 0, f"case_validate: {done.stdout[-500:]}")
    return f"CASE/UCO JSON-LD valid (case_validate: {done.stdout.strip().splitlines()[-1]})"
