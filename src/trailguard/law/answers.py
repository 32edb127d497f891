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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "country": self.country,
            "statute": self.statute,
            "title": self.title,
            "conduct": list(self.conduct),
            "verified": self.verified,
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "requesting": self.requesting,
            "requested": self.requested,
            "conduct": list(self.conduct),
            "measure": self.measure,
            "dual_criminality": self.dual_criminality.to_dict(),
            "provisions": {
                country: [p.to_dict() for p in items] for country, items in self.provisions.items()
            },
            "reasoning": list(self.reasoning),
            "citations": list(self.citations),
            "verified": self.verified,
            "unverified": list(self.unverified),
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
