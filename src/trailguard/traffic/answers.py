"""The answer types of a lookup: stored records, matches (one session, its records and the
assignments behind it), the query and the answer. Plain Python: the CLI, API, pages and the
requests engineer's code read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trailguard.traffic.values import (
    iso,
)

# --------------------------------------------------------------------------------------------
# answer types


@dataclass(frozen=True)
class StoredRecord:
    """One stored record, with where it came from (file name, SHA-256 of the file, line)."""

    kind: str
    event: str | None
    start: datetime
    end: datetime | None
    protocol: str | None
    inside_ip: str | None
    inside_port: int | None
    public_ip: str | None
    public_port: int | None
    public_port_end: int | None
    subscriber: str | None
    mac: str | None
    device: str | None
    source_tz: str | None
    source_file: str
    source_line: int
    source_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "event": self.event,
            "start": iso(self.start),
            "end": iso(self.end) if self.end else None,
            "protocol": self.protocol,
            "inside_ip": self.inside_ip,
            "inside_port": self.inside_port,
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "public_port_end": self.public_port_end,
            "subscriber": self.subscriber,
            "mac": self.mac,
            "device": self.device,
            "source_tz": self.source_tz,
            "source_file": self.source_file,
            "source_line": self.source_line,
            "source_sha256": self.source_sha256,
        }


@dataclass(frozen=True)
class Assignment:
    """A DHCP lease or RADIUS session that gave ``ip`` to a subscriber for a period."""

    kind: str
    ip: str
    subscriber: str | None
    start: datetime
    end: datetime | None
    distance: timedelta
    records: tuple[StoredRecord, ...]


@dataclass(frozen=True)
class Match:
    """One candidate translation (or a directly assigned address), with what it rests on."""

    rank: int
    kind: str
    inside_ip: str
    inside_port: int | None
    public_ip: str
    public_port: int | None
    protocol: str | None
    start: datetime
    end: datetime | None
    distance: timedelta  # 0 when the session covers the instant
    subscriber: str | None
    records: tuple[StoredRecord, ...]
    assignments: tuple[Assignment, ...] = ()
    port_block: tuple[int, int] | None = None  # identified by a port block, not a session
    # where the period ends and on what that rests: "logged" (a closing record),
    # "re-allocation" (the next period on the key began; release not logged) or "horizon"
    # (nothing closed it: capped by the kind's open-session horizon)
    period_end: datetime | None = None
    end_basis: str = "logged"

    @property
    def covers(self) -> bool:
        """The period covers the instant itself (not only within the tolerance)."""
        return self.distance == timedelta(0)

    @property
    def end_note(self) -> str | None:
        if self.end_basis == "re-allocation":
            return "closed by re-allocation, release not logged"
        if self.end_basis == "horizon":
            return (
                "no release logged and no later allocation: the period is capped by the"
                " format's open-session horizon; an answer inside it rests on that cap"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        records = [r.to_json() for r in self.records]
        for assignment in self.assignments[:1]:
            records.extend(r.to_json() for r in assignment.records)
        return {
            "inside_ip": self.inside_ip,
            "inside_port": self.inside_port,
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "start": iso(self.start),
            "end": iso(self.end) if self.end else None,
            "subscriber": self.subscriber,
            "records": records,
            "rank": self.rank,
            "kind": self.kind,
            "protocol": self.protocol,
            "distance_seconds": self.distance.total_seconds(),
            "port_block": list(self.port_block) if self.port_block else None,
            "other_assignments": [
                {
                    "kind": a.kind,
                    "subscriber": a.subscriber,
                    "start": iso(a.start),
                    "end": iso(a.end) if a.end else None,
                    "distance_seconds": a.distance.total_seconds(),
                }
                for a in self.assignments[1:]
            ],
            "period_end": iso(self.period_end) if self.period_end else None,
            "end_basis": self.end_basis,
            "end_note": self.end_note,
            "covers_instant": self.covers,
        }


@dataclass(frozen=True)
class LookupQuery:
    public_ip: str
    public_port: int | None
    at: datetime
    tolerance: timedelta

    def to_json(self) -> dict[str, Any]:
        return {
            "public_ip": self.public_ip,
            "public_port": self.public_port,
            "at": iso(self.at),
            "tolerance_seconds": self.tolerance.total_seconds(),
        }


@dataclass(frozen=True)
class LookupAnswer:
    query: LookupQuery
    matches: tuple[Match, ...]
    engine: str = "embedded"

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def ambiguous(self) -> bool:
        """The answer names more than one holder (an inside address or subscriber)."""
        return len({(m.inside_ip, m.subscriber) for m in self.matches}) > 1

    @property
    def ambiguity(self) -> str | None:
        """Why the answer names more than one holder (None when it names one or none)."""
        if not self.ambiguous:
            return None
        covering = {(m.inside_ip, m.subscriber) for m in self.matches if m.covers}
        if len(covering) > 1:
            return (
                "the data is ambiguous: periods of several holders cover the instant (records"
                " were lost, e.g. a release or an allocation, or clocks disagree); every"
                " candidate is named"
            )
        return "several candidates within the tolerance of the instant; every one is named"

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query.to_json(),
            "matches": [m.to_json() for m in self.matches],
            "ambiguous": self.ambiguous,
            "ambiguity": self.ambiguity,
        }


def record_from_row(row: dict[str, Any]) -> StoredRecord:
    return StoredRecord(
        kind=row["kind"],
        event=row["event"],
        start=row["start"],
        end=row["end"],
        protocol=row["protocol"],
        inside_ip=row["inside_ip"],
        inside_port=row["inside_port"],
        public_ip=row["public_ip"],
        public_port=row["public_port"],
        public_port_end=row["public_port_end"],
        subscriber=row["subscriber"],
        mac=row["mac"],
        device=row["device"],
        source_tz=row["source_tz"],
        source_file=row["source_file"],
        source_line=row["source_line"],
        source_sha256=row["source_sha256"],
    )
