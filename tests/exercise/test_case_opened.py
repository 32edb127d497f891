"""The trainee starts from an investigation, as at work: ``exercise start`` opens one in the
trainee's name with the victim's evidence read into observations (log lines through the
traffic parsers, the mail's Received: chain) for every kind of evidence the generator writes;
the same evidence pasted by hand into the investigation's page is read the same way."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from exercise_kit import principal

from trailguard.core.clock import FixedClock, set_default_clock
from trailguard.exercise import generate
from trailguard.exercise.play import TRAINEE, ExerciseCluster
from trailguard.exercise.service import open_case, open_session
from trailguard.investigations import get_investigation, list_investigations
from trailguard.law import get_engine


def _seed_of_kind(kind: str) -> int:
    engine = get_engine()
    for seed in range(1, 200):
        if generate(seed, "normal", engine).evidence.kind == kind:
            return seed
    raise AssertionError(f"no seed below 200 gives {kind} evidence")


@pytest.mark.parametrize("kind", ["web_access", "mail_headers", "flow"])
def test_the_case_holds_the_victims_evidence(tmp_path: Path, kind: str) -> None:
    scenario = generate(_seed_of_kind(kind), "normal", get_engine())
    clock = FixedClock(scenario.starts_at)
    previous = set_default_clock(clock)
    cluster = ExerciseCluster(tmp_path, scenario, clock_rate=1.0, counterpart_people=False)
    try:
        cluster.create()
        node = cluster.trainee.node
        session_id = open_session(node, scenario, trainee=TRAINEE, actor="system:test")
        case_id = open_case(node, scenario, trainee=TRAINEE, session_id=session_id)
        trainee = principal(node, TRAINEE)
        assert [c.id for c in list_investigations(node, trainee)] == [case_id]
        case = get_investigation(node, trainee, case_id)
        assert case.reference.startswith(f"EX-{scenario.seed}-")
        assert case.title.startswith("EXERCISE:") and scenario.conduct in case.conduct
        first = scenario.hops[0]
        seen = [o for o in case.observations if o.ip == first.ip]
        assert seen, [o.ip for o in case.observations]
        # the first hop's address (and its port where the log has one: the Received: reader
        # keeps no port, "[address]:port" as Exim writes it is read as the address) at its
        # instant, kept in UTC
        if kind != "mail_headers":
            assert any(o.port == first.port for o in seen), [(o.ip, o.port) for o in seen]
        at = seen[0].at
        assert isinstance(at, datetime) and at.utcoffset() is not None
        assert abs((at - first.at).total_seconds()) <= 1, (at, first.at)
    finally:
        set_default_clock(previous)
        cluster.stop()
