"""RDAP look-ups are off by default, and when asked for they are recorded (audit + source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpers import make_node
from trailguard.audit.orm import AuditEntryRow
from trailguard.trace import attribute_on_node
from trailguard.trace.rdap import RdapFailed

ANSWER = {
    "objectClassName": "ip network",
    "handle": "NET-198-51-100-0-1",
    "name": "TEST-NET-2",
    "country": "NL",
    "startAddress": "198.51.100.0",
    "endAddress": "198.51.100.255",
    "events": [{"eventAction": "last changed", "eventDate": "2026-10-01T00:00:00Z"}],
    "entities": [
        {
            "vcardArray": [
                "vcard",
                [["version", {}, "text", "4.0"], ["fn", {}, "text", "Polderhost B.V."]],
            ]
        }
    ],
}


def _client(calls: list[str], status: int = 200) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(status, json=ANSWER if status == 200 else {})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_rdap_is_off_by_default_and_recorded_when_used(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path, database_url)
    calls: list[str] = []
    try:
        plain = attribute_on_node(node, "198.51.100.23", rdap_client=_client(calls)).to_json()
        assert calls == [] and plain["rdap"] is None
        asked = attribute_on_node(
            node, "198.51.100.23", rdap=True, rdap_client=_client(calls), actor="user:iris"
        ).to_json()
        assert calls == ["https://rdap.org/ip/198.51.100.23"]
        assert asked["rdap"]["organisations"] == ["Polderhost B.V."]
        assert asked["rdap"]["range"] == ["198.51.100.0", "198.51.100.255"]
        assert any(s["name"].startswith("RDAP https://rdap.org/ip/") for s in asked["sources"])
        with node.db.session() as session:
            rows = session.execute(
                select(AuditEntryRow.actor, AuditEntryRow.action, AuditEntryRow.subject)
            ).all()
        assert ("user:iris", "trace.rdap_lookup", "ip:198.51.100.23") in rows
        with pytest.raises(RdapFailed, match="HTTP 404"):
            attribute_on_node(node, "198.51.100.23", rdap=True, rdap_client=_client(calls, 404))
    finally:
        node.close()


def test_rdap_failure_is_a_clear_error(monkeypatch: Any) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    client = httpx.Client(transport=httpx.MockTransport(boom))
    with pytest.raises(RdapFailed, match="failed"):
        attribute_on_node(None, "203.0.113.7", rdap=True, rdap_client=client)
