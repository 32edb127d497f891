"""The node-level service, JSON API and /traffic page: roles, audit, holds, lookups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from _store_factory import T0, digest, nat, radius, table

from helpers import browser_login, client_for, make_node
from trailguard.accounts.domain import Principal, Role
from trailguard.core.clock import FixedClock
from trailguard.core.errors import PermissionDenied
from trailguard.node import Node
from trailguard.traffic import service
from trailguard.traffic.holds import HoldCriteria

S = timedelta(seconds=1)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Node:
    node = make_node(
        tmp_path,
        database_url,
        node_id="br-rio-litoral",
        country="BR",
        roles=["provider"],
        timezone="America/Sao_Paulo",
        clock=FixedClock(T0 + timedelta(days=1)),
    )
    store = service.store_for(node)
    store.ingest_table(
        table(
            [
                nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, None, 1, "create"),
                nat("100.64.12.7", 40001, "203.0.113.77", 51512, T0, T0 + 300 * S, 2),
            ]
        ),
        provider="rio-litoral",
        source_sha256=digest("nat"),
    )
    store.ingest_table(
        table([radius("100.64.12.7", "acct-7", T0 - 3600 * S, T0 + 3600 * S, 1)]),
        provider="rio-litoral",
        source_sha256=digest("rad"),
    )
    yield node
    node.close()


def principal(*roles: Role) -> Principal:
    return Principal(user_id=1, username="pat", display_name="Pat", roles=frozenset(roles))


def audit_actions(node: Node) -> list[str]:
    from trailguard.audit.service import iter_entries

    with node.db.session() as session:
        return [e.action for e in iter_entries(session)]


def test_service_holds_need_the_role_and_are_audited(node: Node) -> None:
    criteria = HoldCriteria(ip="203.0.113.77", port=51512, start=T0, end=T0 + 60 * S)
    with pytest.raises(PermissionDenied, match="provider_liaison or admin"):
        service.place_hold(node, principal(Role.INVESTIGATOR), "ref", criteria)
    hold = service.place_hold(node, principal(Role.PROVIDER_LIAISON), "BR-PR-1", criteria)
    assert hold.records == 3 and len(hold.sha256) == 64
    with pytest.raises(PermissionDenied):
        service.release_hold(node, principal(Role.DUTY_OFFICER), hold.hold_id)
    released = service.release_hold(node, principal(Role.ADMIN), hold.hold_id, "expired")
    assert released.status == "released" and released.released_by == "user:pat"
    answer = service.lookup(
        node, principal(Role.PROVIDER_LIAISON), "203.0.113.77", 51512, T0 + 10 * S
    )
    assert answer.best is not None and answer.best.subscriber == "acct-7"
    service.purge(node, "system:test")
    actions = audit_actions(node)
    for action in (
        "traffic.hold_placed",
        "traffic.hold_released",
        "traffic.lookup",
        "traffic.purge",
    ):
        assert action in actions


def test_service_ingest_is_audited_including_refusals(node: Node, tmp_path: Path) -> None:
    from trailguard.traffic.model import ParseOptions

    good = tmp_path / "asa.log"
    good.write_text(
        "Nov 20 2026 08:00:00 fw %ASA-6-305011: Built dynamic TCP translation from "
        "inside:100.64.0.9/4000 to outside:203.0.113.9/5000\n",
        encoding="utf-8",
    )
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    reports = service.ingest_files(
        node,
        [good, empty],
        provider="rio-litoral",
        actor="user:pat",
        format_name="cisco-asa",
        options=ParseOptions(tz="UTC"),
    )
    assert [r.records_stored for r in reports] == [1, 0]
    assert reports[1].refused
    actions = audit_actions(node)
    assert "traffic.ingest" in actions and "traffic.ingest_refused" in actions


def test_api_lookup_batch_flows_and_holds(node: Node) -> None:
    client = client_for(node, [Role.PROVIDER_LIAISON])
    answer = client.get(
        "/api/traffic/lookup",
        params={"ip": "203.0.113.77", "port": 51512, "at": "2026-11-20T05:00:10-03:00"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"query", "matches", "ambiguous", "ambiguity"}
    assert body["matches"][0]["subscriber"] == "acct-7"
    assert body["query"]["at"] == "2026-11-20T08:00:10Z"
    bad = client.get(
        "/api/traffic/lookup",
        params={"ip": "203.0.113.777", "port": 1, "at": "2026-11-20T08:00:10Z"},
    )
    assert bad.status_code == 422 and "203.0.113.777" in bad.json()["detail"]
    naive = client.get(
        "/api/traffic/lookup", params={"ip": "203.0.113.77", "port": 1, "at": "2026-11-20T08:00:10"}
    )
    assert naive.status_code == 422 and "zone" in naive.json()["detail"]
    batch = client.post(
        "/api/traffic/lookup/batch",
        json={
            "queries": [
                {"ip": "203.0.113.77", "port": 51512, "at": "2026-11-20T08:01:00Z"},
                {"ip": "203.0.113.77", "port": 9, "at": "2026-11-20T08:01:00Z"},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert [r["subscriber"] for r in batch.json()["results"]] == ["acct-7", None]
    assert [r["found"] for r in batch.json()["results"]] == [True, False]
    flows = client.get(
        "/api/traffic/flows",
        params={
            "ip": "100.64.12.7",
            "start": "2026-11-20T07:00:00Z",
            "end": "2026-11-20T09:00:00Z",
        },
    )
    assert flows.status_code == 200 and len(flows.json()["records"]) == 2
    placed = client.post(
        "/api/traffic/holds",
        json={
            "reference": "BR-PR-2",
            "ip": "203.0.113.77",
            "port": 51512,
            "start": "2026-11-20T08:00:00Z",
            "end": "2026-11-20T08:10:00Z",
        },
    )
    assert placed.status_code == 201, placed.text
    hold_id = placed.json()["hold_id"]
    listing = client.get("/api/traffic/holds").json()["holds"]
    assert [h["sha256"] for h in listing] == [placed.json()["sha256"]]
    refused = client.post(
        "/api/traffic/holds",
        json={
            "reference": "BR-PR-3",
            "ip": "203.0.113.77",
            "start": "2026-11-20T09:00:00Z",
            "end": "2026-11-20T08:00:00Z",
        },
    )
    assert refused.status_code == 422 and "before its start" in refused.json()["detail"]
    released = client.post(f"/api/traffic/holds/{hold_id}/release", json={"reason": "done"})
    assert released.status_code == 200 and released.json()["status"] == "released"
    again = client.post(f"/api/traffic/holds/{hold_id}/release", json={"reason": "done"})
    assert again.status_code == 409
    assert client.get("/api/traffic/stats").json()["records"] == 3


def test_api_and_page_refuse_other_roles(node: Node) -> None:
    client = client_for(node, [Role.INVESTIGATOR, Role.DUTY_OFFICER])
    assert client.get("/api/traffic/stats").status_code == 403
    assert client.get("/api/traffic/holds").status_code == 403
    assert client.get("/traffic").status_code == 403


def test_page_shows_stats_lookup_and_holds(node: Node) -> None:
    client = browser_login(node, [Role.PROVIDER_LIAISON])
    page = client.get(
        "/traffic", params={"ip": "203.0.113.77", "port": "51512", "at": "2026-11-20T08:00:10Z"}
    )
    assert page.status_code == 200
    assert "acct-7" in page.text and "100.64.12.7" in page.text
    assert "1 match(es)" in page.text
    bad = client.get(
        "/traffic", params={"ip": "203.0.113.77", "port": "99999x", "at": "2026-11-20T08:00:10Z"}
    )
    assert bad.status_code == 422 and "99999x" in bad.text
    csrf = client.cookies.get("tg_csrf") or _csrf_from(page.text)
    placed = client.post(
        "/traffic/holds",
        data={
            "reference": "BR-PR-9",
            "ip": "203.0.113.77",
            "port": "51512",
            "start": "2026-11-20T08:00:00Z",
            "end": "2026-11-20T08:10:00Z",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert placed.status_code == 303, placed.text
    listing = client.get("/traffic").text
    assert "BR-PR-9" in listing and "active" in listing


def _csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)
