"""A provider's request page shows what its traffic store says about the request's address,
port and time, next to the hold; a person without the provider role sees no look-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from req_payloads import payload

from helpers import TEST_PASSWORD, add_user
from trailguard.accounts.domain import Role
from trailguard.app import create_app
from trailguard.network import deliver_pending
from trailguard.requests import service
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.service import ingest_files

NAT_CSV = (
    "time,end_time,src,sport,xlate_ip,xlate_port,proto,account\n"
    "2026-11-20T08:00:00Z,2026-11-20T08:30:00Z,100.64.12.7,40000,198.51.100.23,41234,tcp,"
    "vps-customer-17\n"
)
COLUMNS = {
    "kind": "=nat", "start": "time", "end": "end_time", "inside_ip": "src",
    "inside_port": "sport", "public_ip": "xlate_ip", "public_port": "xlate_port",
    "protocol": "proto", "subscriber": "account",
}  # fmt: skip


def _pump(net: Any) -> None:
    for _ in range(6):
        for node in (net.us, net.nl, *net.extra):
            deliver_pending(node, transport=net.transport)


def _login(node: Any, username: str) -> TestClient:
    client = TestClient(create_app(node))
    answer = client.post(
        "/login", data={"username": username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303
    return client


def _forwarded_to_the_provider(
    net: Any, people: dict, csv: Path, columns: dict[str, str], stored: int
) -> tuple[Any, str]:
    """The provider keeps ``csv`` (``stored`` records); the US sends NL a preservation request
    and NL forwards it to the provider. The provider node and the id of its copy."""
    provider = net.extra[0]
    [report] = ingest_files(
        provider,
        [csv],
        provider="polderhost",
        actor="system:test",
        format_name="csv",
        options=ParseOptions(column_map=columns),
    )
    assert report.records_stored == stored
    draft = service.draft_request(
        net.us, people["investigator"], payload("preservation"), recipient="nl-poc"
    )
    service.approve_request(net.us, people["duty"], draft.id)
    service.send_request(net.us, people["duty"], draft.id)
    _pump(net)
    service.acknowledge_request(net.nl, people["duty"], draft.id)
    copy = service.forward_request(net.nl, people["duty"], draft.id, recipient="nl-polderhost")
    _pump(net)
    return provider, copy.id


def test_provider_request_page_shows_the_lookup(net3: Any, people: dict, tmp_path: Path) -> None:
    csv = tmp_path / "nat.csv"
    csv.write_text(NAT_CSV)
    provider, copy_id = _forwarded_to_the_provider(net3, people, csv, COLUMNS, stored=1)
    add_user(provider, [Role.PROVIDER_LIAISON], "pim")
    add_user(provider, [Role.DUTY_OFFICER], "dora2")
    page = _login(provider, "pim").get(f"/requests/{copy_id}")
    assert page.status_code == 200, page.text[:300]
    assert "What this provider" in page.text
    assert "100.64.12.7:40000" in page.text and "vps-customer-17" in page.text
    assert "nat.csv:2" in page.text
    # the payload's IPv6 endpoint has no record at all: said, not hidden
    assert "no record covers it." in page.text
    other = _login(provider, "dora2").get(f"/requests/{copy_id}")
    assert other.status_code == 200 and "What this provider" not in other.text


FLOW_CSV = (
    "time,end_time,src,sport,dst,dport,proto\n"
    "2026-11-20T08:13:00Z,2026-11-20T08:15:00Z,198.51.100.23,41234,192.0.2.80,22,tcp\n"
    "2026-11-20T08:20:00Z,2026-11-20T08:21:00Z,198.51.100.23,41300,192.0.2.80,22,tcp\n"
    "2026-11-20T11:00:00Z,2026-11-20T11:01:00Z,198.51.100.23,41400,192.0.2.80,22,tcp\n"
)
FLOW_COLUMNS = {
    "kind": "=flow", "start": "time", "end": "end_time", "public_ip": "src",
    "public_port": "sport", "dst_ip": "dst", "dst_port": "dport", "protocol": "proto",
}  # fmt: skip


def test_a_provider_keeping_only_flows_sees_them_on_the_request_page(
    net3: Any, people: dict, tmp_path: Path
) -> None:
    """Issue 15: the panel said "No record covers it" while 2 flow records were preserved."""
    csv = tmp_path / "flows.csv"
    csv.write_text(FLOW_CSV)
    provider, copy_id = _forwarded_to_the_provider(net3, people, csv, FLOW_COLUMNS, stored=3)
    add_user(provider, [Role.PROVIDER_LIAISON], "pim")
    page = _login(provider, "pim").get(f"/requests/{copy_id}").text
    section = page.split("198.51.100.23:41234", 1)[1].split("2001:db8::23", 1)[0]
    assert "2 flow records" in section  # the two within 15 minutes, not the one at 11:00
    assert "flows.csv:2" in section and "flows.csv:3" in section
    assert "flows.csv:4" not in section
    assert "no record covers it" not in section
