"""Reservations and declarations of the second reading pass (reservations.yaml: HU, RO, NO,
PT, ES, MT, BA). Each case names the entry that decides it and checks that the answer cites
the source the entry was read in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from law_kit import (
    Auth,
    Live,
    Note,
    Pres,
    assert_names_the_contact_point,
    check_authorities,
    check_extradition_authority,
    check_note,
    check_preservation,
    check_realtime,
    check_urgent_route,
    shown_authorities,
)

from trailguard.law import LegalEngine, realtime_collection

WIPOLEX_HU = "remarks/HU/952"
AVISO_MT = "aviso-29-2012"


# --- Art. 27(9)(e): urgent requests through the central authority -------------------------


@dataclass(frozen=True)
class Urgent:
    name: str
    decided_by: str
    requested: str
    as_of: date
    routed: bool  # the declaration is named and the Art. 27(9) INTERPOL route is not offered
    source: str | None


# fmt: off
URGENT_CASES = [
    Urgent("HU declaration (ratification 2003)", "reservations.yaml: HU 27(9)(e), WIPO Lex",
           "HU", date(2025, 1, 1), True, WIPOLEX_HU),
    Urgent("MT declaration (Arts. 27(2) and 9.e)", "reservations.yaml: MT 27(9)(e), Aviso 29/2012",
           "MT", date(2025, 1, 1), True, AVISO_MT),
    Urgent("PT designations only, no 27(9)(e)", "reservations.yaml: PT 27(2) only",
           "PT", date(2025, 1, 1), False, None),
    Urgent("ES designations only, no 27(9)(e)", "reservations.yaml: ES 27(2) only",
           "ES", date(2025, 1, 1), False, None),
]
# fmt: on


@pytest.mark.parametrize("case", URGENT_CASES, ids=[c.name for c in URGENT_CASES])
def test_art27_9_e_declarations_route_urgent_content_requests(
    engine: LegalEngine, case: Urgent
) -> None:
    check_urgent_route(
        engine, case.requested, case.routed, case.source, case.decided_by, case.as_of
    )


# --- Arts. 24(7), 27(2), 35: designated authorities ----------------------------------------


# fmt: off
AUTHORITY_CASES = [
    Auth("Hungary: police before, prosecutor after proceedings start",
         "reservations.yaml: HU 27(2), 35", "HU", date(2025, 1, 1),
         {"27(2)": "General Prosecutor's Office",
          "35": "International Implementing Co-operation Centre"}),
    Auth("Romania before its 2010 24/7 update", "reservations.yaml: RO 35 from 2010-07-12",
         "RO", date(2010, 7, 11), {"27(2)": "High Court of Cassation and Justice"}),
    Auth("Romania after its 2010 24/7 update", "reservations.yaml: RO 35 from 2010-07-12",
         "RO", date(2010, 7, 12),
         {"27(2)": "High Court of Cassation and Justice", "35": "Service of Combating Cybercrime"}),
    Auth("Norway: KRIPOS", "reservations.yaml: NO 27(2), 35", "NO", date(2025, 1, 1),
         {"27(2)": "KRIPOS", "35": "KRIPOS"}),
    Auth("Portugal: PGR and Policia Judiciaria", "reservations.yaml: PT 27(2), 35", "PT",
         date(2025, 1, 1), {"27(2)": "Procuradoria-Geral", "35": "Polícia Judiciária"}),
    Auth("Spain: Ministry of Justice, Judicial Police", "reservations.yaml: ES 27(2), 35", "ES",
         date(2025, 1, 1),
         {"27(2)": "International Legal Cooperation", "35": "Judicial Police"}),
    Auth("Malta: Attorney General, Cybercrime Unit", "reservations.yaml: MT 27(2), 35", "MT",
         date(2025, 1, 1), {"27(2)": "Attorney General", "35": "Cybercrime Unit"}),
    Auth("Bosnia and Herzegovina before its 2008 designation",
         "reservations.yaml: BA from 2008-10-29", "BA", date(2008, 10, 28), {}),
    Auth("Bosnia and Herzegovina before its 2011 update", "reservations.yaml: BA 2008-10-29",
         "BA", date(2011, 11, 14),
         {"27(2)": "State Investigation and Protection Agency",
          "35": "State Investigation and Protection Agency"}),
    Auth("Bosnia and Herzegovina after its 2011 update", "reservations.yaml: BA from 2011-11-15",
         "BA", date(2011, 11, 15),
         {"27(2)": "State Investigation and Protection Agency", "35": "INTERPOL"}),
]
# fmt: on


@pytest.mark.parametrize("case", AUTHORITY_CASES, ids=[c.name for c in AUTHORITY_CASES])
def test_designated_authorities_of_the_second_pass(engine: LegalEngine, case: Auth) -> None:
    answer, shown = check_authorities(engine, case)
    assert all(shown[article].verified for article in case.expected)
    if "35" in case.expected:
        assert_names_the_contact_point(answer)


def test_extradition_names_the_hungarian_art24_7_authority(engine: LegalEngine) -> None:
    # reservations.yaml: HU 24(7) - Ministry of Justice; Interpol for provisional arrest only.
    check_extradition_authority(engine, "HU", "Ministry of Justice")


# --- notes: offence-narrowing reservations and other declarations -------------------------


NOTE_CASES = [
    Note("HU", "child_sexual_abuse_material", "HU reservation ETS 185 Art. 9(4)", True),
    Note("HU", "illegal_access", "HU reservation ETS 185 Art. 9(4)", False),
    Note("PT", "illegal_access", "PT declaration ETS 185 Art. 24(5)", True),
]


@pytest.mark.parametrize("case", NOTE_CASES, ids=[c.id for c in NOTE_CASES])
def test_second_pass_notes_follow_the_conduct(engine: LegalEngine, case: Note) -> None:
    check_note(engine, case)


def test_hungarian_reservation_not_before_hungary_was_bound(engine: LegalEngine) -> None:
    # parties/ets185.yaml: HU bound from 2004-07-01; reservations.yaml: HU 9(4) from then.
    day = date(2004, 7, 1)
    answer = engine.check("EE", "HU", ["child_sexual_abuse_material"], "stored_content", day)
    assert any(n.startswith("HU reservation ETS 185 Art. 9(4)") for n in answer.notes)
    earlier = engine.check(
        "EE", "HU", ["child_sexual_abuse_material"], "stored_content", date(2004, 6, 30)
    )
    assert not any(n.startswith("HU ") for n in earlier.notes)


# --- Art. 29(4): dual criminality for preservation ------------------------------------------


# fmt: off
PRESERVATION_CASES = [
    Pres("PL reservation, offence outside Arts. 2-11", "reservations.yaml: PL 29(4), WIPO Lex",
         "PL", "us_18usc875", date(2025, 1, 1), True, "PL reservation ETS 185 Art. 29(4)"),
    Pres("PL reservation does not reach Arts. 2-11", "ETS 185 Art. 29(4) (Arts. 2-11 excepted)",
         "PL", "illegal_access", date(2025, 1, 1), False, "PL reservation ETS 185 Art. 29(4)"),
    Pres("PL before it was bound", "parties/ets185.yaml PL in force 2015-06-01",
         "PL", "us_18usc875", date(2015, 5, 31), True, None),
    Pres("IL reservation (opening read)", "reservations.yaml: IL 29(4), WIPO Lex",
         "IL", "us_18usc875", date(2025, 1, 1), True, "IL reservation ETS 185 Art. 29(4)"),
    Pres("TR reservation (article only, unverified)", "reservations.yaml: TR 29(4), Octopus",
         "TR", "us_18usc875", date(2025, 1, 1), True, "TR reservation ETS 185 Art. 29(4)",
         verified=False),
    Pres("no 29(4) reservation in the data: HU", "ETS 185 Art. 29(3)",
         "HU", "us_18usc875", date(2025, 1, 1), False, None),
]
# fmt: on


@pytest.mark.parametrize("case", PRESERVATION_CASES, ids=[c.name for c in PRESERVATION_CASES])
def test_art29_4_reservations_of_the_second_pass(engine: LegalEngine, case: Pres) -> None:
    check_preservation(engine, case)


def test_polish_reservation_is_a_condition_on_the_preservation_channel(
    engine: LegalEngine,
) -> None:
    # reservations.yaml: PL 29(4); PL 35 names the 24/7 point of contact.
    answer = engine.channels(
        "US", "PL", "subscriber", False, date(2025, 1, 1), conduct=["us_18usc875"]
    )
    channel = answer.channel("preservation_24_7")
    assert channel is not None
    (condition,) = [c for c in channel.conditions if "Art. 29(4)" in c]
    assert "PL reservation ETS 185 Art. 29(4)" in condition and "remarks/PL/952" in condition
    assert "reaches the conduct given" in condition


# --- Arts. 14(3), 21: real-time collection (the live watch) --------------------------------


# fmt: off
REALTIME_CASES = [
    Live("TR", "traffic", date(2025, 1, 1), True, "TR reservation ETS 185 Art. 14(3)(b)",
         "reservations.yaml: TR 14(3)(b) - a condition, traffic still owed under Art. 33"),
    Live("TR", "traffic", date(2014, 12, 31), None, None,
         "parties/ets185.yaml: TR bound from 2015-01-01"),
    Live("IL", "content", date(2025, 1, 1), None, "IL reservation ETS 185 Art. 14(3)",
         "reservations.yaml: IL 14(3) - Art. 21 only for felonies"),
    Live("IL", "traffic", date(2025, 1, 1), True, None,
         "reservations.yaml: IL 14(3) limits Art. 21 only, not Art. 20"),
]
# fmt: on


@pytest.mark.parametrize(
    "case", REALTIME_CASES, ids=[f"{c.requested}-{c.data}-{c.day}" for c in REALTIME_CASES]
)
def test_realtime_collection_with_second_pass_reservations(engine: LegalEngine, case: Live) -> None:
    answer = check_realtime(engine, case)
    if case.label is not None:
        assert any(case.label.split(" ETS")[0] in c for c in answer.conditions)


# --- notes of the second and third pass -----------------------------------------------------


MORE_NOTES = [
    Note("TR", "illegal_access", "TR declaration ETS 185 Art. 2", True),
    Note("TR", "computer_fraud", "TR declaration ETS 185 Art. 2", False),
    Note("TR", "computer_forgery", "TR declaration ETS 185 Art. 7", True),
    Note("IL", "copyright_infringement", "IL reservation ETS 185 Art. 10(3)", True),
    Note("IL", "misuse_of_devices", "IL reservation ETS 185 Art. 6(3)", True),
    Note("IL", "illegal_access", "IL reservation ETS 185 Art. 22(2)", True),
    Note("UA", "misuse_of_devices", "UA reservation ETS 185 Art. 6(1)", True),
    Note("UA", "child_sexual_abuse_material", "UA reservation ETS 185 Art. 9(1)", True),
    Note("UA", "illegal_access", "UA reservation ETS 185 Art. 9(1)", False),
]


@pytest.mark.parametrize(
    "case", MORE_NOTES, ids=[f"{c.id}-{c.label.split('Art. ')[1]}" for c in MORE_NOTES]
)
def test_more_offence_notes_follow_the_conduct(engine: LegalEngine, case: Note) -> None:
    check_note(engine, case)


# fmt: off
MORE_AUTHORITIES = [
    ("PL", date(2025, 1, 1), {"27(2)": "Prosecutor General", "35": "Criminal Service Bureau"}),
    ("TR", date(2025, 1, 1), {"27(2)": "Ministry of Justice", "35": "Department of Cybercrime"}),
    ("UA", date(2010, 9, 20), {}),
    ("UA", date(2010, 9, 21), {"35": "Ministry of Internal Affairs"}),
]
# fmt: on


@pytest.mark.parametrize(
    ("requested", "day", "expected"),
    MORE_AUTHORITIES,
    ids=[f"{r}-{d}" for r, d, _ in MORE_AUTHORITIES],
)
def test_more_designated_authorities(
    engine: LegalEngine, requested: str, day: date, expected: dict[str, str]
) -> None:
    answer, shown = shown_authorities(engine, requested, day, expected, "reservations.yaml")
    if requested == "UA" and expected:
        # The Ukrainian designation rests on the amending law, not the CoE notification.
        assert not shown["35"].verified and not answer.verified


# --- Sweden: Art. 29(4) and Art. 14(3) reservations (WIPO Lex) -----------------------------


def test_swedish_reservations_from_entry_into_force(engine: LegalEngine) -> None:
    # reservations.yaml: SE 29(4), 14(3)(a), 14(3)(b), in effect from 2021-08-01.
    bound = date(2021, 8, 1)
    answer = engine.check("US", "SE", ["us_18usc875"], "preservation", bound)
    assert answer.dual_criminality.required is True
    assert "SE reservation ETS 185 Art. 29(4)" in answer.dual_criminality.reason
    live = realtime_collection(engine, "US", "SE", "traffic", bound)
    assert live.allowed is None
    labels = [r.split(" (in effect")[0] for r in live.reservations]
    assert labels == [
        "SE reservation ETS 185 Art. 14(3)(a)",
        "SE reservation ETS 185 Art. 14(3)(b)",
    ]
    assert any("Code of Judicial Procedure" in c for c in live.conditions)
    before = realtime_collection(engine, "US", "SE", "traffic", date(2021, 7, 31))
    assert not before.reservations  # SE bound from 2021-08-01


# --- Slovakia: a withdrawn reservation and updated designations (WIPO Lex) -----------------


# fmt: off
SLOVAK_CASES = [
    # (day, Art. 4(2) note shown, authorities expected) - reservations.yaml: SK
    (date(2020, 9, 2), True, set()),
    (date(2020, 9, 3), True, {"27(2)"}),
    (date(2021, 4, 29), True, {"27(2)"}),
    (date(2021, 4, 30), False, {"27(2)", "35"}),
]
# fmt: on


@pytest.mark.parametrize(
    ("day", "noted", "authorities"), SLOVAK_CASES, ids=[str(d) for d, _, _ in SLOVAK_CASES]
)
def test_slovak_art4_2_reservation_until_its_withdrawal(
    engine: LegalEngine, day: date, noted: bool, authorities: set[str]
) -> None:
    # SK 4(2) in effect 2008-05-01 .. withdrawn 2021-04-30; 27(2) updated 2020-09-03;
    # 35 as amended 2021-04-30.
    answer = engine.check("US", "SK", ["data_interference"], "stored_content", day)
    shown = [n for n in answer.notes if n.startswith("SK reservation ETS 185 Art. 4(2)")]
    assert bool(shown) is noted, answer.notes
    if shown:
        assert "until 2021-04-30" in shown[0] and "remarks/SK/952" in shown[0]
    other = engine.check("US", "SK", ["computer_fraud"], "stored_content", day)
    assert not any(n.startswith("SK reservation ETS 185 Art. 4(2)") for n in other.notes)
    channels = engine.channels("EE", "SK", "subscriber", False, day)
    assert {a.article for a in channels.authorities} == authorities
