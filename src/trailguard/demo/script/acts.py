"""What the people of Operation Nightjar do, through their nodes' HTTP API, as functions the
demo's steps and ``benchmarks/trace.py`` share: the investigation and its first observation,
a point of contact forwarding a request to its provider, each provider's look-up, hold and
preservation, the custodian's Art. 30 disclosure and its release by the point of contact, and
waiting for the US trace to move."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from trailguard.demo import data
from trailguard.demo.cluster import wait_for
from trailguard.demo.script.common import (
    NL,
    POLDERHOST,
    RIO,
    US,
    DemoContext,
    _json,
    _maybe,
    _trace_template,
    expect,
)

CUSTODIANS = (
    (POLDERHOST, {"flow": 30}, "Polderhost B.V. published retention: flow records 30 days"),
    (
        RIO,
        {"port_block": 90, "radius": 365},
        "Rio Litoral Telecom published retention: NAT logs 90 days, RADIUS 1 year",
    ),
)


# --- the requesting side (US) -------------------------------------------------------------


def open_case(ctx: DemoContext, reference: str = "US-2026-NJ") -> tuple[dict, dict]:
    """Iris Reed opens the investigation with the bank's log line (read in step 6)."""
    iris = ctx.cluster[US].as_user("iris.reed")
    row = ctx.facts["observation"]
    case = _json(
        iris.post(
            "/api/investigations",
            json={
                "reference": reference,
                "title": "Operation Nightjar: Harbor Mutual Bank intrusion",
                "conduct": ["illegal_access"],
                "handling_code": "H0",
                "tlp": "TLP:AMBER",
            },
        ),
        "open investigation",
    )
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
                "text": json.dumps(login),
                "label": f"bank proxy log line {row['source_line']}",
            },
        ),
        "observation",
    )
    return case, observation


def record_custodians(ctx: DemoContext) -> None:
    """The providers' published retention, which gives each hop the moment its trail dies."""
    iris = ctx.cluster[US].as_user("iris.reed")
    for node_id, kept, source in CUSTODIANS:
        _json(
            iris.put(
                f"/api/trace/custodians/{node_id}",
                json={"retention_days": kept, "source": source},
            ),
            "custodian",
        )


def start_trace(
    ctx: DemoContext,
    case: dict,
    observation: dict,
    *,
    auto_send: bool = False,
    adopt_request: str | None = None,
) -> dict:
    iris = ctx.cluster[US].as_user("iris.reed")
    return _json(
        iris.post(
            "/api/traces",
            json={
                "investigation_id": case["id"],
                "observation_id": observation["id"],
                "template": _trace_template(),
                "auto_send": auto_send,
                "adopt_request": adopt_request,
            },
        ),
        "start trace",
    )


def wait_trace(ctx: DemoContext, trace_id: str, holds: Callable[[dict], bool], what: str) -> dict:
    """The US trace as soon as ``holds`` is true of it: answers are pushed (no sync)."""
    iris = ctx.cluster[US].as_user("iris.reed")

    def moved() -> dict | None:
        trace = _json(iris.get(f"/api/traces/{trace_id}"), "trace")
        return trace if holds(trace) else None

    return wait_for(moved, timeout=ctx.wait_s, what=what)


# --- the requested side: points of contact and providers --------------------------------------


def forward_at_poc(
    ctx: DemoContext, poc: str, officer: str, request_id: str, provider: str, liaison: str
) -> str:
    """The point of contact acknowledges the request and forwards it to the provider; the id
    of the copy once the provider holds it."""
    client = ctx.cluster[poc].as_user(officer)
    wait_for(
        lambda: _maybe(client, f"/api/requests/{request_id}"),
        timeout=ctx.wait_s,
        what=f"the request at {poc}",
    )
    acked = _json(client.post(f"/api/requests/{request_id}/acknowledge"), f"{poc} acknowledge")
    expect(acked["state"] == "acknowledged", f"{poc} state {acked['state']}")
    copy = _json(
        client.post(f"/api/requests/{request_id}/forward", json={"recipient": provider}),
        f"{poc} forward",
    )
    provider_client = ctx.cluster[provider].as_user(liaison)
    wait_for(
        lambda: _maybe(provider_client, f"/api/requests/{copy['id']}"),
        timeout=ctx.wait_s,
        what=f"the forwarded request at {provider}",
    )
    return str(copy["id"])


def polderhost_preserve(ctx: DemoContext, request_id: str, reference: str) -> dict[str, Any]:
    """Pim Dekker looks up the VPS's flows around the login, seals them under a hold and
    records the preservation (the digest travels back)."""
    pim = ctx.cluster[POLDERHOST].as_user("pim.dekker")
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
    hold = _json(
        pim.post(
            "/api/traffic/holds",
            json={"reference": reference, "ip": data.VPS_IP, "start": start, "end": end},
        ),
        "place hold",
    )
    expect(hold["records"] >= 2, f"the hold covers {hold['records']} records")
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
    return {"records": records, "inbound": inbound[0], "hold": hold, "start": start, "end": end}


def polderhost_discloses(ctx: DemoContext, request_id: str) -> dict[str, Any]:
    """The trace's requested-side service on Polderhost: the Art. 30 disclosure and the
    third-country notice from its own look-up, sent to the NL point of contact."""
    pim = ctx.cluster[POLDERHOST].as_user("pim.dekker")
    sent = _json(
        pim.post("/api/trace/disclosures/send", json={"request_id": request_id}),
        "send Art. 30 disclosure",
    )
    body = sent["body"]
    source = body["path"][0]["source"]
    expect(
        source["ip"] == data.ATTACKER_PUBLIC_IP and source["port"] == data.ATTACKER_PUBLIC_PORT,
        f"the prepared path starts at {source}",
    )
    expect(body["provider_in_other_state"]["country"] == "BR", "the provider is not in BR")
    expect(sent["sent_to"] == NL, f"the disclosure went to {sent['sent_to']}")
    return sent


def nl_releases_disclosure(ctx: DemoContext, forwarded_id: str) -> dict[str, Any]:
    """NL's point of contact holds the disclosure request its trace capability drafted from
    Polderhost's answer to the forwarded request; Joost Bakker approves it (four eyes), Noor
    Visser sends it."""
    nl = ctx.cluster[NL]
    noor = nl.as_user("noor.visser")

    def drafted() -> str | None:
        found = _json(
            noor.get("/api/trace/disclosures", params={"request_id": forwarded_id}), "received"
        )
        return str(found[0]["drafted_request_id"]) if found else None

    draft_id = wait_for(drafted, timeout=ctx.wait_s, what="NL's draft of the Art. 30 disclosure")
    _json(nl.as_user("joost.bakker").post(f"/api/requests/{draft_id}/approve"), "approve")
    sent = _json(noor.post(f"/api/requests/{draft_id}/send", json={}), "send disclosure")
    expect(sent["state"] == "sent", f"the disclosure is {sent['state']}")
    return sent


def rio_preserve(
    ctx: DemoContext, request_id: str, reference: str, ssh_start: str
) -> dict[str, Any]:
    """Rafael Costa resolves the CGNAT port block and RADIUS session to the account, seals the
    records under a hold and records the preservation."""
    rafael = ctx.cluster[RIO].as_user("rafael.costa")
    _json(rafael.post(f"/api/requests/{request_id}/acknowledge"), "Rio acknowledge")
    _json(rafael.post(f"/api/requests/{request_id}/execute"), "Rio execute")
    at = (datetime.fromisoformat(ssh_start) + timedelta(seconds=1)).isoformat()
    answer = _json(
        rafael.get(
            "/api/traffic/lookup",
            params={
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "at": at,
                "reference": reference,
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
    start = (data.RADIUS_START - timedelta(minutes=1)).isoformat()
    end = (data.RADIUS_STOP + timedelta(minutes=1)).isoformat()
    hold = _json(
        rafael.post(
            "/api/traffic/holds",
            json={
                "reference": reference,
                "ip": data.ATTACKER_PUBLIC_IP,
                "port": data.ATTACKER_PUBLIC_PORT,
                "start": start,
                "end": end,
            },
        ),
        "Rio hold",
    )
    expect(hold["records"] >= 2, f"the hold covers {hold['records']} records")
    _json(
        rafael.post(
            f"/api/requests/{request_id}/preserve",
            json={
                "preserved": f"port-block and RADIUS records for {data.ATTACKER_PUBLIC_IP}:"
                f"{data.ATTACKER_PUBLIC_PORT} ({hold['records']} records)",
                "hold_id": hold["hold_id"],
                "digest": hold["sha256"],
            },
        ),
        "Rio preserve",
    )
    kinds = sorted({r["kind"] for r in best["records"]})
    return {"best": best, "kinds": kinds, "hold": hold, "at": at}
