"""Helpers of the exercise tests (a module of its own name: ``from conftest import`` gives
whichever conftest.py pytest loaded last)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from trailguard.accounts import Principal, get_user, principal_of
from trailguard.core.clock import FixedClock, set_default_clock
from trailguard.exercise import Scenario, generate
from trailguard.exercise.domain.scenario import HopKey
from trailguard.exercise.play import TRAINEE, TRAINER, ExerciseCluster
from trailguard.exercise.selftest import play_careful
from trailguard.exercise.service import open_session, score_session
from trailguard.law import get_engine
from trailguard.node import Node

T = TypeVar("T")


def first_found(
    draws: Iterable[tuple[int, str]], pick: Callable[[Scenario], T | None], missing: str
) -> T:
    """What ``pick`` finds in the first generated scenario (seed and level in ``draws``'
    order) where it finds anything; fails saying ``missing`` if none has it."""
    engine = get_engine()
    for seed, level in draws:
        found = pick(generate(seed, level, engine))
        if found:
            return found
    raise AssertionError(missing)


@dataclass
class Played:
    cluster: ExerciseCluster
    scenario: Scenario
    clock: FixedClock
    scored: str  # a session played carefully and scored
    running: str  # a session still running

    @property
    def node(self) -> Node:
        return self.cluster.trainee.node

    def password(self, username: str) -> str:
        return self.cluster.trainee.people[username].password


def principal(node: Node, username: str) -> Principal:
    with node.db.session() as session:
        return principal_of(get_user(session, username))


@contextmanager
def played(root: Path, seed: int = 3, level: str = "normal") -> Iterator[Played]:
    """The trainee's node and the counterparts (not served), one session played carefully
    by the trainee and scored, another opened and left running."""
    scenario = generate(seed, level, get_engine())
    clock = FixedClock(scenario.starts_at)
    previous = set_default_clock(clock)
    cluster = ExerciseCluster(root, scenario, clock_rate=1.0, counterpart_people=False)
    try:
        cluster.create()
        cluster.exchange_directories()
        node = cluster.trainee.node
        scored = open_session(node, scenario, trainee=TRAINEE, actor="system:test")
        play_careful(node, clock, scenario, scored, TRAINEE)
        score_session(node, principal(node, TRAINER), scored)
        clock.advance(timedelta(minutes=1))
        running = open_session(node, scenario, trainee=TRAINEE, actor="system:test")
        yield Played(cluster, scenario, clock, scored, running)
    finally:
        set_default_clock(previous)
        cluster.stop()


@dataclass
class Stocked:
    cluster: ExerciseCluster
    clock: FixedClock
    stored: dict[str, dict[str, int]]  # per counterpart node, rows written per log format


@contextmanager
def stocked(root: Path, scenario: Scenario) -> Iterator[Stocked]:
    """The scenario's nodes created, their directories exchanged and the providers' logs
    written into the counterparts' stores, on a FixedClock at the scenario's start (the
    default clock while it lasts). Not yet served: the caller looks at the stores, opens what
    it needs, then calls ``cluster.start()``."""
    clock = FixedClock(scenario.starts_at)
    previous = set_default_clock(clock)
    cluster = ExerciseCluster(root, scenario, clock_rate=1.0)
    try:
        cluster.create()
        cluster.exchange_directories()
        stored = cluster.write_stores()
        yield Stocked(cluster, clock, stored)
    finally:
        set_default_clock(previous)
        cluster.stop()


def send_draft(cluster: ExerciseCluster, body: dict[str, Any], recipient: str) -> str:
    """The trainee drafts ``body`` to ``recipient``; the draft's id."""
    trainee = cluster.trainee.as_user(TRAINEE)
    draft = trainee.post("/api/requests", json={"body": body, "recipient": recipient})
    assert draft.status_code == 201, draft.text
    return str(draft.json()["id"])


def answered(trainee: httpx.Client, request_id: str) -> dict[str, Any]:
    """The trainee's view of the request once its counterpart has answered (preserved or
    partially preserved)."""
    return dict(
        wait_for(
            "the answer",
            lambda: (
                (v := trainee.get(f"/api/requests/{request_id}").json())["state"]
                in ("preserved", "partially_preserved")
                and v
            ),
        )
    )


def local_time(hop: HopKey, at: datetime) -> str:
    """``at`` as the hop's evidence writes it: local time with the offset of the zone the
    record was written in."""
    return at.astimezone(ZoneInfo(hop.source_zone)).isoformat()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """``check()``'s first true value, polled; the timeout bounds a failure only (the nodes
    deliver in their own threads), nothing is asserted about time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
