"""What the legal engine answers: plain, immutable, typed values with a stable JSON form.

``to_dict()`` is the ``--json`` contract of ``trailguard law check`` and ``law channels``
(and the JSON API): scripts rely on its keys, so add keys but never rename or remove them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

CONDUCTS: tuple[str, ...] = (
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
MEASURES: tuple[str, ...] = (
    "preservation",
    "traffic_disclosure",
    "subscriber_info",
    "stored_content",
    "search_seizure",
    "realtime_collection",
    "extradition",
)
DATA_KINDS: tuple[str, ...] = ("subscriber", "traffic", "content", "domain")
# What the user needs from ``law channels``: keep the data (preserve), receive it now (obtain),
# or both (preservation first, unless it is an emergency).
PURPOSES: tuple[str, ...] = ("preserve", "obtain", "both")
REALTIME_DATA: tuple[str, ...] = ("traffic", "content")
REQUEST_KINDS: tuple[str, ...] = (
    "preservation",
    "expedited_disclosure",
    "emergency_disclosure",
    "subscriber_info",
    "epoc",
    "epoc_pr",
    "mla",
    "art32_record",
)
CHANNEL_IDS: tuple[str, ...] = (
    "preservation_24_7",
    "art30_disclosure",
    "p2_art6_domain",
    "p2_art7_subscriber_direct",
    "p2_art8_production",
    "p2_art9_emergency_disclosure",
    "p2_art10_emergency_mla",
    "eu_epoc",
    "eu_epoc_pr",
    "mlat_bilateral",
    "convention_mla_art27",
    "letters_rogatory",
    "interpol",
    "police_to_police",
    "voluntary_provider",
    "domestic_process",
)


@dataclass(frozen=True)
class Provision:
    """A national offence that covers the conduct, in one country, on the answer's date."""

    id: str
    country: str
    statute: str
    title: str
    conduct: tuple[str, ...]
    verified: bool
    # The maximum penalty recorded for the offence (see PenaltyInfo), or None if not in the data.
    max_penalty: PenaltyInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "country": self.country,
            "statute": self.statute,
            "title": self.title,
            "conduct": list(self.conduct),
            "verified": self.verified,
            "max_penalty": self.max_penalty.to_dict() if self.max_penalty else None,
        }


@dataclass(frozen=True)
class PenaltyInfo:
    """The maximum deprivation of liberty recorded for a national offence."""

    years: float | str  # a number of years, or "life"
    aggravated_years: float | str | None
    provision: str | None
    in_force_from: date | None
    verified: bool
    text: str  # "up to 2 years (aggravated form: up to 4 years)"
    in_force_until: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "years": self.years,
            "aggravated_years": self.aggravated_years,
            "provision": self.provision,
            "in_force_from": self.in_force_from.isoformat() if self.in_force_from else None,
            "in_force_until": self.in_force_until.isoformat() if self.in_force_until else None,
            "verified": self.verified,
            "text": self.text,
        }


@dataclass(frozen=True)
class PenaltyCheck:
    """Whether one country punishes the conduct with a maximum of at least ``threshold_years``,
    as a rule requires (ETS 185 Art. 24(1)(a): one year; Regulation (EU) 2023/1543
    Art. 5(4)(a): three years). ``met`` is None when the data cannot tell; ``statute`` and
    ``penalty`` name the provision and penalty that decided it, when one did."""

    country: str
    rule: str
    threshold_years: float
    met: bool | None
    statute: str | None
    penalty: str | None
    verified: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "rule": self.rule,
            "threshold_years": self.threshold_years,
            "met": self.met,
            "statute": self.statute,
            "penalty": self.penalty,
            "verified": self.verified,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DualCriminality:
    required: bool
    satisfied: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"required": self.required, "satisfied": self.satisfied, "reason": self.reason}


@dataclass(frozen=True)
class DualCriminalityAnswer:
    as_of: date
    requesting: str
    requested: str
    conduct: tuple[str, ...]
    measure: str
    dual_criminality: DualCriminality
    provisions: dict[str, tuple[Provision, ...]]
    reasoning: tuple[str, ...]
    citations: tuple[str, ...]
    verified: bool
    unverified: tuple[str, ...] = ()
    # The penalty threshold the measure needs in each country (extradition: ETS 185
    # Art. 24(1)(a)); empty when the measure has none or it does not apply.
    penalty_checks: tuple[PenaltyCheck, ...] = ()
    # Reservations and declarations of either country that bear on the question, each with
    # its citation (ETS 185 Arts. 2-11 narrowed, designated authorities, Art. 14(3), ...).
    notes: tuple[str, ...] = ()
    # Whether the requested Party's reservations bearing on the measure are known.
    reservations_known: tuple[ReservationsKnown, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "requesting": self.requesting,
            "requested": self.requested,
            "conduct": list(self.conduct),
            "measure": self.measure,
            "notes": list(self.notes),
            "reservations_known": [k.to_dict() for k in self.reservations_known],
            "dual_criminality": self.dual_criminality.to_dict(),
            "penalty_threshold": _threshold_dict(self.penalty_checks),
            "provisions": {
                country: [p.to_dict() for p in items] for country, items in self.provisions.items()
            },
            "reasoning": list(self.reasoning),
            "citations": list(self.citations),
            "verified": self.verified,
            "unverified": list(self.unverified),
        }


def _threshold_dict(checks: tuple[PenaltyCheck, ...]) -> dict[str, Any] | None:
    if not checks:
        return None
    met = [c.met for c in checks]
    satisfied = False if False in met else (True if all(met) else None)
    return {
        "rule": checks[0].rule,
        "threshold_years": checks[0].threshold_years,
        "satisfied": satisfied,
        "countries": [c.to_dict() for c in checks],
    }


@dataclass(frozen=True)
class Channel:
    """A lawful channel, with what it rests on and how fast it is expected to be."""

    id: str
    name: str
    legal_basis: str
    deadline: str
    form: str
    citations: tuple[str, ...]
    verified: bool
    speed_rank: int
    # Conditions the channel is offered under that the engine could not settle (or settled),
    # e.g. the Regulation (EU) 2023/1543 Art. 5(4) penalty threshold.
    conditions: tuple[str, ...] = ()
    # What the channel does with the data: discloses it to the requesting authority, and/or
    # preserves it (keeps the trail until a disclosing channel gets it).
    discloses: bool = True
    preserves: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "legal_basis": self.legal_basis,
            "deadline": self.deadline,
            "form": self.form,
            "citations": list(self.citations),
            "verified": self.verified,
            "speed_rank": self.speed_rank,
            "conditions": list(self.conditions),
            "discloses": self.discloses,
            "preserves": self.preserves,
        }


@dataclass(frozen=True)
class RuledOut:
    id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class ChannelsAnswer:
    as_of: date
    requesting: str
    requested: str
    provider_country: str
    data: str
    emergency: bool
    channels: tuple[Channel, ...]
    not_available: tuple[RuledOut, ...]
    reasoning: tuple[str, ...]
    citations: tuple[str, ...]
    verified: bool
    unverified: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # The conduct the question named (``--conduct``), empty when none was given.
    conduct: tuple[str, ...] = ()
    # What the user needs (preserve, obtain, both): it orders ``channels`` (PURPOSES).
    purpose: str = "both"
    # Where disclosing channels rank first, the fastest offered channel that keeps the trail
    # (preserves the data) meanwhile; None when none is offered or preservation ranks first.
    preserve_meanwhile: str | None = None
    # Authorities the Parties designated (ETS 185 Arts. 24(7), 27(2), 35) for this question.
    authorities: tuple[DesignatedAuthority, ...] = ()
    # Whether the requested Party's reservations and declarations are known (any article).
    reservations_known: tuple[ReservationsKnown, ...] = ()

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def ruled_out(self, channel_id: str) -> RuledOut | None:
        return next((r for r in self.not_available if r.id == channel_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "requesting": self.requesting,
            "requested": self.requested,
            "provider_country": self.provider_country,
            "data": self.data,
            "emergency": self.emergency,
            "channels": [c.to_dict() for c in self.channels],
            "not_available": [r.to_dict() for r in self.not_available],
            "reasoning": list(self.reasoning),
            "citations": list(self.citations),
            "notes": list(self.notes),
            "conduct": list(self.conduct),
            "verified": self.verified,
            "unverified": list(self.unverified),
            "purpose": self.purpose,
            "preserve_meanwhile": self.preserve_meanwhile,
            "authorities": [a.to_dict() for a in self.authorities],
            "reservations_known": [k.to_dict() for k in self.reservations_known],
        }


@dataclass(frozen=True)
class DesignatedAuthority:
    """An authority a Party designated under ETS 185 Art. 24(7), 27(2) or 35, with the
    citation of the declaration (its source, as-of date and verification)."""

    country: str
    article: str
    role: str
    authority: str
    citation: str
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "article": self.article,
            "role": self.role,
            "authority": self.authority,
            "citation": self.citation,
            "verified": self.verified,
        }


# Whether a Party's reservations and declarations bearing on a question are known: "known"
# (read in a source; some in effect), "none" (read in a source; none in effect), "partial"
# (some of the articles read, others not), "not_read" (no entry does NOT mean none was made).
RESERVATION_STATUSES: tuple[str, ...] = ("known", "none", "partial", "not_read")


@dataclass(frozen=True)
class ReservationsKnown:
    """What the data knows of ``country``'s reservations and declarations under ``articles``
    (empty: all articles) on the answer's date, in words and with the sources read."""

    country: str
    status: str
    articles: tuple[str, ...]
    text: str
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "status": self.status,
            "articles": list(self.articles),
            "text": self.text,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class RealtimeAnswer:
    """May ``requested`` be asked to collect ``data`` in real time (ETS 185 Art. 33 for traffic
    data, Art. 34 for content), given its Art. 14(3) reservations on ``as_of``? ``allowed`` is
    True (assistance is owed, under domestic conditions), None (only under conditions the
    engine cannot settle, listed in ``conditions``) or False (no basis)."""

    as_of: date
    requesting: str
    requested: str
    data: str
    allowed: bool | None
    conditions: tuple[str, ...]
    reservations: tuple[str, ...]
    reasoning: tuple[str, ...]
    citations: tuple[str, ...]
    verified: bool
    unverified: tuple[str, ...] = ()
    reservations_known: tuple[ReservationsKnown, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "requesting": self.requesting,
            "requested": self.requested,
            "data": self.data,
            "allowed": self.allowed,
            "conditions": list(self.conditions),
            "reservations": list(self.reservations),
            "reservations_known": [k.to_dict() for k in self.reservations_known],
            "reasoning": list(self.reasoning),
            "citations": list(self.citations),
            "verified": self.verified,
            "unverified": list(self.unverified),
        }


@dataclass(frozen=True)
class LegalBasis:
    """The basis a request of one kind rests on; pre-filled into request drafts."""

    instrument: str
    articles: list[str]
    summary: str
    citations: list[str]
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "articles": list(self.articles),
            "summary": self.summary,
            "citations": list(self.citations),
            "verified": self.verified,
        }
