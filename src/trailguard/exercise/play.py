"""Playing a scenario: the trainee's node and the simulated counterpart nodes on loopback, each
a real node (own data directory, keys, SQLite database, HTTP server, delivery worker) carrying
the scenario's exercise settings in its ``node.toml`` (its own network id), the counterparts'
traffic stores written from the scenario, and the counterparts' duty officers simulated: they
acknowledge, preserve (a real hold on their store), disclose the next hop (Art. 30) or refuse,
as the answer key says, on the compressed clock.

The nodes are built like the demo's (``trailguard.demo.cluster``); everything the simulated
people do goes through the nodes' HTTP API, as a person's browser would.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from trailguard.accounts import Role
from trailguard.core.clock import isoformat_z
from trailguard.core.config import ExerciseSettings, NodeRole, load_config, save_config
from trailguard.demo.cluster import DemoCluster, DemoNode, NodeSpec
from trailguard.exercise.domain.scenario import HopKey, Scenario, trainee_zone
from trailguard.exercise.service import open_case, open_session
from trailguard.traffic import ingest_files

log = logging.getLogger(__name__)

TRAINEE, SUPERVISOR, TRAINER = "trainee", "supervisor", "trainer"
DUTY, DUTY2 = "duty", "duty2"
STATE_FILE = "exercise.json"


def trainee_spec(scenario: Scenario) -> NodeSpec:
    country = scenario.trainee_country
    return NodeSpec(
        scenario.trainee_node_id,
        f"{country} 24/7 point of contact (EXERCISE trainee)",
        country,
        (NodeRole.POC,),
        trainee_zone(country),
        people=(
            (TRAINEE, "Trainee", (Role.INVESTIGATOR, Role.DUTY_OFFICER)),
            (SUPERVISOR, "Shift supervisor (simulated)", (Role.DUTY_OFFICER,)),
            (TRAINER, "Trainer", (Role.ADMIN,)),
        ),
        phone="+15555550100",
        email=f"duty@{scenario.trainee_node_id}.example",
    )


def counterpart_spec(hop: HopKey, *, people: bool = True) -> NodeSpec:
    """A counterpart node; without ``people`` nobody answers on it (the selftest's)."""
    assert hop.node_id is not None
    duty = (
        (
            DUTY,
            f"{hop.country} duty officer (simulated)",
            (Role.DUTY_OFFICER, Role.PROVIDER_LIAISON),
        ),
        (DUTY2, f"{hop.country} second duty officer (simulated)", (Role.DUTY_OFFICER,)),
    )
    return NodeSpec(
        hop.node_id,
        f"{hop.country} 24/7 point of contact with {hop.provider} (EXERCISE, simulated)",
        hop.country,
        (NodeRole.POC, NodeRole.PROVIDER),
        trainee_zone(hop.country),
        prefixes=(hop.prefix,),
        people=duty if people else (),
        email=f"duty@{hop.node_id}.example",
    )


class ExerciseCluster(DemoCluster):
    """The demo's loopback cluster, every node made a member of the scenario's exercise
    network before it publishes itself."""

    def __init__(
        self, root: Path, scenario: Scenario, *, clock_rate: float, counterpart_people: bool = True
    ) -> None:
        specs = [trainee_spec(scenario)] + [
            counterpart_spec(h, people=counterpart_people) for h in scenario.counterparts
        ]
        super().__init__(root, specs)
        self.scenario = scenario
        self.settings = ExerciseSettings(
            network=scenario.network, seed=scenario.seed, clock_rate=clock_rate
        )

    @property
    def trainee(self) -> DemoNode:
        return self.nodes[self.scenario.trainee_node_id]

    ACTOR = "system:exercise"

    def configure(self, data_dir: Path) -> None:
        config = load_config(data_dir)
        save_config(data_dir, config.model_copy(update={"exercise": self.settings}))

    def write_stores(self) -> dict[str, int]:
        """Each counterpart's flow probe log, written from the scenario and ingested into its
        traffic store; answers the records stored per node."""
        stored = {}
        folder = self.root / "provider-logs"
        folder.mkdir(exist_ok=True)
        hops = list(self.scenario.hops)
        for position, hop in enumerate(hops):
            if hop.node_id is None:
                continue
            previous = hops[position + 1] if position + 1 < len(hops) else None
            path = folder / f"{hop.node_id}-conn.log"
            path.write_text(zeek_conn_log(hop, previous, self.scenario.seed), encoding="utf-8")
            member = self.nodes[hop.node_id]
            [report] = ingest_files(
                member.node,
                [path],
                provider=hop.node_id,
                actor="system:exercise",
                format_name=hop.log_format,
            )
            stored[hop.node_id] = report.records_stored
        return stored

    def save_state(self, session_id: str, pid: int) -> Path:
        """``exercise.json``: where the nodes listen and who logs in (for status and stop)."""
        state = {
            "pid": pid,
            "session": session_id,
            "seed": self.scenario.seed,
            "difficulty": self.scenario.difficulty.value,
            "network": self.scenario.network,
            "clock_rate": self.settings.clock_rate,
            "trainee_node": self.scenario.trainee_node_id,
            "nodes": {
                node_id: {"url": member.url, "data_dir": str(self.root / node_id)}
                for node_id, member in self.nodes.items()
            },
        }
        path = self.root / STATE_FILE
        path.write_text(json.dumps(state, indent=2), encoding="utf-8")
        return path


def zeek_conn_log(hop: HopKey, previous: HopKey | None, seed: int) -> str:
    """The hop's flow probe (Zeek conn.log, TSV): background traffic in its prefix, the
    connection out to where the attacker went, and (when the path goes on) the session in
    from the hop before it."""
    rng = random.Random(f"{seed}:{hop.index}:conn")
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        f"#open\t{hop.at:%Y-%m-%d-%H-%M-%S}",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
        "\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory"
        "\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount"
        "\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]",
    ]
    rows: list[tuple[float, str]] = []

    def row(
        at: datetime, orig: str, oport: int, resp: str, rport: int, service: str, duration: float
    ) -> None:
        uid = "C" + "".join(rng.choice("abcdefghijkmnopqrstuvwxyz0123456789") for _ in range(17))
        ts = at.timestamp()
        rows.append(
            (
                ts,
                f"{ts:.6f}\t{uid}\t{orig}\t{oport}\t{resp}\t{rport}\ttcp\t{service}"
                f"\t{duration:.6f}\t{rng.randint(200, 90000)}\t{rng.randint(200, 90000)}"
                "\tSF\t-\t-\t0\tShADadFf\t12\t2000\t10\t9000\t(empty)",
            )
        )

    base, first = hop.prefix.rsplit(".", 1)[0], int(hop.prefix.rsplit(".", 1)[1].split("/")[0])
    for _ in range(60):
        at = hop.at + timedelta(seconds=rng.uniform(-3600, 3600))
        host = f"{base}.{first + rng.randint(2, 60)}"
        if host == hop.ip:
            continue
        row(
            at,
            host,
            rng.randint(1024, 65535),
            f"192.0.2.{rng.randint(100, 250)}",
            rng.choice([53, 123, 443]),
            "ssl",
            rng.uniform(0.01, 30),
        )
    row(
        hop.at - timedelta(milliseconds=150),
        hop.ip,
        hop.port,
        hop.destination_ip,
        hop.destination_port,
        "ssl",
        4.2,
    )
    if previous is not None:
        lasting = (hop.at - previous.at).total_seconds() + 900
        row(
            previous.at,
            previous.ip,
            previous.port,
            hop.ip,
            previous.destination_port,
            "ssh",
            lasting,
        )
    rows.sort()
    return "\n".join(header + [text for _, text in rows] + ["#close\t-"]) + "\n"


# --- the simulated counterparts ---------------------------------------------------------


@dataclass
class Counterparts:
    """The simulated duty officers of every counterpart node and the trainee's shift
    supervisor (who approves the trainee's drafts: four eyes). ``step()`` does what is due
    now; ``start()`` runs it in a thread every ``interval`` real seconds."""

    cluster: ExerciseCluster
    ack_after: timedelta = timedelta(minutes=20)  # simulated time
    answer_after: timedelta = timedelta(hours=2)
    interval: float = 0.5
    done: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)
    actions: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="exercise-sim")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except (httpx.HTTPError, RuntimeError) as exc:  # a node stopping; try again
                log.warning("exercise simulation: %s", exc)

    def step(self) -> list[str]:
        done_now: list[str] = []
        done_now += self._supervise()
        hops = list(self.cluster.scenario.hops)
        for position, hop in enumerate(hops):
            if hop.node_id is None:
                continue
            following = hops[position + 1] if position + 1 < len(hops) else None
            done_now += self._answer(hop, following)
        self.actions += done_now
        return done_now

    def _supervise(self) -> list[str]:
        """The supervisor approves each of the trainee's drafts (four eyes)."""
        member = self.cluster.trainee
        client = member.as_user(SUPERVISOR)
        lines = []
        for item in _ok(client.get("/api/requests", params={"direction": "outbound"})):
            if item["state"] != "draft" or item["id"] in self.approved:
                continue
            if item.get("created_by") == f"user:{SUPERVISOR}":
                continue
            answer = client.post(f"/api/requests/{item['id']}/approve")
            self.approved.add(item["id"])
            lines.append(f"supervisor approves {item['reference']}: HTTP {answer.status_code}")
        return lines

    def _answer(self, hop: HopKey, following: HopKey | None) -> list[str]:
        assert hop.node_id is not None
        member = self.cluster.nodes[hop.node_id]
        duty = member.as_user(DUTY)
        now = member.node.clock.now()
        lines = []
        for item in _ok(duty.get("/api/requests", params={"direction": "inbound"})):
            if item["id"] in self.done or item["kind"] == "expedited_disclosure":
                continue
            received = datetime.fromisoformat(item["created_at"])
            if item["state"] == "received" and now >= received + self.ack_after:
                _ok(duty.post(f"/api/requests/{item['id']}/acknowledge"))
                lines.append(f"{hop.node_id} acknowledges {item['reference']}")
                item["state"] = "acknowledged"
            if item["state"] == "acknowledged" and now >= received + self.answer_after:
                lines += self._decide(member, hop, following, item)
                self.done.add(item["id"])
        return lines

    def _decide(
        self, member: DemoNode, hop: HopKey, following: HopKey | None, item: dict[str, Any]
    ) -> list[str]:
        duty = member.as_user(DUTY)
        request_id, reference = item["id"], item["reference"]
        body = item.get("body") or {}
        if item["kind"] != "preservation":
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/refuse",
                    json={
                        "ground": "requested_party_law",
                        "reasons": f"A {item['kind']} request is not what the 24/7 point "
                        "of contact executes at once: ask for preservation (Art. 29) first; "
                        "the rest follows by mutual assistance (Art. 25(4)).",
                    },
                )
            )
            return [f"{hop.node_id} refuses {reference}: {item['kind']} is the wrong channel"]
        if hop.outcome == "refuse":
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/refuse",
                    json={
                        "ground": hop.refusal_ground or "essential_interests",
                        "reasons": f"{hop.country} considers that executing the request "
                        f"would prejudice its essential interests ({hop.refusal_article}).",
                    },
                )
            )
            return [f"{hop.node_id} refuses {reference} ({hop.refusal_article})"]
        now = member.node.clock.now()
        endpoint = _endpoint_for(body, hop)
        _ok(duty.post(f"/api/requests/{request_id}/execute"))
        if now >= hop.dies_at:
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/warn",
                    json={
                        "reasons": f"{hop.provider} deleted its {hop.data_kind} records of "
                        f"{hop.at.date().isoformat()} at the end of its {hop.retention_days}-day "
                        f"retention ({isoformat_z(hop.dies_at)}): nothing can be preserved.",
                    },
                )
            )
            return [f"{hop.node_id}: records of {reference} already deleted"]
        found, why = _finds(hop, endpoint)
        hold = None
        if found:
            start = isoformat_z(hop.at - timedelta(minutes=15))
            end = isoformat_z(hop.at + timedelta(minutes=15))
            answer = duty.post(
                "/api/traffic/holds",
                json={
                    "reference": reference,
                    "ip": hop.ip,
                    "start": start,
                    "end": end,
                },
            )
            hold = answer.json() if answer.status_code < 400 else None
        summary = _summary(hop, found, why, hold)
        _ok(
            duty.post(
                f"/api/requests/{request_id}/preserve",
                json={
                    "preserved": summary,
                    "hold_id": hold["hold_id"] if hold else None,
                    "digest": hold["sha256"] if hold else None,
                    "partial": not found,
                },
            )
        )
        lines = [f"{hop.node_id} preserves {reference}: {summary[:80]}"]
        if found and hop.outcome == "relay" and following is not None:
            lines.append(self._disclose(member, hop, following, body))
        return lines

    def _disclose(
        self, member: DemoNode, hop: HopKey, following: HopKey, body: dict[str, Any]
    ) -> str:
        """Art. 30(1): the path to the next provider, drafted, approved (four eyes), sent."""
        now = member.node.clock.now()
        disclosure = {
            "kind": "expedited_disclosure",
            "reference": f"{body['reference']}-A30",
            "date_issued": now.date().isoformat(),
            "requesting_party": body["requesting_party"],
            "requested_party": body["requested_party"],
            "requesting_authority": body["requesting_authority"],
            "requested_authority": body["requested_authority"],
            "confirmation_contact": {
                "name": f"{hop.country} duty officer (simulated)",
                "phone": "+15555550199",
                "email": f"duty@{hop.node_id}.example",
            },
            "in_response_to": body["reference"],
            "provider_in_other_state": {
                "name": following.provider,
                "country": following.country,
                "identifiers": [following.prefix],
            },
            "path": [
                {
                    "source": {
                        "type": "ip_endpoint",
                        "ip": following.ip,
                        "port": following.port,
                        "timestamp": isoformat_z(following.at),
                        "protocol": "tcp",
                    },
                    "destination": {
                        "type": "ip_endpoint",
                        "ip": hop.ip,
                        "port": following.destination_port,
                        "timestamp": isoformat_z(following.at),
                        "protocol": "tcp",
                    },
                    "observed_by": f"{hop.provider}: flow probe (Zeek conn.log)",
                }
            ],
            "traffic_data": [
                f"{isoformat_z(following.at)} {following.ip}:{following.port} -> "
                f"{hop.ip}:{following.destination_port} tcp (ssh), session open at "
                f"{isoformat_z(hop.at)}"
            ],
            "third_country_notice": (
                f"The communication came from {following.provider} in {following.country} "
                f"({following.ip} port {following.port} at {isoformat_z(following.at)}); send "
                f"a preservation request to {following.country}."
            ),
        }
        duty, second = member.as_user(DUTY), member.as_user(DUTY2)
        recipient = self.cluster.scenario.trainee_node_id
        draft = _ok(duty.post("/api/requests", json={"body": disclosure, "recipient": recipient}))
        _ok(second.post(f"/api/requests/{draft['id']}/approve"))
        _ok(duty.post(f"/api/requests/{draft['id']}/send", json={}))
        return f"{hop.node_id} discloses the next hop ({following.country}) under Art. 30"


def _endpoint_for(body: dict[str, Any], hop: HopKey) -> dict[str, Any] | None:
    for item in body.get("data_to_preserve") or []:
        endpoint = isinstance(item, dict) and item.get("type") == "ip_endpoint"
        if endpoint and str(item.get("ip")) == hop.ip:
            return dict(item)
    return None


def _finds(hop: HopKey, endpoint: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether the request names the hop's record closely enough to find it."""
    if endpoint is None:
        return False, f"the request names no address of ours at that time (we hold {hop.prefix})"
    try:
        at = datetime.fromisoformat(str(endpoint["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False, "the request gives no usable time"
    if abs(at.astimezone(UTC) - hop.at) > timedelta(minutes=1):
        return False, (
            f"no connection of {hop.ip} at {isoformat_z(at)}: check the time and its zone"
        )
    if hop.cgn and endpoint.get("port") != hop.port:
        return False, (
            f"{hop.ip} is a CGN address shared by many subscribers; without the right source "
            "port no single session can be found"
        )
    return True, ""


def _summary(hop: HopKey, found: bool, why: str, hold: dict[str, Any] | None) -> str:
    if not found:
        return f"Nothing identifiable preserved: {why}."
    held = f"{hold['records']} flow records (hold {hold['hold_id']})" if hold else "the records"
    if hop.outcome == "subscriber":
        return (
            f"{held} preserved; the session belongs to subscriber {hop.subscriber}. "
            "Subscriber details follow on a mutual assistance request (Art. 31) or a Protocol "
            "Art. 7 order."
        )
    if hop.outcome == "dead_end":
        return (
            f"{held} preserved; the connection came from our public Wi-Fi hotspot: no subscriber."
        )
    return f"{held} preserved; the path continues abroad (Art. 30 disclosure follows)."


def _ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 400:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path}: HTTP "
            f"{answer.status_code} {answer.text[:300]}"
        )
    return answer.json()


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
