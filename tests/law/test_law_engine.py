"""Table-driven tests of the legal engine over the packaged data.

Each case names what decides it: an article of ETS 185, CETS 224 or Regulation (EU)
2023/1543, or a data entry (file: entry) in src/trailguard/law/data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from trailguard.core.errors import ValidationFailed
from trailguard.law import CHANNEL_IDS, LegalEngine

# --- dual criminality --------------------------------------------------------------------


@dataclass(frozen=True)
class DC:
    name: str
    decided_by: str
    requesting: str
    requested: str
    conduct: tuple[str, ...]
    measure: str
    as_of: date
    required: bool
    satisfied: bool | None
    reason_has: str = ""
    provision_ids: tuple[str, ...] = ()


# fmt: off
DC_CASES = [
    DC("preservation between two Parties", "ETS 185 Art. 29(3); parties/ets185.yaml US, NL",
       "US", "NL", ("illegal_access",), "preservation", date(2025, 1, 1), False, True,
       "Art. 29(3)", ("us_18usc1030_a2", "nl_sr_138ab")),
    DC("scenario: bank login, 2026", "ETS 185 Art. 29(3)",
       "US", "NL", ("illegal_access", "data_interference"), "preservation", date(2026, 11, 20),
       False, True, "Art. 29(3)"),
    DC("Art. 29(4) reservation, offence outside Arts. 2-11", "reservations.yaml: AT 29(4)",
       "US", "AT", ("us_18usc875",), "preservation", date(2020, 1, 1), True, None,
       "Art. 29(4)"),
    DC("Art. 29(4) reservation does not reach Arts. 2-11", "reservations.yaml: AT 29(4)",
       "US", "AT", ("illegal_access",), "preservation", date(2020, 1, 1), False, None,
       "does not reach"),
    DC("before the requested Party's entry into force", "parties/ets185.yaml: AT 2012-10-01",
       "US", "AT", ("illegal_access",), "preservation", date(2012, 9, 30), True, None,
       "not both Parties"),
    DC("reservation in force (CZ 2013-2019)", "reservations.yaml: CZ 29(4) 2013-12-01..2019-07-05",
       "US", "CZ", ("us_18usc875",), "preservation", date(2015, 1, 1), True, None, "Art. 29(4)"),
    DC("reservation withdrawn (CZ after 2019-07-05)", "reservations.yaml: CZ valid_until",
       "US", "CZ", ("us_18usc875",), "preservation", date(2020, 1, 1), False, None,
       "Art. 29(3)"),
    DC("UK Art. 29 reservation, threats", "reservations.yaml: GB 29(4); ETS 185 Art. 42",
       "NL", "GB", ("nl_sr_285",), "preservation", date(2020, 1, 1), True, None, "Art. 29(4)"),
    DC("non-Party requested (India)", "parties/ets185.yaml: IN absent",
       "US", "IN", ("illegal_access",), "preservation", date(2025, 1, 1), True, True,
       "not both Parties", ("in_ita_s66",)),
    DC("non-Party requested (Russia)", "parties/ets185.yaml: RU absent; offences.yaml ru_uk_272",
       "US", "RU", ("illegal_access",), "stored_content", date(2025, 1, 1), True, True, "",
       ("ru_uk_272",)),
    DC("Brazil before its entry into force", "parties/ets185.yaml: BR 2023-03-01",
       "US", "BR", ("illegal_access",), "preservation", date(2022, 12, 1), True, True,
       "not both Parties"),
    DC("Brazil after its entry into force", "parties/ets185.yaml: BR 2023-03-01",
       "US", "BR", ("illegal_access",), "preservation", date(2023, 3, 1), False, True,
       "Art. 29(3)", ("br_cp_154a",)),
    DC("Brazil before art. 154-A: not criminal", "offences.yaml: gap BR illegal_access",
       "US", "BR", ("illegal_access",), "stored_content", date(2012, 6, 1), True, False),
    DC("Brazil after art. 154-A", "offences.yaml: br_cp_154a in force 2013-04-02",
       "US", "BR", ("illegal_access",), "stored_content", date(2014, 1, 1), True, True, "",
       ("br_cp_154a",)),
    DC("Viet Nam: no computer forgery offence", "offences.yaml: gap VN computer_forgery",
       "US", "VN", ("computer_forgery",), "search_seizure", date(2025, 1, 1), True, False,
       "unverified"),
    DC("Viet Nam: intrusion is criminal", "offences.yaml: vn_pc_289",
       "US", "VN", ("illegal_access",), "search_seizure", date(2025, 1, 1), True, True, "",
       ("vn_pc_289",)),
    DC("Viet Nam before the 2015 Penal Code applied", "offences.yaml: vn_pc_289 from 2018-01-01",
       "US", "VN", ("illegal_access",), "search_seizure", date(2017, 6, 1), True, None),
    DC("South Africa under the Cybercrimes Act", "offences.yaml: za_cca_s2 from 2021-12-01",
       "US", "ZA", ("illegal_access",), "stored_content", date(2022, 6, 1), True, True, "",
       ("za_cca_s2",)),
    DC("South Africa before the Cybercrimes Act", "offences.yaml: za_ect_s86 until 2021-12-01",
       "US", "ZA", ("illegal_access",), "stored_content", date(2020, 6, 1), True, True, "",
       ("za_ect_s86",)),
    DC("expedited traffic disclosure between Parties", "ETS 185 Art. 30(2)",
       "US", "DE", ("illegal_access",), "traffic_disclosure", date(2025, 1, 1), False, True,
       "Art. 30(2)", ("de_stgb_202a",)),
    DC("traffic disclosure with a non-Party", "parties/ets185.yaml: IN absent",
       "US", "IN", ("illegal_access",), "traffic_disclosure", date(2025, 1, 1), True, True),
    DC("extradition", "ETS 185 Art. 24(1)(a); offences.yaml max_penalty us_18usc1343 (20 y), "
       "fr_cp_313_1 (5 y)",
       "US", "FR", ("computer_fraud",), "extradition", date(2025, 1, 1), True, True,
       "Art. 24(1)(a)", ("fr_cp_313_1",)),
    DC("real-time collection may need dual criminality", "ETS 185 Arts. 25(4)-(5)",
       "US", "NL", ("illegal_interception",), "realtime_collection", date(2025, 1, 1), True,
       True, "Arts. 25(4)-(5)", ("nl_sr_139c",)),
    DC("national offence id, conduct-based match", "ETS 185 Art. 25(5); other_conduct tag",
       "NL", "US", ("nl_sr_285",), "subscriber_info", date(2025, 1, 1), True, True, "",
       ("us_18usc875", "nl_sr_285")),
    DC("loop-back to the requesting country", "Explanatory Report para. 290",
       "US", "US", ("illegal_access",), "preservation", date(2026, 11, 20), False, None,
       "domestic process"),
    DC("Japan before its entry into force", "parties/ets185.yaml: JP 2012-11-01",
       "US", "JP", ("illegal_access",), "preservation", date(2012, 10, 31), True, True,
       "not both Parties"),
    DC("Japan after its entry into force", "parties/ets185.yaml: JP 2012-11-01",
       "US", "JP", ("illegal_access",), "preservation", date(2012, 11, 1), False, True),
    DC("Nigeria on its entry into force", "parties/ets185.yaml: NG 2022-11-01",
       "GB", "NG", ("computer_fraud",), "preservation", date(2022, 11, 1), False, True, "",
       ("ng_cca_s14", "gb_fraud_act_s2")),
    DC("NL child abuse material before 2024-07-01", "offences.yaml: nl_sr_240b",
       "US", "NL", ("child_sexual_abuse_material",), "stored_content", date(2024, 6, 1), True,
       True, "", ("nl_sr_240b",)),
    DC("NL child abuse material after 2024-07-01", "offences.yaml: nl_sr_252",
       "US", "NL", ("child_sexual_abuse_material",), "stored_content", date(2025, 1, 1), True,
       True, "", ("nl_sr_252",)),
    DC("attempt and illegal access together", "ETS 185 Art. 11",
       "DE", "FR", ("illegal_access", "attempt_aiding_abetting"), "search_seizure",
       date(2025, 1, 1), True, True, "", ("de_stgb_202a", "fr_cp_323_1")),
]
# fmt: on


@pytest.mark.parametrize("case", DC_CASES, ids=[c.name for c in DC_CASES])
def test_dual_criminality(engine: LegalEngine, case: DC) -> None:
    answer = engine.check(
        case.requesting, case.requested, list(case.conduct), case.measure, case.as_of
    )
    dual = answer.dual_criminality
    assert dual.required is case.required, (case.decided_by, dual.reason)
    assert dual.satisfied is case.satisfied, (case.decided_by, answer.reasoning)
    assert case.reason_has in dual.reason
    found = {p.id for items in answer.provisions.values() for p in items}
    assert set(case.provision_ids) <= found, (case.decided_by, found)
    assert answer.as_of == case.as_of
    assert answer.citations, "every answer cites something"
    assert answer.reasoning, "every answer explains itself"


def test_provisions_are_only_those_in_force(engine: LegalEngine) -> None:
    before = engine.check(
        "US", "NL", ["child_sexual_abuse_material"], "stored_content", date(2024, 6, 30)
    )
    after = engine.check(
        "US", "NL", ["child_sexual_abuse_material"], "stored_content", date(2024, 7, 1)
    )
    assert [p.id for p in before.provisions["NL"]] == ["nl_sr_240b"]
    assert [p.id for p in after.provisions["NL"]] == ["nl_sr_252"]


def test_unverified_facts_are_named_in_the_answer(engine: LegalEngine) -> None:
    answer = engine.check("US", "NO", ["illegal_access"], "preservation", date(2025, 1, 1))
    # NO's entry into force was not read in a source (parties/ets185.yaml: NO verified false).
    assert not answer.verified
    assert "ETS 185 Party NO" in answer.unverified
    assert "unverified" in answer.dual_criminality.reason
    verified = engine.check("US", "JP", ["illegal_access"], "preservation", date(2025, 1, 1))
    assert "ETS 185 Party JP" not in verified.unverified


def test_article_citations_carry_their_text(engine: LegalEngine) -> None:
    answer = engine.check("US", "DE", ["illegal_access"], "preservation", date(2025, 1, 1))
    assert any(
        c.startswith("Text of ETS 185 Art. 29(3):") and "statengeneraal" in c
        for c in answer.citations
    )
    answer_ch = engine.channels("NL", "DE", "content", True, date(2026, 9, 1))
    epoc = answer_ch.channel("eu_epoc")
    # Arts. 5(3)-(4)(b) were read (sources_penalties.yaml: eu_2023_1543_art5), Art. 10 too
    # (eu_2023_1543_art10): the channel's article texts are all read.
    assert epoc is not None and epoc.verified
    assert "Regulation (EU) 2023/1543 Art. 5(4)" in epoc.citations
    assert any(
        c.startswith("Text of Regulation (EU) 2023/1543 Art. 5(4):") and "gesetze.legal" in c
        for c in answer_ch.citations
    )


def test_answer_cites_sources_with_urls(engine: LegalEngine) -> None:
    answer = engine.check("US", "DE", ["illegal_access"], "preservation", date(2025, 1, 1))
    assert "ETS 185 Art. 29(3)" in answer.citations
    assert any(
        "https://www.gesetze-im-internet.de" in c or "knigalit" in c for c in answer.citations
    )
    assert any(c.startswith("ETS 185 Party US:") and "usembassy" in c for c in answer.citations)


# --- channels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CH:
    name: str
    decided_by: str
    requesting: str
    requested: str
    data: str
    emergency: bool
    as_of: date
    first: str | None = None
    present: tuple[str, ...] = ()
    absent: dict[str, str] | None = None  # channel id -> text in the reason
    provider: str | None = None


# fmt: off
CH_CASES = [
    CH("preservation between two Parties is fastest", "ETS 185 Arts. 29, 35",
       "US", "NL", "subscriber", False, date(2025, 1, 1), "preservation_24_7",
       ("mlat_bilateral", "letters_rogatory"),
       {"convention_mla_art27": "Art. 27(1)", "eu_epoc": "2026-08-18"}),
    CH("scenario third country: US to BR", "parties/ets185.yaml BR; mla_treaties.yaml us_br_mlat",
       "US", "BR", "subscriber", False, date(2026, 11, 27), "preservation_24_7",
       ("mlat_bilateral",), {"voluntary_provider": "no rule"}),
    CH("Second Protocol not in force", "instruments.yaml: cets224 in_force null (3 of 5)",
       "US", "NL", "subscriber", False, date(2026, 11, 27), None, (),
       {"p2_art7_subscriber_direct": "not in force", "p2_art8_production": "not in force",
        "p2_art6_domain": "does not cover"}),
    CH("non-Party without the 24/7 network", "parties/ets185.yaml and g7_24_7.yaml: VN absent",
       "US", "VN", "subscriber", False, date(2026, 1, 1), "police_to_police",
       ("letters_rogatory",), {"preservation_24_7": "not both Parties",
                               "mlat_bilateral": "no mutual legal assistance treaty"}),
    CH("EU orders before 18 August 2026", "Regulation (EU) 2023/1543 Art. 34",
       "NL", "DE", "subscriber", False, date(2026, 8, 17), "preservation_24_7",
       ("mlat_bilateral",), {"eu_epoc": "2026-08-18", "eu_epoc_pr": "no EPOC"}),
    CH("EU orders from 18 August 2026", "Regulation (EU) 2023/1543 Arts. 5, 6, 10, 11",
       "NL", "DE", "subscriber", False, date(2026, 8, 18), None,
       ("eu_epoc", "eu_epoc_pr", "preservation_24_7")),
    CH("Denmark is not bound by the e-evidence Regulation", "parties/eu_2023_1543.yaml: DK absent",
       "NL", "DK", "traffic", False, date(2026, 9, 1), "preservation_24_7", (),
       {"eu_epoc": "Denmark does not take part"}),
    CH("Ireland is bound by the e-evidence Regulation", "parties/eu_2023_1543.yaml: IE",
       "NL", "IE", "subscriber", False, date(2026, 9, 1), None, ("eu_epoc", "eu_epoc_pr")),
    CH("emergency EPOC: 8 hours", "Regulation (EU) 2023/1543 Art. 10(4)",
       "FR", "DE", "content", True, date(2026, 10, 1), None, ("eu_epoc",),
       {"p2_art9_emergency_disclosure": "not in force", "police_to_police": "content"}),
    CH("emergency between Parties without a treaty: INTERPOL", "ETS 185 Art. 27(9)",
       "CL", "AR", "content", True, date(2025, 1, 1), None, ("interpol", "convention_mla_art27")),
    CH("Convention as MLA basis where no treaty exists", "ETS 185 Art. 27",
       "CL", "AR", "subscriber", False, date(2025, 1, 1), "preservation_24_7",
       ("convention_mla_art27",), {"mlat_bilateral": "no mutual legal assistance treaty"}),
    CH("Art. 30 disclosure of traffic data", "ETS 185 Art. 30",
       "US", "GB", "traffic", False, date(2025, 1, 1), "preservation_24_7",
       ("art30_disclosure",)),
    CH("Art. 30 is for traffic data only", "ETS 185 Art. 30(1)",
       "US", "GB", "subscriber", False, date(2025, 1, 1), None, (),
       {"art30_disclosure": "traffic data only"}),
    CH("emergency-only channels need an emergency", "CETS 224 Art. 3",
       "US", "NL", "content", False, date(2025, 1, 1), None, (),
       {"p2_art9_emergency_disclosure": "emergencies only",
        "p2_art10_emergency_mla": "emergencies only"}),
    CH("voluntary disclosure by a US provider", "voluntary_disclosure.yaml: US",
       "BR", "US", "subscriber", False, date(2025, 1, 1), None, ("voluntary_provider",)),
    CH("US provider content only in an emergency", "voluntary_disclosure.yaml: US emergency_data",
       "BR", "US", "content", False, date(2025, 1, 1), None, (),
       {"voluntary_provider": "outside an emergency"}),
    CH("US provider content in an emergency", "voluntary_disclosure.yaml: US emergency_data",
       "BR", "US", "content", True, date(2025, 1, 1), None, ("voluntary_provider",)),
    CH("provider in the requesting country", "domestic process",
       "US", "NL", "subscriber", False, date(2025, 1, 1), "domestic_process", (), None, "US"),
    CH("EIO between Member States", "mla_treaties.yaml: eio_directive",
       "NL", "FR", "content", False, date(2025, 1, 1), None, ("mlat_bilateral",),
       {"convention_mla_art27": "treaty"}),
    CH("non-Party with the G7 network (unverified)", "parties/g7_24_7.yaml: US, IN",
       "US", "IN", "traffic", False, date(2025, 1, 1), "preservation_24_7", ("mlat_bilateral",),
       {"art30_disclosure": "Parties"}),
]
# fmt: on


@pytest.mark.parametrize("case", CH_CASES, ids=[c.name for c in CH_CASES])
def test_channels(engine: LegalEngine, case: CH) -> None:
    answer = engine.channels(
        case.requesting,
        case.requested,
        case.data,
        case.emergency,
        case.as_of,
        provider_country=case.provider,
    )
    ids = [c.id for c in answer.channels]
    if case.first is not None:
        assert ids[0] == case.first, (case.decided_by, ids)
    for channel_id in case.present:
        assert channel_id in ids, (case.decided_by, ids)
    for channel_id, text in (case.absent or {}).items():
        ruled = answer.ruled_out(channel_id)
        assert ruled is not None, (case.decided_by, ids)
        assert text in ruled.reason, (case.decided_by, ruled.reason)
    # Every channel is either offered or ruled out, never both, never missing.
    offered = set(ids)
    ruled_ids = {r.id for r in answer.not_available}
    assert offered.isdisjoint(ruled_ids)
    assert offered | ruled_ids == set(CHANNEL_IDS)
    # Default purpose "both": fastest first; in an emergency the data is wanted now, so the
    # channels that disclose come first (each group fastest first).
    later = [case.emergency and not c.discloses for c in answer.channels]
    assert later == sorted(later), "disclosing channels first in an emergency"
    for group in (False, True):
        ranks = [c.speed_rank for c, g in zip(answer.channels, later, strict=True) if g is group]
        assert ranks == sorted(ranks), "fastest first"


def test_loop_back_yields_domestic_process_only(engine: LegalEngine) -> None:
    answer = engine.channels("US", "US", "traffic", False, date(2026, 11, 20))
    assert [c.id for c in answer.channels] == ["domestic_process"]
    assert len(answer.not_available) == len(CHANNEL_IDS) - 1
    assert any("para. 290" in line or "loops back" in line for line in answer.reasoning)


def test_emergency_epoc_deadline_is_eight_hours(engine: LegalEngine) -> None:
    urgent = engine.channels("FR", "DE", "content", True, date(2026, 10, 1)).channel("eu_epoc")
    normal = engine.channels("FR", "DE", "content", False, date(2026, 10, 1)).channel("eu_epoc")
    assert urgent is not None and "8 hours" in urgent.deadline
    assert normal is not None and "10 days" in normal.deadline
    assert urgent.speed_rank < normal.speed_rank


def test_g7_preservation_is_marked_unverified(engine: LegalEngine) -> None:
    answer = engine.channels("US", "IN", "subscriber", False, date(2025, 1, 1))
    channel = answer.channel("preservation_24_7")
    assert channel is not None and not channel.verified
    assert "G7" in channel.legal_basis
    assert not answer.verified


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2022, 1, 1), "0 of 5 consents to be bound; US has not signed"),
        (date(2023, 9, 1), "2 of 5 consents to be bound; US signed on 2022-05-12"),
        (date(2026, 11, 27), "3 of 5 consents to be bound; US signed on 2022-05-12"),
    ],
)
def test_second_protocol_status_is_dated(engine: LegalEngine, as_of: date, expected: str) -> None:
    # parties/cets224.yaml: RS 2023-02-09, JP 2023-08-10, HU 2026-02-05; US signed 2022-05-12
    ruled = engine.channels("US", "JP", "subscriber", False, as_of).ruled_out(
        "p2_art7_subscriber_direct"
    )
    assert ruled is not None and expected in ruled.reason


def test_un_convention_noted_as_not_in_force(engine: LegalEngine) -> None:
    answer = engine.channels("US", "NL", "subscriber", False, date(2026, 11, 27))
    assert any("UN Convention against Cybercrime is not in force" in n for n in answer.notes)
    assert any("40" in n for n in answer.notes)


# --- legal bases -------------------------------------------------------------------------


@dataclass(frozen=True)
class LB:
    name: str
    decided_by: str
    kind: str
    requesting: str
    requested: str
    as_of: date
    instrument: str | None
    articles: tuple[str, ...] = ()
    emergency: bool = False


# fmt: off
LB_CASES = [
    LB("preservation between Parties", "ETS 185 Arts. 29, 35", "preservation", "US", "NL",
       date(2026, 11, 20), "ETS 185", ("29", "35")),
    LB("preservation with a non-Party outside the network", "no basis", "preservation", "US",
       "VN", date(2026, 1, 1), None),
    LB("expedited disclosure", "ETS 185 Art. 30", "expedited_disclosure", "NL", "US",
       date(2026, 1, 1), "ETS 185", ("30",)),
    LB("expedited disclosure with a non-Party", "no basis", "expedited_disclosure", "US", "IN",
       date(2026, 1, 1), None),
    LB("emergency disclosure without the Second Protocol", "ETS 185 Arts. 25(3), 35",
       "emergency_disclosure", "US", "NL", date(2026, 1, 1), "ETS 185", ("25(3)", "35")),
    LB("subscriber information by MLA", "ETS 185 Art. 31", "subscriber_info", "US", "BR",
       date(2026, 1, 1), "ETS 185", ("31", "18(3)")),
    LB("EPOC after application", "Regulation (EU) 2023/1543 Arts. 5, 10", "epoc", "NL", "DE",
       date(2026, 9, 1), "Regulation (EU) 2023/1543", ("5", "10")),
    LB("EPOC before application", "Regulation (EU) 2023/1543 Art. 34", "epoc", "NL", "DE",
       date(2026, 8, 1), None),
    LB("EPOC-PR to Denmark", "parties/eu_2023_1543.yaml: DK absent", "epoc_pr", "NL", "DK",
       date(2026, 9, 1), None),
    LB("EPOC-PR", "Regulation (EU) 2023/1543 Arts. 6, 11", "epoc_pr", "NL", "IE",
       date(2026, 9, 1), "Regulation (EU) 2023/1543", ("6", "11")),
    LB("MLA under a bilateral treaty", "mla_treaties.yaml: us_br_mlat", "mla", "US", "BR",
       date(2026, 1, 1),
       "US-Brazil Treaty on Mutual Legal Assistance in Criminal Matters (TIAS 12889)"),
    LB("MLA under the Convention", "ETS 185 Art. 27", "mla", "CL", "AR", date(2026, 1, 1),
       "ETS 185", ("27", "31")),
    LB("MLA with no basis", "no treaty, not Parties", "mla", "US", "VN", date(2026, 1, 1), None),
    LB("Art. 32 record between Parties", "ETS 185 Art. 32", "art32_record", "US", "NL",
       date(2026, 1, 1), "ETS 185", ("32(a)", "32(b)")),
    LB("Art. 32 record, data in a non-Party", "ETS 185 Art. 32(a)", "art32_record", "US", "VN",
       date(2026, 1, 1), "ETS 185", ("32(a)",)),
    LB("Art. 32 needs the requesting Party", "ETS 185 Art. 32", "art32_record", "VN", "US",
       date(2026, 1, 1), None),
    LB("loop-back has no international basis", "Explanatory Report para. 290", "mla", "US",
       "US", date(2026, 1, 1), None),
]
# fmt: on


@pytest.mark.parametrize("case", LB_CASES, ids=[c.name for c in LB_CASES])
def test_legal_basis(engine: LegalEngine, case: LB) -> None:
    basis = engine.legal_basis(
        case.kind, case.requesting, case.requested, case.as_of, emergency=case.emergency
    )
    if case.instrument is None:
        assert basis is None, case.decided_by
        return
    assert basis is not None, case.decided_by
    assert basis.instrument == case.instrument
    assert tuple(basis.articles) == case.articles
    assert basis.citations and basis.summary


def test_legal_basis_verified_flag(engine: LegalEngine) -> None:
    verified = engine.legal_basis("mla", "US", "BR", date(2026, 1, 1))
    unverified = engine.legal_basis("mla", "US", "DE", date(2026, 1, 1))
    assert verified is not None and verified.verified  # TIAS 12889 read in the source
    assert unverified is not None and not unverified.verified  # US-DE date not read


# --- Parties -----------------------------------------------------------------------------


def test_is_party_follows_entry_into_force(engine: LegalEngine) -> None:
    # parties/ets185.yaml: US in force 2007-01-01 (us_embassy_2006)
    assert not engine.is_party("US", "ets185", date(2006, 12, 31))
    assert engine.is_party("us", "ets185", date(2007, 1, 1))


def test_first_parties_of_the_convention(engine: LegalEngine) -> None:
    # ETS 185 in force 2004-07-01 (coe_chart_185_2015); chart of 2004 and Trb. 2007, 10.
    assert engine.parties("ets185", date(2004, 6, 30)) == []
    assert engine.parties("ets185", date(2004, 7, 1)) == ["AL", "EE", "HR", "HU", "LT"]


def test_signatories_and_non_parties_are_not_parties(engine: LegalEngine) -> None:
    today = date(2026, 11, 27)
    parties = engine.parties("ets185", today)
    assert "IE" not in parties and "ZA" not in parties and "RU" not in parties
    assert {"US", "NL", "DE", "FR", "GB", "BR", "JP", "NG"} <= set(parties)
    assert len(parties) >= 75


def test_instruments_not_in_force_have_no_parties(engine: LegalEngine) -> None:
    today = date(2026, 11, 27)
    assert engine.parties("cets224", today) == []  # 3 of 5 consents (cets224_status_nl)
    assert engine.parties("un_cybercrime", today) == []  # needs 40 ratifications


def test_eu_regulation_binds_from_application(engine: LegalEngine) -> None:
    assert engine.parties("eu_2023_1543", date(2026, 8, 17)) == []
    bound = engine.parties("eu_2023_1543", date(2026, 8, 18))
    assert len(bound) == 26 and "DK" not in bound and "IE" in bound


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (
            lambda e: e.check("XX", "NL", ["illegal_access"], "preservation", date(2025, 1, 1)),
            "'XX'",
        ),
        (
            lambda e: e.check("US", "EU", ["illegal_access"], "preservation", date(2025, 1, 1)),
            "'EU' is not a country",
        ),
        (lambda e: e.check("US", "NL", ["hacking"], "preservation", date(2025, 1, 1)), "'hacking'"),
        (
            lambda e: e.check("US", "NL", [], "preservation", date(2025, 1, 1)),
            "at least one conduct",
        ),
        (
            lambda e: e.check("US", "NL", ["illegal_access"], "wiretap", date(2025, 1, 1)),
            "'wiretap'",
        ),
        (
            lambda e: e.check("US", "NL", ["illegal_access"], "preservation", date(2001, 11, 22)),
            "2001-11-22",
        ),
        (
            lambda e: e.check("US", "NL", ["de_stgb_202a"], "preservation", date(2025, 1, 1)),
            "neither the requesting nor the requested",
        ),
        (lambda e: e.channels("US", "NL", "emails", False, date(2025, 1, 1)), "'emails'"),
        (
            lambda e: e.channels(
                "US", "US", "traffic", False, date(2025, 1, 1), provider_country="BR"
            ),
            "contradictory",
        ),
        (
            lambda e: e.channels(
                "US", "NL", "traffic", False, date(2025, 1, 1), provider_country="ZZ"
            ),
            "'ZZ'",
        ),
        (lambda e: e.legal_basis("fax", "US", "NL", date(2025, 1, 1)), "'fax'"),
        (lambda e: e.parties("ets999", date(2025, 1, 1)), "'ets999'"),
    ],
    ids=[
        "country",
        "eu",
        "conduct",
        "no-conduct",
        "measure",
        "too-early",
        "third-country-offence",
        "data",
        "loop-back-with-foreign-provider",
        "provider-country",
        "request-kind",
        "instrument",
    ],
)
def test_bad_input_names_the_bad_value(
    engine: LegalEngine, call: Callable[[LegalEngine], object], names: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        call(engine)
    assert names in str(caught.value)
    assert caught.value.problems, "the accepted values are listed"


def test_dates_beyond_the_horizon_are_answered_with_a_caution(engine: LegalEngine) -> None:
    beyond = engine.horizon + timedelta(days=1)
    late = engine.channels("US", "NL", "traffic", False, beyond)
    on_time = engine.channels("US", "NL", "traffic", False, engine.horizon)
    assert [c.id for c in late.channels] == [c.id for c in on_time.channels]
    assert any(str(beyond) in line and "Caution" in line for line in late.reasoning)
    assert any("past its horizon" in item for item in late.unverified)
    assert not any("past its horizon" in item for item in on_time.unverified)
    assert late.verified is False


def test_accepted_values_are_listed(engine: LegalEngine) -> None:
    with pytest.raises(ValidationFailed) as caught:
        engine.check("US", "NL", ["hacking"], "preservation", date(2025, 1, 1))
    assert "illegal_access" in str(caught.value)
    assert "us_18usc1030_a2" in caught.value.problems[0]
    with pytest.raises(ValidationFailed) as eu:
        engine.country("EU")
    assert "DE" in eu.value.problems[0] and "NL" in eu.value.problems[0]
