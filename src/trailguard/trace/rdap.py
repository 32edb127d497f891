"""Optional RDAP look-ups of an address (RFC 9083 JSON, RFC 9082 query ``/ip/{address}``),
off by default: they tell a registry (and whoever runs the bootstrap redirector) which address
an investigation is interested in, so they run only when asked, and the node's audit log
records each one. The default server is the public bootstrap redirector https://rdap.org,
which sends the query on to the regional registry that holds the address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from trailguard.core.clock import isoformat_z
from trailguard.core.errors import TrailguardError

DEFAULT_RDAP = "https://rdap.org"


class RdapFailed(TrailguardError):
    pass


def _organisations(entities: list[Any]) -> list[str]:
    names = []
    for entity in entities or []:
        vcard = entity.get("vcardArray") or []
        for field in vcard[1] if len(vcard) > 1 else []:
            if field and field[0] == "fn" and len(field) > 3:
                names.append(str(field[3]))
        names.extend(_organisations(entity.get("entities") or []))
    return names


def rdap_lookup(
    ip: str, *, client: httpx.Client | None = None, base: str = DEFAULT_RDAP
) -> dict[str, Any]:
    url = f"{base.rstrip('/')}/ip/{ip}"
    own = client is None
    http = client or httpx.Client(timeout=10, follow_redirects=True)
    try:
        answer = http.get(url, headers={"accept": "application/rdap+json"})
    except httpx.HTTPError as exc:
        raise RdapFailed(f"RDAP look-up of {ip} failed: {exc}") from exc
    finally:
        if own:
            http.close()
    if answer.status_code != 200:
        raise RdapFailed(f"RDAP look-up of {ip} answered HTTP {answer.status_code}")
    try:
        data = answer.json()
    except ValueError as exc:
        raise RdapFailed(f"RDAP answer for {ip} is not JSON") from exc
    changed = [
        e.get("eventDate")
        for e in data.get("events") or []
        if e.get("eventAction") == "last changed"
    ]
    return {
        "url": str(answer.url),
        "handle": data.get("handle"),
        "name": data.get("name"),
        "country": data.get("country"),
        "range": [data.get("startAddress"), data.get("endAddress")],
        "organisations": _organisations(data.get("entities") or []),
        "last_changed": changed[0] if changed else None,
        "retrieved_at": isoformat_z(datetime.now(UTC)),
    }
