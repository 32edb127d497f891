"""The exercise's nodes: the trainee's and the simulated counterparts' (a country's 24/7 point
of contact, and where it forwards, the provider's own node), each a real node on loopback built
like the demo's (``trailguard.demo.cluster``) and carrying the scenario's exercise settings in
its ``node.toml``; the providers' logs written into their traffic stores (``provider_logs``)
and their published retention recorded on the trainee's node.
"""

from __future__ import annotations

import json
from pathlib import Path

from trailguard.accounts import Role, get_user, principal_of
from trailguard.core.config import ExerciseSettings, NodeRole, load_config, save_config
from trailguard.demo.cluster import DemoCluster, DemoNode, NodeSpec
from trailguard.exercise.domain.scenario import HopKey, Scenario, trainee_zone
from trailguard.exercise.provider_logs import provider_logs
from trailguard.trace import set_custodian
from trailguard.traffic import ParseOptions, ingest_files

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
    """A counterpart node; without ``people`` nobody answers on it (the selftest's). When the
    hop's point of contact forwards to the provider (``hop.provider_node_id``), this is the
    country's 24/7 point of contact only: no provider's prefixes, no traffic store."""
    assert hop.node_id is not None
    forwards = hop.provider_node_id is not None
    duty = (
        (
            DUTY,
            f"{hop.country} duty officer (simulated)",
            (Role.DUTY_OFFICER,) if forwards else (Role.DUTY_OFFICER, Role.PROVIDER_LIAISON),
        ),
        (DUTY2, f"{hop.country} second duty officer (simulated)", (Role.DUTY_OFFICER,)),
    )
    if forwards:
        return NodeSpec(
            hop.node_id,
            f"{hop.country} 24/7 point of contact (EXERCISE, simulated)",
            hop.country,
            (NodeRole.POC,),
            trainee_zone(hop.country),
            people=duty if people else (),
            email=f"duty@{hop.node_id}.example",
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


def provider_spec(hop: HopKey, *, people: bool = True) -> NodeSpec:
    """The provider's own node, for a hop whose point of contact forwards to it: its
    law-enforcement liaison (simulated) answers from its traffic store."""
    assert hop.provider_node_id is not None
    liaison = ((DUTY, f"{hop.provider} liaison officer (simulated)", (Role.PROVIDER_LIAISON,)),)
    return NodeSpec(
        hop.provider_node_id,
        f"{hop.provider} law-enforcement liaison (EXERCISE, simulated)",
        hop.country,
        (NodeRole.PROVIDER,),
        trainee_zone(hop.country),
        prefixes=(hop.prefix,),
        people=liaison if people else (),
        email=f"liaison@{hop.provider_node_id}.example",
    )


class ExerciseCluster(DemoCluster):
    """The demo's loopback cluster, every node made a member of the scenario's exercise
    network before it publishes itself."""

    def __init__(
        self, root: Path, scenario: Scenario, *, clock_rate: float, counterpart_people: bool = True
    ) -> None:
        specs = [trainee_spec(scenario)]
        for hop in scenario.counterparts:
            specs.append(counterpart_spec(hop, people=counterpart_people))
            if hop.provider_node_id is not None:
                specs.append(provider_spec(hop, people=counterpart_people))
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

    def write_stores(self) -> dict[str, dict[str, int]]:
        """Each counterpart provider's logs (a flow probe's; a CGN's translation log and RADIUS
        accounting), written from the scenario and ingested into its node's traffic store
        through the parsers, and their retention published to the trainee's node; answers the
        records stored per node and format. A file the parser refuses or reads with bad lines
        is an error of the writer: it raises."""
        stored: dict[str, dict[str, int]] = {}
        kept: dict[str, dict[str, int]] = {}
        folder = self.root / "provider-logs"
        folder.mkdir(exist_ok=True)
        hops = list(self.scenario.hops)
        for position, hop in enumerate(hops):
            store = hop.store_node_id
            if store is None:
                continue
            previous = hops[position + 1] if position + 1 < len(hops) else None
            member = self.nodes[store]
            for written in provider_logs(hop, previous, self.scenario.seed):
                path = folder / written.name
                path.write_text(written.text, encoding="utf-8")
                [report] = ingest_files(
                    member.node,
                    [path],
                    provider=store,
                    actor=self.ACTOR,
                    format_name=written.format,
                    options=ParseOptions(tz=written.tz),
                )
                if report.refused or report.bad_line_count:
                    problem = report.refused or report.bad_lines[0]
                    raise RuntimeError(f"{written.name} ({written.format}): {problem}")
                stored.setdefault(store, {})[written.format] = report.records_stored
                kept.setdefault(store, {})[written.kind] = hop.retention_days
        self.publish_retention(kept)
        return stored

    def publish_retention(self, kept: dict[str, dict[str, int]]) -> None:
        """What each counterpart provider keeps (``kept``: node, kind of record, days), as
        providers publish it, recorded on the trainee's node by the simulated shift supervisor,
        the way a 24/7 point of contact keeps its providers' retention: the trace then names
        the kinds of record a request must preserve and the moment each hop's trail dies."""
        node = self.trainee.node
        with node.db.session() as session:
            supervisor = principal_of(get_user(session, SUPERVISOR))
        providers = {
            hop.store_node_id: hop.provider for hop in self.scenario.hops if hop.store_node_id
        }
        for node_id, kinds in kept.items():
            source = f"{providers[node_id]}: published retention policy (EXERCISE scenario)"
            set_custodian(node, supervisor, node_id, kinds, source)

    def save_state(self, session_id: str, pid: int) -> Path:
        """``exercise.json``: where the nodes listen and who logs in (for status and stop);
        a point of contact that forwards to its provider's node names it (``forwards_to``)."""
        forwards = {
            hop.node_id: hop.provider_node_id
            for hop in self.scenario.counterparts
            if hop.node_id and hop.provider_node_id
        }
        state = {
            "pid": pid,
            "session": session_id,
            "seed": self.scenario.seed,
            "difficulty": self.scenario.difficulty.value,
            "network": self.scenario.network,
            "clock_rate": self.settings.clock_rate,
            "trainee_node": self.scenario.trainee_node_id,
            "nodes": {
                node_id: {
                    "url": member.url,
                    "data_dir": str(self.root / node_id),
                    "name": member.spec.name,
                    **({"forwards_to": forwards[node_id]} if node_id in forwards else {}),
                }
                for node_id, member in self.nodes.items()
            },
        }
        path = self.root / STATE_FILE
        path.write_text(json.dumps(state, indent=2), encoding="utf-8")
        return path
