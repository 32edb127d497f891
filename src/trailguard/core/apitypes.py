"""Input types whose JSON Schema says exactly what the node accepts.

The API's request models and query parameters use these, so that the OpenAPI document tells
the truth: a value the schema allows is accepted, and a value it refuses is refused with 422
before any service runs. Each type validates with the same rule its schema publishes:

* ``CountryCode``: an ISO 3166-1 alpha-2 code, upper case, from the list the IANA time zone
  database carries (``enum``);
* ``Instant``: an RFC 3339 date-time with its offset (``Z`` or ``+hh:mm``), years 1900-2999,
  read as an aware ``datetime`` in UTC (``format: date-time`` and a ``pattern`` that requires
  the offset); a bare number or a time without an offset is refused;
* ``LawDay``: a calendar day (``YYYY-MM-DD``) from 2001-11-23, when the Convention on
  Cybercrime (ETS 185) opened for signature: the legal engine has no law for earlier days;
* ``IpAddress``: an IPv4 or IPv6 address (no zone index);
* ``text_field(max_length, min_chars)``: a string with at least ``min_chars`` characters once
  surrounding white space is stripped (white space as Python's ``str.strip`` reads it), at most
  ``max_length`` in all; ``NonBlank`` (20,000) and ``ShortNonBlank`` (500) use it;
* ``HEX_SHA256``: a lower- or upper-case SHA-256 hex digest.

White space: JSON Schema's ``\\s`` (ECMA-262) and Python's ``str.strip`` differ on the
information separators U+001C-U+001F (Python strips them); the patterns name them explicitly
so that both readings agree.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    WithJsonSchema,
)
from pydantic_core import core_schema

from trailguard.core.countries import iso_countries

# --- white space and text ------------------------------------------------------------------

_SPACE = r"[\s\x1c-\x1f]"
_INK = r"[^\s\x1c-\x1f]"


def non_blank_pattern(min_chars: int = 1) -> str:
    """A pattern for text with at least ``min_chars`` characters between its first and last
    non-space character (inclusive), i.e. ``len(value.strip()) >= min_chars``."""
    if min_chars <= 1:
        return _INK
    return rf"^{_SPACE}*{_INK}[\s\S]{{{min_chars - 2},}}{_INK}{_SPACE}*$"


def text_field(max_length: int, min_chars: int = 1, description: str | None = None) -> Any:
    """The ``Field`` of text that must say something: at least ``min_chars`` characters once
    surrounding white space is stripped, at most ``max_length`` in all. The pattern is the
    rule (the same for pydantic's validator and for JSON Schema readers)."""
    return Field(
        min_length=min_chars,
        max_length=max_length,
        pattern=non_blank_pattern(min_chars),
        description=description,
    )


NonBlank = Annotated[str, text_field(20_000)]
ShortNonBlank = Annotated[str, text_field(500)]

HEX_SHA256 = r"^[0-9a-fA-F]{64}$"


def padded_pattern(core: str) -> str:
    """``core`` (a pattern without anchors) with any white space around it, which the
    validator strips (``strip_then``)."""
    return rf"^{_SPACE}*(?:{core}){_SPACE}*$"


def strip_then(max_length: int) -> BeforeValidator:
    """Refuse text longer than ``max_length`` as given (the schema's ``maxLength``), then strip
    the white space around it (the schema's ``padded_pattern``)."""

    def before(value: Any) -> Any:
        if isinstance(value, str):
            if len(value) > max_length:
                raise ValueError(f"is longer than {max_length} characters")
            return value.strip()
        return value

    return BeforeValidator(before)


def padded_text_schema(core: str, max_length: int, description: str) -> WithJsonSchema:
    """The published rule of a ``strip_then`` text whose stripped value must match ``core``."""
    return WithJsonSchema(
        {
            "type": "string",
            "maxLength": max_length,
            "pattern": padded_pattern(core),
            "description": description,
        }
    )


# --- time zones ----------------------------------------------------------------------------

TIME_ZONES: tuple[str, ...] = tuple(sorted(zoneinfo.available_timezones()))
_TIME_ZONE_SET = frozenset(TIME_ZONES)


def check_time_zone(value: str) -> str:
    if value not in _TIME_ZONE_SET:
        raise ValueError(
            f"unknown time zone {value[:60]!r} (use an IANA name like 'Europe/Amsterdam')"
        )
    return value


TimeZoneName = Annotated[
    str,
    AfterValidator(check_time_zone),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(TIME_ZONES),
            "description": "IANA time zone name, e.g. Europe/Amsterdam",
        }
    ),
]


# --- countries -----------------------------------------------------------------------------

COUNTRY_CODES: tuple[str, ...] = tuple(sorted(iso_countries()))


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError(
            f"{value[:20]!r} is not an ISO 3166-1 alpha-2 country code in upper case "
            "(e.g. NL, US, BR)"
        )
    return value


COUNTRY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(COUNTRY_CODES),
    "description": "ISO 3166-1 alpha-2 country code, upper case (e.g. NL)",
}

CountryCode = Annotated[str, AfterValidator(_country), WithJsonSchema(COUNTRY_SCHEMA)]

# --- instants ------------------------------------------------------------------------------

_YEAR = r"(19|2\d)\d{2}"
_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
_OFFSET = r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
INSTANT_PATTERN = rf"^{_YEAR}-{_DAY}T{_TIME}{_OFFSET}$"
_INSTANT = re.compile(INSTANT_PATTERN)
_NO_OFFSET = re.compile(rf"^{_YEAR}-{_DAY}T{_TIME}$")


def parse_instant_text(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset (``INSTANT_PATTERN``), in UTC; ValueError
    otherwise (a bare number, no offset, a day that does not exist)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        if isinstance(value, str) and _NO_OFFSET.fullmatch(value):
            raise ValueError(
                f"{value[:40]!r} has no zone: add Z or an offset like -05:00 (it is never guessed)"
            )
        raise ValueError(
            f"{str(value)[:40]!r} is not ISO 8601 with an offset (RFC 3339), e.g. "
            "2026-11-20T03:14:07-05:00 or 2026-11-20T08:14:07Z (years 1900-2999)"
        )
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date-time: {exc}") from None


INSTANT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": INSTANT_PATTERN,
    "description": "RFC 3339 date-time with its offset (Z or +hh:mm), years 1900-2999",
}

Instant = Annotated[datetime, BeforeValidator(parse_instant_text), WithJsonSchema(INSTANT_SCHEMA)]
"""An aware datetime in UTC, given as an RFC 3339 date-time with its offset."""


def _instant_text(value: str) -> str:
    parse_instant_text(value)
    return value


InstantText = Annotated[
    str,
    AfterValidator(_instant_text),
    WithJsonSchema(INSTANT_SCHEMA),
]
"""The same rule, for code that keeps the text as given (its source zone) and parses later."""

# --- days in law ---------------------------------------------------------------------------

LAW_EARLIEST = date(2001, 11, 23)
_MONTH_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
LAW_DAY_PATTERN = (
    r"^(2001-(11-(2[3-9]|30)|12-(0[1-9]|[12]\d|3[01]))"
    rf"|(200[2-9]|20[1-9]\d|2[1-9]\d\d)-{_MONTH_DAY})$"
)
_LAW_DAY = re.compile(LAW_DAY_PATTERN)


def _law_day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        text_value = value.isoformat()
    elif isinstance(value, str):
        text_value = value
    else:
        raise ValueError(f"give a day as YYYY-MM-DD, not {str(value)[:40]!r}")
    if not _LAW_DAY.fullmatch(text_value):
        raise ValueError(
            f"give a day as YYYY-MM-DD from {LAW_EARLIEST} (when the Convention on Cybercrime "
            f"opened for signature), not {text_value[:40]!r}"
        )
    try:
        return date.fromisoformat(text_value)
    except ValueError as exc:
        raise ValueError(f"{text_value!r} is not a day: {exc}") from None


LawDay = Annotated[
    date,
    BeforeValidator(_law_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": LAW_DAY_PATTERN,
            "description": f"YYYY-MM-DD, from {LAW_EARLIEST} (ETS 185 opened for signature)",
        }
    ),
]

# --- addresses -----------------------------------------------------------------------------


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value[:50]!r} is not an IPv4 or IPv6 address") from None
    if "%" in value:
        raise ValueError(f"{value[:50]!r}: give the address without a zone index")
    return value


IpAddress = Annotated[
    str,
    AfterValidator(_ip),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
            "minLength": 2,
            "maxLength": 45,
            "description": "IPv4 or IPv6 address",
        }
    ),
]

# --- days ----------------------------------------------------------------------------------

DAY_PATTERN = rf"^{_YEAR}-{_DAY}$"


def _day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(DAY_PATTERN, value):
        raise ValueError(f"give a day as YYYY-MM-DD (years 1900-2999), not {str(value)[:40]!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a day: {exc}") from None


Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": DAY_PATTERN,
            "description": "YYYY-MM-DD (years 1900-2999); a bare number is not a day",
        }
    ),
]

# --- closed lists --------------------------------------------------------------------------


class OneOf:
    """``Annotated[str, OneOf(values)]``: one of ``values`` exactly, published as ``enum``
    (for lists read from data at start-up, where a ``Literal`` cannot be written out)."""

    def __init__(self, values: Iterable[str], what: str = "value") -> None:
        self.values = tuple(values)
        self.what = what

    def _check(self, value: str) -> str:
        if value not in self.values:
            shown = ", ".join(self.values[:30]) + (", ..." if len(self.values) > 30 else "")
            raise ValueError(f"unknown {self.what} {value[:60]!r}; use one of {shown}")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        published = dict(handler(schema))
        published["enum"] = list(self.values)
        return published


# --- messages ------------------------------------------------------------------------------

# An RFC 5322 message as the node reads one (trace.domain.headers.read_message): it starts
# with a header field (a name of printable ASCII but ':' then ':'), and has no NUL byte.
MESSAGE_PATTERN = r"^[!-9;-~]+:[^\x00]*$"
# The same with at least one Received: field in the header section (header fields, each perhaps
# continued on lines that start with white space, before the first empty line).
_FIELD = r"[!-9;-~]+:[^\r\n\x00]*\r?\n([ \t][^\r\n\x00]*\r?\n)*"
RECEIVED_MESSAGE_PATTERN = rf"^({_FIELD})*Received:[^\x00]*$"

# What a pattern means, for the 422 a person reads (``web.api_errors``).
PATTERN_MEANINGS: dict[str, str] = {
    non_blank_pattern(): "must not be empty or only white space",
    INSTANT_PATTERN: "is not an RFC 3339 date-time with its offset "
    "(e.g. 2026-11-20T03:14:07-05:00; years 1900-2999)",
    DAY_PATTERN: "is not a day YYYY-MM-DD (years 1900-2999)",
    LAW_DAY_PATTERN: f"is not a day YYYY-MM-DD from {LAW_EARLIEST}",
    HEX_SHA256: "is not a SHA-256 hex digest (64 hex digits)",
    MESSAGE_PATTERN: "is not an RFC 5322 message (it must start with a header field Name: value)",
    RECEIVED_MESSAGE_PATTERN: "is not an RFC 5322 message with a Received: header field",
    r"^[a-z0-9][a-z0-9.-]{1,62}$": "is not a node id (2-63 lower-case letters, digits, . or -)",
}


def pattern_meaning(pattern: str) -> str | None:
    """What ``pattern`` (one of the patterns above) asks for, in words; None if unknown."""
    if pattern in PATTERN_MEANINGS:
        return PATTERN_MEANINGS[pattern]
    prefix = rf"^{_SPACE}*{_INK}[\s\S]{{"
    if pattern.startswith(prefix):
        least = int(pattern[len(prefix) :].split(",", 1)[0]) + 2
        return f"is too short: give at least {least} characters besides white space"
    return None


# --- numbers and flags in JSON bodies --------------------------------------------------------


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("give a number, not true or false")
    return value


NotBool = BeforeValidator(_no_bool)
"""For a number in a JSON body: pydantic would read ``false`` as 0; the schema says number."""

Flag = Annotated[bool, Strict()]
"""A JSON body's true or false: not 0, 1 or "yes" (which pydantic would read as booleans)."""
