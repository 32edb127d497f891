"""Runs the Operation Nightjar script: prints each step with its time (UTC and the acting
node's local time) and where to look; with ``--check`` verifies every expectation, shuts the
nodes down and reports success only if all held."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel

from trailguard.core.clock import ShiftedClock, default_clock, set_default_clock
from trailguard.demo.cluster import DemoCluster, StepFailed
from trailguard.demo.data import SCENARIO_START
from trailguard.demo.script import FINAL_STEPS, SCENARIO_NODES, STEPS, DemoContext


def _stamp(zone: str) -> str:
    now = default_clock().now()
    local = now.astimezone(ZoneInfo(zone))
    return f"{now:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"Z · {local:%H:%M:%S %Z} ({zone})"


def run_demo(*, check: bool, data_dir: Path | None, console: Console) -> bool:
    # The story happens on its own dates (the bank's log line of 2026-11-20): every node runs
    # on the scenario's clock, ticking in real time from a moment after the login, so the
    # providers' records are still within retention and the law as of that day applies,
    # whatever today's date is.
    previous = set_default_clock(ShiftedClock(SCENARIO_START))
    try:
        return _run(check=check, data_dir=data_dir, console=console)
    finally:
        set_default_clock(previous)


def _run(*, check: bool, data_dir: Path | None, console: Console) -> bool:
    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="trailguard-demo-")) if data_dir is None else data_dir
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        console.print(f"[red]{data_dir} is not empty; give an empty or new folder[/red]")
        return False
    root.mkdir(parents=True, exist_ok=True)
    cluster = DemoCluster(root, SCENARIO_NODES)
    ctx = DemoContext(cluster=cluster, console=console)
    console.print(
        Panel.fit(
            "Operation Nightjar: a trace from a bank in the US, through a Dutch "
            "hosting provider, towards Brazil.\nEverything is synthetic: "
            "documentation addresses, invented organisations and people.",
            title="trailguard demo",
        )
    )
    passed = 0
    ok = True
    try:
        for number, step in enumerate(STEPS + FINAL_STEPS, start=1):
            started = time.monotonic()
            zone = cluster.nodes[step.actor].spec.timezone if step.actor in cluster.nodes else "UTC"
            console.print(f"\n[bold]{number}. {step.title}[/bold]  [dim]{_stamp(zone)}[/dim]")
            try:
                for line in step.run(ctx):
                    console.print(f"   {line}")
            except StepFailed as exc:
                console.print(f"   [red]FAILED:[/red] {exc}")
                ok = False
                break
            passed += 1
            console.print(f"   [green]ok[/green] [dim]({time.monotonic() - started:.2f} s)[/dim]")
        if ok:
            console.print(f"\n[green]all {passed} steps held[/green]")
        else:
            console.print(f"\n[red]{passed} of {len(STEPS) + len(FINAL_STEPS)} steps held[/red]")
        if not check and ok:
            _print_pages(ctx, console)
            kept = (
                "their data is in a temporary folder removed when they stop (give --data-dir "
                "to keep it)"
                if temporary
                else f"their data stays in {root}"
            )
            console.print(f"\nThe nodes keep running ({kept}); press Ctrl-C to stop them.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopping")
    finally:
        # also on Ctrl-C in the middle of a step: the nodes stop and a temporary folder goes
        cluster.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    return ok


def _print_pages(ctx: DemoContext, console: Console) -> None:
    console.print("\n[bold]Open the nodes in a browser[/bold] (log in with these):")
    for node_id, demo_node in ctx.cluster.nodes.items():
        console.print(f"  {demo_node.spec.name} ({node_id}): {demo_node.url}/")
        for person in demo_node.people.values():
            roles = ", ".join(role.value for role in person.roles)
            console.print(f"      {person.username} / {person.password}   ({roles})")
    for title, url in ctx.pages:
        console.print(f"  {title}: {url}")
