"""The steps of Operation Nightjar. Each step is a small function that acts through the
nodes' HTTP API (as a person would) or the exchange (as a node would), checks what must
hold, and returns the lines to print. Later capabilities add steps to ``STEPS``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from trailguard.accounts import Role
from trailguard.core.clock import default_clock
from trailguard.core.config import NodeRole
from trailguard.demo.cluster import DemoCluster, NodeSpec, StepFailed, wait_for

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


# --- the network ---------------------------------------------------------------------------


def start_network(ctx: DemoContext) -> Iterator[str]:
    from trailguard.network.directory import Shift
    from trailguard.network.directory_service import publish_self

    cluster = ctx.cluster
    cluster.create()
    for node_id, roster in ROSTERS.items():
        poc = cluster[node_id].node
        with poc.db.session() as session:
            publish_self(
                session,
                poc,
                actor="system:demo",
                roster=[Shift.from_json(shift, f"{node_id} roster") for shift in roster],
            )
    imported = cluster.exchange_directories()
    expect(
        imported >= len(cluster.nodes) * (len(cluster.nodes) - 1),
        f"only {imported} directory entries were imported",
    )
    cluster.start()
    for demo_node in cluster.nodes.values():
        health = demo_node.as_user(next(iter(demo_node.people))).get("/api/me")
        _json(health, f"{demo_node.spec.node_id} login")
        yield (
            f"{demo_node.spec.name} [{demo_node.spec.node_id}] up at {demo_node.url} "
            f"({demo_node.spec.timezone})"
        )
    yield f"signed directories exchanged: {imported} entries imported, every signature verified"


def who_can_help(ctx: DemoContext) -> Iterator[str]:
    us = ctx.cluster[US]
    client = us.as_user("dan.cole")
    found = _json(
        client.get("/api/directory", params={"country": "NL", "language": "en"}), "directory search"
    )
    poc = [hit for hit in found["results"] if hit["entry"]["node_id"] == NL]
    expect(poc, "the NL 24/7 point of contact was not found in US's directory")
    hit = poc[0]
    expect(hit["on_duty"] is not None, "nobody is on duty at the NL point of contact")
    yield (
        f"US asks: who can help in NL now, in English? -> {hit['entry']['organisation']}, "
        f"on duty: {hit['on_duty']['person']} (backup {hit['backup']['person']}), "
        f"local time {hit['local_time'][11:16]} in {hit['entry']['timezone']}"
    )
    provider = _json(
        client.get("/api/directory/lookup", params={"ip": "198.51.100.23"}), "prefix lookup"
    )
    match = provider["match"]
    expect(
        match and match["entry"]["node_id"] == POLDERHOST,
        f"198.51.100.23 should map to Polderhost, got {match}",
    )
    ctx.facts["polderhost_prefix"] = match["prefix"]
    yield (
        f"198.51.100.23 lies in {match['prefix']}, operated by "
        f"{match['entry']['organisation']} ({match['entry']['country']})"
    )
    ctx.pages.append(("US directory", f"{us.url}/directory"))


def signed_ping(ctx: DemoContext) -> Iterator[str]:
    us, nl = ctx.cluster[US], ctx.cluster[NL]
    sent = _json(
        us.as_user("dan.cole").post(
            "/api/exchange/messages",
            json={
                "recipient": NL,
                "payload": {"text": "US 24/7 testing the channel before a request"},
            },
        ),
        "send ping",
    )
    message_id = sent["message_id"]
    yield f"US sends a signed, encrypted message {message_id} to NL (queued in the outbox)"

    def receipts() -> list[dict[str, Any]] | None:
        detail = _json(
            us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"), "message detail"
        )
        stages = {r["stage"] for r in detail["receipts"]}
        return detail["receipts"] if {"received", "accepted"} <= stages else None

    got = wait_for(receipts, what="the received and accepted receipts")
    for receipt in got:
        yield f"US holds NL's signed receipt: {receipt['stage']} at {receipt['at']}"
    inbox = _json(
        nl.as_user("noor.visser").get("/api/exchange/inbox", params={"pending_only": True}),
        "NL inbox",
    )
    mine = [m for m in inbox if m["message_id"] == message_id]
    expect(mine, "the message is not waiting in NL's inbox")
    yield f"NL's clock: acknowledgement due {mine[0]['ack_due']}"
    _json(
        nl.as_user("noor.visser").post(
            f"/api/exchange/inbox/{message_id}/ack", json={"note": "received, standing by"}
        ),
        "ack",
    )

    def acknowledged() -> bool:
        detail = _json(
            us.as_user("dan.cole").get(f"/api/exchange/messages/{message_id}"), "message detail"
        )
        return any(r["stage"] == "acknowledged" for r in detail["receipts"])

    wait_for(acknowledged, what="NL's acknowledged receipt")
    yield "Noor Visser (NL) acknowledges; US holds the signed acknowledged receipt"
    ctx.pages.append(("NL exchange inbox", f"{nl.url}/exchange"))


# --- the law, the logs and the first preservation -------------------------------------------


def ask_the_law(ctx: DemoContext) -> Iterator[str]:
    client = ctx.cluster[US].as_user("dan.cole")
    check = _json(
        client.get(
            "/api/law/check",
            params={
                "from": "US",
                "to": "NL",
                "conduct": "illegal_access",
                "measure": "preservation",
                "as_of": "2026-11-20",
            },
        ),
        "law check",
    )
    expect(
        check["dual_criminality"]["required"] is False,
        f"preservation should need no dual criminality: {check['dual_criminality']}",
    )
    reason = check["dual_criminality"]["reason"]
    yield f"dual criminality for preservation US -> NL: not required ({reason[:110]})"
    yield "cited: " + "; ".join(check["citations"][:3])
    channels = _json(
        client.get(
            "/api/law/channels",
            params={"from": "US", "to": "NL", "data": "traffic", "as_of": "2026-11-20"},
        ),
        "law channels",
    )
    expect(
        channels["channels"] and channels["channels"][0]["id"] == "preservation_24_7",
        f"the 24/7 preservation channel should come first: {channels['channels'][:1]}",
    )
    fastest = channels["channels"][0]
    yield f"fastest lawful channel: {fastest['name']} ({fastest['legal_basis']})"
    ctx.pages.append(("US legal engine", f"{ctx.cluster[US].url}/law"))


def providers_ingest(ctx: DemoContext) -> Iterator[str]:
    from trailguard.demo import data
    from trailguard.traffic.model import ParseOptions
    from trailguard.traffic.service import ingest_files

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
    from trailguard.demo import data
    from trailguard.traffic.model import ParseOptions
    from trailguard.traffic.parsers import get_parser

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


def preservation_to_nl(ctx: DemoContext) -> Iterator[str]:
    from trailguard.demo import data

    us = ctx.cluster[US]
    body = _preservation_body(
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
    nl = ctx.cluster[NL]
    request_id = ctx.facts["nl_request"]
    noor = nl.as_user("noor.visser")
    acked = _json(noor.post(f"/api/requests/{request_id}/acknowledge"), "acknowledge")
    expect(acked["state"] == "acknowledged", f"NL state {acked['state']}")
    yield "Noor Visser acknowledges within the 30-minute clock; US gets the signed receipt"
    copy = _json(
        noor.post(f"/api/requests/{request_id}/forward", json={"recipient": POLDERHOST}), "forward"
    )
    ctx.facts["polderhost_request"] = copy["id"]
    ph = ctx.cluster[POLDERHOST]
    wait_for(
        lambda: _maybe(ph.as_user("pim.dekker"), f"/api/requests/{copy['id']}"),
        what="the forwarded request at Polderhost",
    )
    yield f"forwarded to Polderhost B.V. as {copy['id'][:8]} (a copy linked to the original)"

    def us_sees_ack() -> bool:
        view = _json(
            ctx.cluster[US].as_user("dan.cole").get(f"/api/requests/{request_id}"), "US view"
        )
        return view["state"] in ("acknowledged", "in_execution", "preserved")

    wait_for(us_sees_ack, what="US to see NL's acknowledgement")


def polderhost_preserves(ctx: DemoContext) -> Iterator[str]:
    from trailguard.demo import data

    ph = ctx.cluster[POLDERHOST]
    pim = ph.as_user("pim.dekker")
    request_id = ctx.facts["polderhost_request"]
    _json(pim.post(f"/api/requests/{request_id}/acknowledge"), "provider acknowledge")
    _json(pim.post(f"/api/requests/{request_id}/execute"), "provider execute")
    start = (data.LOGIN_AT - timedelta(minutes=15)).isoformat()
    end = (data.LOGIN_AT + timedelta(minutes=15)).isoformat()
    flows = _json(
        pim.get("/api/traffic/flows", params={"ip": data.VPS_IP, "start": start, "end": end}),
        "flows",
    )
    records = flows.get("records", flows.get("flows", []))
    expect(records, "no flow records for the VPS in the window")
    to_bank = [
        r
        for r in records
        if r.get("public_ip") == data.VPS_IP and r.get("public_port") == data.VPS_PORT
    ]
    inbound = [r for r in records if r.get("public_ip") == data.ATTACKER_PUBLIC_IP]
    expect(to_bank, f"the VPS's connection to the bank is not among {len(records)} flows")
    expect(inbound, "the SSH session into the VPS is not among the flows")
    ctx.facts["ssh_flow"] = inbound[0]
    yield (
        f"Pim Dekker looks up {data.VPS_IP} from {start[11:19]}Z to {end[11:19]}Z: "
        f"{len(records)} flow records, including the connection to the bank and an SSH "
        f"session from {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT}"
    )
    hold = _json(
        pim.post(
            "/api/traffic/holds",
            json={"reference": "US-2026-NJ-001", "ip": data.VPS_IP, "start": start, "end": end},
        ),
        "place hold",
    )
    expect(hold["records"] >= 2, f"the hold covers {hold['records']} records")
    ctx.facts["polderhost_hold"] = hold
    yield (
        f"hold {hold['hold_id']} seals {hold['records']} records, SHA-256 {hold['sha256'][:16]}..."
    )
    preserved = _json(
        pim.post(
            f"/api/requests/{request_id}/preserve",
            json={
                "preserved": f"{hold['records']} flow records of {data.VPS_IP}, {start} to {end}",
                "hold_id": hold["hold_id"],
                "digest": hold["sha256"],
            },
        ),
        "preserve",
    )
    expect(preserved["state"] == "preserved", f"Polderhost state {preserved['state']}")
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


# --- the third country, the extension and the MLA follow-up ---------------------------------


def _trace_template() -> dict[str, Any]:
    return {
        "requesting_authority": US_AUTHORITY,
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


def art30_disclosure(ctx: DemoContext) -> Iterator[str]:
    """Step 4 through the trace: the US opens an investigation from the bank's log line and
    starts the trace (adopting the NL request already sent); Polderhost prepares the Art. 30
    disclosure and the third-country notice from its own look-up; NL sends it; the US trace
    advances and drafts the BR request."""
    from trailguard.demo import data

    us, nl, ph = ctx.cluster[US], ctx.cluster[NL], ctx.cluster[POLDERHOST]
    iris = us.as_user("iris.reed")
    row = ctx.facts["observation"]
    case = _json(
        iris.post(
            "/api/investigations",
            json={
                "reference": "US-2026-NJ",
                "title": "Operation Nightjar: Harbor Mutual Bank intrusion",
                "conduct": ["illegal_access"],
                "handling_code": "H0",
                "tlp": "TLP:AMBER",
            },
        ),
        "open investigation",
    )
    import json as _json_text

    login = [
        {
            "ip": row["public_ip"],
            "port": row["public_port"],
            "at": row["start"].astimezone(ZoneInfo("America/New_York")).isoformat(),
            "protocol": "tcp",
            "direction": "inbound",
            "seen": f"administrator login to the bank ({data.BANK_IP}:{data.BANK_PORT})",
            "tolerance_s": 1,
        }
    ]
    [observation] = _json(
        iris.post(
            f"/api/investigations/{case['id']}/observations/import",
            json={
                "format": "json",
                "text": _json_text.dumps(login),
                "label": f"bank proxy log line {row['source_line']}",
            },
        ),
        "observation",
    )
    yield (
        f"Iris Reed opens investigation {case['reference']} with the bank's log line: "
        f"{observation['ip']}:{observation['port']} at {observation['at']} "
        f"(source offset {observation['source_zone']}, ±{observation['tolerance_s']:g} s)"
    )
    for node_id, kept, source in (
        (POLDERHOST, {"flow": 30}, "Polderhost B.V. published retention: flow records 30 days"),
        (
            RIO,
            {"port_block": 90, "radius": 365},
            "Rio Litoral Telecom published retention: NAT logs 90 days, RADIUS 1 year",
        ),
    ):
        _json(
            iris.put(
                f"/api/trace/custodians/{node_id}",
                json={"retention_days": kept, "source": source},
            ),
            "custodian",
        )
    started = _json(
        iris.post(
            "/api/traces",
            json={
                "investigation_id": case["id"],
                "observation_id": observation["id"],
                "template": _trace_template(),
                "adopt_request": ctx.facts["nl_request"],
            },
        ),
        "start trace",
    )
    trace_id = started["id"]
    ctx.facts["trace"] = trace_id
    synced = _json(iris.post(f"/api/traces/{trace_id}/sync"), "sync trace")
    hop1 = synced["hops"][0]
    expect(hop1["provider"]["node_id"] == POLDERHOST, f"hop 1 provider {hop1['provider']}")
    expect(hop1["state"] == "preserved", f"hop 1 is {hop1['state']}")
    yield (
        f"the trace's hop 1: {hop1['ip']} is {hop1['provider']['organisation']} "
        f"({hop1['provider']['country']}); request {hop1['request_reference']} preserved, "
        f"digest {str(hop1['hold_digest'])[:16]}...; the trail dies there {hop1['dies_at']}"
    )
    pim = ph.as_user("pim.dekker")
    prepared = _json(
        pim.post(
            "/api/trace/disclosures/prepare",
            json={"request_id": ctx.facts["polderhost_request"]},
        ),
        "prepare Art. 30 disclosure",
    )
    body = prepared["body"]
    expect(body is not None, f"no disclosure prepared: {prepared.get('reason')}")
    source = body["path"][0]["source"]
    expect(
        source["ip"] == data.ATTACKER_PUBLIC_IP and source["port"] == data.ATTACKER_PUBLIC_PORT,
        f"the prepared path starts at {source}",
    )
    expect(body["provider_in_other_state"]["country"] == "BR", "the provider is not in BR")
    ctx.facts["ssh_flow"] = {"start": source["timestamp"]}
    yield (
        f"Polderhost's own look-up of its preserved flows finds the SSH session from "
        f"{source['ip']}:{source['port']}; trailguard prepares the Art. 30 disclosure and the "
        f'notice: "{body["third_country_notice"][:90]}..."'
    )
    noor = nl.as_user("noor.visser")
    body["confirmation_contact"] = {
        "name": "Noor Visser",
        "phone": "+31705550101",
        "email": "noor.visser@nl-poc.example",
    }
    draft = _json(
        noor.post("/api/requests", json={"body": body, "recipient": US}), "draft Art. 30 disclosure"
    )
    _json(nl.as_user("joost.bakker").post(f"/api/requests/{draft['id']}/approve"), "approve")
    _json(noor.post(f"/api/requests/{draft['id']}/send", json={}), "send disclosure")
    ctx.facts["art30"] = draft["id"]
    got = wait_for(
        lambda: _maybe(us.as_user("dan.cole"), f"/api/requests/{draft['id']}"),
        what="the Art. 30 disclosure at US",
    )
    yield (
        f"NL sends it (four eyes: Noor Visser drafts, Joost Bakker approves); US holds "
        f"{got['reference']} ({got['state']}) with the third-country notice"
    )
    moved = _json(iris.post(f"/api/traces/{trace_id}/sync"), "sync trace")
    expect(len(moved["hops"]) == 2, f"the trace did not advance: {len(moved['hops'])} hop(s)")
    hop2 = moved["hops"][1]
    expect(hop2["state"] == "drafted", f"hop 2 is {hop2['state']}: {hop2['next_action']}")
    expect(hop2["recipient_node"] == BR, f"hop 2 goes to {hop2['recipient_node']}")
    ctx.facts["br_request"] = hop2["request_id"]
    yield (
        f"the US trace advances: hop 2 {hop2['ip']}:{hop2['port']} is "
        f"{hop2['provider']['organisation']} (BR), a third country; it drafts "
        f"{hop2['request_reference']} to "
        f"the BR 24/7 point of contact via {hop2['channel']['name']} "
        f"({', '.join(hop2['channel']['citations'][:2])}); the trail dies there {hop2['dies_at']}"
    )
    yield (
        "the preservation itself stays in force: Art. 30 disclosure is partial, the full "
        "data waits for the MLA request"
    )


def preservation_to_br(ctx: DemoContext) -> Iterator[str]:
    """Step 5 through the trace: the request the trace drafted is approved (four eyes) and
    sent; BR forwards it; Rio Litoral's look-up and hold end the trace at the subscriber."""
    from trailguard.demo import data

    us, br, rio = ctx.cluster[US], ctx.cluster[BR], ctx.cluster[RIO]
    draft_id = ctx.facts["br_request"]
    draft = _json(us.as_user("dan.cole").get(f"/api/requests/{draft_id}"), "BR draft")
    _json(us.as_user("dan.cole").post(f"/api/requests/{draft_id}/approve"), "approve")
    _json(us.as_user("dan.cole").post(f"/api/requests/{draft_id}/send", json={}), "send")
    yield (
        f"Dan Cole approves the trace's draft {draft['reference']} (four eyes) and sends it to "
        "the BR point of contact (a new Art. 29 request)"
    )
    bruna = br.as_user("bruna.alves")
    wait_for(lambda: _maybe(bruna, f"/api/requests/{draft_id}"), what="the request at BR")
    _json(bruna.post(f"/api/requests/{draft_id}/acknowledge"), "BR acknowledge")
    copy = _json(
        bruna.post(f"/api/requests/{draft_id}/forward", json={"recipient": RIO}), "BR forward"
    )
    rafael = rio.as_user("rafael.costa")
    wait_for(lambda: _maybe(rafael, f"/api/requests/{copy['id']}"), what="the request at Rio")
    yield "Bruna Alves (BR) acknowledges and forwards it to Rio Litoral Telecom"
    _json(rafael.post(f"/api/requests/{copy['id']}/acknowledge"), "Rio acknowledge")
    _json(rafael.post(f"/api/requests/{copy['id']}/execute"), "Rio execute")
    ssh_start = ctx.facts["ssh_flow"]["start"]
    at = (datetime.fromisoformat(ssh_start) + timedelta(seconds=1)).isoformat()
    answer = _json(
        rafael.get(
            "/api/traffic/lookup",
            params={
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "at": at,
                "reference": draft["reference"],
            },
        ),
        "Rio lookup",
    )
    expect(
        answer["matches"],
        f"no NAT match for {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} at {at}",
    )
    best = answer["matches"][0]
    expect(best["inside_ip"] == data.INSIDE_IP, f"inside address {best['inside_ip']}")
    expect(best["subscriber"] == data.SUBSCRIBER, f"subscriber {best['subscriber']}")
    kinds = sorted({r["kind"] for r in best["records"]})
    yield (
        f"Rafael Costa looks up {data.ATTACKER_PUBLIC_IP}:{data.ATTACKER_PUBLIC_PORT} at "
        f"{at[11:19]}Z: port block {data.BLOCK_FIRST}-{data.BLOCK_LAST} -> "
        f"{best['inside_ip']} -> account {best['subscriber']} (records: {', '.join(kinds)})"
    )
    start = (data.RADIUS_START - timedelta(minutes=1)).isoformat()
    end = (data.RADIUS_STOP + timedelta(minutes=1)).isoformat()
    hold = _json(
        rafael.post(
            "/api/traffic/holds",
            json={
                "reference": draft["reference"],
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "start": start,
                "end": end,
            },
        ),
        "Rio hold",
    )
    expect(hold["records"] >= 2, f"the hold covers {hold['records']} records")
    yield (
        f"hold {hold['hold_id']} seals {hold['records']} NAT and RADIUS records, SHA-256 "
        f"{hold['sha256'][:16]}..."
    )
    _json(
        rafael.post(
            f"/api/requests/{copy['id']}/preserve",
            json={
                "preserved": f"port-block and RADIUS records for {data.ATTACKER_PUBLIC_IP}:"
                f"{data.ATTACKER_PUBLIC_PORT} ({hold['records']} records)",
                "hold_id": hold["hold_id"],
                "digest": hold["sha256"],
            },
        ),
        "Rio preserve",
    )

    def us_sees() -> bool:
        view = _json(us.as_user("dan.cole").get(f"/api/requests/{draft_id}"), "US view")
        return view["state"] == "preserved" and view.get("hold_digest") == hold["sha256"]

    wait_for(us_sees, what="US to see Rio Litoral's preservation")
    yield "the preservation and its digest travel back Rio -> BR -> US"
    iris = us.as_user("iris.reed")
    trace_id = ctx.facts["trace"]
    ended = _json(iris.post(f"/api/traces/{trace_id}/sync"), "sync trace")
    # --check: the trace's end, every hop preserved, the notice sent, the graph valid.
    expect(ended["state"] == "subscriber", f"the trace ends {ended['state']}")
    expect(
        [h["hold_digest"] for h in ended["hops"]]
        == [ctx.facts["polderhost_hold"]["sha256"], hold["sha256"]],
        f"not every hop is preserved: {[h['hold_digest'] for h in ended['hops']]}",
    )
    notice = _json(us.as_user("dan.cole").get(f"/api/requests/{ctx.facts['art30']}"), "notice")
    expect(
        notice["body"].get("third_country_notice") and notice["direction"] == "inbound",
        "the third-country notice did not reach the US",
    )
    graph = _json(iris.get(f"/api/traces/{trace_id}/graph"), "graph export")
    _check_graph(graph, ended)
    bundle = _json(iris.get(f"/api/traces/{trace_id}/case"), "CASE export")
    checked = _check_case(ctx, bundle)
    yield (
        f"the trace ends at the subscriber: {len(ended['hops'])} hops across NL and BR, each "
        f"preserved (digests match), the third-country notice received; graph exported "
        f"({len(graph['nodes'])} nodes, {len(graph['edges'])} edges) and {checked}"
    )
    picture = f"{us.url}/traces/{trace_id}"
    yield f"the picture (graph across countries, UTC timeline): {picture} (log in as iris.reed)"
    ctx.pages.append(("US trace: graph across countries and timeline", picture))
    ctx.pages.append(("Rio Litoral traffic and holds", f"{rio.url}/traffic"))


def _check_graph(graph: dict[str, Any], trace: dict[str, Any]) -> None:
    expect(graph.get("format") == "trailguard.trace-graph.v1", "graph format")
    ids = {n["id"] for n in graph["nodes"]}
    expect(all(e["from"] in ids and e["to"] in ids for e in graph["edges"]), "dangling edge")
    kinds = {n["type"] for n in graph["nodes"]}
    expect({"victim", "endpoint", "provider", "subscriber"} <= kinds, f"graph nodes {kinds}")
    hops = [e for e in graph["edges"] if e["type"] == "connection"]
    expect(len(hops) == len(trace["hops"]), "one connection per hop")


def _check_case(ctx: DemoContext, bundle: dict[str, Any]) -> str:
    """Validate with case_validate (case-utils) when it is installed, else the structure."""
    import json
    import shutil
    import subprocess

    types = {o["@type"] for o in bundle.get("uco-core:object", [])}
    expect("uco-observable:NetworkConnection" in types, "CASE export has no NetworkConnection")
    validator = shutil.which("case_validate")
    if validator is None:
        return "CASE/UCO JSON-LD exported (case_validate not installed: structure checked)"
    path = ctx.cluster.root / "trace-case.jsonld"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    done = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=300)
    expect(done.returncode == 0, f"case_validate: {done.stdout[-500:]}")
    return f"CASE/UCO JSON-LD valid (case_validate: {done.stdout.strip().splitlines()[-1]})"


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
    import socket

    from trailguard.demo import data
    from trailguard.traffic.parsers import get_parser
    from trailguard.traffic.watch import service as watch_service
    from trailguard.traffic.watch.listeners import SyslogUdpListener
    from trailguard.traffic.watch.orm import WatchOrderRow
    from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings

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
    import json
    import shutil
    from pathlib import Path

    import httpx

    from trailguard.evidence.domain import LegalBasis
    from trailguard.evidence.service import create_package, export_public_keys, verify_package
    from trailguard.evidence.transfer import offer_package, push_chunks
    from trailguard.traffic import list_holds as node_holds
    from trailguard.traffic import store_for

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


STEPS: list[Step] = [
    Step("Five nodes start on loopback and exchange their signed directories", US, start_network),
    Step("The US duty officer asks the directory who can help", US, who_can_help),
    Step("A signed, encrypted message with receipts and an acknowledgement clock", US, signed_ping),
    Step("The US duty officer asks the legal engine", US, ask_the_law),
    Step("The providers' logs flow into their traffic stores", POLDERHOST, providers_ingest),
    Step("The victim's log gives the first observation", US, read_the_victims_log),
    Step(
        "US drafts, approves and sends a preservation request (Art. 29) to NL",
        US,
        preservation_to_nl,
    ),
    Step("NL acknowledges and forwards it to Polderhost", NL, nl_acknowledges_and_forwards),
    Step(
        "Polderhost looks up its flow records and preserves them under a hold",
        POLDERHOST,
        polderhost_preserves,
    ),
    Step("Art. 30: NL discloses the path to a provider in a third country", NL, art30_disclosure),
    Step(
        "US asks BR to preserve; Rio Litoral resolves CGNAT and RADIUS to an account",
        RIO,
        preservation_to_br,
    ),
    Step("An extension, and the MLA request that keeps the data preserved", US, extension_and_mla),
    Step("The evidence travels to US as signed packages with their custody", US, evidence_travels),
    Step("Live watch (Art. 33): Rio Litoral reports a hit as the traffic arrives", RIO, live_watch),
]


def verify_audit_chains(ctx: DemoContext) -> Iterator[str]:
    from trailguard.audit import verify

    for node_id, demo_node in ctx.cluster.nodes.items():
        with demo_node.node.db.session() as session:
            report = verify(session)
        expect(report.ok, f"{node_id}'s audit chain is broken: {report.problems[:3]}")
        yield f"{node_id}: audit chain intact, {report.entries} entries"


def verify_receipts(ctx: DemoContext) -> Iterator[str]:
    """Every message any node sent was delivered, and the sender holds the recipient's signed
    ``received`` and ``accepted`` receipts for it."""
    from trailguard.network.envelope import Receipt
    from trailguard.network.exchange import list_messages, message_detail
    from trailguard.network.identity import node_identity

    keys = {node_id: node_identity(n.node).history for node_id, n in ctx.cluster.nodes.items()}
    total = 0
    for node_id, demo_node in ctx.cluster.nodes.items():
        with demo_node.node.db.session() as session:
            sent = list_messages(session, direction="sent", limit=1000)
            for view in sent:
                expect(
                    view.delivery_state == "delivered",
                    f"{node_id} -> {view.recipient} {view.message_type} is "
                    f"{view.delivery_state}: {view.last_error}",
                )
                detail = message_detail(session, view.message_id, direction="sent")
                stages = set()
                for raw in detail.receipts:
                    receipt = Receipt.from_json(raw)
                    expect(
                        receipt.verify(keys[receipt.issuer]),
                        f"receipt for {view.message_id} does not verify",
                    )
                    stages.add(receipt.stage.value)
                expect(
                    {"received", "accepted"} <= stages,
                    f"{node_id}'s message {view.message_id} lacks receipts: {stages}",
                )
        total += len(sent)
        yield f"{node_id}: {len(sent)} messages sent, each delivered with verified signed receipts"
    expect(total >= 20, f"only {total} messages were exchanged")


FINAL_STEPS: list[Step] = [
    Step("Every message was delivered and every receipt's signature verifies", US, verify_receipts),
    Step("Every node's hash-chained audit log verifies", US, verify_audit_chains),
]
