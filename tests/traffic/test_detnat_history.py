"""The stored deterministic NAT history at a node: versions only added, audited, role-checked;
lookups that combine it with logged blocks; the ``traffic detnat`` CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from _store_factory import digest, table
from typer.testing import CliRunner

from helpers import make_node
from trailguard.accounts.domain import Principal, Role
from trailguard.audit.service import iter_entries
from trailguard.core.clock import FixedClock
from trailguard.core.errors import PermissionDenied, ValidationFailed
from trailguard.node import Node
from trailguard.traffic import service
from trailguard.traffic.detnat import service as detnat_service
from trailguard.traffic.model import RECORD_SCHEMA
from trailguard.traffic.values import to_us

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
LIAISON = Principal(user_id=1, username="pat", display_name="Pat",
                    roles=frozenset({Role.PROVIDER_LIAISON}))  # fmt: skip
PROVIDER = "rio-litoral"


def _row(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {f.name: None for f in RECORD_SCHEMA}
    row.update(source_file="x.log", source_line=1)
    row.update(kw)
    return row


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Node:
    node = make_node(tmp_path, database_url, node_id="br-rio", country="BR",
                     roles=["provider"], clock=FixedClock(T0 + timedelta(days=1)))  # fmt: skip
    store = service.store_for(node)
    leases = [
        _row(kind="dhcp", event="lease", start=T0 - timedelta(hours=1),
             end=T0 + timedelta(hours=3), inside_ip=f"100.64.0.{i}", subscriber=f"acct-{i}",
             source_line=i + 1)
        for i in range(0, 8)
    ]  # fmt: skip
    store.ingest_table(table(leases), provider=PROVIDER, source_sha256=digest("leases"))
    # a logged dynamic overflow block of 100.64.0.3 on 203.0.113.7 (outside every fixed range)
    block = [
        _row(kind="port_block", event="create", start=T0 + timedelta(minutes=10),
             end=T0 + timedelta(minutes=40), inside_ip="100.64.0.3", public_ip="203.0.113.7",
             public_port=30000, public_port_end=30063, source_file="pba.log"),
    ]  # fmt: skip
    store.ingest_table(table(block), provider=PROVIDER, source_sha256=digest("pba"))
    yield node
    node.close()


def _add(node: Node, **kw: object) -> detnat_service.DetNatVersion:
    args: dict[str, object] = {
        "provider": PROVIDER,
        "plan": "cgn-1",
        "valid_from": T0,
        "inside_prefix": "100.64.0.0/29",
        "outside_pool": ["203.0.113.0/30"],
        "ports_per_subscriber": 2000,
    }
    args.update(kw)
    return detnat_service.add_version(node, LIAISON, **args)  # type: ignore[arg-type]


def _actions(node: Node) -> list[tuple[str, dict[str, object]]]:
    with node.db.session() as session:
        return [(e.action, json.loads(e.details)) for e in iter_entries(session)]


def test_versions_are_added_never_overwritten_and_audited(node: Node) -> None:
    v1 = _add(node, note="first commissioning")
    v2 = _add(node, valid_from=T1, algorithm="round-robin")
    with pytest.raises(ValidationFailed, match="never overwritten"):
        _add(node, ports_per_subscriber=1000)  # same plan, same valid_from
    assert [v.id for v in detnat_service.list_versions(node)] == [v1.id, v2.id]
    assert detnat_service.list_versions(node)[0].config.ports_per_subscriber == 2000
    assert v1.sha256 != v2.sha256 and len(v1.sha256) == 64
    assert v1.sha256 == detnat_service.config_digest(v1.config)
    added = [d for a, d in _actions(node) if a == "traffic.detnat_version_added"]
    assert [d["sha256"] for d in added] == [v1.sha256, v2.sha256]
    assert added[0]["note"] == "first commissioning" and added[1]["algorithm"] == "round-robin"
    # a version recorded later for an earlier date is kept, and the audit says it was backdated
    v0 = _add(node, valid_from=T0 - timedelta(days=1), ports_per_subscriber=4000)
    assert [v.id for v in detnat_service.list_versions(node)] == [v0.id, v1.id, v2.id]
    assert [d for a, d in _actions(node) if a == "traffic.detnat_version_added"][-1][
        "backdated_before_versions"
    ] == 2
    # another plan of the same provider has its own history
    _add(node, plan="cgn-2", inside_prefix="100.65.0.0/29", outside_pool=["198.51.100.0/30"])
    assert [p.plan for p in detnat_service.plans_for(node)] == ["cgn-1", "cgn-2"]


def test_bad_or_unauthorised_additions_store_nothing(node: Node) -> None:
    nobody = Principal(user_id=2, username="eve", display_name="Eve", roles=frozenset())
    with pytest.raises(PermissionDenied):
        detnat_service.add_version(node, nobody, provider=PROVIDER, plan="cgn-1", valid_from=T0,
                                   inside_prefix="100.64.0.0/29", outside_pool=["203.0.113.0/30"],
                                   ports_per_subscriber=2000)  # fmt: skip
    with pytest.raises(ValidationFailed, match="port ranges"):
        _add(node, inside_prefix="100.64.0.0/16")  # 65536 subscribers do not fit 4 addresses
    with pytest.raises(ValidationFailed, match="plan name"):
        _add(node, plan="CGN 1")
    with pytest.raises(ValidationFailed, match="unknown algorithm"):
        _add(node, algorithm="random")
    with pytest.raises(ValidationFailed, match="aware"):
        _add(node, valid_from=datetime(2026, 11, 27))
    assert detnat_service.list_versions(node) == []
    assert not [a for a, _ in _actions(node) if a.startswith("traffic.detnat")]


def test_service_lookup_combines_computed_and_logged(node: Node) -> None:
    at = T0 + timedelta(minutes=20)
    # no configuration: the plain store answer, no basis
    plain = service.lookup(node, LIAISON, "203.0.113.0", 3100, at)
    assert plain.matches == () and "basis" not in json.dumps(plain.to_json())
    _add(node)  # sequential: 8 subscribers x 2000 ports: 32 ranges per address
    # 203.0.113.0 port 3100 is in the second range: 100.64.0.1 (ports 3024..5023)
    answer = service.lookup(node, LIAISON, "203.0.113.0", 3100, at)
    (m,) = answer.to_json()["matches"]
    assert (m["inside_ip"], m["subscriber"], m["basis"]) == (
        "100.64.0.1",
        "acct-1",
        "deterministic",
    )
    assert m["port_block"] == [3024, 5023] and m["inside_port"] is None
    assert m["detnat"]["plan"] == "cgn-1" and m["detnat"]["valid_until"] is None
    assert [r["kind"] for r in m["records"]] == ["dhcp"]  # the lease, not a NAT record
    # the overflow area is answered by the logged block only
    (b,) = service.lookup(node, LIAISON, "203.0.113.7", 30010, at).to_json()["matches"]
    assert (b["basis"], b["subscriber"], b["port_block"]) == ("logged_block", "acct-3",
                                                              [30000, 30063])  # fmt: skip
    # outside the block's period there is nothing
    late = service.lookup(node, LIAISON, "203.0.113.7", 30010, T0 + timedelta(hours=1))
    assert late.matches == ()
    # a change of configuration within the tolerance: both candidates, the one in force first
    _add(node, valid_from=T1, algorithm="round-robin")
    # 203.0.113.0 port 3024: sequential gives subscriber 1, round-robin (4 addresses) 4
    near = service.lookup(node, LIAISON, "203.0.113.0", 3024, T1 + timedelta(seconds=1))
    got = [(x["inside_ip"], x["detnat"]["algorithm"], x["distance_seconds"] == 0)
           for x in near.to_json()["matches"]]  # fmt: skip
    assert got == [("100.64.0.4", "round-robin", True), ("100.64.0.1", "sequential", False)]
    logged = [a for a, d in _actions(node) if a == "traffic.lookup"]
    assert len(logged) == 5


def test_logged_block_wins_over_a_conflicting_fixed_range(node: Node) -> None:
    # a configuration whose fixed ranges (wrongly) cover the logged block's ports
    _add(node, outside_pool=["203.0.113.7"], ports_per_subscriber=6000)  # 30010: 100.64.0.4
    at = T0 + timedelta(minutes=20)
    answer = service.lookup(node, LIAISON, "203.0.113.7", 30010, at).to_json()["matches"]
    assert [m["basis"] for m in answer] == ["logged_block", "deterministic"]
    assert [m["subscriber"] for m in answer] == ["acct-3", "acct-4"]


def test_batch_lookup_with_basis_column(node: Node) -> None:
    _add(node)
    at = to_us(T0 + timedelta(minutes=20))
    ips = ["203.0.113.0", "203.0.113.7", "203.0.113.7", "198.51.100.9"]
    ports = [3100, 30010, 40000, 80]
    batch = service.lookup_batch(node, LIAISON, ips, ports, np.full(4, at, dtype=np.int64))
    best = batch.best_table().to_pylist()
    assert [(b["found"], b["subscriber"], b["basis"]) for b in best] == [
        (True, "acct-1", "deterministic"),
        (True, "acct-3", "logged_block"),
        (False, None, None),
        (False, None, None),
    ]
    assert best[0]["start"] == T0 and best[0]["end"] is None
    assert batch.answer(0).to_json()["matches"][0]["basis"] == "deterministic"


runner = CliRunner()


def test_cli_add_list_lookup(tmp_path: Path, database_url: str) -> None:
    from trailguard.traffic.cli import app

    node = make_node(tmp_path, database_url, node_id="br-cli", country="BR", roles=["provider"])
    data_dir = node.paths.data_dir
    node.close()
    base = ["detnat", "add", "--data-dir", str(data_dir), "--user", "admin",
            "--provider", PROVIDER, "--plan", "cgn-1", "--inside-prefix", "100.64.0.0/29",
            "--outside-pool", "203.0.113.0/31", "--outside-pool", "203.0.113.9",
            "--ports-per-subscriber", "16000"]  # fmt: skip
    ok = runner.invoke(app, [*base, "--valid-from", "2026-11-27T08:00:00Z", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["outside_pool"] == ["203.0.113.0/31", "203.0.113.9"]
    again = runner.invoke(app, [*base, "--valid-from", "2026-11-27T09:00:00+01:00"])
    assert again.exit_code == 2 and "never overwritten" in again.output
    naive = runner.invoke(app, [*base, "--valid-from", "2026-11-27T10:00:00"])
    assert naive.exit_code != 0 and "no zone" in naive.output
    listed = runner.invoke(app, ["detnat", "list", "--data-dir", str(data_dir), "--json"])
    assert [v["valid_from"] for v in json.loads(listed.output)] == ["2026-11-27T08:00:00Z"]
    found = runner.invoke(app, ["detnat", "lookup", "--data-dir", str(data_dir), "--user",
                                "admin", "--ip", "203.0.113.1", "--port", "1024", "--at",
                                "2026-11-27T08:30:00Z", "--json"])  # fmt: skip
    assert found.exit_code == 0, found.output
    (m,) = json.loads(found.output)["matches"]
    # 16000 ports: 4 ranges per address; subscriber 4 is the first on the second address
    assert (m["basis"], m["inside_ip"], m["subscriber"]) == ("deterministic", "100.64.0.4", None)
    assert m["port_block"] == [1024, 17023]
    bare = runner.invoke(app, ["detnat", "list", "--data-dir", str(tmp_path / "bare")])
    assert bare.exit_code == 2 and "node's data directory" in " ".join(bare.output.split())
