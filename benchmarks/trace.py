"""Machine time of the trace (issue 13, point 11), on the demo's five real nodes on loopback
(uvicorn, SQLite, one process; every person acts through the HTTP API with the demo's own
``trailguard.demo.script.acts``, so nothing here copies the demo):

(a) the reference trace: 3 countries (US, NL, BR), 4 hops (the victim's log line at the bank,
    Polderhost's VPS, Rio Litoral's CGNAT address, the subscriber behind it) with the
    recorded automatic approval policy (``auto_send``), from the victim's log line to the
    third-country subscriber's records preserved, stage by stage;
(b) the same steps driven through the request API by hand (the demo's path before the trace:
    the requests and the Art. 30 body written by hand, four eyes on each), in the same run;
(c) many traces at once across the five nodes (``--traces``, default 1,000), each driven by
    one of ``--workers`` threads through the same acts: throughput and p99 per hop.

    uv run python benchmarks/trace.py [--traces 1000] [--workers 8] [--skip-many]

All five nodes run in this process, so the process's CPU time is the machine time of the
whole network; wall time also includes the delivery workers' polling (0.2 s) and the
simulated people's polling (0.1 s). The machine, its load average and the Python version are
printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from trailguard.core.clock import ShiftedClock, set_default_clock
from trailguard.demo import data
from trailguard.demo.cluster import DemoCluster, wait_for
from trailguard.demo.data import SCENARIO_START
from trailguard.demo.script import (
    BR,
    NL,
    POLDERHOST,
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
from trailguard.demo.script.acts import (
    forward_at_poc,
    nl_releases_disclosure,
    open_case,
    polderhost_discloses,
    polderhost_preserve,
    record_custodians,
    rio_preserve,
    start_trace,
    wait_trace,
)
from trailguard.demo.script.preservation import nl_preservation_body
from trailguard.trace.orm import AnswerRow, HopRow, TraceRow

BEFORE = 6  # the demo's steps 1-6: network, directory, ping, law, ingest, the victim's log


# --- the cluster ----------------------------------------------------------------------------


class Cluster:
    """Five fresh nodes on loopback, on the scenario's clock, after the demo's steps 1-6."""

    def __init__(self, name: str, wait_s: float = 60.0) -> None:
        root = Path(tempfile.mkdtemp(prefix=f"trailguard-bench-trace-{name}-"))
        self.cluster = DemoCluster(root, SCENARIO_NODES)
        self.ctx = DemoContext(cluster=self.cluster, console=Console(quiet=True), wait_s=wait_s)

    def __enter__(self) -> DemoContext:
        for step in STEPS[:BEFORE]:
            for _ in step.run(self.ctx):
                pass
        return self.ctx

    def __exit__(self, *_exc: object) -> None:
        self.cluster.stop()


class Stages:
    """Wall and CPU time of each stage, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def mark(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.rows.append((stage, wall - self._wall, cpu - self._cpu))
        self._wall, self._cpu = wall, cpu

    @property
    def wall(self) -> float:
        return sum(w for _, w, _ in self.rows)

    @property
    def cpu(self) -> float:
        return sum(c for _, _, c in self.rows)


# --- (a) the reference trace, automatic approval ------------------------------------------


def reference_trace(ctx: DemoContext, stages: Stages, reference: str = "US-2026-NJ") -> dict:
    """From the victim's log line to the subscriber preserved, through the trace with the
    recorded auto-send policy; the requested side's people act as in the demo."""
    case, observation = open_case(ctx, reference)
    stages.mark("US: investigation opened from the victim's log line")
    record_custodians(ctx)
    started = start_trace(ctx, case, observation, auto_send=True)
    hop1 = started["hops"][0]
    expect(hop1["state"] == "sent", f"hop 1 is {hop1['state']}: {hop1['next_action']}")
    stages.mark("US: trace started; hop 1 decided, drafted, auto-sent to NL")
    copy = forward_at_poc(ctx, NL, "noor.visser", hop1["request_id"], POLDERHOST, "pim.dekker")
    stages.mark("NL: received, acknowledged, forwarded to Polderhost")
    polderhost_preserve(ctx, copy, hop1["request_reference"])
    wait_trace(ctx, started["id"], lambda t: t["hops"][0]["state"] == "preserved", "hop 1")
    stages.mark("Polderhost: look-up, hold, preserved; US hop 1 preserved (pushed)")
    sent = polderhost_discloses(ctx, copy)
    stages.mark("Polderhost: Art. 30 disclosure prepared from its look-up, sent to NL")
    nl_releases_disclosure(ctx, copy)
    stages.mark("NL: disclosure drafted from Polderhost's answer, approved, sent")
    moved = wait_trace(
        ctx,
        started["id"],
        lambda t: len(t["hops"]) == 2 and t["hops"][1]["state"] == "sent",
        "hop 2 auto-sent",
    )
    hop2 = moved["hops"][1]
    stages.mark("US: trace advanced (pushed); hop 2 drafted, auto-sent to BR")
    rio_copy = forward_at_poc(ctx, BR, "bruna.alves", hop2["request_id"], RIO, "rafael.costa")
    stages.mark("BR: received, acknowledged, forwarded to Rio Litoral")
    start = sent["body"]["path"][0]["source"]["timestamp"]
    rio_preserve(ctx, rio_copy, hop2["request_reference"], start)
    stages.mark("Rio Litoral: CGNAT + RADIUS look-up, hold, preserved")
    ended = wait_trace(ctx, started["id"], lambda t: t["state"] != "open", "the end")
    expect(ended["state"] == "subscriber", f"the trace ended {ended['state']}")
    stages.mark("US: trace ends at the subscriber, records preserved (pushed)")
    return ended


# --- (b) the same steps by hand through the request API ----------------------------------


def by_hand(ctx: DemoContext, stages: Stages) -> None:
    """The demo's path before the trace: each request and the Art. 30 body typed by hand,
    four eyes on each; the requested side's people act through the same acts."""
    us, nl = ctx.cluster[US], ctx.cluster[NL]
    iris, dan = us.as_user("iris.reed"), us.as_user("dan.cole")
    body = nl_preservation_body()
    draft = _json(
        iris.post(
            "/api/requests",
            json={"body": body, "recipient": NL, "retention_days": {"flow": 30}},
        ),
        "draft",
    )
    _json(dan.post(f"/api/requests/{draft['id']}/approve"), "approve")
    _json(dan.post(f"/api/requests/{draft['id']}/send", json={}), "send")
    stages.mark("US: NL preservation drafted by hand, approved, sent")
    copy = forward_at_poc(ctx, NL, "noor.visser", draft["id"], POLDERHOST, "pim.dekker")
    stages.mark("NL: received, acknowledged, forwarded to Polderhost")
    done = polderhost_preserve(ctx, copy, body["reference"])
    wait_for(
        lambda: _json(dan.get(f"/api/requests/{draft['id']}"), "US")["state"] == "preserved",
        timeout=ctx.wait_s,
        what="US preserved",
    )
    stages.mark("Polderhost: look-up, hold, preserved; US sees it")
    ssh = done["inbound"]
    found = _json(
        nl.as_user("noor.visser").get(
            "/api/directory/lookup", params={"ip": data.ATTACKER_PUBLIC_IP}
        ),
        "prefix lookup",
    )
    match = found["match"]
    art30 = _art30_by_hand(body["reference"], match, ssh, ctx)
    disclosure = _json(
        nl.as_user("noor.visser").post("/api/requests", json={"body": art30, "recipient": US}),
        "draft Art. 30",
    )
    _json(nl.as_user("joost.bakker").post(f"/api/requests/{disclosure['id']}/approve"), "ok")
    _json(nl.as_user("noor.visser").post(f"/api/requests/{disclosure['id']}/send", json={}), "s")
    wait_for(
        lambda: _maybe(dan, f"/api/requests/{disclosure['id']}"),
        timeout=ctx.wait_s,
        what="the disclosure at US",
    )
    stages.mark("NL: Art. 30 body typed by hand from the flows, approved, sent; US holds it")
    start = ssh["start"] if isinstance(ssh["start"], str) else ssh["start"].isoformat()
    br_body = _preservation_body(
        reference="US-2026-NJ-002",
        requested="BR",
        requested_authority="Brazil 24/7 point of contact",
        endpoint={
            "type": "ip_endpoint",
            "ip": data.ATTACKER_PUBLIC_IP,
            "port": data.ATTACKER_PUBLIC_PORT,
            "timestamp": start,
            "protocol": "tcp",
            "destination_port": 22,
        },
        custodian="Rio Litoral Telecom (residential ISP, CGNAT pool 203.0.113.0/24)",
        relationship="The SSH session that drove the login came from this address and port.",
        necessity="Rio Litoral keeps NAT logs for 90 days; they are deleted on 2027-02-18.",
        data_kinds=["port_block", "radius"],
    )
    br = _json(
        iris.post(
            "/api/requests",
            json={
                "body": br_body,
                "recipient": BR,
                "retention_days": {"port_block": 90, "radius": 365},
            },
        ),
        "draft BR",
    )
    _json(dan.post(f"/api/requests/{br['id']}/approve"), "approve")
    _json(dan.post(f"/api/requests/{br['id']}/send", json={}), "send")
    stages.mark("US: BR preservation drafted by hand from the disclosure, approved, sent")
    rio_copy = forward_at_poc(ctx, BR, "bruna.alves", br["id"], RIO, "rafael.costa")
    stages.mark("BR: received, acknowledged, forwarded to Rio Litoral")
    rio_preserve(ctx, rio_copy, br_body["reference"], start)
    wait_for(
        lambda: _json(dan.get(f"/api/requests/{br['id']}"), "US")["state"] == "preserved",
        timeout=ctx.wait_s,
        what="US preserved",
    )
    stages.mark("Rio Litoral: look-up, hold, preserved; US sees it")


def _art30_by_hand(reference: str, match: dict, ssh: dict, ctx: DemoContext) -> dict:
    start = ssh["start"] if isinstance(ssh["start"], str) else ssh["start"].isoformat()
    endpoint = {"type": "ip_endpoint", "timestamp": start, "protocol": "tcp"}
    return {
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
        "in_response_to": reference,
        "provider_in_other_state": {
            "name": match["entry"]["organisation"],
            "country": match["entry"]["country"],
            "identifiers": [match["prefix"]],
        },
        "path": [
            {
                "source": {
                    **endpoint,
                    "ip": data.ATTACKER_PUBLIC_IP,
                    "port": data.ATTACKER_PUBLIC_PORT,
                },
                "destination": {**endpoint, "ip": data.VPS_IP, "port": 22},
                "observed_by": "Polderhost B.V. flow records",
            }
        ],
        "traffic_data": [
            f"{start} {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} -> {data.VPS_IP}:22"
        ],
        "third_country_notice": "The communication came from a provider in Brazil "
        "(Rio Litoral Telecom); send a preservation request to BR.",
    }


# --- (c) many traces at once ----------------------------------------------------------------


def many_traces(ctx: DemoContext, count: int, workers: int) -> dict[str, Any]:
    """``count`` traces, each its own investigation (so each hop's request has its own
    reference), driven end to end by ``workers`` threads through the same acts."""
    errors: list[str] = []
    lock = threading.Lock()

    finished = [0]

    def one(index: int) -> None:
        try:
            reference_trace(ctx, Stages(), reference=f"US-BENCH-{index:05d}")
        except Exception as exc:  # a failed trace is counted and shown, the others go on
            with lock:
                errors.append(f"{index}: {type(exc).__name__}: {exc}"[:300])
        with lock:
            finished[0] += 1
            if finished[0] % 50 == 0:  # progress, so that a run stopped early still tells
                print(
                    f"  ... {finished[0]} traces done: wall {time.perf_counter() - wall:.0f} s, "
                    f"CPU {time.process_time() - cpu:.0f} s, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-trace") as pool:
        list(pool.map(one, range(count)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_hop = _hop_latencies(ctx)
    return {"count": count, "wall_s": wall, "cpu_s": cpu, "errors": errors, "hops": per_hop}


def _hop_latencies(ctx: DemoContext) -> dict[int, list[float]]:
    """Per hop, seconds on the US node's clock from the hop's creation (the trace started, or
    the disclosure arrived) to its preservation being recorded (pushed)."""
    node = ctx.cluster[US].node
    latencies: dict[int, list[float]] = {}
    with node.db.session() as session:
        rows = session.execute(
            select(HopRow.seq, HopRow.created_at, AnswerRow.recorded_at)
            .join(AnswerRow, AnswerRow.hop_id == HopRow.id)
            .join(TraceRow, TraceRow.id == HopRow.trace_id)
            .where(AnswerRow.kind == "preserved")
        ).all()
    for seq, created, recorded in rows:
        latencies.setdefault(seq, []).append((recorded - created).total_seconds())
    return latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# --- the run ----------------------------------------------------------------------------------


def machine() -> str:
    load = os.getloadavg()
    cpus = os.cpu_count()
    return (
        f"{platform.machine()}, {cpus} vCPU(s), Python {platform.python_version()}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )


def show(title: str, stages: Stages) -> None:
    print(f"\n{title}: wall {stages.wall:.2f} s, CPU {stages.cpu:.2f} s")
    for stage, wall, cpu in stages.rows:
        print(f"  wall {wall:7.3f} s  cpu {cpu:7.3f} s  {stage}")


def timed(run: Callable[[DemoContext, Stages], Any], name: str) -> Stages:
    with Cluster(name) as ctx:
        stages = Stages()
        run(ctx, stages)
        return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--traces", type=int, default=1000, help="traces at once in (c)")
    parser.add_argument("--workers", type=int, default=8, help="threads driving (c)")
    parser.add_argument("--skip-many", action="store_true", help="run (a) and (b) only")
    args = parser.parse_args()
    previous = set_default_clock(ShiftedClock(SCENARIO_START))
    try:
        print(f"machine: {machine()}  ({datetime.now().astimezone():%Y-%m-%d %H:%M %Z})")
        auto = timed(reference_trace, "auto")
        show("(a) reference trace, automatic approval policy", auto)
        hand = timed(by_hand, "hand")
        show("(b) the same steps by hand through the request API", hand)
        print(
            f"\nratio by hand / trace: wall {hand.wall / auto.wall:.2f}x, "
            f"CPU {hand.cpu / auto.cpu:.2f}x; target: the trace under 5 s of machine time "
            f"({'met' if auto.cpu < 5 else 'NOT met'}: {auto.cpu:.2f} s CPU)"
        )
        print(f"machine after (a)+(b): {machine()}")
        if args.skip_many:
            return
        with Cluster("many", wait_s=3600) as ctx:
            result = many_traces(ctx, args.traces, args.workers)
        done = result["count"] - len(result["errors"])
        print(
            f"\n(c) {result['count']} traces at once ({args.workers} driving threads): "
            f"{done} ended at the subscriber in wall {result['wall_s']:.1f} s, CPU "
            f"{result['cpu_s']:.1f} s: {done / result['wall_s']:.2f} traces/s "
            f"({result['cpu_s'] / max(done, 1):.2f} s CPU per trace)"
        )
        for seq, values in sorted(result["hops"].items()):
            print(
                f"  hop {seq}: {len(values)} preserved; created -> preserved at US: "
                f"median {statistics.median(values):.2f} s, p99 {p99(values):.2f} s, "
                f"max {max(values):.2f} s"
            )
        for error in result["errors"][:5]:
            print(f"  failed: {error}")
        print(f"machine after (c): {machine()}")
    finally:
        set_default_clock(previous)


if __name__ == "__main__":
    main()
