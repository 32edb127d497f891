"""Attribution as a service: the domain's answer fed with the node's own knowledge (its signed
directory's provider prefixes, an imported prefix-to-AS table) and iptocc's country data."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import iptocc

from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.network import list_entries
from trailguard.trace.domain.attribution import (
    Attribution,
    PrefixTable,
    ProviderPrefix,
    Source,
    attribute,
    parse_prefix_table,
)
from trailguard.trace.rdap import rdap_lookup

# iptocc embeds its RIR data in the wheel; the data date is the pinned release's upload date
# on PyPI (uv.lock: iptocc 3.3.170 uploaded 2026-10-27), as its data is rebuilt per release.
IPTOCC_VERSION = "3.3.170"
IPTOCC_DATA_DATE = "2026-10-27"
IPTOCC_SOURCE = Source(f"iptocc {IPTOCC_VERSION} (RIR delegation data)", IPTOCC_DATA_DATE)

PREFIX_TABLE_FILE = "trace/prefix-table.json"


def country_of(ip: str) -> str | None:
    return iptocc.country_code(ip)


def provider_prefixes(entries: list[Any]) -> tuple[list[ProviderPrefix], Source]:
    """Every prefix of every directory entry, with the directory's as-of (newest entry)."""
    prefixes = [
        ProviderPrefix(entry.node_id, entry.organisation, entry.country, network)
        for entry in entries
        for network in entry.networks()
    ]
    stamps = [entry.updated_at for entry in entries if entry.updated_at is not None]
    as_of = isoformat_z(max(stamps)) if stamps else None
    return prefixes, Source("signed directory (provider prefixes)", as_of)


def load_prefix_table(data_dir: Path) -> PrefixTable | None:
    path = data_dir / PREFIX_TABLE_FILE
    if not path.is_file():
        return None
    return PrefixTable.from_json(json.loads(path.read_text()))


def save_prefix_table(data_dir: Path, table: PrefixTable) -> Path:
    """Write the table atomically (a half-written table is never read)."""
    path = data_dir / PREFIX_TABLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(table.to_json()))
    os.replace(temporary, path)
    return path


def import_prefix_table(node: Any, text: str, *, name: str, as_of: date, actor: str) -> PrefixTable:
    """Parse (all or nothing), store under the node's data dir and audit the import."""
    table = parse_prefix_table(text, name=name, as_of=as_of)
    with node.db.session() as session:
        record(
            session,
            actor=actor,
            action="trace.prefix_table_imported",
            subject=f"prefix-table:{name}",
            details={"as_of": as_of.isoformat(), "prefixes": len(table.origins)},
            at=node.clock.now(),
        )
        save_prefix_table(node.paths.data_dir, table)
    return table


def attribute_on_node(
    node: Any | None,
    ip: str,
    at: datetime | None = None,
    *,
    rdap: bool = False,
    rdap_client: Any = None,
    actor: str = "system:cli",
) -> Attribution:
    """Attribute ``ip`` with everything the node knows (or only the offline data without one).
    ``rdap=True`` adds an RDAP look-up (off by default), recorded in the node's audit log."""
    at_text = isoformat_z(at) if at else None
    if node is None:
        answer = attribute(ip, country=country_of(ip), country_source=IPTOCC_SOURCE, at=at_text)
    else:
        with node.db.session() as session:
            entries = list_entries(session)
        prefixes, directory_source = provider_prefixes(entries)
        answer = attribute(
            ip,
            country=country_of(ip),
            country_source=IPTOCC_SOURCE,
            provider_prefixes=prefixes,
            directory_source=directory_source,
            prefix_table=load_prefix_table(node.paths.data_dir),
            at=at_text,
        )
    if not rdap:
        return answer
    found = rdap_lookup(answer.ip, client=rdap_client)
    if node is not None:
        with node.db.session() as session:
            record(
                session,
                actor=actor,
                action="trace.rdap_lookup",
                subject=f"ip:{answer.ip}",
                details={"url": found["url"], "handle": found["handle"]},
                at=node.clock.now(),
            )
    source = Source(f"RDAP {found['url']}", found["retrieved_at"])
    return replace(answer, rdap=found, sources=(*answer.sources, source))
