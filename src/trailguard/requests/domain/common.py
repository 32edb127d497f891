"""Building blocks shared by every cooperation request: parties and authorities, the typed
identifiers of the data concerned, confidentiality and handling codes.

Sources:
- Council of Europe Convention on Cybercrime (ETS 185), full text:
  https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md
- T-CY(2018)11 "Data Preservation Request under Articles 29 and 30" template (fields 1-7):
  https://rm.coe.int/0900001680a33478
- RFC 6302 / BCP 162 (log the source port, a UTC timestamp and the transport protocol with the
  address): https://www.rfc-editor.org/rfc/rfc6302
- Europol SIENA handling codes H0-H3 (as summarised in the project brief ANCHORS.md) and
  FIRST Traffic Light Protocol 2.0: https://www.first.org/tlp/
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from trailguard.core.apitypes import (
    CountryCode,
    TimeZoneName,
    padded_text_schema,
    strip_then,
)
from trailguard.core.handling import HandlingCode, Tlp

# Text that says something: the pattern (a character other than white space, as Python and
# JSON Schema both read it) puts in the published schema what stripping then min_length check.
_SAYS_SOMETHING = r"[^\s\x1c-\x1f]"
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20_000, pattern=_SAYS_SOMETHING
    ),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_SAYS_SOMETHING),
]

# Values with a grammar: the validator strips the white space around the value and checks it
# with the very pattern the published schema gives (``padded_text_schema``), so a value the
# schema allows is accepted and one it refuses is refused, with a sentence that says why.
EMAIL_PATTERN = (
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
# A host name of labels (RFC 1035 section 2.3.1, letters, digits and hyphens, 1-63 each) under
# an alphabetic top-level label, perhaps with its final dot; 253 characters at most in all.
DOMAIN_PATTERN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?"
DOMAIN_MAX = 253
# E.164 (+, a country code that does not start with 0, at most 15 digits in all), written with
# the spaces, dots, hyphens and brackets people put in phone numbers.
_PHONE_SEP = r"[\s\x1c-\x1f().-]*"
PHONE_PATTERN = rf"{_PHONE_SEP}\+{_PHONE_SEP}[1-9](?:{_PHONE_SEP}[0-9]){{6,14}}{_PHONE_SEP}"
_EMAIL = re.compile(EMAIL_PATTERN)
_DOMAIN = re.compile(DOMAIN_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


def check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not an e-mail address")
    return value


def check_domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a domain name")
    return value.rstrip(".").lower()


def check_phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(
            f"{value[:80]!r} is not an international phone number (E.164, e.g. +31201234567)"
        )
    return re.sub(r"[\s().-]", "", value)


EmailText = Annotated[
    str,
    strip_then(500),
    AfterValidator(check_email),
    padded_text_schema(EMAIL_PATTERN, 500, "an e-mail address (local-part@domain)"),
]
DomainText = Annotated[
    str,
    strip_then(DOMAIN_MAX),
    AfterValidator(check_domain),
    padded_text_schema(DOMAIN_PATTERN, DOMAIN_MAX, "a domain name, e.g. mail.example.com"),
]
PhoneText = Annotated[
    str,
    strip_then(500),
    AfterValidator(check_phone),
    padded_text_schema(
        PHONE_PATTERN, 500, "an international phone number (E.164, e.g. +31 20 123 4567)"
    ),
]


class Model(BaseModel):
    """Strict about unknown fields so that a typo is named instead of silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestKind(StrEnum):
    PRESERVATION = "preservation"  # Convention Art. 29
    EXPEDITED_DISCLOSURE = "expedited_disclosure"  # Convention Art. 30
    EMERGENCY_DISCLOSURE = "emergency_disclosure"  # Second Protocol Arts. 9-10 / Art. 25(3)
    SUBSCRIBER_INFO = "subscriber_info"  # Second Protocol Arts. 7-8
    EPOC = "epoc"  # Regulation (EU) 2023/1543 European Production Order Certificate
    EPOC_PR = "epoc_pr"  # Regulation (EU) 2023/1543 European Preservation Order Certificate
    MLA = "mla"  # Convention Art. 31
    ART32_RECORD = "art32_record"  # Convention Art. 32


class Handling(Model):
    """How the receiving node may use and share the request (enforced on onward sharing)."""

    code: HandlingCode = HandlingCode.H0
    tlp: Tlp = Tlp.AMBER
    onward_sharing_permitted: bool = Field(
        default=False,
        description="The sender's permission to forward a TLP:RED or H2 request onward.",
    )
    conditions: str = ""

    def onward_sharing_problem(self) -> str | None:
        """Why forwarding to another organisation is refused, or None when it is allowed."""
        if self.onward_sharing_permitted:
            return None
        if self.tlp is Tlp.RED:
            return "the request is TLP:RED and the sender did not permit onward sharing"
        if self.code is HandlingCode.H2:
            return (
                "the request carries handling code H2 and the sender did not permit onward sharing"
            )
        return None


DEFAULT_CONFIDENTIALITY = (
    "Keep this request and its execution confidential: the customer or subscriber concerned "
    "must not be told (Convention Arts. 27(8) and 16(3))."
)


class Confidentiality(Model):
    """Confidentiality instruction (Convention Art. 27(8) for the request, Art. 16(3) for the
    custodian): by default the customer must not be told."""

    do_not_notify_customer: bool = True
    instruction: str = DEFAULT_CONFIDENTIALITY


class Authority(Model):
    """An authority with the contact details of T-CY(2018)11 field 5 (office hours, zone)."""

    organisation: ShortText
    person_in_charge: ShortText
    address: ShortText
    phone: ShortText
    email: EmailText
    office_hours: ShortText
    time_zone: TimeZoneName
    preferred_channel: str = ""
    fax: str = ""


class Contact(Model):
    """The contact for additional confirmation (T-CY(2018)11 field 6)."""

    name: ShortText
    phone: ShortText
    email: EmailText


def aware_utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} has no time zone; give an offset such as Z or +01:00"
        )
    return value.astimezone(UTC)


def zulu(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def offset_text(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        return ""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _requires_tag(name: str) -> Any:
    """A schema hook: the published schema requires the tag ``name`` that tells the members of
    a discriminated union apart (pydantic needs it to pick one), though each model fills it in
    when built in code."""

    def hook(schema: dict[str, Any]) -> None:
        required = schema.setdefault("required", [])
        if name not in required:
            required.insert(0, name)

    return hook


_kind_required = _requires_tag("kind")


def kind_schema_rules(*rules: dict[str, Any]) -> Any:
    """A request kind's schema hook: its ``kind`` required (as every kind's) and ``rules``
    (JSON Schema conditions between its fields) added to its ``allOf``."""

    def hook(schema: dict[str, Any]) -> None:
        _kind_required(schema)
        schema.setdefault("allOf", []).extend(rules)

    return hook


_TAGGED = ConfigDict(json_schema_extra=_requires_tag("type"))


class _Timed(Model):
    """Mixin logic: instants are stored in UTC and the source's offset is kept beside them
    (``source_offset``, taken from the field each subclass names in ``_OFFSET_FROM``)."""

    _OFFSET_FROM: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _keep_offset(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("source_offset"):
            raw = data.get(cls._OFFSET_FROM)
            parsed: datetime | None = None
            if isinstance(raw, datetime):
                parsed = raw
            elif isinstance(raw, str):
                try:
                    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                except ValueError:
                    parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                data = {**data, "source_offset": offset_text(parsed)}
        return data


class IpEndpoint(_Timed):
    """An address as RFC 6302 asks servers to log it: address, source port, UTC timestamp and
    transport protocol (destination port when the server listens on several)."""

    model_config = _TAGGED
    _OFFSET_FROM: ClassVar[str] = "timestamp"

    type: Literal["ip_endpoint"] = "ip_endpoint"
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int = Field(ge=0, le=65535, description="source port (RFC 6302)")
    timestamp: datetime
    protocol: Literal["tcp", "udp", "sctp", "icmp", "quic"]
    destination_port: int | None = Field(default=None, ge=0, le=65535)
    source_offset: str = ""

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return aware_utc(value, "timestamp")

    def describe(self) -> str:
        dest = (
            f", destination port {self.destination_port}"
            if self.destination_port is not None
            else ""
        )
        ip = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return (
            f"{ip}:{self.port}/{self.protocol} at {zulu(self.timestamp)}"
            f"{f' (source offset {self.source_offset})' if self.source_offset else ''}{dest}"
        )


class TimeRange(_Timed):
    """A period of time. Its end must be after its start: a comparison of two values, which
    JSON Schema cannot state, so it is checked on input and a 422 names it."""

    model_config = _TAGGED
    _OFFSET_FROM: ClassVar[str] = "start"

    type: Literal["time_range"] = "time_range"
    start: datetime
    end: datetime
    source_offset: str = ""

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return aware_utc(value, "time range bound")

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError(
                f"time range end {self.end.isoformat()} is not after "
                f"its start {self.start.isoformat()}"
            )
        return self

    def describe(self) -> str:
        return f"{zulu(self.start)} to {zulu(self.end)}"


class Account(Model):
    model_config = _TAGGED

    type: Literal["account"] = "account"
    service: ShortText
    username: ShortText

    def describe(self) -> str:
        return f"account {self.username} at {self.service}"


class EmailAddress(Model):
    model_config = _TAGGED

    type: Literal["email"] = "email"
    address: EmailText

    def describe(self) -> str:
        return f"e-mail {self.address}"


class DomainName(Model):
    model_config = _TAGGED

    type: Literal["domain"] = "domain"
    name: DomainText

    def describe(self) -> str:
        return f"domain {self.name}"


class PhoneNumber(Model):
    model_config = _TAGGED

    type: Literal["phone"] = "phone"
    number: PhoneText

    def describe(self) -> str:
        return f"phone {self.number}"


DataIdentifier = Annotated[
    IpEndpoint | TimeRange | Account | EmailAddress | DomainName | PhoneNumber,
    Field(discriminator="type"),
]


class LegalBasisRef(Model):
    """The legal basis pre-filled from the legal engine (``trailguard.law``), as plain data."""

    instrument: str
    articles: list[str] = Field(default_factory=list)
    summary: str = ""
    citations: list[str] = Field(default_factory=list)
    verified: bool = False


class RequestBase(Model):
    """What every request carries: identity, parties, authorities (T-CY(2018)11 fields 1-6),
    confidentiality and handling."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_kind_required)

    kind: RequestKind
    reference: ShortText = Field(description="Reference / case number (T-CY(2018)11 field 2).")
    date_issued: date = Field(description="Date of the request (T-CY(2018)11 field 1).")
    requesting_party: CountryCode
    requested_party: CountryCode
    requesting_authority: Authority
    requested_authority: ShortText
    confirmation_contact: Contact
    confidentiality: Confidentiality = Field(default_factory=Confidentiality)
    handling: Handling = Field(default_factory=Handling)
    emergency: bool = False
    legal_basis: LegalBasisRef | None = None
    notes: str = ""
