"""Values every traffic module shares: record kinds by role, address and port checks, instants
as microseconds since the epoch, and the rule that pairs records of one session.

Plain Python (with NumPy integer types accepted as ports); the store, the index, holds and
lookups import it, it imports none of them."""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np

from trailguard.core.clock import ensure_utc
from trailguard.core.errors import ValidationFailed
from trailguard.traffic.model import RecordKind

# --------------------------------------------------------------------------------------------
# record kinds and providers

US_PER_DAY = 86_400_000_000
NAT_LIKE = frozenset({RecordKind.NAT, RecordKind.PORT_BLOCK, RecordKind.FLOW, RecordKind.ACCESS})
ASSIGNMENT = frozenset({RecordKind.DHCP, RecordKind.RADIUS})
KIND_CODES = {kind.value: i for i, kind in enumerate(RecordKind)}


_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def sort_ip_column(kind: str) -> str:
    return "inside_ip" if kind in ASSIGNMENT else "public_ip"


def validate_provider(provider: str) -> str:
    if not _PROVIDER.fullmatch(provider or ""):
        raise ValidationFailed(
            f"provider id {provider!r} must be 1-63 lower-case letters, digits, dots, dashes "
            "or underscores, starting with a letter or digit",
            ["provider"],
        )
    return provider


# the instants a date can name (years 1 to 9999): parts are named by day, answers by datetime
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


def day_of(us: int) -> str:
    return (date(1970, 1, 1) + timedelta(microseconds=us)).isoformat()


# --------------------------------------------------------------------------------------------
# sessions and periods (see index.py)

PAIR_US = 1_000_000  # records of one session (create/teardown, start/stop) start within 1 s
# the basis of a row's effective end
END_LOGGED = 0  # its own end, or the closing record of its period
END_REALLOCATED = 1  # the next period on the key began (re-allocation, release not logged)
END_HORIZON = 2  # no end logged: capped by the kind's open-session horizon
END_BASIS = {END_LOGGED: "logged", END_REALLOCATED: "re-allocation", END_HORIZON: "horizon"}
# an interim record that does not carry its period's start (Juniper ACTIVE without a plausible
# allocation time: its start is when it was logged) confirms its holder's period; interim records
# that carry the start (RADIUS, Juniper with the allocation time) join their period by that start
SEEN = "seen"


def holder_column(kind: str) -> str:
    """The column naming who holds a key's period: the inside address behind a NAT-like
    record, the subscriber of an assignment."""
    return "subscriber" if kind in ASSIGNMENT else "inside_ip"


NAT_KINDS = frozenset({"nat", "port_block"})
ASSIGNMENT_KINDS = frozenset(k.value for k in ASSIGNMENT)
FLOW_KINDS = frozenset(k.value for k in NAT_LIKE)
MAX_TOLERANCE = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# input checking


def iso(value: datetime) -> str:
    return ensure_utc(value).isoformat().replace("+00:00", "Z")


def canonical_ip(value: str) -> str:
    text = _canonical_text(str(value))
    if text is None:
        raise ValidationFailed(f"{value!r} is not an IPv4 or IPv6 address", ["ip"])
    return text


@functools.lru_cache(maxsize=1 << 16)
def _canonical_text(value: str) -> str | None:
    """The compressed form of an address, or None (cached: batches repeat addresses)."""
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


def check_port(value: int | None) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (0 <= int(value) <= 65535)
    ):
        raise ValidationFailed(f"port {value!r} must be a whole number 0..65535", ["port"])
    return int(value)


def check_tolerance(value: timedelta) -> timedelta:
    if value < timedelta(0) or value > MAX_TOLERANCE:
        raise ValidationFailed(
            f"tolerance {value} must be between 0 and {MAX_TOLERANCE}", ["tolerance"]
        )
    return value


def to_us(value: datetime) -> int:
    try:
        value = ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), ["at"]) from exc
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


INT64_MIN = int(np.iinfo(np.int64).min)
