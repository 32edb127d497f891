"""The sixth reading pass. 24/7 points of contact (reservations.yaml: CV, KI, Art. 35), read
second-hand where no notification to the CoE was found: Cabo Verde's in a news report quoting
its Ministério Público (Notícias do Norte / Inforpress, 2 April 2021), Kiribati's in a summary
of its own Cybercrime Act 2021 (dig.watch). Both are ``verified: false``. Each case names the
entry that decides it and the source the answer must cite. Costa Rica's partial ``read``
record comes from the CoE Octopus country wiki's summary line ("Declarations concerning
articles: 10, 24"), the fifth pass's kind of index (unverified)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from law_data_kit import edit
from trailguard.law import (
    LegalDataInvalid,
    LegalEngine,
    load_dataset,
    realtime_collection,
)
from trailguard.law.sources import stale_report

NEWS_CV = "noticiasdonorte.publ.cv/114357"
DIGWATCH_KI = "dig.watch/?p=220693"
OCTOPUS_CR = "octopus/-/costa-rica"
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Contact:
    name: str
    decided_by: str
    requested: str
    starts: date  # the first day the contact is shown (valid_from); none the day before
    as_of: date  # a day it is shown
    authority: str  # a part of the Art. 35 authority's name
    source: str  # a part of the URL the citation must carry


# fmt: off
CONTACT_CASES = [
    Contact("Cabo Verde: PGR from the report", "reservations.yaml: CV 35 from 2021-04-02",
            "CV", date(2021, 4, 2), date(2021, 4, 2), "Procuradoria-Geral da República",
            NEWS_CV),
    Contact("Cabo Verde: PGR department named", "reservations.yaml: CV 35, Notícias do Norte",
            "CV", date(2021, 4, 2), date(2026, 6, 1), "Departamento Central de Cooperação",
            NEWS_CV),
    Contact("Kiribati: Police Cybercrime Unit once bound",
            "reservations.yaml: KI 35 from 2024-10-01 (parties/ets185.yaml: KI in force)",
            "KI", date(2024, 10, 1), date(2024, 10, 1),
            "Cybercrime Unit of the Kiribati Police Service", DIGWATCH_KI),
]
# fmt: on


@pytest.mark.parametrize("case", CONTACT_CASES, ids=[c.name for c in CONTACT_CASES])
def test_24_7_contacts_of_the_sixth_pass(engine: LegalEngine, case: Contact) -> None:
    # Requesting Estonia, a Party since 2004-07-01.
    before = engine.channels("EE", case.requested, "subscriber", False, case.starts - ONE_DAY)
    assert not before.authorities, case.decided_by
    answer = engine.channels("EE", case.requested, "subscriber", False, case.as_of)
    (contact,) = answer.authorities
    assert contact.article == "35" and case.authority in contact.authority, case.decided_by
    assert contact.citation.startswith(f"{case.requested} declaration ETS 185 Art. 35")
    assert case.source in contact.citation
    # read second-hand: the contact and the answer say so
    assert not contact.verified and not answer.verified
    assert any(f"{case.requested} declaration ETS 185 Art. 35" in u for u in answer.unverified)
    # ETS 185 Art. 35: the preservation channel names the contact and its source
    preservation = answer.channel("preservation_24_7")
    assert preservation is not None
    named = [c for c in preservation.conditions if "24/7 point of contact (Art. 35)" in c]
    assert named and case.authority in named[0] and case.source in named[0]


@pytest.mark.parametrize(
    ("requested", "source"), [("CV", NEWS_CV), ("KI", DIGWATCH_KI)], ids=["CV", "KI"]
)
def test_a_24_7_entry_is_part_of_the_list_not_all_of_it(
    engine: LegalEngine, requested: str, source: str
) -> None:
    day = date(2026, 6, 1)
    # channels ask about any article: the Art. 35 entry makes the list "partial", cited
    (known,) = engine.channels("EE", requested, "subscriber", False, day).reservations_known
    assert known.status == "partial"
    assert "the rest of its list not read" in known.text
    assert any(source in s for s in known.sources), known.sources
    # Art. 29(4) was not read: preservation's dual criminality stays "not read"
    check = engine.check("NL", requested, ["illegal_access"], "preservation", day)
    (pres,) = check.reservations_known
    assert pres.status == "not_read"


def test_stale_report_lists_the_second_hand_contacts(engine: LegalEngine) -> None:
    # Both entries are verified: false, so listed whatever the limit; CV's report is of
    # 2021-04-02 and KI's summary of September 2021 (as_of 2021-09-01).
    report = stale_report(engine.data, date(2026, 12, 7), 36500)
    by_source = {s["id"]: s for s in report["sources"]}
    cv = by_source["noticiasdonorte_cv_247_2021"]["facts"]
    ki = by_source["digwatch_ki_cybercrime_act_2021"]["facts"]
    # the same report also gives Cabo Verde's G7 24/7 membership (parties/g7_24_7.yaml)
    assert sorted((f["fact"], f["as_of"]) for f in cv) == [
        ("CV declaration ETS 185 Art. 35", "2021-04-02"),
        ("g7_24_7 Party CV", "2021-04-02"),
    ]
    assert [(f["fact"], f["as_of"]) for f in ki] == [
        ("KI declaration ETS 185 Art. 35", "2021-09-01")
    ]
    assert all(f["reasons"] == ["unverified"] for f in cv + ki)
    assert by_source["digwatch_ki_cybercrime_act_2021"]["file"] == "sources_reservations.yaml"


def test_kiribati_contact_may_not_start_before_kiribati_is_bound(data_copy: Path) -> None:
    # parties/ets185.yaml: KI in force 2024-10-01; the entry starts that day, not earlier.
    edit(data_copy / "reservations.yaml", '    country: "KI"\n    article: "35"\n    kind: '
         "declaration\n    effect: designated_authority\n    valid_from: 2024-10-01",
         '    country: "KI"\n    article: "35"\n    kind: declaration\n    effect: '
         "designated_authority\n    valid_from: 2024-09-01")  # fmt: skip
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any("KI" in p and "35" in p for p in caught.value.problems), caught.value.problems


# Costa Rica (Octopus: "Declarations concerning articles: 10, 24"): (measure, status, cited)
# fmt: off
COSTA_RICA_CASES = [
    ("preservation", "none", OCTOPUS_CR),   # Art. 29(4) is not among 10 and 24
    ("traffic", "none", OCTOPUS_CR),        # Art. 14(3)
    ("content", "none", OCTOPUS_CR),        # Arts. 14(3) and 21
    ("extradition", "not_read", None),      # Art. 24(7): its Art. 24 statement was not read
]
# fmt: on


@pytest.mark.parametrize(
    ("measure", "status", "source"), COSTA_RICA_CASES, ids=[c[0] for c in COSTA_RICA_CASES]
)
def test_costa_rica_summary_line_decides_the_articles_it_covers(
    engine: LegalEngine, measure: str, status: str, source: str | None
) -> None:
    day = date(2026, 6, 1)
    if measure in ("traffic", "content"):
        answer = realtime_collection(engine, "NL", "CR", measure, day)
    else:
        answer = engine.check("NL", "CR", ["illegal_access"], measure, day)
    (known,) = answer.reservations_known
    assert (known.country, known.status) == ("CR", status)
    if source is None:
        assert "have not been read into the data" in known.text
    else:
        assert any(source in s for s in known.sources), known.sources
        # read in a secondary index: the answer flags it
        assert any("CR ETS 185 reservations read" in u for u in answer.unverified)


def test_costa_rica_record_is_part_of_the_list(engine: LegalEngine) -> None:
    # channels ask about any article: Arts. 10 and 24 were not read, so "partial", cited
    (known,) = engine.channels("US", "CR", "subscriber", False, date(2026, 6, 1)).reservations_known
    assert known.status == "partial"
    assert any(OCTOPUS_CR in s for s in known.sources), known.sources
    assert not [r for r in engine.data.reservations if r.country == "CR"]


def test_without_the_record_costa_rica_preservation_is_not_read(data_copy: Path) -> None:
    # the record, not a default, decides: drop 29(4) from CR's articles
    edit(data_copy / "reservations.yaml", '"22(2)", "27(9)(e)", "29(4)", "41(1)"]\n'
         "    source: octopus_cr_185",
         '"22(2)", "27(9)(e)", "41(1)"]\n    source: octopus_cr_185')  # fmt: skip
    engine = LegalEngine(load_dataset(data_copy))
    pres = engine.check("NL", "CR", ["illegal_access"], "preservation", date(2026, 6, 1))
    assert pres.reservations_known[0].status == "not_read"


def test_cabo_verde_joins_the_g7_network_on_the_reported_day(engine: LegalEngine) -> None:
    # parties/g7_24_7.yaml: CV from 2021-03-26 (Notícias do Norte / Inforpress, 2 April 2021).
    # India is not an ETS 185 Party, so the only 24/7 preservation route to Cabo Verde is the
    # G7 network: absent the day before Cabo Verde joined, offered (and cited) from that day.
    joined = date(2021, 3, 26)
    before = engine.channels("IN", "CV", "subscriber", False, joined - ONE_DAY)
    assert before.channel("preservation_24_7") is None
    after = engine.channels("IN", "CV", "subscriber", False, joined)
    preservation = after.channel("preservation_24_7")
    assert preservation is not None
    assert "G7 24/7" in preservation.name and "CV" in preservation.citations[0]
    assert not preservation.verified and "G7 24/7 network member CV" in after.unverified
