"""Steps 5-9: the providers' logs, the victim's log line, the US preservation request to NL,
NL's acknowledgement and forwarding, Polderhost's look-up and hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.demo import data
from trailguard.demo.cluster import wait_for
from trailguard.demo.script.acts import forward_at_poc, polderhost_preserve
from trailguard.demo.script.common import (
    NL,
    POLDERHOST,
    RIO,
    US,
    DemoContext,
    _json,
    _maybe,
    _preservation_body,
    expect,
)
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers import get_parser
from trailguard.traffic.service import ingest_files


def providers_ingest(ctx: DemoContext) -> Iterator[str]:
    folder = ctx.cluster.root / "provider-logs"
    folder.mkdir(exist_ok=True)
    jobs = [
        (POLDERHOST, data.polderhost_conn_log(folder), "zeek-conn", ParseOptions()),
        (
            RIO,
            data.riolitoral_pba_log(folder),
            "juniper-pba",
            ParseOptions(tz="America/Sao_Paulo", year=2026),
        ),
        (RIO, data.riolitoral_radius_detail(folder), "freeradius-detail", ParseOptions()),
    ]
    for node_id, path, fmt, options in jobs:
        demo_node = ctx.cluster[node_id]
        [report] = ingest_files(
            demo_node.node,
            [path],
            provider=node_id,
            actor="system:ingest",
            format_name=fmt,
            options=options,
        )
        expect(
            not report.refused and report.records_stored > 0,
            f"{node_id} could not ingest {path.name}: {report}",
        )
        expect(report.bad_line_count == 0, f"{path.name} had bad lines: {report}")
        yield (
            f"{demo_node.spec.name} ingests {path.name} ({fmt}): {report.lines_read} lines, "
            f"{report.records_stored} records stored"
        )


def read_the_victims_log(ctx: DemoContext) -> Iterator[str]:
    folder = ctx.cluster.root / "victim-logs"
    folder.mkdir(exist_ok=True)
    path = data.bank_proxy_log(folder)
    rows = []
    for batch in get_parser("csv").parse(path, ParseOptions(column_map=data.BANK_COLUMN_MAP)):
        rows.extend(batch.table.to_pylist())
    login = [r for r in rows if r["subscriber"] == "admin"]
    expect(len(login) == 1, "the administrator login is not in the bank's log")
    row = login[0]
    expect(
        row["public_ip"] == data.VPS_IP
        and row["public_port"] == data.VPS_PORT
        and row["start"] == data.LOGIN_AT,
        f"the login record was misread: {row}",
    )
    ctx.facts["observation"] = row
    yield (
        f"the bank's proxy log (line {row['source_line']}): admin login from "
        f"{row['public_ip']} port {row['public_port']} at {row['start'].isoformat()} "
        f"(written as offset {row['source_tz']} in New York)"
    )


def nl_preservation_body() -> dict[str, Any]:
    """The US request to NL's 24/7 point of contact for Polderhost's flow records, as the
    demo (and the trace benchmark's by-hand path) types it."""
    return _preservation_body(
        reference="US-2026-NJ-001",
        requested="NL",
        requested_authority="Netherlands 24/7 point of contact",
        endpoint={
            "type": "ip_endpoint",
            "ip": data.VPS_IP,
            "port": data.VPS_PORT,
            "timestamp": "2026-11-20T03:14:07.250-05:00",
            "protocol": "tcp",
            "destination_port": data.BANK_PORT,
        },
        custodian="Polderhost B.V. (VPS hosting, 198.51.100.0/24)",
        relationship="The administrator login to the bank came from this address and port.",
        necessity="Polderhost keeps flow records for 30 days; they are deleted on 2026-12-20.",
        data_kinds=["flow"],
    )


def preservation_to_nl(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    body = nl_preservation_body()
    draft = _json(
        us.as_user("iris.reed").post(
            "/api/requests",
            json={
                "body": body,
                "recipient": NL,
                "retention_days": {"flow": 30},
                "observed_at": data.LOGIN_AT.isoformat(),
            },
        ),
        "draft preservation",
    )
    request_id = draft["id"]
    ctx.facts["nl_request"] = request_id
    yield (
        f"Iris Reed (investigator) drafts {body['reference']}: legal basis "
        f"{(draft.get('legal_basis') or {}).get('summary', '?')[:90]}"
    )
    for deadline in draft.get("deadlines", [])[:3]:
        yield f"  clock: {deadline['label']} -> {deadline['due_at']}"
    _json(us.as_user("dan.cole").post(f"/api/requests/{request_id}/approve"), "approve")
    sent = _json(us.as_user("dan.cole").post(f"/api/requests/{request_id}/send", json={}), "send")
    expect(sent["state"] == "sent", f"state after sending is {sent['state']}")
    yield "Dan Cole (duty officer) approves (four eyes) and sends it to the NL point of contact"
    nl = ctx.cluster[NL]
    got = wait_for(
        lambda: _maybe(nl.as_user("noor.visser"), f"/api/requests/{request_id}"),
        what="the request at NL",
    )
    yield f"NL holds request {got['reference']} in state '{got['state']}'"
    ctx.pages.append(("US request page", f"{us.url}/requests/{request_id}"))


def nl_acknowledges_and_forwards(ctx: DemoContext) -> Iterator[str]:
    request_id = ctx.facts["nl_request"]
    copy_id = forward_at_poc(ctx, NL, "noor.visser", request_id, POLDERHOST, "pim.dekker")
    yield "Noor Visser acknowledges within the 30-minute clock; US gets the signed receipt"
    ctx.facts["polderhost_request"] = copy_id
    yield f"forwarded to Polderhost B.V. as {copy_id[:8]} (a copy linked to the original)"

    def us_sees_ack() -> bool:
        view = _json(
            ctx.cluster[US].as_user("dan.cole").get(f"/api/requests/{request_id}"), "US view"
        )
        return view["state"] in ("acknowledged", "in_execution", "preserved")

    wait_for(us_sees_ack, what="US to see NL's acknowledgement")


def polderhost_preserves(ctx: DemoContext) -> Iterator[str]:
    ph = ctx.cluster[POLDERHOST]
    done = polderhost_preserve(ctx, ctx.facts["polderhost_request"], "US-2026-NJ-001")
    records, hold = done["records"], done["hold"]
    ctx.facts["ssh_flow"] = done["inbound"]
    yield (
        f"Pim Dekker looks up {data.VPS_IP} from {done['start'][11:19]}Z to "
        f"{done['end'][11:19]}Z: {len(records)} flow records, including the connection to the "
        f"bank and an SSH session from {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT}"
    )
    ctx.facts["polderhost_hold"] = hold
    yield (
        f"hold {hold['hold_id']} seals {hold['records']} records, SHA-256 {hold['sha256'][:16]}..."
    )
    us = ctx.cluster[US]

    def us_sees_preserved() -> dict[str, Any] | None:
        view = _json(
            us.as_user("dan.cole").get(f"/api/requests/{ctx.facts['nl_request']}"), "US view"
        )
        return view if view["state"] == "preserved" else None

    view = wait_for(us_sees_preserved, what="US to see the preservation")
    expect(
        view.get("hold_digest") == hold["sha256"],
        f"US holds digest {view.get('hold_digest')}, expected {hold['sha256']}",
    )
    yield (
        f"the preservation travels back Polderhost -> NL -> US with the digest; US's clock: "
        f"preserved until {view.get('expires_at')}"
    )
    ctx.pages.append(("Polderhost traffic and holds", f"{ph.url}/traffic"))
