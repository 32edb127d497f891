"""A CGN hop's counterpart holds what a carrier-grade-NAT access provider holds (the CGN's
translation log and the RADIUS accounting of its subscribers), and its simulated duty officer
answers a preservation request from that store, as a real one would: without the source port
a shared address names several subscribers, at the wrong time nothing, with the right port and
time the subscriber. The scenario is found by generating (difficulty hard), never written in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from exercise_kit import answered, first_found, local_time, principal, send_draft, stocked, wait_for

from trailguard.audit import recent
from trailguard.core.clock import FixedClock
from trailguard.exercise import Scenario
from trailguard.exercise.domain.scenario import HopKey
from trailguard.exercise.play import DUTY, TRAINEE, Counterparts, ExerciseCluster
from trailguard.exercise.provider_logs import provider_logs
from trailguard.exercise.selftest import preservation_body
from trailguard.traffic import lookup, store_for

WITHIN_A_MINUTE = timedelta(minutes=1)
HARD = [(seed, "hard") for seed in range(300)]


def _cgn_and_flow(scenario: Scenario) -> tuple[Scenario, HopKey, HopKey] | None:
    """A CGN hop whose provider holds the subscriber, and a hop without CGN that answers (a
    flow probe's records)."""
    cgn = [h for h in scenario.hops if h.cgn and h.node_id and h.outcome == "subscriber"]
    flow = [h for h in scenario.hops if not h.cgn and h.node_id and h.outcome != "refuse"]
    return (scenario, cgn[0], flow[0]) if cgn and flow else None


def _find_scenario() -> tuple[Scenario, HopKey, HopKey]:
    """The first hard scenario with both."""
    return first_found(
        HARD,
        _cgn_and_flow,
        "no hard scenario of seeds 0..299 has a CGN hop with the subscriber",
    )


@dataclass
class Game:
    cluster: ExerciseCluster
    scenario: Scenario
    hop: HopKey  # the CGN hop
    flow_hop: HopKey
    clock: FixedClock
    stored: dict[str, dict[str, int]]


@pytest.fixture(scope="module")
def game(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Game]:
    scenario, hop, flow_hop = _find_scenario()
    with stocked(tmp_path_factory.mktemp("cgn"), scenario) as ready:
        ready.cluster.start()
        yield Game(ready.cluster, scenario, hop, flow_hop, ready.clock, ready.stored)


def test_the_cgn_scenario_says_what_the_provider_holds(game: Game) -> None:
    hop = game.hop
    assert hop.data_kind == "nat" and hop.log_format == "cisco-xr-cgn"
    assert hop.assignment_format == "freeradius-detail"
    assert hop.inside_ip and hop.inside_ip.startswith("100.") and hop.inside_port
    assert hop.line_holder == hop.subscriber
    assert game.flow_hop.log_format == "zeek-conn" and game.flow_hop.inside_ip is None


def test_provider_logs_are_the_same_for_a_seed(game: Game) -> None:
    hops = list(game.scenario.hops)
    position = hops.index(game.hop)
    previous = hops[position + 1] if position + 1 < len(hops) else None
    once = provider_logs(game.hop, previous, game.scenario.seed)
    assert once == provider_logs(game.hop, previous, game.scenario.seed)
    assert [log.format for log in once][:2] == ["cisco-xr-cgn", "freeradius-detail"]
    other = provider_logs(game.hop, previous, game.scenario.seed + 1)
    assert [log.text for log in other] != [log.text for log in once]


def test_the_cgn_counterparts_store_holds_translations_and_radius_sessions(game: Game) -> None:
    hop = game.hop
    assert hop.node_id is not None
    node = game.cluster.nodes[hop.node_id].node
    kinds = store_for(node).stats()["kinds"]
    assert kinds["nat"]["rows"] == game.stored[hop.node_id]["cisco-xr-cgn"] > 0
    assert kinds["radius"]["rows"] == game.stored[hop.node_id]["freeradius-detail"] > 0
    officer = principal(node, DUTY)
    # the public address and port at the instant -> the inside address -> the account
    answer = lookup(node, officer, hop.ip, hop.port, hop.at, WITHIN_A_MINUTE)
    assert answer.best is not None and not answer.ambiguous
    assert answer.best.inside_ip == hop.inside_ip and answer.best.subscriber == hop.subscriber
    # other subscribers share the address at that instant, on other ports
    shared = lookup(node, officer, hop.ip, None, hop.at, WITHIN_A_MINUTE)
    holders = {m.subscriber for m in shared.matches}
    assert hop.subscriber in holders and len(holders) > 1
    assert {m.public_port for m in shared.matches} - {hop.port}
    # the port is given to someone else at another time
    later = lookup(node, officer, hop.ip, hop.port, hop.at + timedelta(hours=3), WITHIN_A_MINUTE)
    assert later.matches == ()
    # a flow hop's store holds flow records only
    assert game.flow_hop.node_id is not None
    flow_kinds = store_for(game.cluster.nodes[game.flow_hop.node_id].node).stats()["kinds"]
    assert set(flow_kinds) == {"flow"}


def _delivered(duty: httpx.Client, request_id: str) -> None:
    wait_for("delivery", lambda: duty.get(f"/api/requests/{request_id}").is_success)


def test_the_duty_officer_answers_from_the_store(game: Game) -> None:
    hop, flow_hop, scenario = game.hop, game.flow_hop, game.scenario
    assert hop.node_id is not None and flow_hop.node_id is not None
    issued = game.clock.now()
    bodies: dict[str, tuple[dict[str, Any], str]] = {}
    complete = preservation_body(scenario, hop, issued=issued)
    for name, change in (
        ("no_port", {"port": 0}),
        ("with_port", {}),
        ("wrong_time", {"timestamp": local_time(hop, hop.at + timedelta(hours=3))}),
    ):
        body = json.loads(json.dumps(complete))
        body["reference"] = f"{complete['reference']}-{name}"
        body["data_to_preserve"][0].update(change)
        bodies[name] = (body, hop.node_id)
    flow_body = preservation_body(scenario, flow_hop, issued=issued)
    flow_body["reference"] += "-wrong_time"
    flow_body["data_to_preserve"][0]["timestamp"] = local_time(
        flow_hop, flow_hop.at + timedelta(hours=3)
    )
    bodies["flow_wrong_time"] = (flow_body, flow_hop.node_id)

    ids = {name: send_draft(game.cluster, body, to) for name, (body, to) in bodies.items()}
    counterparts = Counterparts(game.cluster)
    trainee = game.cluster.trainee.as_user(TRAINEE)
    counterparts.step()  # the shift supervisor approves the drafts (four eyes)
    for request_id in ids.values():
        assert trainee.get(f"/api/requests/{request_id}").json()["state"] == "approved"
        assert trainee.post(f"/api/requests/{request_id}/send", json={}).status_code == 200
    for name, request_id in ids.items():
        _delivered(game.cluster.nodes[bodies[name][1]].as_user(DUTY), request_id)
    game.clock.advance(timedelta(hours=3))  # the duty officers get to them
    counterparts.step()

    views = {name: answered(trainee, request_id) for name, request_id in ids.items()}
    node = game.cluster.nodes[hop.node_id].node
    sharing = lookup(node, principal(node, DUTY), hop.ip, None, hop.at, WITHIN_A_MINUTE)
    holders = len({(m.inside_ip, m.subscriber) for m in sharing.matches})
    assert holders > 1

    no_port = views["no_port"]
    assert no_port["state"] == "partially_preserved" and not no_port["hold_digest"]
    assert f"shared by {holders} subscribers" in no_port["preserved_summary"]
    assert "without the right source port" in no_port["preserved_summary"]

    with_port = views["with_port"]
    assert with_port["state"] == "preserved" and with_port["hold_digest"]
    summary = with_port["preserved_summary"]
    assert scenario.subscriber and f"subscriber {scenario.subscriber}" in summary
    assert "CGN translation and the RADIUS accounting" in summary
    holds = game.cluster.nodes[hop.node_id].as_user(DUTY).get("/api/traffic/holds").json()
    mine = [h for h in holds["holds"] if h["reference"] == bodies["with_port"][0]["reference"]]
    [held] = [h for h in mine if h["criteria"]["ip"] == hop.ip]
    assert held["criteria"]["port"] == hop.port
    assert held["sha256"] == with_port["hold_digest"] and held["records"] >= 2
    # the line's RADIUS session, begun hours before, is held on its inside address
    [line] = [h for h in mine if h["criteria"]["ip"] == hop.inside_ip]
    assert line["criteria"]["kinds"] == ["radius"] and line["criteria"]["port"] is None
    assert line["records"] >= 1 and line["hold_id"] in summary
    assert line["criteria"]["start"] < (hop.at - timedelta(hours=2)).isoformat()

    wrong = views["wrong_time"]
    assert wrong["state"] == "partially_preserved" and not wrong["hold_digest"]
    assert wrong["preserved_summary"].startswith("Nothing identifiable preserved")
    assert f"no translation of {hop.ip} port {hop.port}" in wrong["preserved_summary"]

    flow_wrong = views["flow_wrong_time"]
    assert flow_wrong["state"] == "partially_preserved" and not flow_wrong["hold_digest"]
    assert f"no connection of {flow_hop.ip}" in flow_wrong["preserved_summary"]

    # each answer rests on a look-up in the counterpart's own store, audited there
    for name, (body, to) in bodies.items():
        with game.cluster.nodes[to].node.db.session() as session:
            lookups = [json.loads(e.details) for e in recent(session, action="traffic.lookup")]
            flows = [json.loads(e.details) for e in recent(session, action="traffic.flows")]
        mine = [d for d in lookups if d.get("reference") == body["reference"]]
        if name == "flow_wrong_time":
            assert flows and all(d["records"] == 0 for d in flows), flows
        else:
            assert mine, f"{name}: no look-up audited on {to}"
        if name == "wrong_time":
            assert all(d["matches"] == 0 for d in mine)


def test_a_cgn_relay_preserves_the_line_and_discloses_the_next_hop(tmp_path: Path) -> None:
    """Behind a CGN the path goes on: the officer names the line the session was on (from the
    translation log and RADIUS) and discloses the next hop from its flow probe (Art. 30)."""
    # a point of contact holding the provider's store (test_forward_counterpart.py plays
    # a point of contact that forwards to the provider's own node)
    scenario, hop = first_found(
        HARD,
        lambda scenario: next(
            (
                (scenario, h)
                for h in scenario.hops
                if h.cgn and h.node_id and not h.provider_node_id and h.outcome == "relay"
            ),
            None,
        ),
        "no hard scenario of seeds 0..299 has a CGN relay hop",
    )
    assert hop.node_id is not None and hop.line_holder is not None
    following = scenario.hop(hop.index + 1)
    with stocked(tmp_path, scenario) as ready:
        cluster, clock = ready.cluster, ready.clock
        assert set(ready.stored[hop.node_id]) == {"cisco-xr-cgn", "freeradius-detail", "zeek-conn"}
        cluster.start()
        request_id = send_draft(
            cluster, preservation_body(scenario, hop, issued=clock.now()), hop.node_id
        )
        counterparts = Counterparts(cluster)
        trainee = cluster.trainee.as_user(TRAINEE)
        counterparts.step()
        assert trainee.post(f"/api/requests/{request_id}/send", json={}).status_code == 200
        _delivered(cluster.nodes[hop.node_id].as_user(DUTY), request_id)
        clock.advance(timedelta(hours=3))
        counterparts.step()
        view = wait_for(
            "the preservation",
            lambda: (
                (v := trainee.get(f"/api/requests/{request_id}").json())["state"] == "preserved"
                and v
            ),
        )
        assert f"line {hop.line_holder}" in view["preserved_summary"]
        assert "path continues abroad" in view["preserved_summary"]

        def disclosure() -> dict[str, Any] | None:
            inbound = trainee.get("/api/requests", params={"direction": "inbound"}).json()
            return next((r for r in inbound if r["kind"] == "expedited_disclosure"), None)

        art30 = wait_for("the Art. 30 disclosure", disclosure)
        source = art30["body"]["path"][0]["source"]
        assert (source["ip"], source["port"]) == (following.ip, following.port)
