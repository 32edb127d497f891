"""Machine time of the trace (issue 13): Operation Nightjar's steps 4-5 through the trace
capability, side by side with the same steps driven through the request API by hand (the
demo's path before the trace existed), in the same run, on five real nodes on loopback.

    uv run python benchmarks/trace.py [--runs 1]

Each run starts the demo's five nodes (uvicorn on loopback, SQLite, one process), plays the
demo's steps 1-9 (network, ingest, the NL preservation preserved by Polderhost), then either
the trace's steps 10-11 or the by-hand steps 10-11, each in a fresh cluster. For every stage
(each line a step prints) it records wall time and the process's CPU time (all five nodes run
in this process, so CPU time is the machine time of the whole network; wall time includes the
delivery workers' polling). Not measured here (see BENCHMARKS.md): the automatic-approval
policy on the reference trace and 1,000 traces at once across five nodes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from trailguard.demo.cluster import DemoCluster, wait_for
from trailguard.demo.script import (
    BR,
    NL,
    RIO,
    SCENARIO_NODES,
    STEPS,
    US,
    US_AUTHORITY,
    DemoContext,
    _json,
    _maybe,
    _preservation_body,
    expect,
)

# --- the by-hand steps 10-11 (the demo before the trace capability, kept for comparison) ---


def by_hand_art30(ctx: DemoContext) -> Iterator[str]:
    from trailguard.demo import data

    nl, us = ctx.cluster[NL], ctx.cluster[US]
    noor = nl.as_user("noor.visser")
    found = _json(
        noor.get("/api/directory/lookup", params={"ip": data.ATTACKER_PUBLIC_IP}), "prefix lookup"
    )
    match = found["match"]
    expect(
        match and match["entry"]["node_id"] == RIO and match["entry"]["country"] == "BR",
        f"{data.ATTACKER_PUBLIC_IP} should belong to Rio Litoral (BR): {match}",
    )
    yield (
        f"{data.ATTACKER_PUBLIC_IP} lies in {match['prefix']}, operated by "
        f"{match['entry']['organisation']} in {match['entry']['country']}: a third country"
    )
    ssh = ctx.facts["ssh_flow"]
    body = {
        "kind": "expedited_disclosure",
        "reference": "NL-2026-NJ-030",
        "date_issued": "2026-11-20",
        "requesting_party": "US",
        "requested_party": "NL",
        "requesting_authority": US_AUTHORITY,
        "requested_authority": "Netherlands 24/7 point of contact",
        "confirmation_contact": {
            "name": "Noor Visser",
            "phone": "+31705550101",
            "email": "noor.visser@nl-poc.example",
        },
        "in_response_to": "US-2026-NJ-001",
        "provider_in_other_state": {
            "name": match["entry"]["organisation"],
            "country": "BR",
            "identifiers": [match["prefix"]],
        },
        "path": [
            {
                "source": {
                    "type": "ip_endpoint",
                    "ip": data.ATTACKER_PUBLIC_IP,
                    "port": data.ATTACKER_PUBLIC_PORT,
                    "timestamp": ssh["start"],
                    "protocol": "tcp",
                    "destination_port": 22,
                },
                "destination": {
                    "type": "ip_endpoint",
                    "ip": data.VPS_IP,
                    "port": 22,
                    "timestamp": ssh["start"],
                    "protocol": "tcp",
                },
                "observed_by": "Polderhost B.V. flow records (held under "
                f"{ctx.facts['polderhost_hold']['hold_id']})",
            }
        ],
        "traffic_data": [
            f"{ssh['start']} {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} -> "
            f"{data.VPS_IP}:22 tcp, {ssh['source_file']} line {ssh['source_line']}",
        ],
        "third_country_notice": "The communication came from a provider in Brazil "
        "(Rio Litoral Telecom); send a preservation request to BR.",
    }
    draft = _json(
        noor.post("/api/requests", json={"body": body, "recipient": US}), "draft Art. 30 disclosure"
    )
    _json(nl.as_user("joost.bakker").post(f"/api/requests/{draft['id']}/approve"), "approve")
    _json(noor.post(f"/api/requests/{draft['id']}/send", json={}), "send disclosure")
    ctx.facts["art30"] = draft["id"]
    got = wait_for(
        lambda: _maybe(us.as_user("dan.cole"), f"/api/requests/{draft['id']}"),
        what="the Art. 30 disclosure at US",
    )
    yield (
        f"NL discloses to US (Art. 30(1)) the traffic data that names the provider and the "
        f"path, with a third-country notice: US holds {got['reference']} ({got['state']})"
    )
    yield (
        "the preservation itself stays in force: Art. 30 disclosure is partial, the full "
        "data waits for the MLA request"
    )


def by_hand_preservation_to_br(ctx: DemoContext) -> Iterator[str]:
    from trailguard.demo import data

    us, br, rio = ctx.cluster[US], ctx.cluster[BR], ctx.cluster[RIO]
    ssh_start = ctx.facts["ssh_flow"]["start"]
    body = _preservation_body(
        reference="US-2026-NJ-002",
        requested="BR",
        requested_authority="Brazil 24/7 point of contact",
        endpoint={
            "type": "ip_endpoint",
            "ip": data.ATTACKER_PUBLIC_IP,
            "port": data.ATTACKER_PUBLIC_PORT,
            "timestamp": ssh_start,
            "protocol": "tcp",
            "destination_port": 22,
        },
        custodian="Rio Litoral Telecom (residential ISP, CGNAT pool 203.0.113.0/24)",
        relationship="The SSH session that drove the login to the bank came from this "
        "address and port (disclosed by NL under Art. 30).",
        necessity="Rio Litoral keeps NAT logs for 90 days; they are deleted on 2027-02-18.",
        data_kinds=["port_block", "radius"],
    )
    draft = _json(
        us.as_user("iris.reed").post(
            "/api/requests",
            json={
                "body": body,
                "recipient": BR,
                "retention_days": {"port_block": 90, "radius": 365},
                "observed_at": ssh_start,
            },
        ),
        "draft BR preservation",
    )
    _json(us.as_user("dan.cole").post(f"/api/requests/{draft['id']}/approve"), "approve")
    _json(us.as_user("dan.cole").post(f"/api/requests/{draft['id']}/send", json={}), "send")
    ctx.facts["br_request"] = draft["id"]
    yield f"US sends {body['reference']} to the BR point of contact (a new Art. 29 request)"
    bruna = br.as_user("bruna.alves")
    wait_for(lambda: _maybe(bruna, f"/api/requests/{draft['id']}"), what="the request at BR")
    _json(bruna.post(f"/api/requests/{draft['id']}/acknowledge"), "BR acknowledge")
    copy = _json(
        bruna.post(f"/api/requests/{draft['id']}/forward", json={"recipient": RIO}), "BR forward"
    )
    rafael = rio.as_user("rafael.costa")
    wait_for(lambda: _maybe(rafael, f"/api/requests/{copy['id']}"), what="the request at Rio")
    yield "Bruna Alves (BR) acknowledges and forwards it to Rio Litoral Telecom"
    _json(rafael.post(f"/api/requests/{copy['id']}/acknowledge"), "Rio acknowledge")
    _json(rafael.post(f"/api/requests/{copy['id']}/execute"), "Rio execute")
    at = (datetime.fromisoformat(ssh_start) + timedelta(seconds=1)).isoformat()
    answer = _json(
        rafael.get(
            "/api/traffic/lookup",
            params={
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "at": at,
                "reference": body["reference"],
            },
        ),
        "Rio lookup",
    )
    expect(
        answer["matches"],
        f"no NAT match for {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} at {at}",
    )
    best = answer["matches"][0]
    expect(best["inside_ip"] == data.INSIDE_IP, f"inside address {best['inside_ip']}")
    expect(best["subscriber"] == data.SUBSCRIBER, f"subscriber {best['subscriber']}")
    kinds = sorted({r["kind"] for r in best["records"]})
    yield (
        f"Rafael Costa looks up {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} at "
        f"{at[11:19]}Z: port block {data.BLOCK_FIRST}-{data.BLOCK_LAST} -> "
        f"{best['inside_ip']} -> account {best['subscriber']} (records: {', '.join(kinds)})"
    )
    start = (data.RADIUS_START - timedelta(minutes=1)).isoformat()
    end = (data.RADIUS_STOP + timedelta(minutes=1)).isoformat()
    hold = _json(
        rafael.post(
            "/api/traffic/holds",
            json={
                "reference": body["reference"],
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "start": start,
                "end": end,
            },
        ),
        "Rio hold",
    )
    expect(hold["records"] >= 2, f"the hold covers {hold['records']} records")
    yield (
        f"hold {hold['hold_id']} seals {hold['records']} NAT and RADIUS records, SHA-256 "
        f"{hold['sha256'][:16]}..."
    )
    _json(
        rafael.post(
            f"/api/requests/{copy['id']}/preserve",
            json={
                "preserved": f"port-block and RADIUS records for {data.ATTACKER_PUBLIC_IP}:"
                f"{data.ATTACKER_PUBLIC_PORT} ({hold['records']} records)",
                "hold_id": hold["hold_id"],
                "digest": hold["sha256"],
            },
        ),
        "Rio preserve",
    )

    def us_sees() -> bool:
        view = _json(us.as_user("dan.cole").get(f"/api/requests/{draft['id']}"), "US view")
        return view["state"] == "preserved" and view.get("hold_digest") == hold["sha256"]

    wait_for(us_sees, what="US to see Rio Litoral's preservation")
    yield "the preservation and its digest travel back Rio -> BR -> US"
    ctx.pages.append(("Rio Litoral traffic and holds", f"{rio.url}/traffic"))


# --- the run --------------------------------------------------------------------------------


def _timed(step: Callable[[DemoContext], Iterator[str]], ctx: DemoContext) -> list[dict[str, Any]]:
    stages = []
    wall, cpu = time.perf_counter(), time.process_time()
    for line in step(ctx):
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        stages.append({"stage": line[:70], "wall_s": now_wall - wall, "cpu_s": now_cpu - cpu})
        wall, cpu = now_wall, now_cpu
    return stages


def run_once(path: str) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix=f"trailguard-bench-trace-{path}-"))
    cluster = DemoCluster(root, SCENARIO_NODES)
    ctx = DemoContext(cluster=cluster, console=Console(quiet=True))
    try:
        for step in STEPS[:9]:
            for _ in step.run(ctx):
                pass
        if path == "trace":
            steps = [step.run for step in STEPS[9:11]]
        else:
            steps = [by_hand_art30, by_hand_preservation_to_br]
        stages: list[dict[str, Any]] = []
        for number, step_fn in zip((10, 11), steps, strict=True):
            for stage in _timed(step_fn, ctx):
                stages.append({"step": number, **stage})
        return stages
    finally:
        cluster.stop()


CHECK_STAGE = "the trace ends at the subscriber"  # demo --check: sync + exports + case_validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    totals: dict[str, list[tuple[float, float]]] = {"trace": [], "by-hand": []}
    checks: list[tuple[float, float]] = []
    for run in range(args.runs):
        for path in ("trace", "by-hand"):
            stages = run_once(path)
            work = [s for s in stages if not s["stage"].startswith(CHECK_STAGE)]
            wall = sum(s["wall_s"] for s in work)
            cpu = sum(s["cpu_s"] for s in work)
            totals[path].append((wall, cpu))
            checks += [(s["wall_s"], s["cpu_s"]) for s in stages if s not in work]
            print(
                f"\nrun {run + 1}, {path}: steps 10-11 wall {wall:.2f} s, CPU {cpu:.2f} s"
                " (without the --check verification stage)"
            )
            for s in stages:
                print(
                    f"  step {s['step']}  wall {s['wall_s']:7.3f} s  cpu {s['cpu_s']:7.3f} s  "
                    f"{s['stage']}"
                )
    print()
    for path, values in totals.items():
        walls = [w for w, _ in values]
        cpus = [c for _, c in values]
        print(
            f"{path:8s} steps 10-11: median wall {statistics.median(walls):.2f} s, "
            f"median CPU {statistics.median(cpus):.2f} s over {len(values)} run(s)"
        )
    if checks:
        print(
            f"trace --check verification stage (final sync, graph + CASE export, "
            f"case_validate subprocess): median wall "
            f"{statistics.median(w for w, _ in checks):.2f} s, CPU in this process "
            f"{statistics.median(c for _, c in checks):.2f} s"
        )


if __name__ == "__main__":
    main()
