"""Pydantic schemas for the legal data files in ``trailguard/law/data``.

Every fact carries ``source`` (an id from ``sources.yaml``, resolved to a URL and title),
``as_of`` (the date the fact is stated as of) and ``verified`` (checked in the source, or
carried from secondary knowledge). Cross-file rules (known sources, known countries, known
conduct names) are checked by :mod:`trailguard.law.loader`, which loads these models.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONDUCT_IDS: tuple[str, ...] = (
    "illegal_access",
    "illegal_interception",
    "data_interference",
    "system_interference",
    "misuse_of_devices",
    "computer_forgery",
    "computer_fraud",
    "child_sexual_abuse_material",
    "copyright_infringement",
    "attempt_aiding_abetting",
)
DATA_KINDS: tuple[str, ...] = ("subscriber", "traffic", "content", "domain")
# What the engine does with a reservation or declaration (``reservations.yaml`` explains each).
ReservationEffect = Literal[
    "art29_4_dual_criminality",
    "art27_9_e_central_authority",
    "art14_3_a_realtime_traffic_limited",
    "art14_3_b_closed_systems",
    "art21_interception_limited",
    "designated_authority",
    "note",
    "p2_art7_excluded",
    "p2_art8_traffic_excluded",
]
RESERVATION_EFFECTS: tuple[str, ...] = (
    "art29_4_dual_criminality",
    "art27_9_e_central_authority",
    "art14_3_a_realtime_traffic_limited",
    "art14_3_b_closed_systems",
    "art21_interception_limited",
    "designated_authority",
    "note",
    "p2_art7_excluded",
    "p2_art8_traffic_excluded",
)
# Articles under which ETS 185 Parties designate authorities (Arts. 24(7), 27(2), 35).
DESIGNATION_ARTICLES: tuple[str, ...] = ("24(7)", "27(2)", "35")

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"^[a-z0-9_]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _country_code(value: object) -> str:
    # YAML 1.1 reads an unquoted NO as False: say so instead of a puzzling type error.
    if isinstance(value, bool):
        raise ValueError('a country code was read as a boolean: quote codes such as "NO"')
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code (two capital letters)")
    return value


class Source(_Strict):
    id: str
    url: str
    title: str
    checked: date
    # The date the source states its content as of (a chart's "status as of", a news item's
    # date), when it states one; ``checked`` is when the stored copy was read.
    as_of: date | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"source id {value!r} must be lower-case letters, digits and _")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"source url {value!r} must start with http:// or https://")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("source title is empty")
        return value


class Fact(_Strict):
    """Fields every fact has."""

    source: str
    as_of: date
    verified: bool
    note: str | None = None


class CountryFact(Fact):
    """A fact about one country (ISO 3166-1 alpha-2)."""

    country: str

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: object) -> str:
        return _country_code(value)


class Meta(_Strict):
    schema_version: Literal[1]
    data_version: str
    checked: date
    horizon: date
    earliest: date

    @model_validator(mode="after")
    def _order(self) -> Meta:
        if not self.earliest < self.horizon:
            raise ValueError(f"earliest {self.earliest} must be before horizon {self.horizon}")
        return self


class SourcesFile(_Strict):
    sources: list[Source] = Field(min_length=1)


class PartyCount(Fact):
    """A count of Parties the depositary published on a date (``as_of``)."""

    count: int = Field(ge=0)


class Instrument(Fact):
    id: str
    short: str
    name: str
    kind: Literal["multilateral_treaty", "eu_regulation", "eu_directive", "network"]
    opened: date
    in_force: date | None
    entry_into_force_rule: str
    required_consents: int | None = None
    ratifications_known: int | None = None
    # Months between a later Party's deposit and the first day of the month its obligations
    # start (ETS 185 Arts. 36(4), 37(2): three). Lets a Party whose deposit day was not read be
    # counted from the month its deposit must have fallen in.
    deposit_lag_months: int | None = None
    # How complete the Party list is: every State that became a Party up to
    # ``parties_complete_until`` is listed, checked against the depositary's published counts
    # (``party_counts``). After that date a State missing from the list may still be a Party,
    # and answers that rely on its absence say so.
    parties_complete_until: date | None = None
    party_counts: list[PartyCount] = Field(default_factory=list)


class InstrumentsFile(_Strict):
    instruments: list[Instrument] = Field(min_length=1)


class Party(CountryFact):
    deposited: date | None = None
    in_force: date | None


class Signatory(CountryFact):
    signed: date


class PartiesFile(_Strict):
    instrument: str
    parties: list[Party]
    signatories_only: list[Signatory] = Field(default_factory=list)


class Reservation(CountryFact):
    """A reservation or declaration of one Party to an instrument, and the effect the engine
    applies. ``valid_from`` / ``valid_until`` bound the period it has effect (``valid_until`` is
    the day a withdrawal took effect); ``made`` is the day it was made (deposited or
    registered) and ``withdrawn`` the day its withdrawal was registered, where read.
    ``authority`` names the authority a ``designated_authority`` declaration designates;
    ``conduct`` lists the Art. 2-11 categories a ``note`` narrows (shown when an answer's
    conduct falls in them)."""

    instrument: str
    article: str
    kind: Literal["reservation", "declaration"] = "reservation"
    effect: ReservationEffect
    valid_from: date
    valid_until: date | None = None
    made: date | None = None
    withdrawn: date | None = None
    authority: str | None = None
    conduct: list[str] = Field(default_factory=list)
    text: str

    @model_validator(mode="after")
    def _shape(self) -> Reservation:
        where = f"{self.country} Art. {self.article}"
        if self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError(f"{where}: valid_until is not after valid_from")
        if self.withdrawn is not None and self.valid_until is None:
            raise ValueError(f"{where}: withdrawn is set but valid_until (end of effect) is not")
        if self.made is not None and self.withdrawn is not None and self.withdrawn < self.made:
            raise ValueError(f"{where}: withdrawn before it was made")
        if self.effect == "designated_authority":
            if not self.authority:
                raise ValueError(f"{where}: a designated_authority entry names the authority")
            if self.article not in DESIGNATION_ARTICLES:
                raise ValueError(
                    f"{where}: authorities are designated under Arts. "
                    f"{', '.join(DESIGNATION_ARTICLES)}, not {self.article}"
                )
        elif self.authority is not None:
            raise ValueError(f"{where}: authority is only for designated_authority entries")
        unknown = [c for c in self.conduct if c not in CONDUCT_IDS]
        if unknown:
            raise ValueError(f"{where}: unknown conduct {', '.join(unknown)}")
        return self

    def applies_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day < self.valid_until)

    def label(self) -> str:
        """'US declaration ETS 185 Art. 27(9)(e)' (instrument short names by id)."""
        short = {"ets185": "ETS 185", "cets224": "CETS 224"}.get(self.instrument, self.instrument)
        return f"{self.country} {self.kind} {short} Art. {self.article}"


ARTICLE_RE = re.compile(r"[0-9]+(\([0-9a-z]+\))*")


class ReservationsRead(CountryFact):
    """A record that a Party's reservations and declarations to ``instrument`` were read in
    ``source``: all of them (``articles: all``) or those under the listed articles (e.g.
    ``["14(3)", "21", "29(4)"]``). With it, an answer that finds no entry of the Party for
    those articles says "read: none" instead of "not read". The entries found in the same
    reading are ordinary ``reservations`` entries; a reading that found nothing relevant to
    cooperation is a record with no entries beside it (say so in ``note``)."""

    instrument: str
    articles: Literal["all"] | list[str] = "all"

    @field_validator("articles")
    @classmethod
    def _articles(cls, value: object) -> object:
        if isinstance(value, list):
            if not value:
                raise ValueError("list the articles read, or give 'all'")
            bad = [a for a in value if not isinstance(a, str) or not ARTICLE_RE.fullmatch(a)]
            if bad:
                raise ValueError(f"articles are written like 14(3) or 27(9)(e), not {bad!r}")
        return value

    def covers(self, article: str) -> bool:
        """Was ``article`` (e.g. "14(3)") read: the whole list, the article, or a wider one?"""
        if self.articles == "all":
            return True
        return any(article == a or article.startswith(a + "(") for a in self.articles)


class ReservationsFile(_Strict):
    reservations: list[Reservation]
    # Which Parties' lists were read (and so "no entry" means none made): ReservationsRead.
    read: list[ReservationsRead] = Field(default_factory=list)


class Conduct(Fact):
    id: str
    article: str
    title: str


class MaxPenalty(Fact):
    """The maximum deprivation of liberty the statute threatens for the offence.

    ``years`` is the maximum of the basic offence (a number of years, months as a fraction,
    or ``"life"``); ``aggravated_years`` the maximum of an aggravated form, where the statute
    has one. ``provision`` names the penalty provision read (e.g. "18 U.S.C. § 1030(c)(2)(A)").
    ``in_force_from`` / ``in_force_until`` bound the period the recorded maximum applies in,
    where the sources date it: outside every recorded period the engine treats the penalty as
    unknown. An offence whose maximum changed lists one entry per period. The penalty is its
    own fact with its own ``source``, ``as_of`` and ``verified`` flag, separate from the
    offence's.
    """

    years: float | Literal["life"]
    aggravated_years: float | Literal["life"] | None = None
    provision: str | None = None
    in_force_from: date | None = None
    in_force_until: date | None = None

    @field_validator("years", "aggravated_years", mode="before")
    @classmethod
    def _years(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("give the maximum penalty as a number of years or 'life'")
        if isinstance(value, int | float) and value <= 0:
            raise ValueError(f"a maximum penalty must be more than 0 years (value: {value!r})")
        if isinstance(value, str) and value != "life":
            raise ValueError(f"{value!r} is not a number of years or 'life'")
        return value

    @model_validator(mode="after")
    def _order(self) -> MaxPenalty:
        if self.aggravated_years is not None and penalty_rank(
            self.aggravated_years
        ) <= penalty_rank(self.years):
            raise ValueError(
                f"aggravated_years {self.aggravated_years} must exceed years {self.years}"
            )
        if self.in_force_from and self.in_force_until and self.in_force_until <= self.in_force_from:
            raise ValueError("max_penalty: in_force_until is not after in_force_from")
        return self

    def top(self) -> float:
        """The highest maximum, aggravated forms included (life = infinity)."""
        return max(penalty_rank(self.years), penalty_rank(self.aggravated_years or self.years))

    def applies_on(self, day: date) -> bool:
        if self.in_force_from is not None and day < self.in_force_from:
            return False
        return self.in_force_until is None or day < self.in_force_until


def penalty_rank(value: float | str) -> float:
    """A penalty as a comparable number of years: life imprisonment ranks above any term."""
    return float("inf") if value == "life" else float(value)


def describe_years(value: float | str) -> str:
    """'life imprisonment', '6 months', '1 year', '2.5 years'."""
    if value == "life":
        return "life imprisonment"
    years = float(value)
    if years < 1:
        months = round(years * 12)
        return f"{months} month" + ("" if months == 1 else "s")
    shown = f"{years:g}"
    return f"{shown} year" + ("" if years == 1 else "s")


class NationalOffence(CountryFact):
    id: str
    statute: str
    title: str
    conduct: list[str]
    other_conduct: str | None = None
    in_force_from: date | None = None
    in_force_until: date | None = None
    # One maximum penalty, or a list of them, one per period where the maximum changed (see
    # MaxPenalty). A single mapping in the file is read as a list of one.
    max_penalty: list[MaxPenalty] | None = None

    @field_validator("max_penalty", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _shape(self) -> NationalOffence:
        if not self.conduct and not self.other_conduct:
            raise ValueError(f"offence {self.id}: give Art. 2-11 conduct or an other_conduct tag")
        if self.in_force_from and self.in_force_until and self.in_force_until <= self.in_force_from:
            raise ValueError(f"offence {self.id}: in_force_until is not after in_force_from")
        periods = self.penalties()
        if self.max_penalty is not None and not periods:
            raise ValueError(f"offence {self.id}: max_penalty is an empty list")
        ordered = sorted(periods, key=lambda p: p.in_force_from or date.min)
        for earlier, later in pairwise(ordered):
            end = earlier.in_force_until or date.max
            if (later.in_force_from or date.min) < end:
                raise ValueError(
                    f"offence {self.id}: max_penalty periods overlap (one starting "
                    f"{earlier.in_force_from or 'open'}, one starting {later.in_force_from})"
                )
        return self

    def penalties(self) -> list[MaxPenalty]:
        """Every recorded maximum penalty, one per period."""
        return list(self.max_penalty or [])

    def penalty_on(self, day: date) -> MaxPenalty | None:
        """The maximum penalty recorded for ``day``, or None."""
        return next((p for p in self.penalties() if p.applies_on(day)), None)

    def in_force_on(self, day: date) -> bool:
        if self.in_force_from is not None and day < self.in_force_from:
            return False
        return self.in_force_until is None or day < self.in_force_until


class Gap(CountryFact):
    conduct: str
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        return self.valid_until is None or day < self.valid_until


class OffencesFile(_Strict):
    conducts: list[Conduct] = Field(min_length=1)
    national_offences: list[NationalOffence]
    gaps: list[Gap] = Field(default_factory=list)


class MlaTreaty(Fact):
    id: str
    title: str
    countries: list[str] = Field(min_length=2)
    pairs_with: str | None = None
    in_force: date

    @field_validator("countries", mode="before")
    @classmethod
    def _codes(cls, value: object) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("countries must be a list of ISO 3166-1 alpha-2 codes")
        return [_country_code(item) for item in value]

    def binds(self, first: str, second: str, day: date) -> bool:
        if day < self.in_force or first == second:
            return False
        if first not in self.countries or second not in self.countries:
            return False
        return self.pairs_with is None or self.pairs_with in (first, second)


class MlaTreatiesFile(_Strict):
    treaties: list[MlaTreaty]


class VoluntaryRule(CountryFact):
    statute: str
    data: list[Literal["subscriber", "traffic", "content", "domain"]]
    emergency_data: list[Literal["subscriber", "traffic", "content", "domain"]] = Field(
        default_factory=list
    )


class VoluntaryFile(_Strict):
    rules: list[VoluntaryRule]
