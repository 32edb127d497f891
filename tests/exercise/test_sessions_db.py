"""Exercise sessions in the database, on SQLite and PostgreSQL: opened, concluded once,
scored and audited; unknown ids and other trainees' sessions refused; a node whose network is
another scenario's refuses the session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from helpers import make_node
from trailguard.accounts import Principal, Role
from trailguard.audit import recent
from trailguard.core.clock import FixedClock
from trailguard.core.config import ExerciseSettings, load_config, save_config
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.exercise import generate
from trailguard.exercise.service import (
    conclude,
    get_session,
    list_sessions,
    open_session,
    score_session,
)
from trailguard.law import get_engine
from trailguard.node import Node
from trailguard.registry import open_node

SCENARIO = generate(6, "normal", get_engine())


def _who(username: str, *roles: Role) -> Principal:
    return Principal(user_id=1, username=username, display_name=username, roles=frozenset(roles))


TRAINEE = _who("tess", Role.INVESTIGATOR)
OTHER = _who("otto", Role.INVESTIGATOR)
TRAINER = _who("tara", Role.ADMIN)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    clock = FixedClock(SCENARIO.starts_at)
    first = make_node(tmp_path, database_url, clock=clock)
    first.close()
    data_dir = tmp_path / "nl-poc"
    config = load_config(data_dir)
    settings = ExerciseSettings(network=SCENARIO.network, seed=SCENARIO.seed, clock_rate=60)
    save_config(data_dir, config.model_copy(update={"exercise": settings}))
    opened = open_node(data_dir, clock=clock, database_url=database_url)
    try:
        yield opened
    finally:
        opened.close()


def test_session_lifecycle(node: Node) -> None:
    session_id = open_session(node, SCENARIO, trainee="tess", actor="system:test")
    view = get_session(node, TRAINEE, session_id)
    assert view.state == "running" and view.scenario == SCENARIO
    assert [v.id for v in list_sessions(node, TRAINEE)] == [session_id]
    assert list_sessions(node, OTHER) == []
    with pytest.raises(PermissionDenied):
        get_session(node, OTHER, session_id)
    with pytest.raises(Conflict, match="conclude"):
        score_session(node, TRAINEE, session_id)
    with pytest.raises(ValidationFailed):
        conclude(node, TRAINEE, session_id, end="nowhere")
    assert get_session(node, TRAINEE, session_id).state == "running"
    node.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    concluded = conclude(node, TRAINEE, session_id, end="dead_end", country="jp")
    assert concluded.state == "concluded" and concluded.conclusion is not None
    assert concluded.conclusion.country == "JP"
    with pytest.raises(Conflict, match="concluded already"):
        conclude(node, TRAINEE, session_id, end="dead_end")
    scored = score_session(node, TRAINEE, session_id)
    assert scored.state == "scored" and scored.score is not None
    assert scored.score.axes["timeliness"] == 0.0  # nothing was sent
    with node.db.session() as session:
        actions = [entry.action for entry in recent(session, limit=20)]
    for action in ("exercise.session_opened", "exercise.concluded", "exercise.scored"):
        assert action in actions
    assert [v.id for v in list_sessions(node, TRAINER)] == [session_id]


@pytest.mark.parametrize("session_id", ["00000000-0000-4000-8000-000000000000", "../x", ""])
def test_unknown_session(node: Node, session_id: str) -> None:
    with pytest.raises(NotFound):
        get_session(node, TRAINER, session_id)


def test_session_of_another_exercise_is_refused(node: Node) -> None:
    other = generate(7, "normal", get_engine())
    with pytest.raises(Conflict, match="belongs to"):
        open_session(node, other, trainee="tess", actor="system:test")
