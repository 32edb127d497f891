"""Attribution of an address: special-purpose ranges (IANA registries), directory prefixes
(most specific first), iptocc's country, an imported prefix-to-AS table; every answer sourced.
And the ``trace attribute --json`` contract."""

from __future__ import annotations

import ipaddress
import json
import random
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import make_node
from trailguard.audit.orm import AuditEntryRow
from trailguard.core.errors import ValidationFailed
from trailguard.network.directory import DirectoryEntry, EntryKind
from trailguard.network.directory_service import save_entry
from trailguard.trace import attribute_on_node, parse_prefix_table
from trailguard.trace.cli import app as trace_cli
from trailguard.trace.domain.attribution import special_registry

runner = CliRunner()


@pytest.mark.parametrize(
    ("ip", "special"),
    [
        ("10.20.30.40", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("100.128.0.1", None),
        ("192.0.2.1", "documentation"),
        ("198.51.100.23", "documentation"),
        ("203.0.113.77", "documentation"),
        ("2001:db8::1", "documentation"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "reserved"),
        ("198.18.0.1", "reserved"),
        ("192.0.0.9", None),  # PCP anycast: globally reachable inside 192.0.0.0/24
        ("192.0.0.1", "reserved"),
        ("8.8.8.8", None),
        ("2a00:1450::1", None),
    ],
)
def test_special_ranges(ip: str, special: str | None) -> None:
    answer = attribute_on_node(None, ip)
    assert answer.special == special
    assert answer.to_json()["special"] == special


def test_registry_agrees_with_pythons_ipaddress_is_global() -> None:
    # An independent reference: CPython's own table of the same registries. The one known
    # difference: multicast is no unicast source, which is_global does not consider.
    registry = special_registry()
    rng = random.Random(7)
    for _ in range(20_000):
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        block = registry.match(ip)
        ours_global = block is None or block.category is None
        if ip.is_multicast:
            assert block is not None and block.category == "multicast"
            continue
        assert ours_global == ip.is_global, ip


def test_every_block_names_its_rfc_and_the_registry_has_a_date() -> None:
    registry = special_registry()
    assert registry.as_of.year >= 2024
    for block in registry.blocks:
        assert block.rfc.startswith("RFC"), block
    assert "port" in registry.meanings["shared"]


def test_country_comes_from_iptocc_with_its_data_date() -> None:
    answer = attribute_on_node(None, "8.8.8.8").to_json()
    assert answer["country"] == "US"
    names = {source["name"]: source["as_of"] for source in answer["sources"]}
    iptocc = [name for name in names if name.startswith("iptocc ")]
    assert iptocc and names[iptocc[0]] == "2026-10-27"
    assert all(source["as_of"] for source in answer["sources"])


def test_documentation_addresses_are_flagged_but_traced_as_public(
    tmp_path: Path, database_url: str
) -> None:
    node = make_node(tmp_path, database_url)
    try:
        with node.db.session() as session:
            for node_id, country, prefixes in (
                ("polderhost", "NL", ("198.51.100.0/24",)),
                ("polderhost-cgn", "NL", ("198.51.100.128/25",)),
                ("rio-litoral", "BR", ("203.0.113.0/24", "2001:db8:200::/48")),
            ):
                entry = DirectoryEntry(
                    node_id=node_id,
                    kind=EntryKind.PROVIDER,
                    country=country,
                    organisation=node_id.title(),
                    prefixes=prefixes,
                )
                save_entry(session, node, entry, actor="system:test", source="test")
        inner = attribute_on_node(node, "198.51.100.200").to_json()
        assert inner["special"] == "documentation" and inner["traced_as_public"] is True
        assert inner["provider"]["node_id"] == "polderhost-cgn"  # most specific first
        assert inner["provider"]["prefix"] == "198.51.100.128/25"
        outer = attribute_on_node(node, "198.51.100.23").to_json()
        assert outer["provider"]["node_id"] == "polderhost"
        v6 = attribute_on_node(node, "2001:db8:200::77").to_json()
        assert v6["provider"]["country"] == "BR"
        assert attribute_on_node(node, "192.0.2.1").to_json()["provider"] is None
        # a private address is never given to a provider by prefix
        assert attribute_on_node(node, "10.0.0.1").to_json()["provider"] is None
        directory = [s for s in outer["sources"] if s["name"].startswith("signed directory")]
        assert directory and directory[0]["as_of"].endswith("Z")
    finally:
        node.close()


def test_cli_contract_without_and_with_a_node(tmp_path: Path, database_url: str) -> None:
    result = runner.invoke(trace_cli, ["attribute", "100.64.3.4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"ip", "special", "country", "sources"} <= set(data)
    assert data["ip"] == "100.64.3.4" and data["special"] == "shared" and data["country"] is None
    assert all({"name", "as_of"} <= set(source) for source in data["sources"])

    node = make_node(tmp_path, database_url)
    node.close()
    table = tmp_path / "pfx2as.txt"
    table.write_text("198.51.100.0\t24\t64500\n198.51.100.0\t25\t64501_64502\n")
    imported = runner.invoke(
        trace_cli,
        ["prefixes", "import", str(table), "--data-dir", str(tmp_path / "nl-poc"), "--as-of",
         "2026-11-01"],
        env={"TRAILGUARD_DATABASE_URL": database_url},
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(
        trace_cli,
        ["attribute", "198.51.100.5", "--at", "2026-11-20T09:14:07+01:00", "--data-dir",
         str(tmp_path / "nl-poc"), "--json"],
        env={"TRAILGUARD_DATABASE_URL": database_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == "2026-11-20T08:14:07Z"
    assert data["origin"] == {"prefix": "198.51.100.0/25", "asns": [64501, 64502],
                              "organisation": None}  # fmt: skip
    assert {"name": "pfx2as.txt", "as_of": "2026-11-01"} in data["sources"]


@pytest.mark.parametrize("bad", ["bogus", "300.1.2.3", "", "2001:db8::g"])
def test_bad_address_exits_2(bad: str) -> None:
    result = runner.invoke(trace_cli, ["attribute", bad, "--json"])
    assert result.exit_code == 2
    assert "not an IPv4 or IPv6 address" in result.stderr


def test_naive_at_is_refused() -> None:
    result = runner.invoke(trace_cli, ["attribute", "8.8.8.8", "--at", "2026-11-20T08:00:00"])
    assert result.exit_code == 2 and "no zone" in result.stderr


def test_csv_prefix_table_and_bad_lines_import_nothing(tmp_path: Path, database_url: str) -> None:
    table = parse_prefix_table(
        "prefix,asn,organisation\n203.0.113.0/24,AS64510,Rio Litoral\n2001:db8::/32,64511,\n",
        name="t",
        as_of=date(2026, 11, 1),
    )
    assert [o.to_json() for o in table.origins] == [
        {"prefix": "203.0.113.0/24", "asns": [64510], "organisation": "Rio Litoral"},
        {"prefix": "2001:db8::/32", "asns": [64511], "organisation": None},
    ]
    with pytest.raises(ValidationFailed) as caught:
        parse_prefix_table("prefix,asn\n203.0.113.1/24,64510\n192.0.2.0/24,ASX\n",
                           name="t", as_of=date(2026, 11, 1))  # fmt: skip
    assert len(caught.value.problems) == 2
    node = make_node(tmp_path, database_url)
    try:
        bad = tmp_path / "bad.txt"
        bad.write_text("198.51.100.0\t24\t64500\nnot a line\n")
        result = runner.invoke(
            trace_cli,
            ["prefixes", "import", str(bad), "--data-dir", str(node.paths.data_dir), "--as-of",
             "2026-11-01"],
            env={"TRAILGUARD_DATABASE_URL": database_url},
        )  # fmt: skip
        assert result.exit_code == 2 and "line 2" in result.stderr
        assert not (node.paths.data_dir / "trace" / "prefix-table.json").exists()
        with node.db.session() as session:
            actions = session.execute(select(AuditEntryRow.action)).scalars().all()
        assert "trace.prefix_table_imported" not in actions
    finally:
        node.close()
