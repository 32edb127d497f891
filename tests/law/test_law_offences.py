"""National offences: which statute references rest on a source that was read, and how answers
built on them say so.

Each case names the data entry that decides it (src/trailguard/law/data/offences.yaml and
sources.yaml).
"""

from __future__ import annotations

from datetime import date

import pytest

from trailguard.law import LegalEngine

# (offence id, source id it now rests on, the date the source states it as of)
VERIFIED = [
    ("nl_sr_138ab", "nl_sr_138ab_text", date(2015, 7, 1)),
    ("nl_sr_139c", "nl_sr_139c_text", date(2026, 11, 27)),
    ("nl_sr_350a", "nl_sr_350a_infopolitie", date(2026, 11, 27)),
    ("nl_sr_138b", "nl_hr_2021_1944", date(2021, 12, 24)),
    ("de_stgb_184b", "de_stgb_184b_text", date(2026, 11, 27)),
    ("fr_cp_323_2", "fr_cp_323_2", date(2011, 3, 2)),
    ("gb_cma_s3a", "gb_pja_2006_cma", date(2008, 10, 1)),
    ("gb_ipa_s3", "gb_ipa_2016_s3", date(2023, 6, 19)),
    ("us_18usc2511", "us_18usc2511_text", date(2009, 1, 5)),
    ("us_18usc2252a", "us_18usc2252a_text", date(2009, 1, 5)),
    ("us_18usc1030_a6", "us_1030_a4_a7_text", date(2026, 11, 27)),
    ("br_cp_171", "br_lei_14155_2021", date(2021, 5, 28)),
    ("jp_pc_234_2", "jp_pc_234_2_overview", date(2026, 11, 27)),
    # Verified on 2026-11-28 with the penalty research (sources in sources_penalties.yaml).
    ("fr_cp_313_1", "pen_fr_313_1_kohen", date(2026, 11, 27)),
    ("fr_cp_441_1", "pen_fr_441_1_axiome", date(2002, 1, 1)),
    ("fr_cp_227_23", "pen_fr_227_23_lexbase", date(2026, 11, 27)),
    ("fr_cpi_l335_2", "pen_fr_l335_2_justice", date(2004, 8, 9)),
    ("us_18usc1343", "pen_us_1343_govinfo", date(2008, 1, 7)),
    ("de_stgb_241", "pen_de_stgb_2012", date(2012, 6, 25)),
    ("de_stgb_22_27", "pen_de_stgb_2012", date(2012, 6, 25)),
    ("nl_sr_326", "pen_nl_sr_326_legaltools", date(2010, 4, 1)),
    ("nl_sr_225", "pen_nl_sr_225_legaltools", date(2004, 8, 10)),
    ("nl_sr_285", "pen_nl_sr_285_nos", date(2026, 11, 27)),
    ("jp_ucaa_art4", "pen_jp_ucaa_monolith", date(2026, 11, 27)),
    ("nl_auteurswet_31", "pen_nl_auteurswet_bookmatch", date(2011, 5, 4)),
]


@pytest.mark.parametrize(("offence_id", "source", "as_of"), VERIFIED, ids=[v[0] for v in VERIFIED])
def test_offences_read_in_a_source_are_verified(
    engine: LegalEngine, offence_id: str, source: str, as_of: date
) -> None:
    offence = engine.data.offences[offence_id]
    assert offence.verified, offence_id
    assert offence.source == source
    assert offence.as_of == as_of
    url = engine.data.sources[source].url
    assert url.startswith("http"), url


# Entries whose statute was found but whose dates were not: they stay unverified.
STILL_UNVERIFIED = [
    ("nl_sr_240b", "in_force_until 2024-07-01 (Wet seksuele misdrijven) not read"),
    ("nl_sr_252", "in_force_from 2024-07-01 not read"),
    ("ru_uk_159_6", "in_force_from 2012-12-10 not read"),
]


@pytest.mark.parametrize(
    ("offence_id", "why"), STILL_UNVERIFIED, ids=[u[0] for u in STILL_UNVERIFIED]
)
def test_offences_with_unread_dates_stay_unverified(
    engine: LegalEngine, offence_id: str, why: str
) -> None:
    offence = engine.data.offences[offence_id]
    assert not offence.verified, why
    assert offence.note and "[U]" in offence.note, why


def test_dutch_intrusion_answer_no_longer_rests_on_an_unverified_statute(
    engine: LegalEngine,
) -> None:
    # offences.yaml nl_sr_138ab is read in nl_sr_138ab_text and the Netherlands' in-force date
    # in fi_finlex_185 (parties/ets185.yaml NL): neither is named as unverified any more.
    answer = engine.check("US", "NL", ["illegal_access"], "stored_content", date(2026, 1, 1))
    assert answer.dual_criminality.satisfied is True
    labels = " ".join(answer.unverified)
    assert "138ab" not in labels
    assert "ETS 185 Party NL" not in answer.unverified
    assert any("omgevingsweb.nl" in c and "138ab" in c for c in answer.citations)


def test_dutch_csam_answer_still_says_it_is_unverified(engine: LegalEngine) -> None:
    # offences.yaml nl_sr_252 (from 2024-07-01) is not verified: the answer says so.
    answer = engine.check(
        "US", "NL", ["child_sexual_abuse_material"], "stored_content", date(2025, 1, 1)
    )
    assert answer.dual_criminality.satisfied is True
    assert any("252" in label for label in answer.unverified)
    assert not answer.verified


def test_uk_misuse_of_devices_only_from_2008_10_01(engine: LegalEngine) -> None:
    # offences.yaml gb_cma_s3a: in force from 2008-10-01 (gb_pja_2006_cma). Before that the
    # data has no GB offence for Art. 6 conduct, so dual criminality is not known.
    before = engine.check("NL", "GB", ["misuse_of_devices"], "stored_content", date(2008, 9, 30))
    assert before.dual_criminality.satisfied is None
    assert not before.provisions["GB"]
    after = engine.check("NL", "GB", ["misuse_of_devices"], "stored_content", date(2012, 1, 1))
    assert [p.id for p in after.provisions["GB"]] == ["gb_cma_s3a"]
    assert "Computer Misuse Act 1990 s.3A (GB)" not in after.unverified


def test_brazil_electronic_fraud_only_from_lei_14155(engine: LegalEngine) -> None:
    # offences.yaml br_cp_171 in force from 2021-05-28 (br_lei_14155_2021).
    before = engine.check("US", "BR", ["computer_fraud"], "stored_content", date(2021, 5, 27))
    assert "br_cp_171" not in [p.id for p in before.provisions["BR"]]
    after = engine.check("US", "BR", ["computer_fraud"], "stored_content", date(2021, 5, 28))
    assert "br_cp_171" in [p.id for p in after.provisions["BR"]]
    assert after.dual_criminality.satisfied is True
