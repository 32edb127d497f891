"""A check that scoring means something (issue 17 point 5): one scenario played by a scripted
careful trainee and a scripted careless one (late, missing fields, the wrong channel, the trail
not followed), both scored against the answer key.

The nodes are real (the trainee's and the counterparts', with the scenario's exercise settings,
their directories exchanged); the scripted trainees draft, have approved (four eyes) and send
their requests through the requests face on the trainee's node, on a clock that moves only when
the script says (so the result does not depend on the machine's speed). Deliveries are not
waited for: what is scored is what the trainee's node recorded sending, and when.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from trailguard.accounts import Principal, Role, create_user, get_user, principal_of
from trailguard.core.clock import FixedClock, isoformat_z, set_default_clock
from trailguard.core.errors import TrailguardError
from trailguard.exercise.domain.scenario import Difficulty, HopKey, Scenario, generate
from trailguard.exercise.domain.scoring import AXES
from trailguard.exercise.play import SUPERVISOR, TRAINER, ExerciseCluster
from trailguard.exercise.service import conclude, open_session, score_session
from trailguard.law import get_engine
from trailguard.node import Node
from trailguard.requests import approve_request, draft_request, send_request

CAREFUL, CARELESS = "careful", "careless"


@dataclass(frozen=True)
class SelftestResult:
    scenario: Scenario
    careful: dict[str, Any]
    careless: dict[str, Any]

    @property
    def careful_higher_everywhere(self) -> bool:
        return all(self.careful["axes"][a] > self.careless["axes"][a] for a in AXES)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.scenario.seed,
            "difficulty": self.scenario.difficulty.value,
            "network": self.scenario.network,
            "hops": [
                {
                    "index": h.index,
                    "country": h.country,
                    "outcome": h.outcome,
                    "channel": h.channel,
                    "dies_at": isoformat_z(h.dies_at),
                }
                for h in self.scenario.hops
            ],
            "careful": self.careful,
            "careless": self.careless,
            "careful_higher_on_every_axis": self.careful_higher_everywhere,
        }


def authority(scenario: Scenario) -> dict[str, Any]:
    country = scenario.trainee_country
    return {
        "organisation": f"{country} 24/7 point of contact (EXERCISE, synthetic)",
        "person_in_charge": "Trainee",
        "address": "1 Exercise Street",
        "phone": "+15555550100",
        "email": f"duty@{scenario.trainee_node_id}.example",
        "office_hours": "24/7",
        "time_zone": scenario.trainee_zone,
    }


def preservation_body(
    scenario: Scenario, hop: HopKey, *, issued: datetime, careful: bool = True
) -> dict[str, Any]:
    """A preservation request for ``hop`` as a trainee would fill the form: complete when
    ``careful``; otherwise without port, record kind, custodian or offence article, with the
    default handling and the customer allowed to be told."""
    local = hop.at.astimezone(ZoneInfo(hop.source_zone))
    body: dict[str, Any] = {
        "kind": "preservation",
        "reference": f"{scenario.trainee_country}-EX-{scenario.seed}-{hop.index}",
        "date_issued": issued.date().isoformat(),
        "requesting_party": scenario.trainee_country,
        "requested_party": hop.country,
        "requesting_authority": authority(scenario),
        "requested_authority": f"{hop.country} 24/7 point of contact",
        "confirmation_contact": {
            "name": "Trainee",
            "phone": "+15555550101",
            "email": f"trainee@{scenario.trainee_node_id}.example",
        },
        "seeking_authority": f"{scenario.trainee_country} prosecutor (synthetic)",
        "offence": scenario.offence,
        "summary_of_facts": f"On {scenario.as_of.isoformat()} {scenario.facts}.",
        "data_to_preserve": [
            {
                "type": "ip_endpoint",
                "ip": hop.ip,
                "port": hop.port if careful else 0,
                "timestamp": local.isoformat(),
                "protocol": hop.protocol,
                "destination_port": hop.destination_port,
            }
        ],
        "relationship_to_offence": "The connection to the victim came from this address.",
        "custodian": hop.provider if careful else "unknown provider",
        "necessity": f"The records are deleted at {isoformat_z(hop.dies_at)}."
        if careful
        else "Needed.",
        "mla_intended": True,
        "offence_articles": [scenario.offence_article] if careful else [],
        "data_kinds": [hop.data_kind] if careful else [],
        "emergency": scenario.emergency if careful else False,
        "handling": {
            "code": scenario.handling_code if careful else "H0",
            "tlp": scenario.tlp,
            "onward_sharing_permitted": True,
        },
        "confidentiality": {"do_not_notify_customer": careful},
    }
    return body


def mla_body(scenario: Scenario, hop: HopKey, *, issued: datetime) -> dict[str, Any]:
    """The careless trainee's wrong channel: straight to mutual assistance (Art. 31), months
    away, without preserving first."""
    return {
        "kind": "mla",
        "status": "new",
        "reference": f"{scenario.trainee_country}-EX-{scenario.seed}-MLA",
        "date_issued": issued.date().isoformat(),
        "requesting_party": scenario.trainee_country,
        "requested_party": hop.country,
        "requesting_authority": authority(scenario),
        "requested_authority": f"{hop.country} 24/7 point of contact",
        "confirmation_contact": {
            "name": "Trainee",
            "phone": "+15555550101",
            "email": f"trainee@{scenario.trainee_node_id}.example",
        },
        "investigative_authority": f"{scenario.trainee_country} police (synthetic)",
        "prosecution_office_or_court": f"{scenario.trainee_country} prosecutor (synthetic)",
        "case_numbers": "EX-1",
        "measures_sought": ["disclosure"],
        "offence": scenario.offence,
        "summary_of_facts": scenario.facts,
        "data_sought": f"Who used {hop.ip}",
        "applicable_law": "the criminal code",
        "handling": {"code": "H0", "tlp": scenario.tlp},
        "confidentiality": {"do_not_notify_customer": False},
    }


def correct_conclusion(scenario: Scenario) -> dict[str, str]:
    last = scenario.hops[-1]
    return {"end": scenario.end, "subscriber": scenario.subscriber or "", "country": last.country}


def _principal(node: Node, username: str) -> Principal:
    with node.db.session() as session:
        return principal_of(get_user(session, username))


def _send(
    node: Node, drafter: Principal, supervisor: Principal, body: dict[str, Any], recipient: str
) -> str:
    view = draft_request(node, drafter, body, recipient=recipient)
    approve_request(node, supervisor, view.id)
    send_request(node, drafter, view.id)
    return view.id


def play_careful(
    node: Node, clock: FixedClock, scenario: Scenario, session_id: str, username: str
) -> None:
    """Every hop the path reaches, preserved well before its records die, complete."""
    me, supervisor = _principal(node, username), _principal(node, SUPERVISOR)
    for hop in scenario.hops:
        if not hop.expects_request:
            continue
        clock.set(scenario.starts_at + timedelta(minutes=20) + (hop.index - 1) * timedelta(hours=2))
        assert hop.node_id is not None
        body = preservation_body(scenario, hop, issued=clock.now())
        _send(node, me, supervisor, body, hop.node_id)
        if hop.outcome != "relay":
            break
    conclude(node, me, session_id, **correct_conclusion(scenario))


def play_careless(
    node: Node, clock: FixedClock, scenario: Scenario, session_id: str, username: str
) -> None:
    """Late (after the first records died), the wrong channel (mutual assistance instead of
    preservation), an incomplete form, the default handling, the trail not followed, and a
    wrong conclusion."""
    me, supervisor = _principal(node, username), _principal(node, SUPERVISOR)
    first = scenario.hops[0]
    clock.set(first.dies_at + timedelta(hours=1))
    if first.node_id is not None:
        try:
            _send(
                node, me, supervisor, mla_body(scenario, first, issued=clock.now()), first.node_id
            )
        except TrailguardError:
            # the node refused the MLA to a 24/7 point of contact: a late, sloppy preservation
            body = preservation_body(scenario, first, issued=clock.now(), careful=False)
            _send(node, me, supervisor, body, first.node_id)
    wrong = "dead_end" if scenario.end != "dead_end" else "subscriber"
    conclude(node, me, session_id, end=wrong, subscriber="someone@example.org")


def run_selftest(
    seed: int, difficulty: Difficulty | str = Difficulty.NORMAL, root: Path | None = None
) -> SelftestResult:
    scenario = generate(seed, difficulty, get_engine())
    temporary = root is None
    folder = Path(tempfile.mkdtemp(prefix="trailguard-selftest-")) if root is None else root
    clock = FixedClock(scenario.starts_at)
    previous = set_default_clock(clock)
    cluster = ExerciseCluster(folder, scenario, clock_rate=1.0, counterpart_people=False)
    try:
        cluster.create()
        cluster.exchange_directories()
        node = cluster.trainee.node
        with node.db.session() as session:
            for username in (CAREFUL, CARELESS):
                create_user(
                    session,
                    username=username,
                    display_name=f"Scripted {username}",
                    roles=[Role.INVESTIGATOR, Role.DUTY_OFFICER],
                    now=clock.now(),
                    actor="system:exercise",
                    password=None,
                    one_time=False,
                )
        careful_id = open_session(node, scenario, trainee=CAREFUL, actor="system:selftest")
        careless_id = open_session(node, scenario, trainee=CARELESS, actor="system:selftest")
        play_careful(node, clock, scenario, careful_id, CAREFUL)
        play_careless(node, clock, scenario, careless_id, CARELESS)
        trainer = _principal(node, TRAINER)
        careful = score_session(node, trainer, careful_id).score
        careless = score_session(node, trainer, careless_id).score
        assert careful is not None and careless is not None
        return SelftestResult(scenario, careful.to_json(), careless.to_json())
    finally:
        set_default_clock(previous)
        cluster.stop()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
