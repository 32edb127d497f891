"""The life of a request: states, the transitions allowed between them, and the grounds on
which a request may be refused.

Refusal grounds are those the instrument allows (ETS 185 text:
https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md):
- preservation (Art. 29): 29(5)(a) political offence, 29(5)(b) sovereignty, security, ordre
  public or other essential interests, and 29(4) dual criminality where the requested Party made
  the reservation and the offence is not one of Arts. 2-11;
- expedited disclosure (Art. 30): only the 30(2) grounds (political offence, essential interests);
- mutual assistance (Arts. 25(4), 27(4)) and the Second Protocol's Arts. 8-10 orders (which refer
  to them): the requested Party's law or treaties (25(4)), political offence and essential
  interests (27(4));
- EU orders (Reg. 2023/1543): the grounds of the enforcing authority (Art. 12, not verified
  here), recorded as such.
A free-text "other" ground is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain.common import RequestKind


class RequestState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_EXECUTION = "in_execution"
    PRESERVED = "preserved"
    PARTIALLY_PRESERVED = "partially_preserved"
    REFUSED = "refused"
    CANNOT_ENSURE_AVAILABILITY = "cannot_ensure_availability"  # Art. 29(6) warning
    DISCLOSED = "disclosed"
    EXTENDED = "extended"
    SUPERSEDED_BY_MLA = "superseded_by_mla"
    EXPIRED = "expired"
    CLOSED = "closed"


S = RequestState

PRESERVING_KINDS = frozenset({RequestKind.PRESERVATION, RequestKind.EPOC_PR})
DISCLOSING_KINDS = frozenset(
    {
        RequestKind.EXPEDITED_DISCLOSURE,
        RequestKind.EMERGENCY_DISCLOSURE,
        RequestKind.SUBSCRIBER_INFO,
        RequestKind.EPOC,
        RequestKind.MLA,
    }
)
PRESERVED_STATES = frozenset({S.PRESERVED, S.PARTIALLY_PRESERVED, S.EXTENDED, S.SUPERSEDED_BY_MLA})
# A request in one of these states holds and asks nothing any more: a new request for the
# same data is a new request (with its own reference), not a duplicate. Every other state is
# live: a second request under the same reference would be a duplicate, and an answer naming
# the reference (``in_response_to``) could not tell them apart.
ENDED_STATES = frozenset({S.REFUSED, S.EXPIRED, S.CLOSED})

# Transitions common to every kind; kind-specific outcomes are added in ``allowed_next``.
_COMMON: dict[RequestState, frozenset[RequestState]] = {
    S.DRAFT: frozenset({S.APPROVED, S.CLOSED}),
    S.APPROVED: frozenset({S.SENT, S.DRAFT, S.CLOSED}),
    S.SENT: frozenset({S.RECEIVED, S.CLOSED}),
    S.RECEIVED: frozenset({S.ACKNOWLEDGED, S.REFUSED, S.CLOSED}),
    S.ACKNOWLEDGED: frozenset({S.IN_EXECUTION, S.REFUSED, S.CLOSED}),
    S.IN_EXECUTION: frozenset({S.REFUSED, S.CLOSED}),
    S.REFUSED: frozenset({S.CLOSED}),
    S.DISCLOSED: frozenset({S.CLOSED}),
    S.EXPIRED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}

_PRESERVING: dict[RequestState, frozenset[RequestState]] = {
    S.IN_EXECUTION: frozenset({S.PRESERVED, S.PARTIALLY_PRESERVED, S.CANNOT_ENSURE_AVAILABILITY}),
    # Art. 29(6): the requesting Party decides whether execution should go ahead anyway.
    S.CANNOT_ENSURE_AVAILABILITY: frozenset({S.IN_EXECUTION, S.CLOSED}),
    S.PRESERVED: frozenset({S.EXTENDED, S.SUPERSEDED_BY_MLA, S.EXPIRED, S.DISCLOSED, S.CLOSED}),
    S.PARTIALLY_PRESERVED: frozenset(
        {S.EXTENDED, S.SUPERSEDED_BY_MLA, S.EXPIRED, S.DISCLOSED, S.CLOSED}
    ),
    S.EXTENDED: frozenset({S.EXTENDED, S.SUPERSEDED_BY_MLA, S.EXPIRED, S.DISCLOSED, S.CLOSED}),
    S.SUPERSEDED_BY_MLA: frozenset({S.DISCLOSED, S.CLOSED}),
}

_DISCLOSING: dict[RequestState, frozenset[RequestState]] = {
    S.IN_EXECUTION: frozenset({S.DISCLOSED}),
    S.ACKNOWLEDGED: frozenset({S.DISCLOSED}),
}

# An Art. 32 record is kept, approved and closed; it is shared only as information.
_RECORD: dict[RequestState, frozenset[RequestState]] = {
    S.DRAFT: frozenset({S.APPROVED, S.CLOSED}),
    S.APPROVED: frozenset({S.SENT, S.CLOSED}),
    S.SENT: frozenset({S.RECEIVED, S.CLOSED}),
    S.RECEIVED: frozenset({S.ACKNOWLEDGED, S.CLOSED}),
    S.ACKNOWLEDGED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}


def allowed_next(kind: RequestKind, state: RequestState) -> frozenset[RequestState]:
    """The states a request of ``kind`` may move to from ``state``."""
    if kind is RequestKind.ART32_RECORD:
        return _RECORD.get(state, frozenset())
    allowed = set(_COMMON.get(state, frozenset()))
    extra = _PRESERVING if kind in PRESERVING_KINDS else _DISCLOSING
    allowed |= extra.get(state, frozenset())
    return frozenset(allowed)


def check_transition(kind: RequestKind, current: RequestState, target: RequestState) -> None:
    """Refuse an invalid transition with a message naming the state and the allowed ones."""
    allowed = allowed_next(kind, current)
    if target not in allowed:
        names = ", ".join(sorted(s.value for s in allowed)) or "none (the request is closed)"
        raise ValidationFailed(
            f"a {kind.value} request in state '{current.value}' cannot become '{target.value}'; "
            f"allowed next states: {names}",
            [f"state: {current.value} -> {target.value} is not allowed"],
        )


class RefusalGround(StrEnum):
    POLITICAL_OFFENCE = "political_offence"  # Art. 29(5)(a), 30(2), 27(4)(a)
    ESSENTIAL_INTERESTS = "essential_interests"  # Art. 29(5)(b), 30(2), 27(4)(b)
    DUAL_CRIMINALITY_RESERVATION = "dual_criminality_reservation"  # Art. 29(4)
    REQUESTED_PARTY_LAW = "requested_party_law"  # Art. 25(4)
    ENFORCING_AUTHORITY_GROUND = "enforcing_authority_ground"  # Reg. 2023/1543 Art. 12 (unverified)
    OTHER = "other"  # never accepted


GROUND_CITATIONS: dict[RefusalGround, str] = {
    RefusalGround.POLITICAL_OFFENCE: "political offence or connected with one",
    RefusalGround.ESSENTIAL_INTERESTS: (
        "sovereignty, security, ordre public or other essential interests"
    ),
    RefusalGround.DUAL_CRIMINALITY_RESERVATION: "Art. 29(4) dual criminality reservation",
    RefusalGround.REQUESTED_PARTY_LAW: "Art. 25(4) the requested Party's law or treaties",
    RefusalGround.ENFORCING_AUTHORITY_GROUND: "Reg. 2023/1543 Art. 12 enforcing authority ground",
    RefusalGround.OTHER: "not a treaty ground",
}

_GROUNDS: dict[RequestKind, dict[RefusalGround, str]] = {
    RequestKind.PRESERVATION: {
        RefusalGround.POLITICAL_OFFENCE: "Convention Art. 29(5)(a)",
        RefusalGround.ESSENTIAL_INTERESTS: "Convention Art. 29(5)(b)",
        RefusalGround.DUAL_CRIMINALITY_RESERVATION: "Convention Art. 29(4)",
    },
    RequestKind.EXPEDITED_DISCLOSURE: {
        RefusalGround.POLITICAL_OFFENCE: "Convention Art. 30(2)(a)",
        RefusalGround.ESSENTIAL_INTERESTS: "Convention Art. 30(2)(b)",
    },
    RequestKind.MLA: {
        RefusalGround.POLITICAL_OFFENCE: "Convention Art. 27(4)(a)",
        RefusalGround.ESSENTIAL_INTERESTS: "Convention Art. 27(4)(b)",
        RefusalGround.REQUESTED_PARTY_LAW: "Convention Art. 25(4)",
    },
    RequestKind.SUBSCRIBER_INFO: {
        RefusalGround.POLITICAL_OFFENCE: "Art. 27(4)(a) via Protocol Art. 8 (unverified)",
        RefusalGround.ESSENTIAL_INTERESTS: "Art. 27(4)(b) via Protocol Art. 8 (unverified)",
        RefusalGround.REQUESTED_PARTY_LAW: "Art. 25(4) via Protocol Art. 8 (unverified)",
    },
    RequestKind.EMERGENCY_DISCLOSURE: {
        RefusalGround.POLITICAL_OFFENCE: "Convention Art. 27(4)(a)",
        RefusalGround.ESSENTIAL_INTERESTS: "Convention Art. 27(4)(b)",
        RefusalGround.REQUESTED_PARTY_LAW: "Convention Art. 25(4)",
    },
    RequestKind.EPOC: {
        RefusalGround.ENFORCING_AUTHORITY_GROUND: "Reg. 2023/1543 Art. 12 (unverified)"
    },
    RequestKind.EPOC_PR: {
        RefusalGround.ENFORCING_AUTHORITY_GROUND: "Reg. 2023/1543 Art. 12 (unverified)"
    },
    RequestKind.ART32_RECORD: {},
}


@dataclass(frozen=True)
class Refusal:
    ground: RefusalGround
    article: str
    reasons: str


def check_refusal(
    kind: RequestKind,
    ground: str,
    reasons: str,
    *,
    reservation_made: bool = False,
    offence_articles: list[int] | None = None,
) -> Refusal:
    """Accept a refusal only on a ground the instrument allows for ``kind``.

    Reasons must be given (Convention Art. 27(7)). The Art. 29(4) ground needs both the
    requested Party's reservation and an offence outside Arts. 2-11.
    """
    try:
        parsed = RefusalGround(ground)
    except ValueError:
        parsed = RefusalGround.OTHER
    allowed = _GROUNDS.get(kind, {})
    if parsed not in allowed:
        names = ", ".join(f"{g.value} ({article})" for g, article in allowed.items()) or "none"
        raise ValidationFailed(
            f"refusal ground {ground!r} is not one the treaty allows for a {kind.value} request; "
            f"allowed grounds: {names}",
            [f"ground: {ground!r} is not allowed"],
        )
    if not reasons.strip():
        raise ValidationFailed(
            "a refusal must give its reasons (Convention Art. 27(7))", ["reasons: missing"]
        )
    if parsed is RefusalGround.DUAL_CRIMINALITY_RESERVATION:
        if not reservation_made:
            raise ValidationFailed(
                "Art. 29(4) may only be invoked by a Party that made the dual criminality "
                "reservation",
                ["ground: the requested Party made no Art. 29(4) reservation"],
            )
        if offence_articles:
            listed = ", ".join(str(a) for a in offence_articles)
            raise ValidationFailed(
                f"Art. 29(4) does not apply to offences under Convention Arts. 2-11 "
                f"(this one: Art. {listed})",
                ["ground: the offence is within Arts. 2-11"],
            )
    return Refusal(ground=parsed, article=allowed[parsed], reasons=reasons.strip())
