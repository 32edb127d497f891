"""A hop whose address is this node's own: an audited look-up in its own traffic store
(the demo's synthetic Rio Litoral CGNAT port-block and RADIUS logs). One candidate ends the
trace at the subscriber; without the port several candidates are shown and none is picked;
a time with no record is a dead end 'no data'."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from trace_kit import principal

from helpers import make_node
from trailguard.accounts.domain import Role
from trailguard.audit.orm import AuditEntryRow
from trailguard.demo import data
from trailguard.investigations import service as cases
from trailguard.investigations.domain import ObservationIn, SourceKind
from trailguard.trace import service as trace


@pytest.fixture
def rio(tmp_path: Path, database_url: str) -> Iterator[Any]:
    from trailguard.network.directory_service import publish_self
    from trailguard.traffic import ParseOptions, open_store

    node = make_node(
        tmp_path,
        database_url,
        node_id="br-riolitoral",
        country="BR",
        roles=["provider"],
        timezone="America/Sao_Paulo",
    )
    with node.db.session() as session:
        publish_self(session, node, actor="system:test", prefixes=["203.0.113.0/24"])
    store = open_store(node.paths.data_dir)
    logs = tmp_path / "logs"
    logs.mkdir()
    store.ingest_file(
        data.riolitoral_pba_log(logs),
        provider="br-riolitoral",
        format_name="juniper-pba",
        options=ParseOptions(tz="America/Sao_Paulo", year=2026),
    )
    store.ingest_file(
        data.riolitoral_radius_detail(logs),
        provider="br-riolitoral",
        format_name="freeradius-detail",
        options=ParseOptions(),
    )
    try:
        yield node
    finally:
        node.close()


def _start(node: Any, port: int | None, at: Any, tolerance: float = 2.0, *roles: Role) -> Any:
    # the provider's own analyst: opens cases and may look up its traffic data
    who = principal("rafa", *(roles or (Role.INVESTIGATOR, Role.PROVIDER_LIAISON)))
    case = cases.create_investigation(node, who, {"reference": "BR-RL-1", "title": "Abuse"})
    [obs] = cases.add_observations(
        node,
        who,
        case.id,
        [
            ObservationIn(
                kind=SourceKind.TYPED_EVENT,
                ip=data.ATTACKER_PUBLIC_IP,
                port=port,
                at=at,
                source_zone="Z",
                tolerance_s=tolerance,
                protocol="tcp",
            )
        ],
        how="test",
    )
    return who, trace.start_trace(node, who, case.id, obs.id)


def test_one_candidate_ends_at_the_subscriber(rio: Any) -> None:
    at = data.SSH_START + timedelta(seconds=1)
    _who, started = _start(rio, data.ATTACKER_PUBLIC_PORT, at)
    [hop] = started.hops
    assert hop["state"] == "subscriber" and started.state == "subscriber"
    assert hop["subscriber"] == data.SUBSCRIBER
    assert [c["inside_ip"] for c in hop["candidates"]] == [data.INSIDE_IP]
    assert hop["request_id"] is None  # nothing to ask anyone: the data is here
    with rio.db.session() as session:
        actions = list(session.execute(select(AuditEntryRow.action)).scalars())
    assert "trace.own_lookup" in actions


def test_without_the_liaison_role_the_hop_waits_for_the_liaison_team(rio: Any) -> None:
    at = data.SSH_START + timedelta(seconds=1)
    _who, started = _start(rio, data.ATTACKER_PUBLIC_PORT, at, 2.0, Role.INVESTIGATOR)
    [hop] = started.hops
    assert hop["subscriber"] is None and hop["candidates"] == []
    assert "provider liaison" in hop["next_action"]
    with rio.db.session() as session:
        actions = list(session.execute(select(AuditEntryRow.action)).scalars())
    assert "traffic.lookup" not in actions  # the store was not read


def test_without_the_port_the_candidates_are_shown_and_none_is_picked(rio: Any) -> None:
    at = data.SSH_START + timedelta(seconds=1)
    who, started = _start(rio, None, at)
    [hop] = started.hops
    assert hop["state"] == "ambiguous" and started.state == "open"
    assert len(hop["candidates"]) > 1
    assert hop["subscriber"] is None
    assert "source port" in hop["next_action"]
    decided = trace.refine_hop(rio, who, started.id, hop["id"], port=data.ATTACKER_PUBLIC_PORT)
    assert decided.hops[0]["state"] == "subscriber"
    assert decided.hops[0]["subscriber"] == data.SUBSCRIBER


def test_no_record_at_that_time_is_a_dead_end(rio: Any) -> None:
    at = data.SSH_START - timedelta(days=20)
    _who, started = _start(rio, data.ATTACKER_PUBLIC_PORT, at)
    assert started.state == "dead_end" and started.end_reason == "no_data"
