"""An access provider without carrier-grade NAT holds what a real one holds: its flow probe's
records and its RADIUS accounting, which assigned the public address to the subscriber's line
for a session. Its simulated duty officer names the subscriber its own store names (a look-up
through the traffic API), not the answer key; a hosting provider holds flow records only (its
customer register, not a traffic record, says whose the server is). The scenario is found by
generating, never written in."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from exercise_kit import answered, first_found, local_time, principal, send_draft, stocked, wait_for

from trailguard.audit import recent
from trailguard.exercise import Scenario, generate
from trailguard.exercise.domain.scenario import ACCESS_KINDS, HopKey
from trailguard.exercise.play import DUTY, TRAINEE, Counterparts
from trailguard.exercise.provider_logs import provider_logs
from trailguard.exercise.selftest import preservation_body
from trailguard.law import get_engine
from trailguard.traffic import flows, lookup, store_for

WITHIN_A_MINUTE = timedelta(minutes=1)


def _find() -> tuple[Scenario, HopKey]:
    """The first normal or hard scenario whose subscriber sits behind an access provider's
    directly assigned address (no CGN), on the network."""

    def ends_at_an_access_line(scenario: Scenario) -> tuple[Scenario, HopKey] | None:
        last = scenario.hops[-1]
        if (
            last.outcome == "subscriber"
            and last.node_id
            and not last.cgn
            and last.provider_kind in ACCESS_KINDS
        ):
            return scenario, last
        return None

    return first_found(
        [(seed, level) for level in ("normal", "hard") for seed in range(300)],
        ends_at_an_access_line,
        "no scenario of seeds 0..299 ends at an access line without CGN",
    )


def test_every_access_hop_holds_radius_and_no_hosting_hop_does() -> None:
    engine = get_engine()
    seen: set[tuple[bool, str]] = set()
    for seed in range(40):
        scenario = generate(seed, "hard", engine)
        hops = list(scenario.hops)
        for position, hop in enumerate(hops):
            access = hop.provider_kind in ACCESS_KINDS
            seen.add((access, hop.outcome))
            if access:
                assert hop.assignment_format == "freeradius-detail" and hop.line_holder
                assert (hop.inside_ip is not None) == hop.cgn
                if hop.outcome == "subscriber":
                    assert hop.line_holder == hop.subscriber
            else:
                assert hop.assignment_format is None and hop.line_holder is None
                assert not hop.cgn
            if hop.node_id is None:
                continue
            previous = hops[position + 1] if position + 1 < len(hops) else None
            logs = provider_logs(hop, previous, seed)
            assert ("radius" in {log.kind for log in logs}) == access, (seed, hop.index)
    assert (True, "relay") in seen and (False, "relay") in seen


def test_the_access_line_is_named_from_the_providers_own_store(tmp_path: Path) -> None:
    scenario, hop = _find()
    assert hop.node_id is not None and hop.subscriber
    hops = list(scenario.hops)
    logs = provider_logs(hop, None, scenario.seed)
    assert logs == provider_logs(hop, None, scenario.seed)  # the same seed, the same files
    assert [(log.format, log.kind) for log in logs] == [
        ("zeek-conn", "flow"),
        ("freeradius-detail", "radius"),
    ]
    radius = logs[1].text
    assert f"Framed-IP-Address = {hop.ip}\n" in radius
    assert f'User-Name = "{hop.subscriber}"' in radius

    with stocked(tmp_path, scenario) as ready:
        cluster, clock, stored = ready.cluster, ready.clock, ready.stored
        assert set(stored[hop.node_id]) == {"zeek-conn", "freeradius-detail"}
        node = cluster.nodes[hop.node_id].node
        officer = principal(node, DUTY)
        assert store_for(node).stats()["kinds"]["radius"]["rows"] > 0
        # the address is the line's at the instant; another account had it earlier
        answer = lookup(node, officer, hop.ip, None, hop.at, WITHIN_A_MINUTE)
        assert answer.best is not None and answer.best.subscriber == hop.subscriber
        holders = {
            r.subscriber
            for r in flows(
                node, officer, hop.ip, hop.at - timedelta(days=4), hop.at, kinds=["radius"]
            )
        }
        assert hop.subscriber in holders and len(holders) > 1, holders
        # the retention the provider publishes names the RADIUS accounting
        with cluster.trainee.node.db.session() as session:
            published = [
                json.loads(e.details)["retention_days"]
                for e in recent(session, action="trace.custodian_recorded")
                if e.subject == f"custodian:{hop.node_id}"
            ]
        assert published == [{"flow": hop.retention_days, "radius": hop.retention_days}]

        cluster.start()
        trainee = cluster.trainee.as_user(TRAINEE)
        counterparts = Counterparts(cluster)
        ids = {}
        for name, shift in (("right", timedelta(0)), ("wrong_time", timedelta(hours=3))):
            body = preservation_body(scenario, hop, issued=clock.now())
            body["reference"] += f"-{name}"
            body["data_to_preserve"][0]["timestamp"] = local_time(hop, hop.at + shift)
            ids[name] = (send_draft(cluster, body, hop.node_id), body["reference"])
        counterparts.step()  # the supervisor approves (four eyes)
        duty = cluster.nodes[hop.node_id].as_user(DUTY)
        for request_id, _ in ids.values():
            assert trainee.post(f"/api/requests/{request_id}/send", json={}).status_code == 200
            wait_for("delivery", lambda rid=request_id: duty.get(f"/api/requests/{rid}").is_success)
        clock.advance(timedelta(hours=3))
        counterparts.step()

        right = answered(trainee, ids["right"][0])
        assert right["state"] == "preserved" and right["hold_digest"]
        summary = right["preserved_summary"]
        assert f"our RADIUS accounting names the session's subscriber {hop.subscriber}" in summary
        assert "flow records and the RADIUS accounting of the line" in summary
        # the hold reaches back to the session's start: its RADIUS records are preserved
        holds = duty.get("/api/traffic/holds").json()["holds"]
        [held] = [h for h in holds if h["reference"] == ids["right"][1]]
        assert held["sha256"] == right["hold_digest"]
        assert held["criteria"]["ip"] == hop.ip and held["criteria"]["port"] is None
        held_from = held["criteria"]["start"]
        assert held_from < (hop.at - timedelta(hours=2)).isoformat(), held_from
        window = (
            datetime.fromisoformat(held_from),
            datetime.fromisoformat(held["criteria"]["end"]),
        )
        radius = flows(node, officer, hop.ip, *window, kinds=["radius"])
        connections = flows(node, officer, hop.ip, *window, kinds=["flow"])
        assert radius and {r.subscriber for r in radius} == {hop.subscriber}
        assert held["records"] == len(radius) + len(connections)

        wrong = answered(trainee, ids["wrong_time"][0])
        assert wrong["state"] == "partially_preserved" and not wrong["hold_digest"]
        assert f"no connection of {hop.ip}" in wrong["preserved_summary"]
        assert hop.subscriber not in wrong["preserved_summary"]

        # the answer rests on the officer's look-up in its own store, audited there
        with node.db.session() as session:
            lookups = [json.loads(e.details) for e in recent(session, action="traffic.lookup")]
        assert any(d.get("reference") == ids["right"][1] for d in lookups), lookups
        assert hops[-1] is hop
