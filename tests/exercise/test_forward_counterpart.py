"""A hop whose country's 24/7 point of contact forwards the preservation to the provider's own
node: the point of contact's node (POC role, no traffic store) acknowledges and forwards; the
provider's node (PROVIDER role, the provider's logs) looks the request up in its store, holds
the records and answers; the answer comes back through the point of contact to the trainee's
node, and the point of contact discloses the next hop (Art. 30). The scenario is found by
generating, never written in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from exercise_kit import first_found, principal, send_draft, stocked, wait_for

from trailguard.core.clock import FixedClock
from trailguard.core.config import NodeRole
from trailguard.exercise import Scenario, generate
from trailguard.exercise.domain.scenario import PROFILES, Difficulty, HopKey
from trailguard.exercise.play import DUTY, TRAINEE, TRAINER, Counterparts, ExerciseCluster
from trailguard.exercise.selftest import preservation_body
from trailguard.exercise.service import open_session, score_session
from trailguard.law import get_engine
from trailguard.traffic import store_for


def _find_scenario() -> tuple[Scenario, HopKey]:
    """The first normal or hard scenario with a forwarded hop whose path goes on (relay)."""
    return first_found(
        [(seed, level) for seed in range(1, 200) for level in ("normal", "hard")],
        lambda scenario: next(
            ((scenario, h) for h in scenario.hops if h.provider_node_id and h.outcome == "relay"),
            None,
        ),
        "no scenario of seeds 1..199 has a forwarded relay hop",
    )


def test_the_forwarding_choice_is_seeded_and_apart_from_the_other_draws() -> None:
    engine = get_engine()
    forwarded = 0
    for seed in range(1, 40):
        for level in ("easy", "normal", "hard"):
            scenario = generate(seed, level, engine)
            assert scenario == generate(seed, level, engine)
            for hop in scenario.hops:
                if hop.provider_node_id is None:
                    continue
                forwarded += 1
                # only a point of contact's hop, one it does not refuse itself, under a
                # handling code that lets it pass the request on
                assert hop.node_id and hop.outcome != "refuse"
                assert scenario.handling_code == "H1"
                assert hop.store_node_id == hop.provider_node_id != hop.node_id
                assert hop.provider_node_id.startswith(hop.country.lower() + "-")
    assert forwarded > 0
    assert PROFILES[Difficulty.EASY].forward == 0.0
    # a hop without forwarding: the point of contact's node holds the store
    easy = generate(1, "easy", engine)
    assert all(h.provider_node_id is None for h in easy.hops)
    assert easy.hops[0].store_node_id == easy.hops[0].node_id


@dataclass
class Game:
    cluster: ExerciseCluster
    scenario: Scenario
    hop: HopKey
    clock: FixedClock
    stored: dict[str, dict[str, int]]
    session_id: str


@pytest.fixture(scope="module")
def game(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Game]:
    scenario, hop = _find_scenario()
    with stocked(tmp_path_factory.mktemp("forward"), scenario) as ready:
        session_id = open_session(
            ready.cluster.trainee.node, scenario, trainee=TRAINEE, actor="system:exercise"
        )
        ready.cluster.start()
        yield Game(ready.cluster, scenario, hop, ready.clock, ready.stored, session_id)


def test_the_point_of_contact_and_the_provider_are_two_nodes(game: Game) -> None:
    hop = game.hop
    assert hop.node_id and hop.provider_node_id
    poc, provider = game.cluster.nodes[hop.node_id], game.cluster.nodes[hop.provider_node_id]
    assert tuple(poc.node.config.roles) == (NodeRole.POC,)
    assert tuple(provider.node.config.roles) == (NodeRole.PROVIDER,)
    assert provider.spec.prefixes == (hop.prefix,) and not poc.spec.prefixes
    # the provider's logs are on the provider's node, none on the point of contact's
    assert game.stored[hop.provider_node_id] and hop.node_id not in game.stored
    assert store_for(provider.node).stats()["kinds"]
    assert not store_for(poc.node).stats()["kinds"]
    # the exercise's state names both, and who forwards to whom
    state = game.cluster.save_state("session-x", 1)
    nodes = json.loads(state.read_text(encoding="utf-8"))["nodes"]
    assert nodes[hop.node_id]["forwards_to"] == hop.provider_node_id
    assert hop.provider_node_id in nodes and "forwards_to" not in nodes[hop.provider_node_id]


def test_the_point_of_contact_forwards_and_the_provider_answers(game: Game) -> None:
    hop, scenario, cluster = game.hop, game.scenario, game.cluster
    assert hop.node_id and hop.provider_node_id
    following = scenario.hop(hop.index + 1)
    body = preservation_body(scenario, hop, issued=game.clock.now())
    trainee = cluster.trainee.as_user(TRAINEE)
    request_id = send_draft(cluster, body, hop.node_id)
    counterparts = Counterparts(cluster)
    counterparts.step()  # the shift supervisor approves (four eyes)
    assert trainee.post(f"/api/requests/{request_id}/send", json={}).status_code == 200
    poc = cluster.nodes[hop.node_id].as_user(DUTY)
    provider = cluster.nodes[hop.provider_node_id].as_user(DUTY)
    wait_for(
        "delivery to the point of contact",
        lambda: poc.get(f"/api/requests/{request_id}").is_success,
    )

    game.clock.advance(timedelta(hours=1))  # past the acknowledgement delay
    done = counterparts.step()
    assert f"{hop.node_id} forwards {body['reference']} to {hop.provider_node_id}" in done
    # the forward on the point of contact's node: a copy of the request, sent to the provider
    outbound = poc.get("/api/requests", params={"direction": "outbound"}).json()
    [copy] = [r for r in outbound if r["parent_id"] == request_id]
    assert copy["counterpart_node"] == hop.provider_node_id and copy["state"] == "sent"
    timeline = poc.get(f"/api/requests/{copy['id']}").json()["transitions"]
    assert any(t["reason"] == f"forwarded to {hop.provider_node_id}" for t in timeline)
    # the request on the provider's node
    at_provider = wait_for(
        "delivery to the provider",
        lambda: (a := provider.get(f"/api/requests/{copy['id']}")).is_success and a.json(),
    )
    assert at_provider["reference"] == body["reference"] and at_provider["state"] == "received"

    game.clock.advance(timedelta(hours=3))  # the provider's liaison gets to it

    def answered() -> dict[str, Any] | None:
        counterparts.step()
        view = trainee.get(f"/api/requests/{request_id}").json()
        return view if view["state"] == "preserved" else None

    view = wait_for("the preservation answer on the trainee's node", answered)
    # the answer comes from the point of contact the trainee sent to, with the provider's hold
    assert view["counterpart_node"] == hop.node_id
    holds = provider.get("/api/traffic/holds").json()["holds"]
    [held] = [h for h in holds if h["reference"] == body["reference"]]
    assert held["criteria"]["ip"] == hop.ip and held["records"] >= 1
    assert view["hold_digest"] == held["sha256"] and view["hold_id"] == held["hold_id"]
    assert provider.get(f"/api/requests/{copy['id']}").json()["state"] == "preserved"
    # the point of contact discloses the next hop (Art. 30) to the trainee's node
    disclosure = wait_for(
        "the Art. 30 disclosure",
        lambda: (
            counterparts.step() is not None
            and [
                r
                for r in trainee.get("/api/requests", params={"direction": "inbound"}).json()
                if r["kind"] == "expedited_disclosure"
                and (r.get("body") or {}).get("in_response_to") == body["reference"]
            ]
        ),
    )[0]
    assert disclosure["counterpart_node"] == hop.node_id
    assert disclosure["body"]["provider_in_other_state"]["country"] == following.country
    assert disclosure["body"]["path"][0]["source"]["ip"] == following.ip
    # the provider disclosed nothing itself: only the point of contact answers the trainee
    sent_by_provider = provider.get("/api/requests", params={"direction": "outbound"}).json()
    assert not [r for r in sent_by_provider if r["kind"] == "expedited_disclosure"]

    # the forwarding costs the trainee nothing: the hop's request to the point of contact
    # scores in full on every axis it is scored on, its answer in the timeline
    node = cluster.trainee.node
    scored = score_session(node, principal(node, TRAINER), game.session_id).score
    assert scored is not None
    mine = [p for p in scored.points if p.hop == hop.index and p.axis != "trail"]
    assert {p.axis for p in mine} == {"timeliness", "legal", "completeness", "handling"}
    assert all(p.earned == p.possible for p in mine), [p for p in mine if p.earned < p.possible]
