"""What every group of Operation Nightjar's steps shares: the five nodes and their people, the
rosters, the context a step runs in, and the small helpers (``_json``, ``_maybe``,
``expect``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from trailguard.accounts import Role
from trailguard.core.config import NodeRole
from trailguard.demo.cluster import DemoCluster, NodeSpec, StepFailed

US, NL, POLDERHOST, BR, RIO = "us-poc", "nl-poc", "nl-polderhost", "br-poc", "br-riolitoral"

SCENARIO_NODES = [
    NodeSpec(
        US,
        "United States 24/7 point of contact",
        "US",
        (NodeRole.POC,),
        "America/New_York",
        people=(
            ("iris.reed", "Iris Reed", (Role.INVESTIGATOR,)),
            ("dan.cole", "Dan Cole", (Role.DUTY_OFFICER,)),
            ("carla.mendez", "Carla Mendez", (Role.CENTRAL_AUTHORITY,)),
        ),
        phone="+1 202 555 0100",
        email="duty@us-poc.example",
    ),
    NodeSpec(
        NL,
        "Netherlands 24/7 point of contact",
        "NL",
        (NodeRole.POC,),
        "Europe/Amsterdam",
        languages=("nl", "en", "de"),
        people=(
            ("noor.visser", "Noor Visser", (Role.DUTY_OFFICER,)),
            ("joost.bakker", "Joost Bakker", (Role.DUTY_OFFICER,)),
        ),
        phone="+31 70 555 0100",
        email="duty@nl-poc.example",
    ),
    NodeSpec(
        POLDERHOST,
        "Polderhost B.V.",
        "NL",
        (NodeRole.PROVIDER,),
        "Europe/Amsterdam",
        languages=("nl", "en"),
        prefixes=("198.51.100.0/24", "2001:db8:100::/48"),
        people=(("pim.dekker", "Pim Dekker", (Role.PROVIDER_LIAISON,)),),
        email="lea@polderhost.example",
    ),
    NodeSpec(
        BR,
        "Brazil 24/7 point of contact",
        "BR",
        (NodeRole.POC,),
        "America/Sao_Paulo",
        languages=("pt", "en", "es"),
        people=(("bruna.alves", "Bruna Alves", (Role.DUTY_OFFICER,)),),
        phone="+55 61 5550 0100",
        email="plantao@br-poc.example",
    ),
    NodeSpec(
        RIO,
        "Rio Litoral Telecom",
        "BR",
        (NodeRole.PROVIDER,),
        "America/Sao_Paulo",
        languages=("pt", "en"),
        prefixes=("203.0.113.0/24", "2001:db8:200::/48"),
        people=(("rafael.costa", "Rafael Costa", (Role.PROVIDER_LIAISON,)),),
        email="juridico@riolitoral.example",
    ),
]

# Two shifts a day cover the clock; each person is the other's backup.
NL_ROSTER = [
    {
        "person": "Noor Visser",
        "role": "primary",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start_time": "08:00",
        "end_time": "20:00",
        "phone": "+31 70 555 0101",
    },
    {
        "person": "Joost Bakker",
        "role": "primary",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start_time": "20:00",
        "end_time": "08:00",
        "phone": "+31 70 555 0102",
    },
    {
        "person": "Joost Bakker",
        "role": "backup",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start_time": "08:00",
        "end_time": "20:00",
        "phone": "+31 70 555 0102",
    },
    {
        "person": "Noor Visser",
        "role": "backup",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "start_time": "20:00",
        "end_time": "08:00",
        "phone": "+31 70 555 0101",
    },
]


@dataclass
class DemoContext:
    cluster: DemoCluster
    console: Console
    pages: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    wait_s: float = 60.0  # how long a step waits for the other nodes (the benchmark raises it)


@dataclass(frozen=True)
class Step:
    title: str
    actor: str  # the node whose local time is shown
    run: Callable[[DemoContext], Iterator[str]]


def _maybe(client: Any, path: str) -> Any:
    """GET that answers None while the thing is not there yet (404)."""
    answer = client.get(path)
    if answer.status_code == 404:
        return None
    return _json(answer, path)


US_AUTHORITY = {
    "organisation": "United States 24/7 point of contact (synthetic)",
    "person_in_charge": "Dan Cole",
    "address": "1 Example Plaza, Washington DC",
    "phone": "+12025550100",
    "email": "duty@us-poc.example",
    "office_hours": "24/7",
    "time_zone": "America/New_York",
    "preferred_channel": "trailguard",
}


def _us_case() -> dict[str, Any]:
    """What every US request of the story says of its case: the contact that confirms it, the
    authority seeking the data, the offence and the facts (a new dict each time)."""
    return {
        "confirmation_contact": {
            "name": "Iris Reed",
            "phone": "+12025550101",
            "email": "iris.reed@us-poc.example",
        },
        "seeking_authority": "US Department of Justice (synthetic)",
        "offence": "Illegal access to a bank's web server (18 U.S.C. 1030)",
        "offence_articles": [2],
        "summary_of_facts": "On 2026-11-20 at 03:14:07 New York time an unknown person logged "
        "in to the administration interface of a bank's web server.",
    }


def _preservation_body(
    *,
    reference: str,
    requested: str,
    requested_authority: str,
    endpoint: dict[str, Any],
    custodian: str,
    relationship: str,
    necessity: str,
    data_kinds: list[str],
) -> dict[str, Any]:
    return {
        "kind": "preservation",
        "reference": reference,
        "date_issued": "2026-11-20",
        "requesting_party": "US",
        "requested_party": requested,
        "requesting_authority": US_AUTHORITY,
        "requested_authority": requested_authority,
        **_us_case(),
        "data_to_preserve": [endpoint],
        "relationship_to_offence": relationship,
        "custodian": custodian,
        "necessity": necessity,
        "mla_intended": True,
        "data_kinds": data_kinds,
    }


def expect(condition: object, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def _two_shifts(
    day: tuple[str, str], night: tuple[str, str], switch: tuple[str, str]
) -> list[dict[str, Any]]:
    """A 24/7 roster of two people (name, phone): day shift and night shift at ``switch``
    (local times), each the other's backup."""
    first, second = switch
    return [
        {"person": day[0], "role": "primary", "weekdays": list(range(7)), "start_time": first,
         "end_time": second, "phone": day[1]},
        {"person": night[0], "role": "primary", "weekdays": list(range(7)), "start_time": second,
         "end_time": first, "phone": night[1]},
        {"person": night[0], "role": "backup", "weekdays": list(range(7)), "start_time": first,
         "end_time": second, "phone": night[1]},
        {"person": day[0], "role": "backup", "weekdays": list(range(7)), "start_time": second,
         "end_time": first, "phone": day[1]},
    ]  # fmt: skip


# Synthetic people; 555 numbers (fictional ranges).
US_ROSTER = _two_shifts(("Dan Cole", "+1 202 555 0100"), ("Ann Price", "+1 202 555 0101"),
                        ("07:00", "19:00"))  # fmt: skip
BR_ROSTER = _two_shifts(("Bruna Alves", "+55 61 5555 0100"), ("Thiago Ramos", "+55 61 5555 0101"),
                        ("07:00", "19:00"))  # fmt: skip
ROSTERS = {NL: NL_ROSTER, US: US_ROSTER, BR: BR_ROSTER}


def _json(answer: Any, what: str) -> Any:
    if answer.status_code >= 400:
        raise StepFailed(f"{what}: HTTP {answer.status_code} {answer.text[:300]}")
    return answer.json()


def _trace_template() -> dict[str, Any]:
    return {"requesting_authority": US_AUTHORITY, **_us_case()}
