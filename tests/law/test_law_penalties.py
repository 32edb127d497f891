"""Maximum penalties: the ETS 185 Art. 24(1)(a) extradition threshold (one year, both Parties)
and the Regulation (EU) 2023/1543 Art. 5(4) threshold for European Production Orders (three
years in the issuing State, unless the offence is listed in Art. 5(4)(b)).

Each case names what decides it: an article, or an entry of src/trailguard/law/data/offences.yaml
(``max_penalty``) with its source in sources_penalties.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from law_data_kit import edit
from trailguard.law import LegalEngine
from trailguard.law.loader import PENALTY_SOURCES, LegalDataInvalid, load_dataset
from trailguard.law.trail import EXTRADITION_MIN_YEARS, EXTRADITION_RULE, Trail

EU_DAY = date(2026, 9, 1)  # Regulation (EU) 2023/1543 applies from 2026-08-18


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(folder)
    return caught.value.problems


# --- extradition: ETS 185 Art. 24(1)(a) -----------------------------------------------------


@dataclass(frozen=True)
class EX:
    name: str
    decided_by: str
    requesting: str
    requested: str
    conduct: tuple[str, ...]
    as_of: date
    satisfied: bool | None
    # country -> (met, statute that decided it or None, text in that country's reason)
    countries: dict[str, tuple[bool | None, str | None, str]]


# fmt: off
EX_CASES = [
    EX("illegal access, US to DE: met in both",
       "offences.yaml us_18usc1030_a2 (1030(c)(2)(A): 1 y), de_stgb_202a (3 y)",
       "US", "DE", ("illegal_access",), date(2025, 1, 1), True,
       {"US": (True, "18 U.S.C. § 1030(a)(2)", "up to 1 year"),
        "DE": (True, "StGB § 202a", "up to 3 years")}),
    EX("computer fraud, US to FR: met in both",
       "offences.yaml us_18usc1343 (20 y), fr_cp_313_1 (5 y)",
       "US", "FR", ("computer_fraud",), date(2025, 1, 1), True,
       {"US": (True, "18 U.S.C. § 1343", "up to 20 years"),
        "FR": (True, "Code pénal art. 313-1", "up to 5 years")}),
    EX("threats, DE to NL: met, resting on an unverified German penalty",
       "offences.yaml de_stgb_241 (1 y, 2012 text, verified false), nl_sr_285 (2 y)",
       "DE", "NL", ("de_stgb_241",), date(2025, 1, 1), True,
       {"DE": (True, "StGB § 241", "unverified"),
        "NL": (True, "Wetboek van Strafrecht art. 285", "up to 2 years")}),
    EX("copyright, US to NL: unknown (US penalty missing, NL only in its aggravated form)",
       "offences.yaml us_17usc506 (no max_penalty); nl_auteurswet_31 (6 months, art. 31b 4 y)",
       "US", "NL", ("copyright_infringement",), date(2025, 1, 1), None,
       {"US": (None, None, "no maximum penalty in the data"),
        "NL": (None, "Auteurswet art. 31", "only its aggravated form")}),
    EX("illegal access, US to NL in 2014: NL maximum recorded only from 2015-07-01",
       "offences.yaml nl_sr_138ab max_penalty in_force_from 2015-07-01",
       "US", "NL", ("illegal_access",), date(2014, 1, 1), None,
       {"US": (True, "18 U.S.C. § 1030(a)(2)", "up to 1 year"),
        "NL": (None, None, "no maximum penalty recorded for 2014-01-01")}),
    EX("illegal access, US to JP: JP penalty not in the data",
       "offences.yaml jp_ucaa_art3 (no max_penalty)",
       "US", "JP", ("illegal_access",), date(2025, 1, 1), None,
       {"US": (True, "18 U.S.C. § 1030(a)(2)", "up to 1 year"),
        "JP": (None, None, "no maximum penalty in the data")}),
]
# fmt: on


@pytest.mark.parametrize("case", EX_CASES, ids=[c.name for c in EX_CASES])
def test_extradition_penalty_threshold(engine: LegalEngine, case: EX) -> None:
    answer = engine.check(
        case.requesting, case.requested, list(case.conduct), "extradition", case.as_of
    )
    dual = answer.dual_criminality
    assert dual.required is True
    assert dual.satisfied is case.satisfied, (case.decided_by, dual.reason)
    assert "Art. 24(1)(a)" in dual.reason
    assert EXTRADITION_RULE in answer.citations
    by_country = {c.country: c for c in answer.penalty_checks}
    assert set(by_country) == {case.requesting, case.requested}
    for country, (met, statute, text) in case.countries.items():
        check = by_country[country]
        assert check.rule == EXTRADITION_RULE and check.threshold_years == 1
        assert check.met is met, (case.decided_by, check.reason)
        assert check.statute == statute, (case.decided_by, check.reason)
        assert text in check.reason, (case.decided_by, check.reason)
        assert check.reason in dual.reason, "the reason names each country's provision"
    payload = answer.to_dict()
    assert set(payload["dual_criminality"]) == {"required", "satisfied", "reason"}
    assert payload["penalty_threshold"]["satisfied"] is case.satisfied
    assert payload["penalty_threshold"]["rule"] == EXTRADITION_RULE


def test_extradition_cites_the_penalty_and_its_source(engine: LegalEngine) -> None:
    answer = engine.check("US", "DE", ["illegal_access"], "extradition", date(2025, 1, 1))
    # offences.yaml de_stgb_202a max_penalty rests on pen_de_202a_gesetzklar.
    assert any(
        c.startswith("maximum penalty StGB § 202a (DE):") and "gesetzklar.de" in c
        for c in answer.citations
    )
    provision = next(p for p in answer.provisions["DE"] if p.id == "de_stgb_202a")
    assert provision.max_penalty is not None and provision.max_penalty.years == 3
    assert provision.to_dict()["max_penalty"]["text"] == "up to 3 years"


def test_unverified_penalty_is_named(engine: LegalEngine) -> None:
    # offences.yaml de_stgb_241: max_penalty verified false (2021 rewrite not read).
    answer = engine.check("DE", "NL", ["de_stgb_241"], "extradition", date(2025, 1, 1))
    assert "maximum penalty StGB § 241 (DE)" in answer.unverified
    assert not answer.verified
    assert "deciding penalty of DE is unverified" in answer.dual_criminality.reason


def test_extradition_outside_the_convention_does_not_apply_art_24(engine: LegalEngine) -> None:
    # parties/ets185.yaml: IN is not a Party, so Art. 24(1)(a) does not decide.
    answer = engine.check("US", "IN", ["illegal_access"], "extradition", date(2025, 1, 1))
    assert answer.penalty_checks == ()
    assert answer.to_dict()["penalty_threshold"] is None
    assert "Art. 24(1)(a) does not apply" in answer.dual_criminality.reason


def test_other_measures_have_no_penalty_threshold(engine: LegalEngine) -> None:
    # ETS 185 Art. 29(3): preservation; no penalty threshold is checked.
    answer = engine.check("US", "DE", ["illegal_access"], "preservation", date(2025, 1, 1))
    assert answer.penalty_checks == ()


def test_extradition_not_satisfied_below_one_year(data_copy: Path) -> None:
    # Synthetic: Auteurswet art. 31 without the art. 31b aggravated form, i.e. at most six
    # months in NL; Art. 24(1)(a) then fails whatever the US penalty is.
    edit(
        data_copy / "offences.yaml",
        'max_penalty: {years: 0.5, aggravated_years: 4, provision: "Auteurswet arts. 31, 31b"',
        'max_penalty: {years: 0.5, provision: "Auteurswet art. 31"',
    )
    engine = LegalEngine(load_dataset(data_copy))
    answer = engine.check("US", "NL", ["copyright_infringement"], "extradition", date(2025, 1, 1))
    dual = answer.dual_criminality
    assert dual.satisfied is False, dual.reason
    assert "Penalty threshold not met" in dual.reason
    assert "Auteurswet art. 31" in dual.reason and "6 months" in dual.reason
    nl = next(c for c in answer.penalty_checks if c.country == "NL")
    assert nl.met is False and nl.statute == "Auteurswet art. 31"


def test_penalty_periods_follow_the_date(engine: LegalEngine) -> None:
    # offences.yaml gb_cma_s1: six months (original s.1(3)) until 2008-10-01, then two years
    # (unverified). GB was not an ETS 185 Party then, so the threshold is checked directly.
    def check(day: date) -> tuple[bool | None, str, bool]:
        trail = Trail(engine.data)
        provisions, _ = engine.coverage("GB", {"illegal_access"}, set(), day, trail)
        result = engine.penalty_check(
            "GB", provisions, EXTRADITION_MIN_YEARS, EXTRADITION_RULE, day, trail
        )
        return result.met, result.reason, result.verified

    met, reason, verified = check(date(2008, 9, 30))
    assert met is False and "up to 6 months" in reason and verified
    met, reason, verified = check(date(2008, 10, 1))
    assert met is True and "up to 2 years" in reason and not verified


def test_provision_penalty_is_the_one_in_force(engine: LegalEngine) -> None:
    # offences.yaml br_cp_154a: 1 year until 2021-05-28, 4 years (5 aggravated) from then.
    before = engine.check("US", "BR", ["illegal_access"], "preservation", date(2021, 5, 27))
    after = engine.check("US", "BR", ["illegal_access"], "preservation", date(2021, 5, 28))
    old = next(p for p in before.provisions["BR"] if p.id == "br_cp_154a").max_penalty
    new = next(p for p in after.provisions["BR"] if p.id == "br_cp_154a").max_penalty
    assert old is not None and old.years == 1 and old.in_force_until == date(2021, 5, 28)
    assert new is not None and new.years == 4 and new.aggravated_years == 5


# --- European Production Orders: Regulation (EU) 2023/1543 Art. 5(3)-(4) -------------------


@dataclass(frozen=True)
class EP:
    name: str
    decided_by: str
    issuing: str
    provider: str
    data: str
    conduct: tuple[str, ...]
    offered: bool
    text: str  # in the channel's condition, or in the reason it is ruled out


# fmt: off
EP_CASES = [
    EP("traffic data, listed offence (illegal access)", "Art. 5(4)(b)(iii): Directive 2013/40/EU",
       "NL", "DE", "traffic", ("illegal_access",), True, "Art. 5(4)(b)"),
    EP("traffic data, computer fraud above 3 years in DE", "Art. 5(4)(a); de_stgb_263a (5 y)",
       "DE", "NL", "traffic", ("computer_fraud",), True, "Art. 5(4)(a) met"),
    EP("content data, copyright at exactly 3 years in FR", "Art. 5(4)(a); fr_cpi_l335_2 (3 y)",
       "FR", "DE", "content", ("copyright_infringement",), True, "CPI art. L335-2"),
    EP("content data, NL fraud by national offence id", "Art. 5(4)(a); nl_sr_326 (4 y)",
       "NL", "DE", "content", ("nl_sr_326",), True, "up to 4 years"),
    EP("traffic data, threats below 3 years in DE: ruled out", "Art. 5(4); de_stgb_241 (1 y)",
       "DE", "NL", "traffic", ("de_stgb_241",), False, "StGB § 241 carries up to 1 year"),
    EP("traffic data, copyright in NL: only the aggravated form reaches 3 years",
       "Art. 5(4); nl_auteurswet_31 (6 months, art. 31b 4 y)",
       "NL", "DE", "traffic", ("copyright_infringement",), True, "only its aggravated form"),
    EP("subscriber data: no threshold", "Art. 5(3)",
       "DE", "NL", "subscriber", ("de_stgb_241",), True, "Art. 5(3)"),
    EP("traffic data without conduct: not checked", "Art. 5(4); no --conduct",
       "NL", "DE", "traffic", (), True, "not checked: no conduct was given"),
]
# fmt: on


@pytest.mark.parametrize("case", EP_CASES, ids=[c.name for c in EP_CASES])
def test_epoc_penalty_threshold(engine: LegalEngine, case: EP) -> None:
    answer = engine.channels(
        case.issuing, case.provider, case.data, False, EU_DAY, conduct=list(case.conduct) or None
    )
    epoc = answer.channel("eu_epoc")
    if case.offered:
        assert epoc is not None, (case.decided_by, answer.ruled_out("eu_epoc"))
        assert any(case.text in c for c in epoc.conditions), (case.decided_by, epoc.conditions)
        article = "Art. 5(3)" if case.data == "subscriber" else "Art. 5(4)"
        assert f"Regulation (EU) 2023/1543 {article}" in epoc.citations
        assert epoc.to_dict()["conditions"] == list(epoc.conditions)
    else:
        ruled = answer.ruled_out("eu_epoc")
        assert ruled is not None and epoc is None, case.decided_by
        assert "Regulation (EU) 2023/1543 Art. 5(4)" in ruled.reason
        assert case.text in ruled.reason, ruled.reason
        assert ruled.to_dict() == {"id": "eu_epoc", "reason": ruled.reason}
    assert answer.to_dict()["conduct"] == list(case.conduct)


def test_epoc_preservation_order_has_no_threshold(engine: LegalEngine) -> None:
    # Art. 5(4) governs production orders only; the EPOC-PR (Art. 6) is not ruled out by it.
    answer = engine.channels("DE", "NL", "traffic", False, EU_DAY, conduct=["de_stgb_241"])
    assert answer.channel("eu_epoc_pr") is not None


def test_epoc_fraud_below_threshold_may_still_be_listed(data_copy: Path) -> None:
    # Synthetic: NL oplichting at two years. Computer fraud may be a Directive (EU) 2019/713
    # offence (Art. 5(4)(b)(i)), which the engine cannot decide, so the EPOC stays offered
    # with the doubt stated rather than ruled out.
    edit(
        data_copy / "offences.yaml",
        'max_penalty: {years: 4, provision: "Sr art. 326(1)"',
        'max_penalty: {years: 2, provision: "Sr art. 326(1)"',
    )
    engine = LegalEngine(load_dataset(data_copy))
    answer = engine.channels("NL", "DE", "traffic", False, EU_DAY, conduct=["computer_fraud"])
    epoc = answer.channel("eu_epoc")
    assert epoc is not None
    (condition,) = epoc.conditions
    assert "threshold not met" in condition and "Art. 5(4)(b)(i)" in condition


def test_epoc_ruled_out_below_threshold_for_a_non_listed_offence(data_copy: Path) -> None:
    # Synthetic: copyright in NL at six months without the aggravated form; copyright is not
    # listed in Art. 5(4)(b), so the EPOC for content data is ruled out.
    edit(
        data_copy / "offences.yaml",
        'max_penalty: {years: 0.5, aggravated_years: 4, provision: "Auteurswet arts. 31, 31b"',
        'max_penalty: {years: 0.5, provision: "Auteurswet art. 31"',
    )
    engine = LegalEngine(load_dataset(data_copy))
    answer = engine.channels(
        "NL", "DE", "content", False, EU_DAY, conduct=["copyright_infringement"]
    )
    ruled = answer.ruled_out("eu_epoc")
    assert ruled is not None
    assert "Auteurswet art. 31 carries up to 6 months" in ruled.reason
    assert "not a listed offence" in ruled.reason


# --- the data: schema and sources -------------------------------------------------------------


def test_penalty_sources_come_from_their_own_file(engine: LegalEngine) -> None:
    data = engine.data
    penalties = [p for o in data.offences.values() for p in o.penalties()]
    assert len(penalties) >= 30
    assert all(p.source in data.sources for p in penalties)
    assert data.source_files["pen_de_stgb_2012"] == PENALTY_SOURCES
    assert data.source_files["ets185_text"] == "sources.yaml"
    assert data.source_files["eu_2023_1543_art5"] == PENALTY_SOURCES


BAD_PENALTIES = [
    (
        "negative years",
        'years: 3, provision: "StGB § 202a(1)"',
        'years: -3, provision: "StGB § 202a(1)"',
        "more than 0 years",
    ),
    (
        "zero years",
        'years: 3, provision: "StGB § 202a(1)"',
        'years: 0, provision: "StGB § 202a(1)"',
        "more than 0 years",
    ),
    (
        "a word that is not life",
        'years: 3, provision: "StGB § 202a(1)"',
        'years: lifelong, provision: "StGB § 202a(1)"',
        "'lifelong' is not a number of years",
    ),
    (
        "aggravated not above basic",
        'years: 2, aggravated_years: 4, provision: "Sr art. 138ab',
        'years: 2, aggravated_years: 2, provision: "Sr art. 138ab',
        "must exceed years",
    ),
    (
        "missing source",
        'provision: "StGB § 202a(1)", source: pen_de_202a_gesetzklar, ',
        'provision: "StGB § 202a(1)", ',
        "(de_stgb_202a).max_penalty.0.source: Field required",
    ),
    (
        "unknown source",
        'source: pen_de_202a_gesetzklar, as_of: 2026-11-27, verified: true, note: "Freiheitsstrafe',
        'source: nowhere_penalty, as_of: 2026-11-27, verified: true, note: "Freiheitsstrafe',
        "unknown source 'nowhere_penalty'",
    ),
    (
        "as_of after the data was checked",
        "source: pen_de_202a_gesetzklar, as_of: 2026-11-27",
        "source: pen_de_202a_gesetzklar, as_of: 2031-01-01",
        "after the date the data was checked",
    ),
    (
        "overlapping periods",
        "in_force_from: 2015-07-24, source: pen_fr_323_apimiel, "
        'as_of: 2015-07-24, verified: true, note: "Version as modified by Loi n° 2015-912 of 24 '
        "July 2015: deux ans",
        "in_force_from: 2011-01-01, source: pen_fr_323_apimiel, as_of: 2015-07-24, verified: true, "
        'note: "Version as modified by Loi n° 2015-912 of 24 July 2015: deux ans',
        "max_penalty periods overlap",
    ),
]


@pytest.mark.parametrize(
    ("name", "old", "new", "message"), BAD_PENALTIES, ids=[b[0] for b in BAD_PENALTIES]
)
def test_bad_penalty_data_is_refused(
    data_copy: Path, name: str, old: str, new: str, message: str
) -> None:
    edit(data_copy / "offences.yaml", old, new)
    problems = problems_of(data_copy)
    assert any(message in p for p in problems), (name, problems)
    assert all(p.startswith(("offences.yaml", "sources")) for p in problems), problems


def test_penalty_source_ids_may_not_repeat_sources_yaml(data_copy: Path) -> None:
    edit(data_copy / PENALTY_SOURCES, "  - id: pen_de_stgb_2012\n", "  - id: ets185_text\n")
    problems = problems_of(data_copy)
    assert any("'ets185_text' is also used in sources.yaml" in p for p in problems), problems


def test_removing_the_penalty_sources_file_leaves_unknown_sources(data_copy: Path) -> None:
    # The file is optional; removing it makes every fact citing it an unknown source.
    (data_copy / PENALTY_SOURCES).unlink()
    problems = problems_of(data_copy)
    assert any("unknown source 'pen_de_stgb_2012'" in p for p in problems)
