"""Party lists as of a date, their completeness, and ETS 30 as the multilateral MLA basis.

Each case names the data entry or article that decides it (src/trailguard/law/data).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.law import LegalDataInvalid, LegalEngine, load_dataset
from trailguard.law.cli import app
from trailguard.law.sources import sources_report

# --- Parties on a date ----------------------------------------------------------------------

# (country, last day not bound, first day bound, deciding entry)
JOINED = [
    ("SM", date(2019, 6, 30), date(2019, 7, 1), "ets185.yaml SM: lu_memorial_sm_185"),
    ("TN", date(2024, 6, 30), date(2024, 7, 1), "ets185.yaml TN: tn_accession_2024"),
    ("NZ", date(2025, 11, 30), date(2025, 12, 1), "ets185.yaml NZ: nl_treatydb_185_changes_2026"),
    ("SL", date(2024, 7, 31), date(2024, 8, 1), "ets185.yaml SL: coe_dsg_ceremony_2024"),
    ("GD", date(2024, 7, 31), date(2024, 8, 1), "ets185.yaml GD (was 2024-06-01)"),
    ("CM", date(2024, 3, 31), date(2024, 4, 1), "ets185.yaml CM (was 2023-06-01)"),
    ("LU", date(2015, 4, 30), date(2015, 5, 1), "ets185.yaml LU (was 2015-02-01)"),
    ("RW", date(2025, 4, 30), date(2025, 5, 1), "ets185.yaml RW: rw_accession_2025"),
    ("VU", date(2025, 9, 30), date(2025, 10, 1), "ets185.yaml VU: vu_accession_2025"),
    ("ST", date(2025, 9, 30), date(2025, 10, 1), "ets185.yaml ST: vu_accession_2025"),
    ("PL", date(2015, 5, 31), date(2015, 6, 1), "ets185.yaml PL: pl_dzu_2015_729"),
    ("PT", date(2010, 6, 30), date(2010, 7, 1), "ets185.yaml PT: pt_gddc_185"),
    ("SK", date(2008, 4, 30), date(2008, 5, 1), "ets185.yaml SK: sk_zz_137_2008"),
    ("SE", date(2021, 7, 31), date(2021, 8, 1), "ets185.yaml SE: se_coe_2021"),
    ("CH", date(2011, 12, 31), date(2012, 1, 1), "ets185.yaml CH: ch_sr_0_311_43"),
    ("UA", date(2006, 6, 30), date(2006, 7, 1), "ets185.yaml UA: ua_994_575"),
    ("PA", date(2014, 6, 30), date(2014, 7, 1), "ets185.yaml PA: pa_octopus_2015"),
    ("LK", date(2015, 8, 31), date(2015, 9, 1), "ets185.yaml LK: lk_accession_2015"),
    ("SN", date(2017, 3, 31), date(2017, 4, 1), "ets185.yaml SN: sn_octopus"),
    ("TO", date(2017, 8, 31), date(2017, 9, 1), "ets185.yaml TO: to_coe_2017"),
    ("TR", date(2014, 12, 31), date(2015, 1, 1), "ets185.yaml TR: coe_notif_185_tr"),
    ("MC", date(2017, 6, 30), date(2017, 7, 1), "ets185.yaml MC: coe_decl_185_mc"),
    ("NL", date(2007, 2, 28), date(2007, 3, 1), "ets185.yaml NL: fi_finlex_185"),
    ("PE", date(2019, 11, 30), date(2019, 12, 1), "ets185.yaml PE: pe_radionacional_2019"),
]


@pytest.mark.parametrize(
    ("country", "before", "after", "decided_by"), JOINED, ids=[c[0] for c in JOINED]
)
def test_party_only_from_its_entry_into_force(
    engine: LegalEngine, country: str, before: date, after: date, decided_by: str
) -> None:
    assert not engine.is_party(country, "ets185", before), decided_by
    assert engine.is_party(country, "ets185", after), decided_by
    assert country not in engine.parties("ets185", before)
    assert country in engine.parties("ets185", after)


def test_a_2025_party_is_not_a_party_as_of_2024(engine: LegalEngine) -> None:
    # New Zealand acceded on 28 Aug 2025 (in force 1 Dec 2025): on 1 Jan 2024 there is no
    # 24/7 preservation between NZ and the US under ETS 185, and the answer says why.
    early = engine.channels("US", "NZ", "subscriber", False, date(2024, 1, 1))
    ruled = early.ruled_out("preservation_24_7")
    assert ruled is not None and "not both Parties" in ruled.reason
    late = engine.channels("US", "NZ", "subscriber", False, date(2026, 1, 1))
    assert late.channels[0].id == "preservation_24_7"
    assert any("NZ" in line and "2025-12-01" in line for line in late.reasoning)


def test_party_counts_match_the_published_counts(engine: LegalEngine) -> None:
    # instruments.yaml ets185 party_counts: the CoE's counts up to parties_complete_until must
    # equal the States the data lists as having consented by that day.
    ets = engine.data.instruments["ets185"]
    assert ets.parties_complete_until == date(2024, 10, 9)
    checked = [c for c in ets.party_counts if c.as_of <= ets.parties_complete_until]
    assert [c.count for c in checked] == [69, 75, 76]
    for count in checked:
        assert engine.deposited_count("ets185", count.as_of) == count.count, count
    later = [c for c in ets.party_counts if c.as_of > ets.parties_complete_until]
    assert later and all(engine.deposited_count("ets185", c.as_of) < c.count for c in later)


def test_later_counts_are_one_more_than_the_list_identifies(engine: LegalEngine) -> None:
    # instruments.yaml ets185 party_counts 78 (2025-01-10, Rwanda "the 78th"), 80 (2025-06-05,
    # after Vanuatu and Sao Tome and Principe), 81 (2025-10-28): with RW, VU, ST and NZ listed,
    # exactly one State that deposited between 2024-10-09 and 2025-01-10 is missing, so the
    # list stays "complete" only up to 2024-10-09.
    ets = engine.data.instruments["ets185"]
    later = {c.as_of: c.count for c in ets.party_counts if c.as_of > date(2024, 10, 9)}
    assert later == {date(2025, 1, 10): 78, date(2025, 6, 5): 80, date(2025, 10, 28): 81}
    for day, count in later.items():
        assert engine.deposited_count("ets185", day) == count - 1, day
    assert ets.parties_complete_until == date(2024, 10, 9)
    # The second-hand counts are not treated as read in a CoE source.
    by_day = {c.as_of: c for c in ets.party_counts}
    assert not by_day[date(2025, 1, 10)].verified
    assert not by_day[date(2025, 10, 28)].verified


def test_a_party_that_joined_in_2025_is_not_one_on_2024_12_31(engine: LegalEngine) -> None:
    # ets185.yaml RW: deposited 2025-01-10, in force 2025-05-01 (Art. 37(2)).
    for day in (date(2024, 12, 31), date(2025, 1, 10), date(2025, 4, 30)):
        assert not engine.is_party("RW", "ets185", day), day
        assert "RW" not in engine.parties("ets185", day)
    early = engine.check("US", "RW", ["illegal_access"], "preservation", date(2025, 4, 30))
    assert any("RW" in line and "2025-05-01" in line for line in early.reasoning)
    late = engine.channels("US", "RW", "subscriber", False, date(2025, 5, 1))
    assert late.channels[0].id == "preservation_24_7"
    # Vanuatu: consent on 2025-06-05 counts from that day, binding only from 2025-10-01.
    assert engine.deposited_count("ets185", date(2025, 6, 4)) + 2 == engine.deposited_count(
        "ets185", date(2025, 6, 5)
    )
    assert not engine.is_party("VU", "ets185", date(2025, 9, 30))


def test_consent_month_is_derived_when_the_deposit_day_is_unknown(engine: LegalEngine) -> None:
    # ETS 185 Art. 37(2): in force on the first day of the month after three months from the
    # deposit, so a Party bound from 1 Aug 2024 deposited in April 2024.
    sierra_leone = engine.data.parties["ets185"]["SL"]
    assert sierra_leone.deposited is None
    assert engine.consented_by(sierra_leone, "ets185") == date(2024, 4, 1)
    us = engine.data.parties["ets185"]["US"]
    assert engine.consented_by(us, "ets185") == date(2006, 9, 29)


def test_non_party_after_the_complete_list_is_flagged_unverified(engine: LegalEngine) -> None:
    # After 2024-10-09 the CoE counted more Parties than the data names: absence from the list
    # is not proof, and the answer says so.
    late = engine.channels("US", "KE", "subscriber", False, date(2026, 1, 1))
    assert not late.verified
    assert "ETS 185 Party list after 2024-10-09" in late.unverified
    assert any("complete only up to 2024-10-09" in line for line in late.reasoning)
    assert any("reported 81 Parties" in line for line in late.reasoning)
    early = engine.channels("US", "KE", "subscriber", False, date(2024, 6, 1))
    assert "ETS 185 Party list after 2024-10-09" not in early.unverified
    assert not any("complete only up to" in line for line in early.reasoning)
    # A listed Party is not affected by the gap.
    listed = engine.check("US", "NL", ["illegal_access"], "preservation", date(2026, 1, 1))
    assert "ETS 185 Party list after 2024-10-09" not in listed.unverified


def test_dates_read_in_the_dutch_table_are_verified(engine: LegalEngine) -> None:
    parties = engine.data.parties["ets185"]
    for code in ("GR", "IS", "IT", "CA", "AU", "CO", "LU"):
        assert parties[code].verified, code
        assert parties[code].source == "nl_treatydb_185_parties_2024", code
    # Not read anywhere: stays unverified, and answers built on it say so.
    assert not parties["EC"].verified
    answer = engine.check("US", "EC", ["illegal_access"], "preservation", date(2026, 6, 1))
    assert "ETS 185 Party EC" in answer.unverified


# Entries read in national or CoE sources on 2026-11-28: (country, source, in force).
READ_2026_11_28 = [
    ("PL", "pl_dzu_2015_729", date(2015, 6, 1)),
    ("PT", "pt_gddc_185", date(2010, 7, 1)),
    ("SK", "sk_zz_137_2008", date(2008, 5, 1)),
    ("SE", "se_coe_2021", date(2021, 8, 1)),
    ("CH", "ch_sr_0_311_43", date(2012, 1, 1)),
    ("UA", "ua_994_575", date(2006, 7, 1)),
    ("PA", "pa_octopus_2015", date(2014, 7, 1)),
    ("LK", "lk_accession_2015", date(2015, 9, 1)),
    ("SN", "sn_octopus", date(2017, 4, 1)),
    ("TO", "to_coe_2017", date(2017, 9, 1)),
    ("MC", "coe_decl_185_mc", date(2017, 7, 1)),
    ("ME", "coe_decl_185_me", date(2010, 7, 1)),
    ("MK", "mk_octopus", date(2005, 1, 1)),
    ("RO", "coe_decl_185_list", date(2004, 9, 1)),
    ("TR", "coe_notif_185_tr", date(2015, 1, 1)),
    ("PE", "pe_radionacional_2019", date(2019, 12, 1)),
]


@pytest.mark.parametrize(
    ("country", "source", "in_force"), READ_2026_11_28, ids=[c[0] for c in READ_2026_11_28]
)
def test_dates_read_in_national_sources_are_verified(
    engine: LegalEngine, country: str, source: str, in_force: date
) -> None:
    entry = engine.data.parties["ets185"][country]
    assert entry.verified and entry.source == source and entry.in_force == in_force
    assert source in engine.data.sources
    # An answer resting on the entry no longer flags it as unverified.
    answer = engine.check("US", country, ["illegal_access"], "preservation", date(2024, 1, 1))
    assert f"ETS 185 Party {country}" not in answer.unverified


def test_still_unverified_entries_are_flagged_in_answers(engine: LegalEngine) -> None:
    # ets185.yaml: five in-force dates were not read in any source; answers say so.
    parties = engine.data.parties["ets185"]
    unread = {c for c, p in parties.items() if not p.verified}
    assert unread == {"NO", "RS", "SI", "PY", "EC"}
    assert parties["NL"].source == "fi_finlex_185"
    answer = engine.check("US", "NO", ["illegal_access"], "preservation", date(2024, 1, 1))
    assert "ETS 185 Party NO" in answer.unverified


def test_a_newly_read_date_decides_preservation_on_the_day(engine: LegalEngine) -> None:
    # ets185.yaml PL (pl_dzu_2015_729): in force for Poland 1 June 2015. The day before, the
    # Art. 29 preservation channel between the US and Poland is ruled out; from that day it is
    # offered, and the answer rests on read data for both Parties.
    before = engine.channels("US", "PL", "subscriber", False, date(2015, 5, 31))
    after = engine.channels("US", "PL", "subscriber", False, date(2015, 6, 1))
    assert before.channel("preservation_24_7") is None
    assert before.ruled_out("preservation_24_7") is not None
    assert after.channel("preservation_24_7") is not None
    assert not {"ETS 185 Party US", "ETS 185 Party PL"} & set(after.unverified)


def test_peru_read_date_decides_preservation_with_the_us(engine: LegalEngine) -> None:
    # ets185.yaml PE (pe_radionacional_2019): deposit 26 Aug 2019, so in force for Peru on
    # 1 Dec 2019 (Art. 37(2)). On 30 Nov 2019 the Art. 29 preservation channel between the US
    # and Peru is ruled out; on 1 Dec 2019 it is offered, resting on read data for both.
    before = engine.channels("US", "PE", "subscriber", False, date(2019, 11, 30))
    after = engine.channels("US", "PE", "subscriber", False, date(2019, 12, 1))
    ruled = before.ruled_out("preservation_24_7")
    assert before.channel("preservation_24_7") is None
    assert ruled is not None and "not both Parties" in ruled.reason
    assert after.channel("preservation_24_7") is not None
    assert not {"ETS 185 Party US", "ETS 185 Party PE"} & set(after.unverified)
    # The consent date is the deposit day, not the in-force day.
    assert engine.consented_by(engine.data.parties["ets185"]["PE"], "ets185") == date(2019, 8, 26)


def test_un_convention_ratifications_stay_unverified(engine: LegalEngine) -> None:
    # parties/un_cybercrime.yaml: QA, AZ and VN are reported as ratifying, but no deposit with
    # the UN Secretary-General was read; AZ rests on its domestic approval law
    # (az_trend_un_cybercrime_2026). The Convention is not in force, so nobody is bound.
    parties = engine.data.parties["un_cybercrime"]
    assert set(parties) == {"QA", "AZ", "VN"}
    assert not any(p.verified for p in parties.values())
    assert all(p.deposited is None and p.in_force is None for p in parties.values())
    assert parties["AZ"].source == "az_trend_un_cybercrime_2026"
    assert engine.data.sources["az_trend_un_cybercrime_2026"].as_of == date(2026, 2, 23)
    assert engine.data.instruments["un_cybercrime"].in_force is None
    for country in ("QA", "AZ", "VN"):
        assert not engine.is_party(country, "un_cybercrime", date(2026, 11, 28)), country


# --- ETS 30 as the multilateral MLA basis ------------------------------------------------------


def test_ets30_is_the_mla_basis_where_no_bilateral_treaty_exists(engine: LegalEngine) -> None:
    # NL and CH: no bilateral treaty or EU instrument in the data; both are ETS 30 Parties, so
    # the treaty channel rests on ETS 30 and Art. 27 is ruled out (ETS 185 Art. 27(1)).
    answer = engine.channels("NL", "CH", "subscriber", False, date(2026, 1, 1))
    treaty = answer.channel("mlat_bilateral")
    assert treaty is not None
    assert treaty.legal_basis.startswith("ETS 30")
    assert "ETS 30 Art. 1" in treaty.citations
    art27 = answer.ruled_out("convention_mla_art27")
    assert art27 is not None and "ETS 30" in art27.reason and "Art. 27(1)" in art27.reason
    # ets30.yaml: CH's dates were read in SR 0.351.1 (ch_sr_0_351_1), NL's were not; the
    # channel rests on an unread fact and says which.
    assert not treaty.verified
    assert "ETS 30 Party NL" in answer.unverified
    assert "ETS 30 Party CH" not in answer.unverified


def test_ets30_ranks_ahead_of_letters_rogatory(engine: LegalEngine) -> None:
    answer = engine.channels("DE", "CH", "content", False, date(2025, 1, 1))
    ids = [c.id for c in answer.channels]
    assert ids.index("mlat_bilateral") < ids.index("letters_rogatory")
    assert "convention_mla_art27" not in ids


def test_bilateral_treaty_still_comes_first(engine: LegalEngine) -> None:
    # mla_treaties.yaml eio_directive: between two EU Member States the EIO governs, even
    # though both are also ETS 30 Parties.
    answer = engine.channels("NL", "FR", "content", False, date(2025, 1, 1))
    treaty = answer.channel("mlat_bilateral")
    assert treaty is not None and "European Investigation Order" in treaty.legal_basis
    assert "ETS 30" not in treaty.legal_basis


def test_art27_remains_where_neither_treaty_applies(engine: LegalEngine) -> None:
    # CL-AR: ETS 185 Parties, no bilateral treaty, AR not an ETS 30 Party in the data.
    answer = engine.channels("CL", "AR", "subscriber", False, date(2025, 1, 1))
    assert answer.channel("convention_mla_art27") is not None
    ruled = answer.ruled_out("mlat_bilateral")
    assert ruled is not None and "ETS 30" in ruled.reason


def test_ets30_excludes_the_art27_9_interpol_route(engine: LegalEngine) -> None:
    # Art. 27(9) (urgent requests via INTERPOL) belongs to Art. 27, which ETS 30 displaces.
    with_treaty = engine.channels("NL", "CH", "subscriber", True, date(2025, 1, 1))
    interpol = with_treaty.channel("interpol")
    assert interpol is not None and "27(9)" not in interpol.legal_basis
    without = engine.channels("CL", "AR", "subscriber", True, date(2025, 1, 1))
    interpol = without.channel("interpol")
    assert interpol is not None and "27(9)" in interpol.legal_basis


def test_ets30_not_binding_before_a_partys_entry_into_force(data_copy: Path) -> None:
    # parties/ets30.yaml: move CH's entry into force to 2026-01-01; on 2025-12-31 Art. 27 is the
    # basis again, from 2026-01-01 ETS 30 is.
    path = data_copy / "parties" / "ets30.yaml"
    text = path.read_text("utf-8")
    old = "in_force: 1967-03-20"
    assert old in text
    path.write_text(text.replace(old, "in_force: 2026-01-01"), "utf-8")
    engine = LegalEngine(load_dataset(data_copy))
    before = engine.channels("NL", "CH", "subscriber", False, date(2025, 12, 31))
    assert before.channel("convention_mla_art27") is not None
    assert before.ruled_out("mlat_bilateral") is not None
    after = engine.channels("NL", "CH", "subscriber", False, date(2026, 1, 1))
    assert after.channel("mlat_bilateral") is not None
    assert after.ruled_out("convention_mla_art27") is not None


def test_legal_basis_for_mla_uses_ets30(engine: LegalEngine) -> None:
    basis = engine.legal_basis("mla", "NL", "CH", date(2026, 1, 1))
    assert basis is not None
    assert basis.instrument == "ETS 30"
    assert list(basis.articles) == ["1", "2"]
    assert not basis.verified
    assert "ETS 185 Arts. 25(4), 27(1)" in basis.summary
    # Belgium's ETS 30 dates were read in a source; Switzerland's were not.
    assert engine.data.parties["ets30"]["BE"].verified
    # Where neither a treaty nor ETS 30 binds both, the Convention's Art. 27 remains.
    art27 = engine.legal_basis("mla", "CL", "AR", date(2026, 1, 1))
    assert art27 is not None and art27.instrument == "ETS 185"
    # US-NL keeps its bilateral treaty.
    bilateral = engine.legal_basis("mla", "US", "NL", date(2026, 1, 1))
    assert bilateral is not None and bilateral.instrument.startswith("US-Netherlands")


def test_ets30_parties_on_the_cli() -> None:
    result = CliRunner().invoke(
        app, ["parties", "--instrument", "ets30", "--as-of", "2026-01-01", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"BE", "DE", "FR", "GB", "NL"} <= set(payload["parties"])
    assert "US" not in payload["parties"]


# --- data validation -----------------------------------------------------------------------


def _problems(folder: Path) -> list[str]:
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(folder)
    return caught.value.problems


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        pytest.param(
            "instruments.yaml",
            "{count: 69, source: coe_69_parties_2024,",
            "{count: 69, source: no_such_source,",
            "unknown source 'no_such_source'",
            id="count-unknown-source",
        ),
        pytest.param(
            "instruments.yaml",
            "{count: 69,",
            "{count: -1,",
            "greater than or equal to 0",
            id="count-negative",
        ),
        pytest.param(
            "instruments.yaml",
            "parties_complete_until: 2024-10-09",
            "parties_complete_until: 2027-01-01",
            "after the date the data was checked",
            id="complete-until-future",
        ),
        pytest.param(
            "sources.yaml",
            "as_of: 2019-03-08",
            "as_of: 2027-03-08",
            "lu_memorial_sm_185: as_of 2027-03-08 is after",
            id="source-as-of-future",
        ),
        pytest.param(
            "parties/ets30.yaml",
            '{country: "FR", deposited: 1967-05-23, in_force: 1967-08-21',
            '{country: "FR", deposited: 1967-05-23, in_force: 1961-08-21',
            "before ETS 30 entered into force",
            id="ets30-party-before-instrument",
        ),
        pytest.param(
            "parties/ets30.yaml",
            '{country: "IL",',
            '{country: "XK",',
            "unknown country code 'XK'",
            id="ets30-unknown-country",
        ),
    ],
)
def test_bad_new_data_fails_validation(
    data_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    path = data_copy / file
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {file}: the test no longer matches the data"
    path.write_text(text.replace(old, new, 1), "utf-8")
    problems = _problems(data_copy)
    assert any(expected in problem for problem in problems), problems


def test_sources_report_gives_the_as_of_date() -> None:
    rows = {row["id"]: row for row in sources_report(load_dataset())}
    assert rows["lu_memorial_sm_185"]["as_of"] == "2019-03-08"
    assert rows["coe_76_parties_2024"]["facts"] == 1
    assert rows["us_18usc1030"]["as_of"] is None


@pytest.mark.parametrize(
    ("as_of", "complete", "count"),
    [("2024-06-01", True, 69), ("2026-11-27", False, 81)],
    ids=["within-the-checked-list", "after-the-checked-list"],
)
def test_parties_cli_says_whether_the_list_is_complete(
    as_of: str, complete: bool, count: int
) -> None:
    # instruments.yaml ets185 parties_complete_until 2024-10-09; party_counts 81 on 2025-10-28.
    result = CliRunner().invoke(app, ["parties", "--as-of", as_of, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["complete"] is complete
    assert len(payload["parties"]) == count
    if complete:
        assert payload["caution"] is None
    else:
        assert "81 Parties" in payload["caution"] and "identifies 80" in payload["caution"]
    text = CliRunner().invoke(app, ["parties", "--as-of", as_of])
    assert text.exit_code == 0
    assert ("Caution" in text.output) is not complete


@pytest.mark.parametrize(
    ("as_of", "reported", "identified"),
    [
        (date(2024, 12, 31), "78 Parties on 2025-01-10", "identifies 77"),
        (date(2025, 6, 30), "80 Parties on 2025-06-05", "identifies 79"),
        (date(2026, 11, 27), "81 Parties on 2025-10-28", "identifies 80"),
    ],
    ids=["before-any-later-count", "after-the-june-2025-count", "today"],
)
def test_caution_cites_the_count_nearest_the_date(
    engine: LegalEngine, as_of: date, reported: str, identified: str
) -> None:
    # instruments.yaml ets185 party_counts after 2024-10-09: 78, 80, 81.
    caution = engine.parties_caution("ets185", as_of)
    assert caution is not None
    assert reported in caution and identified in caution
    assert engine.parties_caution("ets185", date(2024, 10, 9)) is None
