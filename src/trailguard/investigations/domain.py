"""Investigations: plain typed Python (no web or database imports).

An investigation (a case) groups everything about one incident: its reference, title, the
conduct (Convention Arts. 2-11 ids from the legal engine), handling code, the people on it,
its observations (what was seen, when, from where), its traces and its linked requests and
holds. Observations always keep UTC and the zone the source gave, and a clock tolerance.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from trailguard.core.errors import ValidationFailed

HANDLING_CODES = ("H0", "H1", "H2", "H3")  # SIENA-like codes, as the requests use them
TLP_LABELS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{2,63}$")


class SourceKind(StrEnum):
    TYPED_EVENT = "typed_event"  # typed by hand from what someone saw
    LOG_LINE = "log_line"  # lines of a log read by the traffic parsers
    EMAIL_HEADERS = "email_headers"  # the Received: chain of a message
    CSV_IMPORT = "csv_import"
    JSON_IMPORT = "json_import"


# Default clock tolerance per kind of source, in seconds (configurable per observation).
# - typed by hand: people copy times from screens and notes to the minute;
# - log lines: server logs are written at 1 s resolution by NTP-synchronised hosts (the
#   traffic capability's lookups default to +-2 s);
# - e-mail headers: each server stamps with its own clock at 1 s resolution, and mail relays'
#   clocks are not vouched for by anyone on the trail: half a minute;
# - imports: whatever system exported them; 5 s unless the importer says otherwise.
DEFAULT_TOLERANCE_S: dict[SourceKind, float] = {
    SourceKind.TYPED_EVENT: 60.0,
    SourceKind.LOG_LINE: 2.0,
    SourceKind.EMAIL_HEADERS: 30.0,
    SourceKind.CSV_IMPORT: 5.0,
    SourceKind.JSON_IMPORT: 5.0,
}

PROTOCOLS = ("tcp", "udp", "icmp", "sctp", "http", "https", "smtp", "imap", "pop3", "ssh", "other")
DIRECTIONS = ("inbound", "outbound")  # relative to the victim: to it / from it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class InvestigationIn(_Model):
    reference: str
    title: Title
    conduct: list[str] = Field(default_factory=list, max_length=20)
    handling_code: str = "H0"
    tlp: str = "TLP:AMBER"
    description: str = Field("", max_length=20_000)

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str) -> str:
        value = value.strip()
        if not REFERENCE.fullmatch(value):
            raise ValueError(
                "a reference is 3-64 letters, digits or . _ / - and starts with a letter or digit"
            )
        return value

    @field_validator("handling_code")
    @classmethod
    def _handling(cls, value: str) -> str:
        if value not in HANDLING_CODES:
            raise ValueError(f"handling code must be one of {', '.join(HANDLING_CODES)}")
        return value

    @field_validator("tlp")
    @classmethod
    def _tlp(cls, value: str) -> str:
        if value not in TLP_LABELS:
            raise ValueError(f"TLP must be one of {', '.join(TLP_LABELS)}")
        return value


class InvestigationPatch(_Model):
    title: Title | None = None
    conduct: list[str] | None = Field(None, max_length=20)
    handling_code: str | None = None
    tlp: str | None = None
    description: str | None = Field(None, max_length=20_000)
    status: str | None = None

    @field_validator("handling_code")
    @classmethod
    def _handling(cls, value: str | None) -> str | None:
        if value is not None and value not in HANDLING_CODES:
            raise ValueError(f"handling code must be one of {', '.join(HANDLING_CODES)}")
        return value

    @field_validator("tlp")
    @classmethod
    def _tlp(cls, value: str | None) -> str | None:
        if value is not None and value not in TLP_LABELS:
            raise ValueError(f"TLP must be one of {', '.join(TLP_LABELS)}")
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and value not in ("open", "closed"):
            raise ValueError("status is open or closed")
        return value


def check_conduct(conduct: list[str], known: tuple[str, ...] | list[str]) -> list[str]:
    unknown = [c for c in conduct if c not in known]
    if unknown:
        raise ValidationFailed(
            f"unknown conduct {', '.join(map(repr, unknown))}; known: {', '.join(known)}",
            ["conduct"],
        )
    return list(dict.fromkeys(conduct))


def format_offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_instant(value: Any, what: str = "time") -> tuple[datetime, str]:
    """An instant with its zone as the source wrote it (``Z``, ``+01:00``); a time without a
    zone is refused, never guessed. Returns (UTC instant, source zone)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationFailed(
                f"{what} {text!r} is not ISO 8601 (e.g. 2026-11-20T09:14:07+01:00)", [what]
            ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationFailed(
            f"{what} {value!s} has no zone: add Z or an offset like +01:00 (no guessing)", [what]
        )
    offset = parsed.utcoffset()
    assert offset is not None
    zone = "Z" if offset.total_seconds() == 0 else format_offset(offset.total_seconds())
    return parsed.astimezone(UTC), zone


class ObservationIn(_Model):
    """One thing seen: an address (and port) at a time, with where it came from."""

    kind: SourceKind
    ip: str | None
    port: int | None = Field(None, ge=0, le=65535)
    at: datetime | None
    source_zone: str | None = None
    tolerance_s: float | None = Field(None, ge=0, le=86_400)
    protocol: str | None = None
    direction: str | None = None
    seen: str = Field("", max_length=2_000)
    source_label: str = Field("", max_length=300)
    raw: str = Field("", max_length=20_000)
    flags: tuple[str, ...] = ()

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None

    @field_validator("at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("a time needs its zone (Z or an offset); it is never guessed")
        return value.astimezone(UTC) if value is not None else None

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip().lower()
        if value not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        return value

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in DIRECTIONS:
            raise ValueError("direction is inbound (to the victim) or outbound (from it)")
        return value

    @property
    def tolerance(self) -> float:
        return self.tolerance_s if self.tolerance_s is not None else DEFAULT_TOLERANCE_S[self.kind]


def typed_event(raw: dict[str, Any]) -> ObservationIn:
    """An event typed by hand: ip, port, at (with zone or offset), protocol, direction, seen."""
    fields = dict(raw)
    if "at" not in fields or fields["at"] in (None, ""):
        raise ValidationFailed("an event needs its time (with zone or offset)", ["at"])
    at, zone = parse_instant(fields.pop("at"), "at")
    fields.setdefault("kind", SourceKind.TYPED_EVENT)
    if not fields.get("ip"):
        raise ValidationFailed("an event needs the address seen", ["ip"])
    try:
        return ObservationIn(at=at, source_zone=fields.pop("source_zone", None) or zone, **fields)
    except ValueError as exc:
        raise ValidationFailed(f"bad event: {_first_error(exc)}", ["event"]) from None


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)


IMPORT_FIELDS = ("ip", "port", "at", "protocol", "direction", "seen", "tolerance_s")


def parse_import(text: str, fmt: str, *, source_label: str = "") -> list[ObservationIn]:
    """CSV (header row with ip,at[,port,protocol,direction,seen,tolerance_s]) or JSON (a list
    of objects with the same keys). All rows or nothing: every bad row is named."""
    kind = SourceKind.CSV_IMPORT if fmt == "csv" else SourceKind.JSON_IMPORT
    rows: list[tuple[str, dict[str, Any]]] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        if "ip" not in header or "at" not in header:
            raise ValidationFailed("the CSV needs a header row with at least ip and at")
        extra = [h for h in header if h not in IMPORT_FIELDS]
        if extra:
            raise ValidationFailed(
                f"unknown CSV column(s) {', '.join(extra)}; known: {', '.join(IMPORT_FIELDS)}"
            )
        for number, row in enumerate(reader, start=2):
            rows.append((f"line {number}", {k.strip(): v for k, v in row.items() if k}))
    elif fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"not JSON: {exc}") from None
        if not isinstance(data, list):
            raise ValidationFailed("the JSON must be a list of observation objects")
        for number, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise ValidationFailed(f"item {number}: not an object")
            rows.append((f"item {number}", item))
    else:
        raise ValidationFailed(f"import format {fmt!r}: use csv or json", ["format"])
    if not rows:
        raise ValidationFailed("the import holds no observation")
    out: list[ObservationIn] = []
    problems: list[str] = []
    for where, row in rows:
        cleaned = {k: (None if v in ("", None) else v) for k, v in row.items()}
        unknown = [k for k in cleaned if k not in IMPORT_FIELDS]
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
            continue
        try:
            cleaned["kind"] = kind
            cleaned["source_label"] = source_label
            out.append(typed_event(cleaned))
        except ValidationFailed as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise ValidationFailed(f"{len(problems)} bad row(s); nothing imported", problems[:50])
    return out


def observations_from_hops(hops: list[Any], *, source_label: str) -> list[ObservationIn]:
    """Every hop of a Received: chain becomes an observation (the connecting address at the
    time the receiving server stamped), flags kept; a hop with neither address nor time is
    kept too, so nothing is lost between the header and the case."""
    out = []
    for hop in hops:
        data = hop.to_json()
        at = hop.at
        out.append(
            ObservationIn(
                kind=SourceKind.EMAIL_HEADERS,
                ip=hop.from_ip,
                port=getattr(hop, "from_port", None),
                at=at,
                source_zone=hop.zone,
                protocol="smtp",
                direction="inbound",
                seen=f"hop {hop.index}: {data['from_host'] or '?'} -> {data['by_host'] or '?'}",
                source_label=source_label,
                raw=hop.raw[:20_000],
                flags=tuple(hop.flags),
            )
        )
    return out
