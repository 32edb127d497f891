"""``trailguard exercise``: generate a scenario, start one on loopback (the trainee's node and
the simulated counterparts, on a compressed clock), its status, stop it, and the selftest
(careful against careless trainee)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from trailguard.cli_support import fail
from trailguard.core.clock import ScaledClock, isoformat_z, set_default_clock
from trailguard.core.config import ExerciseSettings, config_problems
from trailguard.core.errors import TrailguardError, ValidationFailed
from trailguard.exercise import service
from trailguard.exercise.domain.scenario import Difficulty, check_seed, generate, parse_difficulty
from trailguard.exercise.domain.scoring import AXES
from trailguard.exercise.play import STATE_FILE, TRAINEE, TRAINER, read_state, start_exercise
from trailguard.exercise.selftest import run_selftest
from trailguard.law import get_engine
from trailguard.registry import open_node

app = typer.Typer(
    help="Training: generated scenarios on loopback nodes, scored with a debrief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

Seed = Annotated[str, typer.Option("--seed", help="The scenario's seed (a whole number).")]
Level = Annotated[str, typer.Option("--difficulty", help="easy, normal or hard.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _scenario_args(seed: str, difficulty: str) -> tuple[int, Difficulty]:
    try:
        return check_seed(seed), parse_difficulty(difficulty)
    except ValidationFailed as exc:
        raise fail(exc) from exc


@app.command("generate")
def generate_scenario(seed: Seed, difficulty: Level = "normal", as_json: AsJson = False) -> None:
    """Print a scenario with its answer key (for the trainer; the trainee must not see it)."""
    number, level = _scenario_args(seed, difficulty)
    scenario = generate(number, level, get_engine())
    if as_json:
        typer.echo(scenario.model_dump_json(indent=2))
        return
    console.print(f"[bold]{scenario.offence}[/bold] ({scenario.network}, {scenario.as_of})")
    console.print(f"trainee: {scenario.trainee_country}; starts {isoformat_z(scenario.starts_at)}")
    for hop in scenario.hops:
        to = f" to {hop.node_id}" if hop.node_id else ""
        onward = f" (forwards to {hop.provider_node_id})" if hop.provider_node_id else ""
        console.print(
            f"  hop {hop.index}: {hop.ip}:{hop.port} {hop.provider}, {hop.outcome}, channel "
            f"{hop.channel}{to}{onward} ({'; '.join(hop.channel_citations)}), dies "
            f"{isoformat_z(hop.dies_at)}"
        )
    console.print(f"end: {scenario.end_summary}")


@app.command()
def start(
    seed: Seed,
    difficulty: Level = "normal",
    data_dir: Annotated[
        Path | None,
        typer.Option(help="An empty or new folder for the nodes (a temporary one if omitted)."),
    ] = None,
    clock_rate: Annotated[
        float, typer.Option(help="Simulated seconds per real second (1440: a day a minute).")
    ] = 1440.0,
    for_seconds: Annotated[
        float | None, typer.Option(help="Stop by itself after this many real seconds.")
    ] = None,
) -> None:
    """Start the trainee's node and the simulated counterparts; runs until Ctrl-C or
    `trailguard exercise stop`."""
    number, level = _scenario_args(seed, difficulty)
    try:
        ExerciseSettings(network="exercise-check", clock_rate=clock_rate)
    except ValidationError as exc:
        problems = [p.replace("clock_rate", "--clock-rate") for p in config_problems(exc)]
        raise fail(ValidationFailed("; ".join(problems), problems)) from exc
    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="trailguard-exercise-")) if data_dir is None else data_dir
    if not temporary and root.exists() and any(root.iterdir()):
        raise fail(ValidationFailed(f"{root} is not empty; give an empty or new folder"))
    root.mkdir(parents=True, exist_ok=True)
    scenario = generate(number, level, get_engine())
    stop_now = threading.Event()
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop_now.set())
    previous_clock = set_default_clock(ScaledClock(scenario.starts_at, clock_rate))
    running = None
    try:
        running = start_exercise(scenario, root, clock_rate=clock_rate, pid=os.getpid())
        trainee = running.cluster.trainee
        console.print(f"[bold]EXERCISE[/bold] {scenario.network}: {scenario.offence}")
        console.print(
            f"Log in at {trainee.url}/login and open {trainee.url}/exercise/sessions/"
            f"{running.session_id}"
        )
        for username in (TRAINEE, TRAINER):
            person = trainee.people[username]
            roles = ", ".join(role.value for role in person.roles)
            console.print(f"    {username} / {person.password}   ({roles})")
        console.print(
            f"The clock runs {clock_rate:g} times real time from {isoformat_z(scenario.starts_at)}."
            f" The nodes' data: {root}. Stop with Ctrl-C or `trailguard exercise stop "
            f"--data-dir {root}`."
        )
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        while not stop_now.wait(0.5):
            if deadline is not None and time.monotonic() > deadline:
                break
    except KeyboardInterrupt:
        console.print("stopping")
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        if running is not None:
            running.stop()
        set_default_clock(previous_clock)
        signal.signal(signal.SIGTERM, previous_handler)
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@app.command()
def status(
    data_dir: Annotated[Path, typer.Option(help="The folder given to `exercise start`.")],
    as_json: AsJson = False,
) -> None:
    """Whether the exercise runs, where, and its sessions with their scores."""
    try:
        state = read_state(data_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(ValidationFailed(str(exc))) from exc
    node = open_node(Path(state["nodes"][state["trainee_node"]]["data_dir"]))
    try:
        sessions = [view.summary_json() for view in service.all_sessions(node)]
    finally:
        node.close()
    running = _alive(int(state["pid"]))
    answer = {**state, "running": running, "sessions": sessions}
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    console.print(f"{state['network']}: {'running' if running else 'stopped'} (pid {state['pid']})")
    for node_id, where in state["nodes"].items():
        name = f" {where['name']}" if where.get("name") else ""
        onward = f", forwards to {where['forwards_to']}" if where.get("forwards_to") else ""
        console.print(f"  {node_id}: {where['url']}{name}{onward}")
    for item in sessions:
        axes = ", ".join(f"{a} {item['axes'][a]:.0f}" for a in AXES) if item["axes"] else ""
        console.print(
            f"  session {item['id']} {item['trainee']} {item['state']} "
            f"{item['total'] if item['total'] is not None else '-'} {axes}"
        )


@app.command()
def stop(
    data_dir: Annotated[Path, typer.Option(help="The folder given to `exercise start`.")],
) -> None:
    """Stop a running exercise (SIGTERM to the process that started it)."""
    try:
        state = read_state(data_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(ValidationFailed(str(exc))) from exc
    pid = int(state["pid"])
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if b"exercise" not in cmdline.read_bytes():
            raise fail(ValidationFailed(f"process {pid} is not this exercise; not stopping it"))
    if not _alive(pid):
        console.print(f"the exercise in {data_dir} is not running")
        return
    os.kill(pid, signal.SIGTERM)
    console.print(f"stopping the exercise in {data_dir} (pid {pid}); {STATE_FILE} stays")


@app.command()
def selftest(
    seed: Seed,
    difficulty: Level = "normal",
    as_json: AsJson = False,
) -> None:
    """Play the scenario with a scripted careful and a scripted careless trainee and print
    both scores; exit 1 unless the careful one scores higher on every axis."""
    number, level = _scenario_args(seed, difficulty)
    try:
        result = run_selftest(number, level)
    except TrailguardError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        console.print(
            f"{result.scenario.network}: careful {result.careful['total']:.1f}, "
            f"careless {result.careless['total']:.1f}"
        )
        for axis in AXES:
            console.print(
                f"  {axis:13} careful {result.careful['axes'][axis]:5.1f}  "
                f"careless {result.careless['axes'][axis]:5.1f}"
            )
    if not result.careful_higher_everywhere:
        raise typer.Exit(1)
