"""Steps 12-14: the extension and the MLA request, the evidence packages, the live watch."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from trailguard.core.clock import default_clock
from trailguard.demo import data
from trailguard.demo.cluster import wait_for
from trailguard.demo.script.common import (
    NL,
    POLDERHOST,
    RIO,
    US,
    DemoContext,
    _json,
    expect,
)
from trailguard.evidence.domain import LegalBasis
from trailguard.evidence.service import create_package, export_public_keys, verify_package
from trailguard.evidence.transfer import offer_package, push_chunks
from trailguard.traffic import list_holds as node_holds
from trailguard.traffic import store_for
from trailguard.traffic.parsers import get_parser
from trailguard.traffic.watch import service as watch_service
from trailguard.traffic.watch.listeners import SyslogUdpListener
from trailguard.traffic.watch.orm import WatchOrderRow
from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings


def extension_and_mla(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    request_id = ctx.facts["nl_request"]
    extended = _json(
        us.as_user("dan.cole").post(f"/api/requests/{request_id}/extend", json={"days": 90}),
        "extend",
    )
    yield f"US extends the NL preservation by 90 days: now kept until {extended.get('expires_at')}"
    mla = _json(
        us.as_user("iris.reed").post(
            f"/api/requests/{request_id}/mla-draft",
            json={
                "overrides": {
                    "prosecution_office_or_court": "US Attorney's Office (synthetic)",
                    "case_numbers": "1:26-cr-00042 (synthetic)",
                    "applicable_law": "18 U.S.C. 1030(a)(2)",
                },
                "recipient": NL,
            },
        ),
        "MLA draft",
    )
    expect(mla["kind"] == "mla", f"drafted a {mla['kind']}")
    _json(us.as_user("carla.mendez").post(f"/api/requests/{mla['id']}/approve"), "MLA approve")
    _json(us.as_user("carla.mendez").post(f"/api/requests/{mla['id']}/send", json={}), "MLA send")
    yield (
        f"Iris Reed drafts the Art. 31 request {mla['reference']} from the preservation (its "
        "references carried over); Carla Mendez (central authority) approves and sends it"
    )
    superseded = _json(
        us.as_user("carla.mendez").post(
            f"/api/requests/{request_id}/mla-received", json={"mla_request_id": mla["id"]}
        ),
        "superseded",
    )
    expect(superseded["state"] == "superseded_by_mla", f"state {superseded['state']}")
    ph = ctx.cluster[POLDERHOST]

    def provider_keeps() -> bool:
        view = _json(
            ph.as_user("pim.dekker").get(f"/api/requests/{ctx.facts['polderhost_request']}"),
            "Polderhost view",
        )
        return view["state"] == "superseded_by_mla"

    wait_for(provider_keeps, what="Polderhost to keep the data pending the MLA decision")
    yield (
        "Art. 29(7): the preservation no longer expires; Polderhost keeps the held records "
        "pending the decision on the MLA request"
    )


def live_watch(ctx: DemoContext) -> Iterator[str]:
    """Art. 33: US asks Rio Litoral to watch the attacker's port block as traffic arrives."""

    us, rio = ctx.cluster[US], ctx.cluster[RIO]
    with rio.node.db.session() as session:
        watch_service.authorise_requester(
            session,
            rio.node,
            US,
            actor="user:rafael.costa",
            note="Operation Nightjar, after the BR preservation",
        )
    now = us.node.clock.now()
    order_ref = "US-2026-NJ-RT-01"
    with us.node.db.session() as session:
        watch_service.send_order(
            session,
            us.node,
            recipient=RIO,
            actor="user:dan.cole",
            payload={
                "order_ref": order_ref,
                "requested_by": "Dan Cole, US 24/7 point of contact",
                "legal_reference": "ETS 185 Art. 33; synthetic order 2026-RT-01",
                "case_reference": "US-2026-NJ-002",
                "criteria": {
                    "addresses": [data.ATTACKER_PUBLIC_IP],
                    "ports": [f"{data.BLOCK_FIRST}-{data.BLOCK_LAST}"],
                },
                "start": now.isoformat(),
                "end": (now + timedelta(days=1)).isoformat(),
            },
        )

    def registered() -> bool:
        with rio.node.db.session() as session:
            return any(row.order_ref == order_ref for row in session.query(WatchOrderRow))

    wait_for(registered, what="the watch order at Rio Litoral")
    yield (
        f"US sends watch order {order_ref} (Art. 33) for {data.ATTACKER_PUBLIC_IP} ports "
        f"{data.BLOCK_FIRST}-{data.BLOCK_LAST}; Rio Litoral registers it (US is authorised)"
    )
    runtime = WatchRuntime(
        rio.node,
        WatchSettings(
            syslog_udp_port=0,
            syslog_tcp_port=None,
            ipfix_port=None,
            parser=get_parser("juniper-pba"),
            tz="America/Sao_Paulo",
        ),
    )
    runtime.start()
    try:
        port = next(item for item in runtime.listeners if isinstance(item, SyslogUdpListener)).port
        local = default_clock().now().astimezone(ZoneInfo("America/Sao_Paulo"))
        stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
        head = f"<134>{stamp} rl-cgn-1 (FPC Slot 5, PIC Slot 0) {{cgn-sset}}[FWNAT]: "
        lines = [
            head + "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.3.9 -> 203.0.113.77:1024-1535 0x1",
            head + f"JSERVICES_NAT_PORT_BLOCK_ALLOC: {data.INSIDE_IP} -> "
            f"{data.ATTACKER_PUBLIC_IP}:{data.BLOCK_FIRST}-{data.BLOCK_LAST} 0x2",
            head + "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.8.1 -> 203.0.113.78:51200-51711 0x3",
        ]
        sent_at = default_clock().now()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for line in lines:
                sock.sendto(line.encode(), ("127.0.0.1", port))
        yield (
            f"Rio Litoral's CGNAT syslog is replayed into its listener (UDP 127.0.0.1:{port}):"
            f" {len(lines)} lines, one of them the watched block"
        )

        def reported() -> list[Any]:
            with us.node.db.session() as session:
                return watch_service.list_received(session)

        received = wait_for(reported, what="the hit at US")
    finally:
        runtime.stop()
    expect(len(received) == 1, f"US received {len(received)} hits, expected 1")
    hit = received[0]
    latency = (hit.received_at - sent_at).total_seconds() if hit.received_at else None
    yield (
        f"US receives the signed hit for {order_ref} from {hit.sender}"
        + (f", {latency:.2f} s after the line was sent" if latency is not None else "")
    )
    ctx.pages.append(("Rio Litoral live watch", f"{rio.url}/traffic/watch"))


def evidence_travels(ctx: DemoContext) -> Iterator[str]:
    """Step 7: the preserved records and the bank's log extract reach the US node as signed
    packages with their custody chains; US verifies them, and an altered copy fails."""
    us = ctx.cluster[US]
    received: list[Path] = []
    for provider, person, reference in (
        (POLDERHOST, "pim.dekker", "US-2026-NJ-001"),
        (RIO, "rafael.costa", "US-2026-NJ-002"),
    ):
        demo_node = ctx.cluster[provider]
        store = store_for(demo_node.node)
        holds = [h for h in node_holds(demo_node.node) if h.status == "active"]
        expect(holds, f"{provider} holds no sealed records")
        hold = holds[-1]
        records = store.root / "holds" / hold.hold_id / "records.parquet"
        out = demo_node.node.paths.data_dir / "evidence" / "packages" / f"{hold.hold_id}-to-us"
        made = create_package(
            demo_node.node,
            out=out,
            reference=hold.reference,
            basis=LegalBasis.parse(f"preservation: {reference}"),
            user=person,
            files=[records],
            recipient=US,
            investigation="Operation Nightjar",
        )
        offer = offer_package(demo_node.node, made.path, recipient=US, user=person)
        with httpx.Client(timeout=60) as client:
            pushed = push_chunks(demo_node.node, offer.transfer_id, client)
        expect(pushed.ok, f"US refused {provider}'s package: {pushed.problems}")
        kept = us.node.paths.data_dir / "evidence" / "packages" / "received" / offer.transfer_id
        report = verify_package(kept, node=us.node)
        expect(report.ok, f"{provider}'s package does not verify on US: {report.problems}")
        item = report.records[0]
        expect(
            item.digests.sha256 == hold.sha256,
            f"the packaged records ({item.digests.sha256[:16]}) are not the sealed hold "
            f"({hold.sha256[:16]})",
        )
        key_file = ctx.cluster.root / f"{provider}.pub"
        key_file.write_text(json.dumps(export_public_keys(demo_node.node)), encoding="utf-8")
        expect(verify_package(kept, public_key=key_file).ok, "the package fails with the key file")
        received.append(kept)
        yield (
            f"{provider} packages hold {hold.hold_id} ({hold.records} records, SHA-256 "
            f"{hold.sha256[:16]}..., the digest on the preservation) and sends it to US in "
            f"{offer.chunk_count} encrypted chunk(s); US verifies the bag, the signature and "
            f"the custody chain and records 'received' and 'verified'"
        )
    victim_logs = sorted((ctx.cluster.root / "victim-logs").glob("*"))
    expect(victim_logs, "the bank's log extract is missing")
    bank = create_package(
        us.node,
        out=us.node.paths.data_dir / "evidence" / "packages" / "bank-log-extract",
        reference="US-2026-NJ-001",
        basis=LegalBasis.parse("production: US-2026-NJ-001 (the bank's disclosure)"),
        user="iris.reed",
        files=victim_logs[:1],
        investigation="Operation Nightjar",
    )
    expect(verify_package(bank.path, node=us.node).ok, "the bank's package does not verify")
    yield f"Iris Reed (US) packages the bank's log extract {victim_logs[0].name}: verifies"
    altered = ctx.cluster.root / "altered-copy"
    shutil.copytree(received[0], altered)
    payload = next(p for p in (altered / "data").rglob("*") if p.is_file())
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    report = verify_package(altered, node=us.node)
    expect(not report.ok, "an altered copy of a package verified")
    expect(
        report.problems[0].startswith(str(payload.relative_to(altered))),
        f"the altered file is not named first: {report.problems[:2]}",
    )
    yield f"a copy with one byte changed fails: {report.problems[0]}"
    ctx.pages.append(("US evidence items", f"{us.url}/evidence"))
