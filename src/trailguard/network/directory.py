"""The network's directory: who is who, who is on duty now, and which keys they sign with.

An entry describes one participant: a national 24/7 point of contact (Convention on
Cybercrime Art. 35), a central authority (Art. 27(2)), a
service provider (Art. 1(c)) with the address space it operates, a liaison officer, or an
INTERPOL National Central Bureau. Convention text: https://github.com/statengeneraal/
laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md
The directory travels as a JSON document signed with the publishing node's Ed25519 key.

Every entry and the document itself name their network (issue 17): 'live' for real nodes,
an exercise network's id for training nodes. A node keeps, imports and talks to entries of
its own network only, so an exercise node can never be taken for a real one.

Plain Python: no web or database imports.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trailguard.core.clock import ensure_utc, isoformat_z
from trailguard.core.config import LIVE_NETWORK, is_network_name
from trailguard.core.errors import ValidationFailed
from trailguard.network.envelope import canonical_json
from trailguard.network.identity import (
    NodeIdentity,
    PublicKeyRecord,
    b64,
    merge_key_history,
    parse_instant,
    verify_b64_signature,
)

DIRECTORY_FORMAT = "trailguard-directory/1"
_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,62}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[0-9 ()-]{6,24}$")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EntryKind(StrEnum):
    POC = "poc"  # national 24/7 point of contact (Art. 35)
    CENTRAL_AUTHORITY = "central-authority"  # Art. 27(2)
    AGENCY = "agency"
    PROVIDER = "provider"  # Art. 1(c)
    LIAISON_OFFICER = "liaison-officer"
    INTERPOL_BUREAU = "interpol-bureau"  # INTERPOL National Central Bureau


class ShiftRole(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


@dataclass(frozen=True)
class Shift:
    """One person's duty: either a fixed period (``start``/``end``, instants in UTC) or a
    weekly pattern (``weekdays`` 0=Monday..6, ``start_time``-``end_time`` in the entry's zone;
    an end before the start runs past midnight)."""

    person: str
    role: ShiftRole = ShiftRole.PRIMARY
    start: datetime | None = None
    end: datetime | None = None
    weekdays: tuple[int, ...] = ()
    start_time: time | None = None
    end_time: time | None = None
    phone: str | None = None
    email: str | None = None

    def covers(self, instant: datetime, zone: ZoneInfo) -> bool:
        instant = ensure_utc(instant)
        if self.start is not None and self.end is not None:
            return self.start <= instant < self.end
        if self.start_time is None or self.end_time is None:
            return False
        local = instant.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        if self.start_time < self.end_time:
            return local.weekday() in self.weekdays and self.start_time <= clock < self.end_time
        # an overnight shift belongs to the day it starts on
        if clock >= self.start_time:
            return local.weekday() in self.weekdays
        if clock < self.end_time:
            return (local.weekday() - 1) % 7 in self.weekdays
        return False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"person": self.person, "role": self.role.value}
        if self.start is not None and self.end is not None:
            out["start"] = isoformat_z(self.start)
            out["end"] = isoformat_z(self.end)
        else:
            out["weekdays"] = list(self.weekdays)
            out["start_time"] = self.start_time.isoformat("minutes") if self.start_time else None
            out["end_time"] = self.end_time.isoformat("minutes") if self.end_time else None
        if self.phone:
            out["phone"] = self.phone
        if self.email:
            out["email"] = self.email
        return out

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Shift:
        if not isinstance(raw, dict):
            raise ValidationFailed(f"{where}: a shift must be an object")
        problems: list[str] = []
        person = raw.get("person")
        if not isinstance(person, str) or not person.strip() or len(person) > 200:
            problems.append(f"{where}: person must be a name of 1-200 characters")
        try:
            role = ShiftRole(raw.get("role", "primary"))
        except ValueError:
            problems.append(f"{where}: role must be primary or backup, not {raw.get('role')!r}")
            role = ShiftRole.PRIMARY
        phone, email = raw.get("phone"), raw.get("email")
        if phone is not None and (not isinstance(phone, str) or not _PHONE.fullmatch(phone)):
            problems.append(f"{where}: phone {phone!r} is not an international number (+...)")
        if email is not None and (not isinstance(email, str) or not _EMAIL.fullmatch(email)):
            problems.append(f"{where}: e-mail {email!r} is not an address")
        start = end = None
        weekdays: tuple[int, ...] = ()
        start_time = end_time = None
        if "start" in raw or "end" in raw:
            try:
                start = parse_instant(raw.get("start"), f"{where}.start")  # type: ignore[arg-type]
                end = parse_instant(raw.get("end"), f"{where}.end")  # type: ignore[arg-type]
                if end <= start:
                    problems.append(f"{where}: end {raw.get('end')} is not after start")
            except ValidationFailed as exc:
                problems.append(str(exc))
        else:
            days = raw.get("weekdays", list(range(7)))
            if not isinstance(days, list) or not all(
                isinstance(day, int) and 0 <= day <= 6 for day in days
            ):
                problems.append(f"{where}: weekdays must be a list of 0 (Monday) to 6 (Sunday)")
            else:
                weekdays = tuple(sorted(set(days)))
            try:
                start_time = time.fromisoformat(str(raw.get("start_time")))
                end_time = time.fromisoformat(str(raw.get("end_time")))
                if start_time == end_time:
                    problems.append(f"{where}: start_time and end_time are equal")
            except ValueError:
                problems.append(
                    f"{where}: a weekly shift needs start_time and end_time as HH:MM, "
                    f"not {raw.get('start_time')!r}-{raw.get('end_time')!r}"
                )
        if problems:
            raise ValidationFailed(f"bad shift in {where}", problems)
        return cls(
            person=str(person).strip(),
            role=role,
            start=start,
            end=end,
            weekdays=weekdays,
            start_time=start_time,
            end_time=end_time,
            phone=phone,
            email=email,
        )


@dataclass(frozen=True)
class Channels:
    endpoint: str | None = None  # the node's base URL; the inbox is <endpoint>/exchange/v1/...
    phone: str | None = None
    email: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "phone": self.phone, "email": self.email}


@dataclass(frozen=True)
class OnDuty:
    """Who answers now: ``primary`` (None when nobody's primary shift covers the instant)
    and ``backup``; ``contact`` is whom to call, the backup when the primary is off."""

    primary: Shift | None
    backup: Shift | None

    @property
    def contact(self) -> Shift | None:
        return self.primary or self.backup


@dataclass(frozen=True)
class DirectoryEntry:
    node_id: str
    kind: EntryKind
    country: str
    organisation: str
    roles: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)
    timezone: str = "UTC"
    roster: tuple[Shift, ...] = ()
    channels: Channels = field(default_factory=Channels)
    keys: tuple[PublicKeyRecord, ...] = ()
    prefixes: tuple[str, ...] = ()
    updated_at: datetime | None = None
    network: str = LIVE_NETWORK  # 'live' or the exercise network's id (issue 17)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def on_duty(self, instant: datetime) -> OnDuty:
        primary = backup = None
        for shift in self.roster:
            if not shift.covers(instant, self.zone):
                continue
            if shift.role is ShiftRole.PRIMARY and primary is None:
                primary = shift
            elif shift.role is ShiftRole.BACKUP and backup is None:
                backup = shift
        return OnDuty(primary=primary, backup=backup)

    def key_at(self, instant: datetime) -> PublicKeyRecord | None:
        for record in reversed(self.keys):
            if record.covers(instant):
                return record
        return None

    def current_key(self) -> PublicKeyRecord | None:
        open_keys = [record for record in self.keys if record.valid_until is None]
        return open_keys[-1] if open_keys else None

    def networks(self) -> list[Network]:
        return [ipaddress.ip_network(prefix, strict=True) for prefix in self.prefixes]

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "network": self.network,
            "kind": self.kind.value,
            "country": self.country,
            "organisation": self.organisation,
            "roles": list(self.roles),
            "languages": list(self.languages),
            "timezone": self.timezone,
            "roster": [shift.to_json() for shift in self.roster],
            "channels": self.channels.to_json(),
            "keys": [record.to_json() for record in self.keys],
            "prefixes": list(self.prefixes),
            "updated_at": isoformat_z(self.updated_at) if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, raw: Any) -> DirectoryEntry:
        if not isinstance(raw, dict):
            raise ValidationFailed(f"a directory entry must be an object, not {raw!r:.60}")
        node_id = raw.get("node_id")
        where = f"entry {node_id!r}"
        problems: list[str] = []
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
            problems.append(f"node_id {node_id!r} must be 2-63 lower-case letters, digits, . or -")
        network = raw.get("network", LIVE_NETWORK)
        if not is_network_name(network):
            problems.append(
                f"{where}: network {network!r:.80} is neither 'live' nor an exercise network "
                "('exercise-...')"
            )
        try:
            kind = EntryKind(str(raw.get("kind")))
        except ValueError:
            kinds = ", ".join(kind.value for kind in EntryKind)
            problems.append(f"{where}: kind {raw.get('kind')!r} is not one of {kinds}")
            kind = EntryKind.POC
        country = raw.get("country")
        if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
            problems.append(f"{where}: country {country!r} is not an ISO 3166-1 alpha-2 code")
        organisation = raw.get("organisation")
        if not isinstance(organisation, str) or not organisation.strip() or len(organisation) > 300:
            problems.append(f"{where}: organisation must be a name of 1-300 characters")
        roles = raw.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            problems.append(f"{where}: roles must be a list of names")
            roles = []
        languages = raw.get("languages", ["en"])
        if not isinstance(languages, list) or not all(
            isinstance(code, str) and _LANGUAGE.fullmatch(code) for code in languages
        ):
            problems.append(f"{where}: languages {languages!r} must be ISO 639 codes like 'en'")
            languages = []
        timezone = raw.get("timezone", "UTC")
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{where}: unknown time zone {timezone!r} (use an IANA name)")
            timezone = "UTC"
        roster: list[Shift] = []
        raw_roster = raw.get("roster", [])
        if not isinstance(raw_roster, list):
            problems.append(f"{where}: roster must be a list of shifts")
            raw_roster = []
        for index, shift in enumerate(raw_roster):
            try:
                roster.append(Shift.from_json(shift, f"{where} shift {index}"))
            except ValidationFailed as exc:
                problems.extend(exc.problems or [str(exc)])
        channels_raw = raw.get("channels") or {}
        channels = Channels()
        if not isinstance(channels_raw, dict):
            problems.append(f"{where}: channels must be an object")
        else:
            endpoint = channels_raw.get("endpoint")
            if endpoint is not None and (
                not isinstance(endpoint, str)
                or not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[^\s]*)?", endpoint)
            ):
                problems.append(f"{where}: endpoint {endpoint!r} is not an http(s) URL")
            phone = channels_raw.get("phone")
            if phone is not None and (not isinstance(phone, str) or not _PHONE.fullmatch(phone)):
                problems.append(f"{where}: phone {phone!r} is not an international number")
            email = channels_raw.get("email")
            if email is not None and (not isinstance(email, str) or not _EMAIL.fullmatch(email)):
                problems.append(f"{where}: e-mail {email!r} is not an address")
            channels = Channels(
                endpoint=endpoint.rstrip("/") if isinstance(endpoint, str) else None,
                phone=phone,
                email=email,
            )
        keys: list[PublicKeyRecord] = []
        raw_keys = raw.get("keys", [])
        if not isinstance(raw_keys, list):
            problems.append(f"{where}: keys must be a list of public key records")
            raw_keys = []
        for record in raw_keys:
            try:
                keys.append(PublicKeyRecord.from_json(record))
            except ValidationFailed as exc:
                problems.append(f"{where}: {exc} {'; '.join(exc.problems)}".strip())
        prefixes: list[str] = []
        raw_prefixes = raw.get("prefixes", [])
        if not isinstance(raw_prefixes, list):
            problems.append(f"{where}: prefixes must be a list")
            raw_prefixes = []
        for prefix in raw_prefixes:
            try:
                prefixes.append(str(ipaddress.ip_network(str(prefix), strict=True)))
            except ValueError as exc:
                problems.append(f"{where}: prefix {prefix!r} is not a network: {exc}")
        updated = raw.get("updated_at")
        updated_at = None
        if updated:
            try:
                updated_at = parse_instant(updated, f"{where}.updated_at")
            except ValidationFailed as exc:
                problems.append(str(exc))
        if problems:
            raise ValidationFailed(f"bad directory {where}", problems)
        return cls(
            node_id=str(node_id),
            kind=kind,
            country=str(country),
            organisation=str(organisation).strip(),
            roles=tuple(roles),
            languages=tuple(languages),
            timezone=str(timezone),
            roster=tuple(roster),
            channels=channels,
            keys=tuple(sorted(keys, key=lambda r: r.valid_from)),
            prefixes=tuple(prefixes),
            updated_at=updated_at,
            network=str(network),
        )


def merge_entries(old: DirectoryEntry | None, new: DirectoryEntry) -> DirectoryEntry:
    """The new entry replaces the old one, but key history is only ever added to."""
    if old is None:
        return new
    keys = merge_key_history(list(old.keys), list(new.keys))
    return replace(new, keys=tuple(keys))


@dataclass(frozen=True)
class SearchHit:
    entry: DirectoryEntry
    on_duty: OnDuty
    local_time: datetime

    @property
    def available(self) -> bool:
        return self.on_duty.contact is not None


def search(
    entries: list[DirectoryEntry],
    *,
    at: datetime,
    country: str | None = None,
    language: str | None = None,
    kind: EntryKind | None = None,
) -> list[SearchHit]:
    """Who can help in ``country`` in ``language`` at ``at``: matching entries, those with
    someone on duty (primary, else backup) first, then the rest (reachable only by their
    channels), each with its local time."""
    at = ensure_utc(at)
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise ValidationFailed(f"country {country!r} is not an ISO 3166-1 alpha-2 code like 'NL'")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise ValidationFailed(f"language {language!r} is not an ISO 639 code like 'en'")
    hits = []
    for entry in entries:
        if country and entry.country != country:
            continue
        if language and language not in entry.languages:
            continue
        if kind and entry.kind is not kind:
            continue
        hits.append(
            SearchHit(entry=entry, on_duty=entry.on_duty(at), local_time=at.astimezone(entry.zone))
        )
    hits.sort(key=lambda hit: (not hit.available, hit.on_duty.primary is None, hit.entry.node_id))
    return hits


def lookup_prefix(
    entries: list[DirectoryEntry], address: str
) -> tuple[DirectoryEntry, Network] | None:
    """The provider that operates ``address`` (IPv4 or IPv6) by longest prefix match."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError as exc:
        raise ValidationFailed(f"{address!r} is not an IPv4 or IPv6 address") from exc
    best: tuple[DirectoryEntry, Network] | None = None
    for entry in entries:
        for network in entry.networks():
            if (
                network.version == ip.version
                and ip in network
                and (best is None or network.prefixlen > best[1].prefixlen)
            ):
                best = (entry, network)
    return best


# --- the signed directory document ------------------------------------------------------


@dataclass(frozen=True)
class DirectoryDocument:
    publisher: str
    published_at: datetime
    entries: tuple[DirectoryEntry, ...]
    key_id: str
    signature: str
    network: str = LIVE_NETWORK  # signed: the network whose directory this is (issue 17)

    def signed_fields(self) -> dict[str, Any]:
        return {
            "format": DIRECTORY_FORMAT,
            "network": self.network,
            "publisher": self.publisher,
            "published_at": isoformat_z(self.published_at),
            "entries": [entry.to_json() for entry in self.entries],
            "key_id": self.key_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.signed_fields(), "signature": self.signature}

    def verify(self, history: list[PublicKeyRecord]) -> bool:
        return verify_b64_signature(
            history,
            self.key_id,
            canonical_json(self.signed_fields()),
            self.signature,
            signed_at=self.published_at,
        )


def sign_directory(
    identity: NodeIdentity,
    *,
    publisher: str,
    entries: list[DirectoryEntry],
    at: datetime,
    network: str = LIVE_NETWORK,
) -> DirectoryDocument:
    if not is_network_name(network):
        raise ValidationFailed(f"network {network!r} is neither 'live' nor an exercise network")
    strays = sorted(entry.node_id for entry in entries if entry.network != network)
    if strays:
        raise ValidationFailed(
            f"a directory of network {network!r} cannot list nodes of another network: "
            + ", ".join(strays)
        )
    unsigned = DirectoryDocument(
        network=network,
        publisher=publisher,
        published_at=ensure_utc(at),
        entries=tuple(sorted(entries, key=lambda entry: entry.node_id)),
        key_id=identity.key_id,
        signature="",
    )
    signature = b64(identity.sign(canonical_json(unsigned.signed_fields())))
    return replace(unsigned, signature=signature)


def parse_directory(raw: Any) -> DirectoryDocument:
    """Parse (not yet verify) a directory document."""
    if not isinstance(raw, dict) or raw.get("format") != DIRECTORY_FORMAT:
        raise ValidationFailed(f"not a {DIRECTORY_FORMAT} document")
    problems = [
        f"directory document lacks {name!r}"
        for name in ("publisher", "published_at", "key_id", "signature")
        if not isinstance(raw.get(name), str)
    ]
    if not isinstance(raw.get("entries"), list):
        problems.append("directory document lacks a list of 'entries'")
    network = raw.get("network")
    if not is_network_name(network):
        problems.append(
            f"the directory must state its network ('live' or 'exercise-...'), not {network!r:.80}"
        )
    if problems:
        raise ValidationFailed("bad directory document", problems)
    entries = []
    seen: set[str] = set()
    for item in raw["entries"]:
        if isinstance(item, dict) and item.get("network") != network:
            raise ValidationFailed(
                f"the directory of network {network!r} lists {item.get('node_id')!r:.70} as a "
                f"node of network {item.get('network')!r:.80}; every entry must state the "
                "directory's network"
            )
        entry = DirectoryEntry.from_json(item)
        if entry.node_id in seen:
            raise ValidationFailed(f"directory lists {entry.node_id!r} twice")
        seen.add(entry.node_id)
        entries.append(entry)
    return DirectoryDocument(
        publisher=raw["publisher"],
        published_at=parse_instant(raw["published_at"], "published_at"),
        entries=tuple(entries),
        key_id=raw["key_id"],
        signature=raw["signature"],
        network=str(network),
    )
