"""Playing a scenario on loopback: the trainee's node and the simulated counterparts served
over HTTP, each carrying the scenario's exercise settings; a scripted trainee works through
the trainee node's JSON API (draft, the simulated supervisor approves, send), the counterparts
acknowledge, preserve on their traffic stores and disclose the next hop (Art. 30); the trainee
follows the disclosed path, concludes, and is scored. The clock is compressed; waits are
bounded for failure only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exercise_kit import wait_for

from trailguard.core.clock import FixedClock, ScaledClock, set_default_clock
from trailguard.core.config import load_config
from trailguard.exercise import generate
from trailguard.exercise.play import TRAINEE, RunningExercise, read_state, start_exercise
from trailguard.exercise.selftest import preservation_body
from trailguard.law import get_engine

RATE = 3000.0  # a simulated day is under half a real minute


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningExercise]:
    scenario = generate(3, "normal", get_engine())  # US relay, then JP with the subscriber
    previous = set_default_clock(ScaledClock(scenario.starts_at, RATE))
    exercise = start_exercise(scenario, tmp_path / "ex", clock_rate=RATE, pid=1, interval=0.2)
    try:
        yield exercise
    finally:
        exercise.stop()
        set_default_clock(previous)


def test_every_node_is_on_the_exercise_network(running: RunningExercise) -> None:
    scenario = running.cluster.scenario
    state = read_state(running.cluster.root)
    assert state["network"] == scenario.network and state["session"] == running.session_id
    assert set(state["nodes"]) == {scenario.trainee_node_id, "us-poc", "jp-poc"}
    for where in state["nodes"].values():
        config = load_config(Path(where["data_dir"]))
        assert config.is_exercise and config.network_name == scenario.network
        assert config.exercise is not None and config.exercise.seed == scenario.seed
        assert config.exercise.clock_rate == RATE


def test_a_scripted_trainee_plays_to_the_end(running: RunningExercise) -> None:
    cluster = running.cluster
    scenario = cluster.scenario
    trainee = cluster.trainee.as_user(TRAINEE)
    first, second = scenario.hops

    def send(body: dict[str, Any], recipient: str) -> str:
        draft = trainee.post("/api/requests", json={"body": body, "recipient": recipient})
        assert draft.status_code == 201, draft.text
        request_id = draft.json()["id"]
        wait_for(
            "the supervisor's approval",
            lambda: trainee.get(f"/api/requests/{request_id}").json()["state"] == "approved",
        )
        sent = trainee.post(f"/api/requests/{request_id}/send", json={})
        assert sent.status_code == 200, sent.text
        return request_id

    first_id = send(preservation_body(scenario, first, issued=scenario.starts_at), "us-poc")

    def disclosure() -> dict[str, Any] | None:
        inbound = trainee.get("/api/requests", params={"direction": "inbound"}).json()
        found = [r for r in inbound if r["kind"] == "expedited_disclosure"]
        return found[0] if found else None

    art30 = wait_for("the Art. 30 disclosure from the US", disclosure)
    body = art30["body"]
    assert body["provider_in_other_state"]["country"] == second.country
    source = body["path"][0]["source"]
    assert (source["ip"], source["port"]) == (second.ip, second.port)
    assert datetime.fromisoformat(source["timestamp"].replace("Z", "+00:00")) == second.at
    view = trainee.get(f"/api/requests/{first_id}").json()
    assert view["state"] == "preserved" and view["hold_digest"]

    second_id = send(preservation_body(scenario, second, issued=scenario.starts_at), "jp-poc")
    preserved = wait_for(
        "JP's preservation",
        lambda: (
            (v := trainee.get(f"/api/requests/{second_id}").json())["state"] == "preserved" and v
        ),
    )
    assert scenario.subscriber and scenario.subscriber in preserved["preserved_summary"]

    concluded = trainee.post(
        f"/api/exercise/sessions/{running.session_id}/conclude",
        json={"end": "subscriber", "subscriber": scenario.subscriber, "country": second.country},
    )
    assert concluded.status_code == 200, concluded.text
    result = concluded.json()
    assert result["state"] == "scored"
    assert result["axes"]["legal"] == 100.0
    assert result["axes"]["completeness"] == 100.0
    assert result["axes"]["handling"] == 100.0
    assert result["axes"]["trail"] == 100.0
    assert result["axes"]["timeliness"] == 100.0
    debrief = trainee.get(f"/api/exercise/sessions/{running.session_id}/debrief").json()
    theirs = [e["text"] for e in debrief["timeline"] if e["who"] == "counterpart"]
    assert any(text.startswith("us-poc:") and text.endswith("preserved") for text in theirs)
    assert any(text.startswith("jp-poc:") and text.endswith("acknowledged") for text in theirs)


def test_counterparts_refuse_the_wrong_channel(running: RunningExercise) -> None:
    cluster = running.cluster
    scenario = cluster.scenario
    trainee = cluster.trainee.as_user(TRAINEE)
    first = scenario.hops[0]
    from trailguard.exercise.selftest import mla_body

    draft = trainee.post(
        "/api/requests",
        json={"body": mla_body(scenario, first, issued=scenario.starts_at), "recipient": "us-poc"},
    )
    if draft.status_code != 201:
        pytest.skip(f"an MLA request cannot be drafted here: {draft.text[:200]}")
    request_id = draft.json()["id"]
    wait_for(
        "approval", lambda: trainee.get(f"/api/requests/{request_id}").json()["state"] == "approved"
    )
    sent = trainee.post(f"/api/requests/{request_id}/send", json={})
    if sent.status_code != 200:
        pytest.skip(f"an MLA request cannot go to a 24/7 point of contact: {sent.text[:200]}")
    refused = wait_for(
        "the refusal",
        lambda: (
            (v := trainee.get(f"/api/requests/{request_id}").json())["state"] == "refused" and v
        ),
    )
    assert refused["refusal_ground"] == "requested_party_law"


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[RunningExercise, FixedClock]]:
    """The same nodes on a clock that moves only when the test says."""
    scenario = generate(2, "hard", get_engine())  # US relay, then DE refuses
    clock = FixedClock(scenario.starts_at)
    previous = set_default_clock(clock)
    exercise = start_exercise(scenario, tmp_path / "ex", clock_rate=1.0, pid=1, interval=0.2)
    try:
        yield exercise, clock
    finally:
        exercise.stop()
        set_default_clock(previous)


def _send_andwait_for(exercise: RunningExercise, body: dict[str, Any], recipient: str) -> str:
    trainee = exercise.cluster.trainee.as_user(TRAINEE)
    draft = trainee.post("/api/requests", json={"body": body, "recipient": recipient})
    assert draft.status_code == 201, draft.text
    request_id = draft.json()["id"]
    wait_for(
        "approval",
        lambda: trainee.get(f"/api/requests/{request_id}").json()["state"] == "approved",
    )
    assert trainee.post(f"/api/requests/{request_id}/send", json={}).status_code == 200
    counterpart = exercise.cluster.nodes[recipient].as_user("duty")
    wait_for("delivery", lambda: counterpart.get(f"/api/requests/{request_id}").status_code == 200)
    return request_id


def test_late_request_is_answered_records_deleted(
    held: tuple[RunningExercise, FixedClock],
) -> None:
    exercise, clock = held
    scenario = exercise.cluster.scenario
    first = scenario.hops[0]
    clock.set(first.dies_at + timedelta(hours=1))
    request_id = _send_andwait_for(
        exercise, preservation_body(scenario, first, issued=clock.now()), first.node_id or ""
    )
    clock.advance(timedelta(hours=3))  # the counterpart's duty officer gets to it
    trainee = exercise.cluster.trainee.as_user(TRAINEE)
    view = wait_for(
        "the Art. 29(6) answer",
        lambda: (
            (v := trainee.get(f"/api/requests/{request_id}").json())["state"]
            == "cannot_ensure_availability"
            and v
        ),
    )
    assert any("deleted" in (t.get("reason") or "") for t in view["transitions"])


def test_refusal_ends_the_trail(held: tuple[RunningExercise, FixedClock]) -> None:
    exercise, clock = held
    scenario = exercise.cluster.scenario
    first, second = scenario.hops
    assert second.outcome == "refuse"
    trainee = exercise.cluster.trainee.as_user(TRAINEE)
    clock.advance(timedelta(minutes=10))
    _send_andwait_for(exercise, preservation_body(scenario, first, issued=clock.now()), "us-poc")
    clock.advance(timedelta(hours=3))
    wait_for(
        "the Art. 30 disclosure",
        lambda: any(
            r["kind"] == "expedited_disclosure"
            for r in trainee.get("/api/requests", params={"direction": "inbound"}).json()
        ),
    )
    second_id = _send_andwait_for(
        exercise, preservation_body(scenario, second, issued=clock.now()), "de-poc"
    )
    clock.advance(timedelta(hours=3))
    refused = wait_for(
        "the refusal",
        lambda: (v := trainee.get(f"/api/requests/{second_id}").json())["state"] == "refused" and v,
    )
    assert refused["refusal_ground"] == "essential_interests"
    done = trainee.post(
        f"/api/exercise/sessions/{exercise.session_id}/conclude",
        json={"end": "refuse", "country": second.country},
    ).json()
    assert done["axes"]["trail"] == 100.0 and done["axes"]["timeliness"] == 100.0
