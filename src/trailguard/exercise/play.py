"""Playing a scenario: the trainee's node and the simulated counterpart nodes on loopback, each
a real node (own data directory, keys, SQLite database, HTTP server, delivery worker) carrying
the scenario's exercise settings in its ``node.toml`` (its own network id), the counterparts'
traffic stores written from the scenario (``provider_logs``: a flow probe's log, or a CGN's
translation log and RADIUS accounting), and the counterparts' duty officers simulated, on the
compressed clock: they acknowledge, look the request's address, time and port up in their own
store (``look_up``: what they find, not the answer key, decides what is preserved and who is
named), preserve what they found (a real hold on their store), disclose the next hop (Art. 30)
or refuse. Whether a country refuses, whether the records are past their retention and where
the path goes on are the scenario's (the story), not found in the store.

The nodes are built like the demo's (``trailguard.demo.cluster``); everything the simulated
people do goes through the nodes' HTTP API, as a person's browser would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailguard.exercise.cluster import (
    DUTY,
    DUTY2,
    STATE_FILE,
    SUPERVISOR,
    TRAINEE,
    TRAINER,
    ExerciseCluster,
    counterpart_spec,
    provider_spec,
    trainee_spec,
)
from trailguard.exercise.counterparts import Counterparts, look_up
from trailguard.exercise.domain.scenario import Scenario
from trailguard.exercise.service import open_case, open_session

__all__ = [
    "DUTY",
    "DUTY2",
    "STATE_FILE",
    "SUPERVISOR",
    "TRAINEE",
    "TRAINER",
    "Counterparts",
    "ExerciseCluster",
    "RunningExercise",
    "counterpart_spec",
    "look_up",
    "provider_spec",
    "read_state",
    "start_exercise",
    "trainee_spec",
]

# --- running an exercise ----------------------------------------------------------------


@dataclass
class RunningExercise:
    cluster: ExerciseCluster
    counterparts: Counterparts
    session_id: str
    state_file: Path

    def stop(self) -> None:
        self.counterparts.stop()
        self.cluster.stop()


def start_exercise(
    scenario: Scenario, root: Path, *, clock_rate: float, pid: int, interval: float = 0.5
) -> RunningExercise:
    """Create and serve the nodes, write the counterparts' stores, open the trainee's session
    and start the simulated counterparts. The caller installs the compressed clock first
    (``set_default_clock(ScaledClock(scenario.starts_at, clock_rate))``) and stops it."""
    cluster = ExerciseCluster(root, scenario, clock_rate=clock_rate)
    counterparts = Counterparts(cluster, interval=interval)
    try:
        cluster.create()
        cluster.exchange_directories()
        cluster.write_stores()
        session_id = open_session(
            cluster.trainee.node, scenario, trainee=TRAINEE, actor="system:exercise"
        )
        open_case(cluster.trainee.node, scenario, trainee=TRAINEE, session_id=session_id)
        cluster.start()
        counterparts.start()
    except BaseException:
        counterparts.stop()
        cluster.stop()
        raise
    state_file = cluster.save_state(session_id, pid)
    return RunningExercise(cluster, counterparts, session_id, state_file)


def read_state(root: Path) -> dict[str, Any]:
    path = root / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{root} holds no exercise ({STATE_FILE} missing)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
