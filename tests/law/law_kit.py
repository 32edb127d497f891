"""Harness of the reservations tests (test_law_reservations*.py): each file keeps its own table
of cases, each case naming the reservations.yaml entry that decides it; the checks that every
reading pass makes the same way are here, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from trailguard.law import (
    ChannelsAnswer,
    DesignatedAuthority,
    LegalEngine,
    RealtimeAnswer,
    realtime_collection,
)

DAY = date(2025, 1, 1)
ANY_SOURCE = "<https://"  # what every cited label carries: the URL of its source


# --- Art. 29(4): dual criminality for preservation -------------------------------------------


@dataclass(frozen=True)
class Pres:
    name: str
    decided_by: str
    requested: str
    conduct: str
    as_of: date
    required: bool
    names: str | None  # the reservation label the reason must name
    source: str | None = ANY_SOURCE  # a part of the source URL the reason must cite
    verified: bool = True  # the reservation entry is verified


def check_preservation(engine: LegalEngine, case: Pres) -> None:
    """US asks ``case.requested`` to preserve: dual criminality as the reservation says."""
    answer = engine.check("US", case.requested, [case.conduct], "preservation", case.as_of)
    assert answer.dual_criminality.required is case.required, case.decided_by
    reason = answer.dual_criminality.reason
    if case.names is None:
        assert "Art. 29(4) reservation" not in reason, case.decided_by
        return
    assert case.names in reason, (case.decided_by, reason)
    assert case.source is not None and case.source in reason, "the reason names its source"
    cited = [c for c in answer.citations if c.startswith(case.names + ":")]
    assert cited, answer.citations
    if not case.verified:
        assert not answer.verified
        assert any(case.names in u for u in answer.unverified), answer.unverified


# --- Art. 27(9)(e): urgent requests through the central authority ---------------------------


def check_urgent_route(
    engine: LegalEngine,
    requested: str,
    routed: bool,
    source: str | None,
    decided_by: str,
    as_of: date = DAY,
) -> None:
    """Chile asks ``requested`` for content in an emergency: a declaration under Art. 27(9)(e)
    routes it to the central authority and rules the INTERPOL route out."""
    answer = engine.channels("CL", requested, "content", True, as_of)
    art27 = answer.channel("convention_mla_art27")
    assert art27 is not None, decided_by
    named = [c for c in art27.conditions if "urgent requests under Art. 27(9)" in c]
    interpol = answer.channel("interpol")
    if routed:
        assert named and "central authority" in named[0], (decided_by, art27.conditions)
        assert source is not None and source in named[0]
        assert interpol is None, decided_by
        ruled = answer.ruled_out("interpol")
        label = f"{requested} declaration ETS 185 Art. 27(9)(e)"
        assert ruled is not None and label in ruled.reason
    else:
        assert not named, decided_by
        assert interpol is not None and "Art. 27(9)" in interpol.legal_basis


# --- Arts. 24(7), 27(2), 35: designated authorities ------------------------------------------


@dataclass(frozen=True)
class Auth:
    name: str
    decided_by: str
    requested: str
    as_of: date
    expected: dict[str, str]  # article -> part of the authority's name
    verified: bool = True


def shown_authorities(
    engine: LegalEngine, requested: str, as_of: date, expected: dict[str, str], decided_by: str
) -> tuple[ChannelsAnswer, dict[str, DesignatedAuthority]]:
    """The authorities ``requested`` designated, as shown to Estonia (a Party since 2004-07-01,
    before the designations the cases date); each must be ``expected`` and cited."""
    answer = engine.channels("EE", requested, "subscriber", False, as_of)
    shown = {a.article: a for a in answer.authorities}
    assert set(shown) == set(expected), decided_by
    for article, name in expected.items():
        assert name in shown[article].authority, (decided_by, shown[article].authority)
        assert shown[article].citation.startswith(f"{requested} declaration ETS 185")
    return answer, shown


def check_authorities(
    engine: LegalEngine, case: Auth
) -> tuple[ChannelsAnswer, dict[str, DesignatedAuthority]]:
    return shown_authorities(engine, case.requested, case.as_of, case.expected, case.decided_by)


def assert_names_the_contact_point(answer: ChannelsAnswer) -> None:
    """The preservation channel names the Art. 35 point of contact."""
    channel = answer.channel("preservation_24_7")
    assert channel is not None
    assert any("point of contact (Art. 35)" in c for c in channel.conditions)


def check_extradition_authority(engine: LegalEngine, requested: str, authority: str) -> None:
    """The Art. 24(7) authority is a note on extradition, and only there."""
    answer = engine.check("US", requested, ["illegal_access"], "extradition", DAY)
    assert any("Art. 24(7)" in n and authority in n for n in answer.notes), answer.notes
    preservation = engine.check("US", requested, ["illegal_access"], "preservation", DAY)
    assert not any("Art. 24(7)" in n or authority in n for n in preservation.notes)


# --- notes: offence-narrowing reservations and other declarations ----------------------------


@dataclass(frozen=True)
class Note:
    requested: str
    conduct: str
    label: str  # the note that must (or must not) be shown
    shown: bool

    @property
    def id(self) -> str:
        return f"{self.requested}-{self.conduct}"


def check_note(engine: LegalEngine, case: Note) -> None:
    """US asks ``case.requested`` about ``case.conduct``: the note ``case.label`` is shown
    (cited and dated) or not at all."""
    answer = engine.check("US", case.requested, [case.conduct], "stored_content", DAY)
    notes = [n for n in answer.notes if n.startswith(case.label)]
    assert bool(notes) is case.shown, answer.notes
    for note in notes:
        assert ANY_SOURCE in note and "as of" in note


# --- Arts. 14(3), 21, 33, 34: real-time collection (the live watch) -------------------------


@dataclass(frozen=True)
class Live:
    requested: str
    data: str  # "traffic" or "content"
    day: date
    allowed: bool | None  # None: only under the reservation's conditions
    label: str | None  # the reservation named first (None: none named)
    decided_by: str
    source: str | None = ANY_SOURCE  # a part of the source URL the reservation must cite
    requesting: str = "US"
    name: str = ""  # a test id, where the country, data and day do not say enough


def check_realtime(engine: LegalEngine, case: Live) -> RealtimeAnswer:
    """Real-time collection of ``case.data`` asked of ``case.requested``: allowed or not, and
    the reservation named first (with a part of its source URL), or none."""
    answer = realtime_collection(engine, case.requesting, case.requested, case.data, case.day)
    assert answer.allowed is case.allowed, (case.decided_by, answer.conditions)
    if case.label is None:
        assert not answer.reservations, case.decided_by
    else:
        assert answer.reservations[0].startswith(case.label), answer.reservations
        assert case.source is not None and case.source in answer.reservations[0]
    return answer
