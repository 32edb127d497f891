"""Reservations and declarations of the third reading pass (reservations.yaml: AZ, MD, CY, GE,
EE, IS, LV, ME, LI, MC, GR, PE, MA, EC, NZ, and Norway's 2026 designation), and the
``read`` records ("read, none relevant to cooperation"). Each case names the entry that
decides it and checks that the answer cites the source the entry was read in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from law_kit import (
    Auth,
    Live,
    Note,
    Pres,
    check_authorities,
    check_note,
    check_preservation,
    check_realtime,
    check_urgent_route,
)

from law_data_kit import edit
from trailguard.law import (
    LegalDataInvalid,
    LegalEngine,
    load_dataset,
    realtime_collection,
)
from trailguard.law.loader import RESERVATION_SOURCES
from trailguard.law.sources import sources_report

WIPOLEX_LI = "remarks/LI/952"
COE_GR = "codePays=GRE"
LV_LAW = "likumi.lv/ta/id/146481"


# --- Art. 29(4): dual criminality for preservation ------------------------------------------


# fmt: off
PRESERVATION_CASES = [
    Pres("LI reservation, offence outside Arts. 2-11", "reservations.yaml: LI 29(4), WIPO Lex",
         "LI", "us_18usc875", date(2025, 1, 1), True, "LI reservation ETS 185 Art. 29(4)",
         WIPOLEX_LI),
    Pres("LI reservation does not reach Arts. 2-11", "ETS 185 Art. 29(4) (Arts. 2-11 excepted)",
         "LI", "illegal_access", date(2025, 1, 1), False, "LI reservation ETS 185 Art. 29(4)",
         WIPOLEX_LI),
    Pres("GR reservation, offence outside Arts. 2-11", "reservations.yaml: GR 29(4), CoE list",
         "GR", "us_18usc875", date(2025, 1, 1), True, "GR reservation ETS 185 Art. 29(4)", COE_GR),
    Pres("GR not bound yet: no Art. 29, no reservation named",
         "parties/ets185.yaml: GR in force 2017-05-01",
         "GR", "us_18usc875", date(2017, 4, 30), True, None, None),
    Pres("LV reservation (ratification law Art. 2)", "reservations.yaml: LV 29(4), Likumi.lv",
         "LV", "us_18usc875", date(2025, 1, 1), True, "LV reservation ETS 185 Art. 29(4)", LV_LAW),
    Pres("NG reservation (coercive powers), threats", "reservations.yaml: NG 29(4), WIPO Lex",
         "NG", "us_18usc875", date(2025, 1, 1), True, "NG reservation ETS 185 Art. 29(4)",
         "remarks/NG/952"),
    Pres("NG not bound yet (in force 2022-11-01)", "parties/ets185.yaml: NG in force 2022-11-01",
         "NG", "us_18usc875", date(2022, 10, 31), True, None, None),
    Pres("no reservation: Estonia (designations only)", "ETS 185 Art. 29(3); EE entries",
         "EE", "us_18usc875", date(2025, 1, 1), False, None, None),
]
# fmt: on


@pytest.mark.parametrize("case", PRESERVATION_CASES, ids=[c.name for c in PRESERVATION_CASES])
def test_art29_4_reservations_of_the_third_pass(engine: LegalEngine, case: Pres) -> None:
    check_preservation(engine, case)


# --- Art. 27(9)(e): urgent requests through the central authority -------------------------


# fmt: off
URGENT_CASES = [
    # (requested, routed, part of the source URL, decided by)
    ("AZ", True, "remarks/AZ/952", "reservations.yaml: AZ 27(9)(e), WIPO Lex"),
    ("MD", True, "zaki.ru/pagesnew.php?id=57450&page=21", "reservations.yaml: MD 27(9)(e)"),
    ("GE", True, "codePays=GEO", "reservations.yaml: GE 27(9)(e), CoE list"),
    ("LI", True, WIPOLEX_LI, "reservations.yaml: LI 27(9)(e) (emergency: Office of Justice)"),
    ("PE", True, "elperuano.pe", "reservations.yaml: PE 27(9)(e), D.S. 010-2019-RE"),
    ("MA", False, None, "reservations.yaml: MA designations only"),
    ("IS", False, None, "reservations.yaml: IS designations only"),
]
# fmt: on


@pytest.mark.parametrize(
    ("requested", "routed", "source", "decided_by"),
    URGENT_CASES,
    ids=[c[0] for c in URGENT_CASES],
)
def test_art27_9_e_declarations_of_the_third_pass(
    engine: LegalEngine, requested: str, routed: bool, source: str | None, decided_by: str
) -> None:
    check_urgent_route(engine, requested, routed, source, decided_by)


def test_peru_art27_9_e_applies_only_once_peru_is_bound(engine: LegalEngine) -> None:
    # parties/ets185.yaml: PE in force 2019-12-01; reservations.yaml: PE 27(9)(e) from then.
    before = engine.channels("CL", "PE", "content", True, date(2019, 11, 30))
    assert before.channel("convention_mla_art27") is None
    after = engine.channels("CL", "PE", "content", True, date(2019, 12, 1))
    art27 = after.channel("convention_mla_art27")
    assert art27 is not None
    assert any("urgent requests under Art. 27(9)" in c for c in art27.conditions)


# --- Arts. 14(3), 21, 33: real-time collection (the live watch) ----------------------------


LIVE_DAY = date(2026, 6, 1)
# fmt: off
REALTIME_CASES = [
    Live("LI", "traffic", LIVE_DAY, None, "LI reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: LI 14(3)(a) (more than one year)", WIPOLEX_LI),
    Live("GR", "traffic", LIVE_DAY, None, "GR reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: GR 14(3)(a) (offences under Art. 21)", COE_GR),
    Live("ME", "traffic", LIVE_DAY, None, "ME reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: ME 14(3) (court decision)", "codePays=MOT"),
    Live("NZ", "traffic", LIVE_DAY, None, "NZ reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: NZ 14(3)(a) (7 years)", "009852_w"),
    Live("NG", "traffic", LIVE_DAY, None, "NG reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: NG 14(3) (condition cut off, unverified)", "remarks/NG/952"),
    Live("EE", "traffic", LIVE_DAY, True, None,
         "ETS 185 Art. 33; EE has no Art. 14(3) reservation", None),
    Live("MC", "traffic", LIVE_DAY, True, None,
         "ETS 185 Art. 33; MC has no Art. 14(3) reservation", None),
]
# fmt: on


@pytest.mark.parametrize(
    "case", REALTIME_CASES, ids=[f"{c.requested}-{c.data}" for c in REALTIME_CASES]
)
def test_realtime_collection_against_third_pass_reservations(
    engine: LegalEngine, case: Live
) -> None:
    answer = check_realtime(engine, case)
    if case.label is not None:
        source = case.source
        assert source is not None
        assert any("Art. 14(3)(a)" in c and source in c for c in answer.conditions)


def test_new_zealand_realtime_reservation_only_once_bound(engine: LegalEngine) -> None:
    # parties/ets185.yaml: NZ in force 2025-12-01.
    before = realtime_collection(engine, "US", "NZ", "traffic", date(2025, 11, 30))
    assert before.allowed is None and not before.reservations
    after = realtime_collection(engine, "US", "NZ", "traffic", date(2025, 12, 1))
    assert after.allowed is None
    assert after.reservations and after.reservations[0].startswith("NZ reservation")


# --- Arts. 24(7), 27(2), 35: designated authorities ----------------------------------------


# fmt: off
AUTHORITY_CASES = [
    Auth("Azerbaijan: Ministry of National Security", "reservations.yaml: AZ 27(2), 35", "AZ",
         date(2025, 1, 1), {"27(2)": "Ministry of National Security",
                            "35": "Ministry of National Security"}),
    Auth("Moldova before its 2010 24/7 update", "reservations.yaml: MD 35 from 2010-06-29",
         "MD", date(2010, 6, 28), {"27(2)": "Prosecutor General"}),
    Auth("Moldova after its 2010 24/7 update", "reservations.yaml: MD 35 from 2010-06-29",
         "MD", date(2010, 6, 29), {"27(2)": "Prosecutor General", "35": "Ministry of Internal"}),
    Auth("Cyprus before its 2009 designation", "reservations.yaml: CY from 2009-08-05",
         "CY", date(2009, 8, 4), {}),
    Auth("Cyprus after its 2009 designation", "reservations.yaml: CY from 2009-08-05",
         "CY", date(2009, 8, 5), {"27(2)": "Ministry of Justice and Public Order",
                                  "35": "Ministry of Justice and Public Order"}),
    Auth("Monaco: first 24/7 contact", "reservations.yaml: MC 35 until 2017-10-17", "MC",
         date(2017, 10, 16), {"27(2)": "Direction des Services Judiciaires",
                              "35": "International Cooperation Service"}),
    Auth("Monaco: INTERPOL bureau from 2017-10-17", "reservations.yaml: MC 35 from 2017-10-17",
         "MC", date(2017, 10, 17), {"27(2)": "Direction des Services Judiciaires",
                                    "35": "Bureau INTERPOL"}),
    Auth("Norway: KRIPOS until 2025", "reservations.yaml: NO 27(2) until 2026-01-01", "NO",
         date(2025, 12, 31), {"27(2)": "KRIPOS", "35": "KRIPOS"}),
    Auth("Norway: Riksadvokaten from 2026", "reservations.yaml: NO 27(2) from 2026-01-01", "NO",
         date(2026, 1, 1), {"27(2)": "Riksadvokaten", "35": "KRIPOS"}),
    Auth("Morocco: Ministry of Justice, INTERPOL Rabat", "reservations.yaml: MA 27(2), 35", "MA",
         date(2025, 1, 1), {"27(2)": "Ministry of Justice", "35": "INTERPOL"}),
    Auth("Tonga: Attorney General's Office, Police", "reservations.yaml: TO 27(2), 35", "TO",
         date(2025, 1, 1), {"27(2)": "Attorney General", "35": "Serious Organized Transnational"}),
    Auth("Nigeria: Central Authority Unit, Police cybercrime centre",
         "reservations.yaml: NG 27(2), 35", "NG", date(2025, 1, 1),
         {"27(2)": "Central Authority Unit", "35": "National Cybercrime Center"}),
    Auth("Latvia: Ministry of Justice (bill, unverified)", "reservations.yaml: LV 27(2), 35",
         "LV", date(2025, 1, 1), {"27(2)": "Ministry of Justice", "35": "State Police"},
         verified=False),
]
# fmt: on


@pytest.mark.parametrize("case", AUTHORITY_CASES, ids=[c.name for c in AUTHORITY_CASES])
def test_designated_authorities_of_the_third_pass(engine: LegalEngine, case: Auth) -> None:
    _, shown = check_authorities(engine, case)
    if case.verified:
        assert all(a.verified for a in shown.values())
    else:
        assert not shown["27(2)"].verified and shown["35"].verified


# --- notes, and a withdrawal ---------------------------------------------------------------


def test_latvian_art22_reservation_ends_with_its_withdrawal(engine: LegalEngine) -> None:
    # reservations.yaml: LV 22, withdrawal registered 2011-12-02 (Aviso 11/2015).
    label = "LV reservation ETS 185 Art. 22"
    before = engine.channels("FR", "LV", "subscriber", False, date(2011, 12, 1))
    after = engine.channels("FR", "LV", "subscriber", False, date(2011, 12, 2))
    shown = [n for n in before.notes if n.startswith(label)]
    assert shown and "aviso-11-2015" in shown[0] and "until 2011-12-02" in shown[0]
    assert not any(n.startswith(label) for n in after.notes)


NOTE_CASES = [
    Note("ME", "child_sexual_abuse_material", "ME reservation ETS 185 Art. 9(4)", True),
    Note("ME", "illegal_access", "ME reservation ETS 185 Art. 9(4)", False),
    Note("AZ", "data_interference", "AZ reservation ETS 185 Art. 4(2)", True),
    Note("AZ", "computer_fraud", "AZ reservation ETS 185 Art. 4(2)", False),
    Note("PE", "illegal_access", "PE declaration ETS 185 Art. 2", True),
    Note("GE", "misuse_of_devices", "GE declaration ETS 185 Art. 6(3)", True),
]


@pytest.mark.parametrize("case", NOTE_CASES, ids=[c.id for c in NOTE_CASES])
def test_third_pass_notes_follow_the_conduct(engine: LegalEngine, case: Note) -> None:
    check_note(engine, case)


def test_unverified_second_hand_entry_makes_the_answer_unverified(engine: LegalEngine) -> None:
    # reservations.yaml: PE 6(1)(b), read second-hand (IAPP), verified: false.
    answer = engine.check("US", "PE", ["misuse_of_devices"], "stored_content", date(2025, 1, 1))
    assert any(n.startswith("PE reservation ETS 185 Art. 6(1)(b)") for n in answer.notes)
    assert not answer.verified
    assert any("PE reservation ETS 185 Art. 6(1)(b)" in u for u in answer.unverified)


# --- sources_reservations.yaml and the none_relevant shape ---------------------------------


def test_reservation_sources_are_read_from_their_own_file() -> None:
    data = load_dataset()
    assert data.source_files["wipolex_li_185"] == RESERVATION_SOURCES
    assert data.source_files["coe_decl_185_list"] == "sources.yaml"
    rows = {r["id"]: r for r in sources_report(data)}
    assert rows["wipolex_li_185"]["file"] == RESERVATION_SOURCES
    assert rows["wipolex_li_185"]["facts"] >= 6  # LI 14(3)(a), 29(4), 24(7), 27(2), 27(9)(e), 35


def test_reservation_source_ids_may_not_repeat_those_of_sources_yaml(data_copy: Path) -> None:
    edit(data_copy / RESERVATION_SOURCES, "  - id: wipolex_li_185\n", "  - id: ets185_text\n")
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any("'ets185_text' is also used in sources.yaml" in p for p in caught.value.problems)


_READ_ALL = """read:
  - instrument: ets185
    country: "{country}"
    articles: all
    source: ets185_text
    as_of: 2025-01-01
    verified: true
    note: test entry
"""


def _add_read(data_copy: Path, country: str) -> Path:
    path = data_copy / "reservations.yaml"
    text = path.read_text("utf-8")
    if "\nread:\n" in text:
        text = text.replace("\nread:\n", "\n" + _READ_ALL.format(country=country), 1)
    else:
        text += _READ_ALL.format(country=country)
    path.write_text(text, "utf-8")
    return path


def test_a_read_record_marks_a_party_read_without_entries(data_copy: Path) -> None:
    _add_read(data_copy, "KI")  # Kiribati: an Art. 35 entry (sixth pass), no read record
    data = load_dataset(data_copy)
    read = [r for r in data.reservations_read if r.country == "KI"]
    assert len(read) == 1 and read[0].instrument == "ets185" and read[0].articles == "all"
    rows = {r["id"]: r for r in sources_report(data)}
    base = {r["id"]: r for r in sources_report(load_dataset())}
    assert rows["ets185_text"]["facts"] == base["ets185_text"]["facts"] + 1


def test_a_read_record_is_refused_for_a_non_party(data_copy: Path) -> None:
    _add_read(data_copy, "IN")
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    problems = caught.value.problems
    assert any("IN is not listed as a Party to ets185" in p for p in problems), problems


def test_a_whole_list_may_not_be_recorded_read_twice(data_copy: Path) -> None:
    _add_read(data_copy, "SM")
    _add_read(data_copy, "SM")
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any("read SM ets185: the whole list is recorded as read twice" in p
               for p in caught.value.problems)  # fmt: skip


def test_packaged_data_records_cote_divoire_as_read_with_none_relevant(
    engine: LegalEngine,
) -> None:
    # reservations.yaml: read CI (Dutch treaty database: "Reservations / Declarations: No" on
    # accession, 29 July 2024); CI therefore has no entry the engine applies.
    read = [r for r in engine.data.reservations_read if r.country == "CI"]
    assert len(read) == 1 and read[0].verified and read[0].source == "nl_treatydb_185_changes"
    assert not [r for r in engine.data.reservations if r.country == "CI"]
    answer = engine.channels("CL", "CI", "content", True, date(2025, 1, 1))
    interpol = answer.channel("interpol")
    assert interpol is not None and "Art. 27(9)" in interpol.legal_basis
    assert [k.status for k in answer.reservations_known if k.country == "CI"] == ["none"]


def test_armenian_24_7_contact_is_shown_unverified_from_march_2023(engine: LegalEngine) -> None:
    # reservations.yaml: AM 35 from 2023-03-07, read in the Investigative Committee's news
    # (verified: false); no other Armenian entry.
    before = engine.channels("EE", "AM", "subscriber", False, date(2023, 3, 6))
    assert not before.authorities
    after = engine.channels("EE", "AM", "subscriber", False, date(2023, 3, 7))
    (contact,) = after.authorities
    assert contact.article == "35" and "Investigative Committee" in contact.authority
    assert not contact.verified and not after.verified
    assert any("AM declaration ETS 185 Art. 35" in u for u in after.unverified)
