"""The request types, each with the elements its instrument requires.

Every schema names its source article in its docstring. Facts marked [U] in the project's
LEGAL.md (the Second Additional Protocol's article bodies, parts of the EPOC annexes) were not
verified against the official text; they are marked "(unverified)" here and in the legal
basis shown to the user.

Sources:
- ETS 185 text: https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md
- T-CY(2018)11 preservation template: https://rm.coe.int/0900001680a33478
- T-CY(2018)10 Art. 31 MLA template: https://rm.coe.int/template-article31-mla-subscriber/1680a273d9
- Second Additional Protocol (CETS 224), draft text: https://pace.coe.int/en/files/29267/html
- Regulation (EU) 2023/1543: https://eur-lex.europa.eu/legal-content/EN/TXT/HTML/?uri=CELEX:32023R1543
- Explanatory Report to ETS 185 §290 (third-country path):
  https://alain-stevens.com/non-classe/expedited-disclosure-of-preserved-traffic-data-article-30/
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain.common import (
    CountryCode,
    DataIdentifier,
    IpEndpoint,
    Model,
    RequestBase,
    RequestKind,
    ShortText,
    Text,
    TimeRange,
    aware_utc,
    kind_schema_rules,
)

CONVENTION_OFFENCE_ARTICLES = frozenset(range(2, 12))  # Convention Arts. 2-11

# The rules between fields below, as JSON Schema states them in the published schema of each
# kind (``if``/``then``/``else``), beside the validators that check them and name the article.
# Text that says something (``str.strip`` leaves a character), as ``Text`` publishes it.
_SAYS = {"type": "string", "pattern": r"[^\s\x1c-\x1f]"}


def _given(**fields: Any) -> dict[str, Any]:
    """A schema requiring each named field with the schema given."""
    return {"properties": fields, "required": list(fields)}


class PreservationRequest(RequestBase):
    """Expedited preservation of stored computer data (Convention Art. 29).

    Art. 29(2) "shall specify" (a) the authority seeking the preservation; (b) the offence and a
    brief summary of the related facts; (c) the stored computer data to be preserved and its
    relationship to the offence; (d) any available information identifying the custodian or the
    location of the computer system; (e) the necessity of the preservation; (f) that the Party
    intends to submit a request for mutual assistance. Plus T-CY(2018)11 fields: date,
    reference, new request or extension of an earlier one (with its reference), requested and
    requesting authority (office hours, time zone), confirmation contact.
    Dual criminality is not required (Art. 29(3)); preserved for not less than 60 days (29(7)).
    """

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            {
                "if": _given(status={"const": "extension"}),
                "then": _given(previous_reference=_SAYS),
            }
        )
    )

    kind: Literal[RequestKind.PRESERVATION] = RequestKind.PRESERVATION
    status: Literal["new", "extension"] = "new"
    previous_reference: str = ""
    seeking_authority: ShortText = Field(description="Art. 29(2)(a)")
    offence: ShortText = Field(description="Art. 29(2)(b) the offence")
    offence_articles: list[int] = Field(
        default_factory=list,
        description="Convention articles (2-11) the offence falls under, if any (Art. 29(4)).",
        json_schema_extra={"items": {"type": "integer", "minimum": 2, "maximum": 11}},
    )
    summary_of_facts: Text = Field(description="Art. 29(2)(b) brief summary of the related facts")
    data_to_preserve: list[DataIdentifier] = Field(min_length=1, description="Art. 29(2)(c)")
    relationship_to_offence: Text = Field(description="Art. 29(2)(c)")
    custodian: ShortText = Field(description="Art. 29(2)(d) custodian or location of the system")
    necessity: Text = Field(description="Art. 29(2)(e)")
    mla_intended: bool = Field(
        description="Art. 29(2)(f): must be true", json_schema_extra={"const": True}
    )
    data_kinds: list[str] = Field(
        default_factory=list,
        description="Kinds of record concerned (flow, nat, radius, ...) for the retention clock.",
    )

    ELEMENTS: ClassVar[dict[str, str]] = {
        "seeking_authority": "Art. 29(2)(a) the authority seeking the preservation",
        "offence": "Art. 29(2)(b) the offence under investigation",
        "summary_of_facts": "Art. 29(2)(b) a brief summary of the related facts",
        "data_to_preserve": "Art. 29(2)(c) the stored computer data to be preserved",
        "relationship_to_offence": "Art. 29(2)(c) the data's relationship to the offence",
        "custodian": "Art. 29(2)(d) the custodian or the location of the computer system",
        "necessity": "Art. 29(2)(e) the necessity of the preservation",
        "mla_intended": "Art. 29(2)(f) that a request for mutual assistance will follow",
        "reference": "T-CY(2018)11 (2) reference / case number",
        "date_issued": "T-CY(2018)11 (1) date",
        "requesting_authority": "T-CY(2018)11 (5) requesting authority",
        "requested_authority": "T-CY(2018)11 (4) requested authority",
        "confirmation_contact": "T-CY(2018)11 (6) contact for additional confirmation",
    }

    @field_validator("offence_articles")
    @classmethod
    def _articles(cls, value: list[int]) -> list[int]:
        bad = [a for a in value if a not in CONVENTION_OFFENCE_ARTICLES]
        if bad:
            raise ValueError(f"offence articles must be Convention Arts. 2-11, not {bad}")
        return sorted(set(value))

    @field_validator("mla_intended")
    @classmethod
    def _mla(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "Art. 29(2)(f): the request must state that a request for mutual assistance "
                "will be submitted"
            )
        return value

    @model_validator(mode="after")
    def _extension(self) -> PreservationRequest:
        if self.status == "extension" and not self.previous_reference.strip():
            raise ValueError(
                "an extension must give the reference of the earlier request (previous_reference)"
            )
        return self

    @property
    def within_convention_offences(self) -> bool:
        return bool(self.offence_articles)


class PathHop(Model):
    """One link of the path the communication took (Art. 30(1)): from an endpoint to the next."""

    source: IpEndpoint
    destination: IpEndpoint
    observed_by: ShortText


class ProviderInOtherState(Model):
    name: ShortText
    country: CountryCode
    identifiers: list[str] = Field(default_factory=list, description="Addresses / ASN / prefixes.")


class ExpeditedDisclosure(RequestBase):
    """Expedited disclosure of preserved traffic data (Convention Art. 30).

    Art. 30(1): while executing an Art. 29 request, the requested Party discloses "a sufficient
    amount of traffic data to identify that service provider and the path through which the
    communication was transmitted". Art. 30(2): withheld only for a political offence or for
    prejudice to sovereignty, security, ordre public or other essential interests. The
    third-country notice tells the requesting Party where to send the next preservation request
    (Explanatory Report §290); when the path loops back to the requesting Party, its domestic
    process applies.
    """

    kind: Literal[RequestKind.EXPEDITED_DISCLOSURE] = RequestKind.EXPEDITED_DISCLOSURE
    in_response_to: ShortText = Field(
        description="Reference of the Art. 29 request being executed."
    )
    provider_in_other_state: ProviderInOtherState
    path: list[PathHop] = Field(min_length=1)
    traffic_data: list[Text] = Field(min_length=1, description="The records that show the path.")
    third_country_notice: Text

    ELEMENTS: ClassVar[dict[str, str]] = {
        "in_response_to": "Art. 30(1) the preservation request being executed",
        "provider_in_other_state": "Art. 30(1) the service provider in another State",
        "path": "Art. 30(1) the path through which the communication was transmitted",
        "traffic_data": "Art. 30(1) the traffic data that identifies the provider and the path",
        "third_country_notice": "the third-country notice (Explanatory Report §290)",
    }

    @property
    def looped_back(self) -> bool:
        """The path leads back into the requesting Party: its domestic process applies
        (Explanatory Report §290). Parties keep the roles of the preservation request: the
        requesting Party asked for it, the requested Party discloses."""
        return self.provider_in_other_state.country == self.requesting_party


class EmergencyChannel(StrEnum):
    PROTOCOL_ART9 = "protocol_art9"  # 24/7 to 24/7, no MLA request (Second Protocol Art. 9)
    PROTOCOL_ART10 = "protocol_art10"  # emergency mutual assistance (Second Protocol Art. 10)
    CONVENTION_ART25_3 = "convention_art25_3"  # 24/7 channel with expedited means (Art. 25(3))


class EmergencyDisclosure(RequestBase):
    """Emergency disclosure where there is a significant and imminent risk to the life or
    safety of a natural person (Second Protocol Art. 3 definition, Arts. 9-10 where in force
    (unverified article bodies); otherwise the 24/7 channel with the expedited means of
    Convention Art. 25(3)). Art. 9 request fields: authority and date, statement that it is
    issued under the Protocol, provider name and address, offence with provisions and
    penalties, facts demonstrating the emergency and how the data relate to it, a detailed
    description of the data, special instructions."""

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            {
                "if": _given(channel={"const": "convention_art25_3"}),
                "else": _given(statement_under_protocol={"const": True}),
            }
        )
    )

    kind: Literal[RequestKind.EMERGENCY_DISCLOSURE] = RequestKind.EMERGENCY_DISCLOSURE
    emergency: bool = Field(default=True, json_schema_extra={"const": True})
    channel: EmergencyChannel
    provider_name: ShortText
    provider_address: ShortText
    offence: ShortText
    legal_provisions_and_penalties: ShortText
    emergency_facts: Text = Field(description="Facts that demonstrate the emergency")
    relationship_to_emergency: Text
    data_sought: Text
    identifiers: list[DataIdentifier] = Field(default_factory=list)
    special_instructions: str = ""
    statement_under_protocol: bool = False

    ELEMENTS: ClassVar[dict[str, str]] = {
        "emergency_facts": "Protocol Art. 9: facts demonstrating the emergency",
        "relationship_to_emergency": "Protocol Art. 9: how the data relate to the emergency",
        "provider_name": "Protocol Art. 9: the service provider's name",
        "provider_address": "Protocol Art. 9: the service provider's address",
        "offence": "Protocol Art. 9: the offence",
        "legal_provisions_and_penalties": "Protocol Art. 9: legal provisions and penalties",
        "data_sought": "Protocol Art. 9: a detailed description of the data sought",
        "channel": "the channel (Protocol Art. 9, Art. 10, or Convention Art. 25(3))",
    }

    @model_validator(mode="after")
    def _protocol_statement(self) -> EmergencyDisclosure:
        if not self.emergency:
            raise ValueError("an emergency disclosure is an emergency: emergency must be true")
        if (
            self.channel != EmergencyChannel.CONVENTION_ART25_3
            and not self.statement_under_protocol
        ):
            raise ValueError(
                "a request under the Second Protocol (Arts. 9-10) must state that it is issued "
                "under the Protocol (statement_under_protocol)"
            )
        return self


class SubscriberInformationRequest(RequestBase):
    """Subscriber information (Convention Art. 18(3) categories) by a direct order to a
    provider (Second Protocol Art. 7) or an order given effect by the requested Party (Art. 8),
    where in force (unverified article bodies). Art. 7(3) order fields: issuing authority and
    date, statement under the Protocol, provider name and address, offences, seeking authority
    if different, detailed description of the subscriber information sought. Art. 7(4)
    supplemental: domestic legal grounds, offence provisions and penalties, time frame,
    prior preservation. Art. 8 adds: why the provider is believed to hold the data, summary of
    facts and relevance."""

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            {
                "if": _given(protocol_article={"const": "8"}),
                "then": _given(why_provider_holds_data=_SAYS, summary_of_facts=_SAYS),
            }
        )
    )

    kind: Literal[RequestKind.SUBSCRIBER_INFO] = RequestKind.SUBSCRIBER_INFO
    protocol_article: Literal["7", "8"]
    issuing_authority: ShortText
    statement_under_protocol: bool = Field(json_schema_extra={"const": True})
    provider_name: ShortText
    provider_address: ShortText
    offences: ShortText
    seeking_authority: str = ""
    subscriber_information_sought: Text
    identifiers: list[DataIdentifier] = Field(min_length=1)
    domestic_legal_grounds: ShortText
    offence_provisions_and_penalties: ShortText
    time_frame: str = ""
    prior_preservation_reference: str = ""
    why_provider_holds_data: str = ""
    summary_of_facts: str = ""

    ELEMENTS: ClassVar[dict[str, str]] = {
        "issuing_authority": "Protocol Art. 7(3): the issuing authority",
        "statement_under_protocol": "Protocol Art. 7(3): statement that it is under the Protocol",
        "provider_name": "Protocol Art. 7(3): the provider's name",
        "provider_address": "Protocol Art. 7(3): the provider's address",
        "offences": "Protocol Art. 7(3): the offence(s)",
        "subscriber_information_sought": "Protocol Art. 7(3): the subscriber information sought",
        "identifiers": "the identifiers the subscriber information is sought for",
        "domestic_legal_grounds": "Protocol Art. 7(4): the domestic legal grounds",
        "offence_provisions_and_penalties": "Protocol Art. 7(4): offence provisions and penalties",
    }

    @model_validator(mode="after")
    def _rules(self) -> SubscriberInformationRequest:
        if not self.statement_under_protocol:
            raise ValueError(
                "Protocol Art. 7(3)/8: the order must state that it is issued under the Protocol"
            )
        if self.protocol_article == "8":
            missing = [
                name
                for name in ("why_provider_holds_data", "summary_of_facts")
                if not getattr(self, name).strip()
            ]
            if missing:
                raise ValueError(f"Protocol Art. 8 also needs: {', '.join(missing)}")
        return self


class EuDataCategory(StrEnum):
    SUBSCRIBER = "subscriber"
    IDENTIFICATION = "identification"  # IP address with time stamp, only to identify the user
    TRAFFIC = "traffic"
    CONTENT = "content"


class IssuingAuthorityType(StrEnum):
    JUDGE = "judge"
    COURT = "court"
    INVESTIGATING_JUDGE = "investigating_judge"
    PROSECUTOR = "prosecutor"
    OTHER = "other"


_JUDICIAL = {
    IssuingAuthorityType.JUDGE,
    IssuingAuthorityType.COURT,
    IssuingAuthorityType.INVESTIGATING_JUDGE,
}


_HEAVY = {"contains": {"enum": ["traffic", "content"]}}


def _issued_by(types: set[IssuingAuthorityType]) -> dict[str, Any]:
    """Issued by one of ``types``, or validated by a named authority (Reg. 2023/1543 Art. 4)."""
    return {
        "anyOf": [
            _given(issuing_authority_type={"enum": sorted(t.value for t in types)}),
            _given(validating_authority=_SAYS),
        ]
    }


_EU_AUTHORITY = {
    "if": _given(data_categories=_HEAVY),
    "then": _issued_by(_JUDICIAL),
    "else": _issued_by(_JUDICIAL | {IssuingAuthorityType.PROSECUTOR}),
}


class _EuOrder(RequestBase):
    """Shared fields of the EPOC and EPOC-PR certificates (Regulation (EU) 2023/1543, Annex I
    sections A, B, I, J (seen); the data categories and the offence section are unverified)."""

    model_config = ConfigDict(json_schema_extra=kind_schema_rules(_EU_AUTHORITY))

    issuing_state: CountryCode
    issuing_authority: ShortText
    issuing_authority_type: IssuingAuthorityType
    validating_authority: str = ""
    file_number: ShortText
    addressee: ShortText = Field(description="Designated establishment or legal representative")
    service_provider: ShortText
    data_categories: list[EuDataCategory] = Field(min_length=1)
    identifiers: list[DataIdentifier] = Field(min_length=1)
    offence: ShortText
    maximum_penalty_years: float = Field(ge=0)
    necessity_and_proportionality: Text

    ELEMENTS: ClassVar[dict[str, str]] = {
        "issuing_state": "Annex I/II section A: issuing State",
        "issuing_authority": "Annex I/II section A: issuing authority",
        "file_number": "Annex I/II section A: file number",
        "addressee": "Annex I/II B: addressee (designated establishment or legal representative)",
        "data_categories": "the categories of data",
        "identifiers": "the data concerned",
        "offence": "the offence",
        "necessity_and_proportionality": "Reg. 2023/1543 Art. 5: necessity and proportionality",
    }

    @model_validator(mode="after")
    def _authority(self) -> _EuOrder:
        # Reg. 2023/1543 Art. 4: subscriber/identification data: judge, court, investigating
        # judge or prosecutor; traffic/content data: judge, court or investigating judge; any
        # other authority needs validation by one of them.
        heavy = self._traffic_or_content()
        allowed = _JUDICIAL if heavy else _JUDICIAL | {IssuingAuthorityType.PROSECUTOR}
        if self.issuing_authority_type not in allowed and not self.validating_authority.strip():
            raise ValueError(
                f"Reg. 2023/1543 Art. 4: an order issued by a {self.issuing_authority_type.value} "
                f"for {', '.join(sorted(c.value for c in self.data_categories))} data needs a "
                "validating authority"
            )
        return self

    def _traffic_or_content(self) -> bool:
        """Traffic (other than identification) or content data among the categories: the
        heavier rules of Reg. 2023/1543 (Art. 4 authority, Art. 5 threshold, Art. 8 notice)."""
        return bool({EuDataCategory.TRAFFIC, EuDataCategory.CONTENT} & set(self.data_categories))

    @property
    def enforcing_state_notification_required(self) -> bool:
        """Reg. 2023/1543 Art. 8: traffic (other than identification) or content data."""
        return self._traffic_or_content()


class EuProductionOrder(_EuOrder):
    """European Production Order Certificate (Regulation (EU) 2023/1543, Annex I). Art. 10:
    the data is transmitted at the latest within 10 days of receipt, and in an emergency without
    undue delay, at the latest within 8 hours. Art. 5: traffic and content data only for
    offences punishable by a maximum of at least 3 years (the listed-offence exceptions of
    Art. 5 were not verified and are not applied)."""

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            _EU_AUTHORITY,
            {
                "if": _given(data_categories=_HEAVY),
                "then": _given(maximum_penalty_years={"type": "number", "minimum": 3}),
            },
        )
    )

    kind: Literal[RequestKind.EPOC] = RequestKind.EPOC
    offence_committed_in_issuing_state: bool = False
    person_resides_in_issuing_state: bool = False

    @model_validator(mode="after")
    def _threshold(self) -> EuProductionOrder:
        if self._traffic_or_content() and self.maximum_penalty_years < 3:
            raise ValueError(
                "Reg. 2023/1543 Art. 5: traffic or content data may only be ordered for offences "
                f"punishable by at least 3 years; this offence carries {self.maximum_penalty_years}"
            )
        return self

    @property
    def enforcing_state_notification_required(self) -> bool:
        """Art. 8: not needed when the offence was committed in the issuing State and the
        person resides there."""
        if self.offence_committed_in_issuing_state and self.person_resides_in_issuing_state:
            return False
        return super().enforcing_state_notification_required


class EuPreservationOrder(_EuOrder):
    """European Preservation Order Certificate (Regulation (EU) 2023/1543, Annex II). Art. 11:
    the obligation ceases after 60 days unless a request for production is confirmed (Annex V);
    the issuing authority may extend it by an additional 30-day period (Annex VI)."""

    kind: Literal[RequestKind.EPOC_PR] = RequestKind.EPOC_PR


class PreviousPreservation(Model):
    """T-CY(2018)10 field 10: the earlier preservation (date, ticket, authorities)."""

    request_id: str = ""
    reference: ShortText
    date_issued: date
    requesting_authority: ShortText
    requested_authority: ShortText
    custodian: str = ""


class MutualAssistanceRequest(RequestBase):
    """Mutual assistance regarding accessing of stored computer data (Convention Art. 31),
    following T-CY(2018)10 (status, investigative authority, prosecution office or court and
    case numbers, previous preservation). Once received, the preservation continues pending a
    decision on it (Art. 29(7))."""

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            {
                "if": _given(status={"enum": ["new", "follow_up_to_mla"]}),
                "else": _given(previous_preservations={"type": "array", "minItems": 1}),
            }
        )
    )

    kind: Literal[RequestKind.MLA] = RequestKind.MLA
    status: Literal["new", "follow_up_to_preservation", "follow_up_to_mla"] = (
        "follow_up_to_preservation"
    )
    previous_preservations: list[PreviousPreservation] = Field(default_factory=list)
    investigative_authority: ShortText
    prosecution_office_or_court: ShortText
    case_numbers: ShortText
    measures_sought: list[Literal["search", "seizure", "disclosure"]] = Field(min_length=1)
    offence: ShortText
    summary_of_facts: Text
    data_sought: Text
    identifiers: list[DataIdentifier] = Field(default_factory=list)
    applicable_law: ShortText

    ELEMENTS: ClassVar[dict[str, str]] = {
        "investigative_authority": "T-CY(2018)10 (7) investigative authority",
        "prosecution_office_or_court": "T-CY(2018)10 (8) prosecution office or court",
        "case_numbers": "T-CY(2018)10 (8) case numbers",
        "measures_sought": "Art. 31(1): search, seizure or disclosure",
        "offence": "the offence",
        "summary_of_facts": "summary of the facts",
        "data_sought": "the stored computer data sought",
        "applicable_law": "the applicable law of the requesting Party",
    }

    @model_validator(mode="after")
    def _follow_up(self) -> MutualAssistanceRequest:
        if self.status == "follow_up_to_preservation" and not self.previous_preservations:
            raise ValueError(
                "a follow-up to a preservation must carry the preservation's reference"
            )
        return self


class Art32Record(RequestBase):
    """A record of data obtained without the other Party's authorisation under Convention
    Art. 32: (a) publicly available (open source) data, or (b) data accessed or received with
    "the lawful and voluntary consent of the person who has the lawful authority to disclose
    the data". Kept as a record; sent only as information."""

    model_config = ConfigDict(
        json_schema_extra=kind_schema_rules(
            {
                "if": _given(basis={"const": "consent"}),
                "then": _given(
                    consenting_person=_SAYS,
                    consenting_person_authority=_SAYS,
                    consent_lawful_and_voluntary={"const": True},
                ),
            }
        )
    )

    kind: Literal[RequestKind.ART32_RECORD] = RequestKind.ART32_RECORD
    basis: Literal["publicly_available", "consent"]
    data_description: Text
    location: ShortText = Field(description="Where the data was (URL, system, country if known)")
    obtained_at: datetime
    obtained_by: ShortText
    consenting_person: str = ""
    consenting_person_authority: str = ""
    consent_lawful_and_voluntary: bool = False
    consent_evidence: str = ""

    ELEMENTS: ClassVar[dict[str, str]] = {
        "basis": "Art. 32(a) publicly available or Art. 32(b) consent",
        "data_description": "the data obtained",
        "location": "where the data was stored",
        "obtained_at": "when it was obtained",
        "obtained_by": "who obtained it",
    }

    @field_validator("obtained_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return aware_utc(value, "obtained_at")

    @model_validator(mode="after")
    def _consent(self) -> Art32Record:
        if self.basis == "consent":
            missing = []
            if not self.consenting_person.strip():
                missing.append("consenting_person (who consented)")
            if not self.consenting_person_authority.strip():
                missing.append("consenting_person_authority (their lawful authority to disclose)")
            if not self.consent_lawful_and_voluntary:
                missing.append(
                    "consent_lawful_and_voluntary (Art. 32(b) lawful and voluntary consent)"
                )
            if missing:
                raise ValueError("Art. 32(b) consent needs: " + "; ".join(missing))
        return self


CooperationRequest = Annotated[
    PreservationRequest
    | ExpeditedDisclosure
    | EmergencyDisclosure
    | SubscriberInformationRequest
    | EuProductionOrder
    | EuPreservationOrder
    | MutualAssistanceRequest
    | Art32Record,
    Field(discriminator="kind"),
]

REQUEST_TYPES: dict[RequestKind, type[RequestBase]] = {
    RequestKind.PRESERVATION: PreservationRequest,
    RequestKind.EXPEDITED_DISCLOSURE: ExpeditedDisclosure,
    RequestKind.EMERGENCY_DISCLOSURE: EmergencyDisclosure,
    RequestKind.SUBSCRIBER_INFO: SubscriberInformationRequest,
    RequestKind.EPOC: EuProductionOrder,
    RequestKind.EPOC_PR: EuPreservationOrder,
    RequestKind.MLA: MutualAssistanceRequest,
    RequestKind.ART32_RECORD: Art32Record,
}

_ADAPTER: TypeAdapter[Any] = TypeAdapter(CooperationRequest)

_COMMON_LABELS = {
    "reference": "reference / case number",
    "date_issued": "date of the request",
    "requesting_party": "requesting Party (ISO country code)",
    "requested_party": "requested Party (ISO country code)",
    "requesting_authority": "requesting authority",
    "requested_authority": "requested authority",
    "confirmation_contact": "contact for additional confirmation",
}


def _label(kind_type: type[RequestBase] | None, loc: tuple[Any, ...]) -> str:
    # drop pydantic's internal names of union members ("lax-or-strict[...]", "function-...")
    path = [
        str(part) for part in loc if "[" not in str(part) and not str(part).startswith("function-")
    ]
    if path and path[0] in {k.value for k in RequestKind}:
        path = path[1:]  # the discriminator tag pydantic puts first
    name = path[0] if path else ""
    elements: dict[str, str] = getattr(kind_type, "ELEMENTS", {}) if kind_type else {}
    label = elements.get(name) or _COMMON_LABELS.get(name)
    dotted = ".".join(path) or "request"
    return f"{dotted} ({label})" if label and len(path) == 1 else dotted


def parse_request(payload: dict[str, Any]) -> RequestBase:
    """Build a typed request from plain data, or raise ``ValidationFailed`` naming every
    missing or bad element (with the article that requires it)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("a request must be a JSON object", ["request: not an object"])
    kind_value = payload.get("kind")
    try:
        kind = RequestKind(str(kind_value))
    except ValueError:
        allowed = ", ".join(k.value for k in RequestKind)
        raise ValidationFailed(
            f"unknown request kind {kind_value!r}; use one of: {allowed}",
            [f"kind: {kind_value!r} is not one of {allowed}"],
        ) from None
    kind_type = REQUEST_TYPES[kind]
    try:
        parsed: RequestBase = _ADAPTER.validate_python(payload)
    except PydanticValidationError as exc:
        problems: list[str] = []
        missing: list[str] = []
        for error in exc.errors():
            where = _label(kind_type, tuple(error["loc"]))
            given = error.get("input")
            blank = (
                given is None or given in ([], {}) or (isinstance(given, str) and not given.strip())
            )
            if error["type"] == "missing" or (blank and error["loc"]):
                if where not in missing:
                    missing.append(where)
                    problems.append(f"missing: {where}")
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            if isinstance(given, str | int | float) and not isinstance(given, bool):
                problem = f"{where}: {message} (got {given!r})"
            else:
                problem = f"{where}: {message}"
            if problem not in problems:
                problems.append(problem)
        head = f"the {kind.value.replace('_', ' ')} request is incomplete or invalid"
        if missing:
            head += f"; missing: {', '.join(missing)}"
        raise ValidationFailed(head, problems) from None
    return parsed


def missing_elements(payload: dict[str, Any]) -> list[str]:
    """The problems ``parse_request`` would name, or an empty list when the request is valid."""
    try:
        parse_request(payload)
    except ValidationFailed as exc:
        return exc.problems
    return []


def request_to_dict(request: RequestBase) -> dict[str, Any]:
    return request.model_dump(mode="json")


def describe_identifier(identifier: Any) -> str:
    describe = getattr(identifier, "describe", None)
    return describe() if callable(describe) else str(identifier)


__all__ = [
    "Art32Record",
    "CooperationRequest",
    "EmergencyChannel",
    "EmergencyDisclosure",
    "EuDataCategory",
    "EuPreservationOrder",
    "EuProductionOrder",
    "ExpeditedDisclosure",
    "IssuingAuthorityType",
    "MutualAssistanceRequest",
    "PathHop",
    "PreservationRequest",
    "PreviousPreservation",
    "ProviderInOtherState",
    "SubscriberInformationRequest",
    "TimeRange",
    "describe_identifier",
    "missing_elements",
    "parse_request",
    "request_to_dict",
]
