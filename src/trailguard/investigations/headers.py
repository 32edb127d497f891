"""The ``Received:`` chain of an RFC 5322 message, read into hops from the sender's side to
the recipient's.

Each ``Received:`` line is prepended by the server that accepted the message (RFC 5321
s4.4), so the file lists them newest first; the hops are given oldest first. The syntax is
RFC 5321 s4.4 (``from`` / ``by`` / ``via`` / ``with`` / ``id`` / ``for`` clauses, then ``;``
and a date-time) but real servers vary, and the lines below the recipient's own server are
written by whoever sent the message and may be forged. Nothing is dropped: a line that does not
parse is a hop with its flags and its raw text.

Plain Python (no web, no database): an investigation reads e-mail headers into observations
with it, and the trace capability offers it through its face (``trace headers``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import _parsedate_tz  # type: ignore[attr-defined]
from typing import Any

from trailguard.core.clock import isoformat_z
from trailguard.core.errors import ValidationFailed

# Flags a hop can carry (each with a plain explanation in ``FLAG_TEXT``).
FLAG_TEXT = {
    "unparseable": "the line has neither a 'from' nor a 'by' clause",
    "no_date": "the line has no date after ';'",
    "bad_date": "the date after ';' cannot be read",
    "time_without_zone": "the time has no zone or offset; it is not converted to UTC",
    "zone_unknown": "the time carries -0000 (UTC, local zone unknown, RFC 5322 s3.3)",
    "time_backwards": "this hop is earlier than the hop before it",
    "chain_break": "this hop's 'from' does not name the previous hop's 'by' server",
    "helo_mismatch": "the name the client gave (HELO) is an address other than the one seen",
    "private_from_ip": "the connecting address is not globally reachable",
    "no_by_host": "the 'by' clause names no host",
}

_CLAUSE = re.compile(r"\b(from|by|via|with|id|for)\s+", re.IGNORECASE)
# "[192.0.2.7]" or "[IPv6:2001:db8::7]", perhaps with the client's source port after it
# ("[192.0.2.7]:50123", as some servers write it; RFC 6302 asks servers to log that port)
_BRACKET_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\](?::(\d{1,5})(?!\d))?")
_BARE_IP = re.compile(r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
_PAREN_IP6 = re.compile(r"\(\s*([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})\s*\)")


@dataclass
class Hop:
    index: int  # 0 = nearest the sender
    raw: str
    from_host: str | None = None
    from_ip: str | None = None
    from_port: int | None = None  # the client's source port, when the server wrote it
    helo: str | None = None
    by_host: str | None = None
    protocol: str | None = None
    id: str | None = None
    for_addr: str | None = None
    at: datetime | None = None  # UTC
    zone: str | None = None  # offset as written, e.g. +0100
    local_time: str | None = None  # the date text as written
    delay_s: float | None = None
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "from_host": self.from_host,
            "from_ip": self.from_ip,
            "from_port": self.from_port,
            "helo": self.helo,
            "by_host": self.by_host,
            "protocol": self.protocol,
            "id": self.id,
            "for": self.for_addr,
            "at": _z(self.at) if self.at else None,
            "zone": self.zone,
            "local_time": self.local_time,
            "delay_s": self.delay_s,
            "flags": list(self.flags),
            "raw": self.raw,
        }


def _z(value: datetime) -> str:
    return isoformat_z(value)


def _clauses(text: str) -> dict[str, str]:
    """Split 'from A (c) by B with P id I for <x>' into its clauses (first of each kind)."""
    found: dict[str, str] = {}
    # Comments may contain clause words ("(from a.b ...)"): mask them while splitting.
    masked = _mask_comments(text)
    marks = [(m.group(1).lower(), m.start(), m.end()) for m in _CLAUSE.finditer(masked)]
    for position, (word, _start, end) in enumerate(marks):
        stop = marks[position + 1][1] if position + 1 < len(marks) else len(text)
        if word not in found:
            found[word] = text[end:stop].strip()
    return found


def _mask_comments(text: str) -> str:
    out = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        if depth:
            out.append("_" if char not in "()" else char)
        else:
            out.append(char)
        if char == ")" and depth:
            depth -= 1
    return "".join(out)


def _first_token(value: str) -> str | None:
    token = _mask_comments(value).split()[0] if value.split() else ""
    token = value[: len(token)].strip()
    return token or None


def _ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]").removeprefix("IPv6:")))
    except ValueError:
        return None


def parse_received(raw: str, index: int = 0) -> Hop:
    text = " ".join(raw.split())
    hop = Hop(index=index, raw=text)
    body, _, date_text = text.rpartition(";")
    if not _:
        body, date_text = text, ""
    clauses = _clauses(body)
    if "from" in clauses:
        value = clauses["from"]
        host = _first_token(value)
        hop.helo = host
        comment = value[len(host or "") :]
        seen_ip = None
        match = _BRACKET_IP.search(comment) or _BRACKET_IP.search(value)
        if match:
            seen_ip = _ip_or_none(match.group(1))
            port = int(match.group(2)) if match.group(2) else None
            if seen_ip is not None and port is not None and port <= 65_535:
                hop.from_port = port
        if seen_ip is None:
            bare = _BARE_IP.search(comment) or _PAREN_IP6.search(comment)
            if bare:
                seen_ip = _ip_or_none(bare.group(1))
        helo_ip = _ip_or_none(host) if host else None
        if seen_ip is None and helo_ip is not None:
            seen_ip = helo_ip
        # The host the receiving server saw: the reverse name in the comment if given,
        # else what the client said.
        reverse = re.match(r"\s*\(\s*([A-Za-z0-9.-]+\.[A-Za-z]{2,})[\s)\[]", comment)
        hop.from_host = reverse.group(1) if reverse else host
        hop.from_ip = seen_ip
        if helo_ip is not None and seen_ip is not None and helo_ip != seen_ip:
            hop.flags.append("helo_mismatch")
        if seen_ip is not None:
            address = ipaddress.ip_address(seen_ip)
            if not address.is_global and seen_ip not in _DOCUMENTATION_OK(address):
                hop.flags.append("private_from_ip")
    if "by" in clauses:
        hop.by_host = _first_token(clauses["by"])
        if hop.by_host is None or hop.by_host.startswith("("):
            hop.by_host = None
            hop.flags.append("no_by_host")
    if "with" in clauses:
        hop.protocol = _first_token(clauses["with"])
    if "id" in clauses:
        hop.id = _first_token(clauses["id"])
    if "for" in clauses:
        hop.for_addr = (_first_token(clauses["for"]) or "").strip("<>;") or None
    if "from" not in clauses and "by" not in clauses:
        hop.flags.append("unparseable")
    _read_date(hop, date_text.strip())
    return hop


def _DOCUMENTATION_OK(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> set[str]:
    # Documentation addresses are traced as public ones (examples use them).
    docs = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
    for block in docs:
        network = ipaddress.ip_network(block)
        if network.version == address.version and address in network:
            return {str(address)}
    return set()


def _read_date(hop: Hop, text: str) -> None:
    if not text:
        hop.flags.append("no_date")
        return
    hop.local_time = text
    cleaned = re.sub(r"\([^)]*\)", " ", text).strip()
    parsed = _parsedate_tz(cleaned)
    if parsed is None:
        hop.flags.append("bad_date")
        return
    *fields, offset = parsed
    try:
        naive = datetime(*fields[:6])
    except (ValueError, TypeError):
        hop.flags.append("bad_date")
        return
    zone_match = re.search(r"\s([+-]\d{4})$", cleaned)
    if zone_match and zone_match.group(1) == "-0000":
        # RFC 5322 s3.3: -0000 is UTC with the local zone unknown.
        offset = 0
        hop.flags.append("zone_unknown")
    if offset is None:
        hop.flags.append("time_without_zone")
        return
    hop.zone = zone_match.group(1) if zone_match else cleaned.split()[-1]
    hop.at = (naive.replace(tzinfo=UTC) - _seconds(offset)).astimezone(UTC)


def _seconds(offset: int) -> Any:
    return timedelta(seconds=offset)


def _same_host(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return True  # nothing to compare: not a break
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return (
        a == b or a.endswith("." + b) or b.endswith("." + a) or a.split(".")[0] == b.split(".")[0]
    )


def read_message(data: bytes) -> list[Hop]:
    """The hops of a message's ``Received:`` chain, from the sender's side to the recipient's.

    Raises ``ValidationFailed`` when ``data`` is not an RFC 5322 message (no header fields).
    """
    if b"\x00" in data[:4096]:
        raise ValidationFailed("not an RFC 5322 message: the file is binary")
    message = message_from_bytes(data, policy=policy.compat32)
    if not message.keys():
        raise ValidationFailed(
            "not an RFC 5322 message: it does not start with header fields (Name: value)"
        )
    raws = [str(value) for value in message.get_all("Received", [])]
    hops = [parse_received(raw) for raw in reversed(raws)]
    last_time: datetime | None = None
    for index, hop in enumerate(hops):
        hop.index = index
        if index > 0:
            previous = hops[index - 1]
            if not _same_host(previous.by_host, hop.from_host) and not _same_host(
                previous.by_host, hop.helo
            ):
                hop.flags.append("chain_break")
            if previous.at is not None and hop.at is not None:
                hop.delay_s = round((hop.at - previous.at).total_seconds(), 6)
        if hop.at is not None:
            if last_time is not None and hop.at < last_time:
                hop.flags.append("time_backwards")
            last_time = hop.at
    return hops
