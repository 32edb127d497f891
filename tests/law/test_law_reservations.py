"""Reservations and declarations (reservations.yaml) in answers, channels ordered by purpose,
and the freshness report. Each case names the reservation or article that decides it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from law_kit import (
    DAY,
    Auth,
    Live,
    Pres,
    assert_names_the_contact_point,
    check_authorities,
    check_extradition_authority,
    check_preservation,
    check_realtime,
)
from typer.testing import CliRunner

from law_data_kit import edit
from trailguard.cli import _register_groups, app
from trailguard.core.clock import FixedClock
from trailguard.core.errors import ValidationFailed
from trailguard.law import (
    CHANNEL_IDS,
    LegalDataInvalid,
    LegalEngine,
    load_dataset,
    realtime_collection,
)
from trailguard.law.sources import stale_report

_register_groups()
runner = CliRunner()

COE_JP = "codePays=JAP"
WIPOLEX_JP = "wipolex/fr/treaties/parties/remarks/JP/952"
COE_BG = "codePays=BUL"
COE_CZ = "codePays=CZE"


def _withdraw(data_copy: Path, country: str, article: str, on: str) -> LegalEngine:
    """A hypothetical: the reservation of ``country`` under ``article`` withdrawn ``on``."""
    path = data_copy / "reservations.yaml"
    text = path.read_text()
    anchor = f'    country: "{country}"\n    article: "{article}"\n'
    assert anchor in text, (country, article)
    start = text.index(anchor)
    valid = text.index("    valid_from:", start)
    end = text.index("\n", valid)
    text = text[: end + 1] + f"    valid_until: {on}\n    withdrawn: {on}\n" + text[end + 1 :]
    path.write_text(text)
    return LegalEngine(load_dataset(data_copy))


# --- Art. 29(4): dual criminality for preservation -------------------------------------------


# fmt: off
PRESERVATION_CASES = [
    Pres("JP reservation, offence outside Arts. 2-11", "reservations.yaml: JP 29(4), CoE list",
         "JP", "us_18usc875", date(2025, 1, 1), True, "JP reservation ETS 185 Art. 29(4)"),
    Pres("JP reservation does not reach Arts. 2-11", "ETS 185 Art. 29(4) (Arts. 2-11 excepted)",
         "JP", "illegal_access", date(2025, 1, 1), False, "JP reservation ETS 185 Art. 29(4)"),
    Pres("CH reservation (coercive measures), threats", "reservations.yaml: CH 29(4), CoE list",
         "CH", "us_18usc875", date(2025, 1, 1), True, "CH reservation ETS 185 Art. 29(4)"),
    Pres("CH reservation before CH was bound", "parties/ets185.yaml CH in force 2012-01-01",
         "CH", "us_18usc875", date(2011, 12, 31), True, None),
    Pres("LT reservation, offence outside Arts. 2-11", "reservations.yaml: LT 29(4), CoE list",
         "LT", "us_18usc875", date(2025, 1, 1), True, "LT reservation ETS 185 Art. 29(4)"),
    Pres("AR reservation, offence outside Arts. 2-11", "reservations.yaml: AR 29(4), WIPO Lex",
         "AR", "us_18usc875", date(2025, 1, 1), True, "AR reservation ETS 185 Art. 29(4)"),
    Pres("AR reservation before AR was bound", "parties/ets185.yaml AR in force 2018-10-01",
         "AR", "us_18usc875", date(2018, 9, 30), True, None),
    Pres("no reservation: NL", "ETS 185 Art. 29(3)",
         "NL", "us_18usc875", date(2025, 1, 1), False, None),
    Pres("CZ reservation the day before its withdrawal", "reservations.yaml: CZ valid_until",
         "CZ", "us_18usc875", date(2019, 7, 4), True, "CZ reservation ETS 185 Art. 29(4)"),
    Pres("CZ reservation withdrawn on 2019-07-05", "reservations.yaml: CZ withdrawn 2019-07-05",
         "CZ", "us_18usc875", date(2019, 7, 5), False, None),
]
# fmt: on


@pytest.mark.parametrize("case", PRESERVATION_CASES, ids=[c.name for c in PRESERVATION_CASES])
def test_art29_4_reservation_in_dual_criminality(engine: LegalEngine, case: Pres) -> None:
    check_preservation(engine, case)


def test_art29_4_condition_on_the_preservation_channel_before_and_after_withdrawal(
    engine: LegalEngine,
) -> None:
    # reservations.yaml: CZ 29(4) in effect 2013-12-01 .. 2019-07-05 (withdrawn).
    before = engine.channels(
        "US", "CZ", "subscriber", False, date(2019, 7, 4), conduct=["us_18usc875"]
    )
    after = engine.channels(
        "US", "CZ", "subscriber", False, date(2019, 7, 5), conduct=["us_18usc875"]
    )
    kept = before.channel("preservation_24_7")
    assert kept is not None
    (condition,) = [c for c in kept.conditions if "Art. 29(4)" in c]
    assert "CZ reservation ETS 185 Art. 29(4)" in condition and COE_CZ in condition
    assert "reaches the conduct given" in condition
    later = after.channel("preservation_24_7")
    assert later is not None and not any("29(4)" in c for c in later.conditions)


def test_art29_4_condition_says_when_the_conduct_is_under_arts_2_to_11(
    engine: LegalEngine,
) -> None:
    answer = engine.channels(
        "US", "AT", "subscriber", False, date(2025, 1, 1), conduct=["illegal_access"]
    )
    channel = answer.channel("preservation_24_7")
    assert channel is not None
    assert any("does not reach the conduct given" in c for c in channel.conditions)
    unknown = engine.channels("US", "AT", "subscriber", False, date(2025, 1, 1))
    kept = unknown.channel("preservation_24_7")
    assert kept is not None and any("give --conduct" in c for c in kept.conditions)


# --- Art. 27(9)(e): urgent requests through the central authority -------------------------


@dataclass(frozen=True)
class Urgent:
    name: str
    decided_by: str
    requested: str
    data: str
    as_of: date
    interpol_mla: bool  # the Art. 27(9) INTERPOL route is offered
    interpol_offered: bool  # any INTERPOL channel is offered
    routed: bool  # the declaration is named (central authority route)


# fmt: off
URGENT_CASES = [
    Urgent("no declaration: Argentina", "ETS 185 Art. 27(9)", "AR", "content",
           date(2025, 1, 1), True, True, False),
    Urgent("JP declaration: content", "reservations.yaml: JP 27(9)(e)", "JP", "content",
           date(2025, 1, 1), False, False, True),
    Urgent("FR declaration: diplomatic channel even if urgent", "reservations.yaml: FR 27",
           "FR", "content", date(2025, 1, 1), False, False, True),
    Urgent("CA declaration: all requests to the central authority", "reservations.yaml: CA 27",
           "CA", "content", date(2025, 1, 1), False, False, True),
    Urgent("JP declaration: subscriber, police information only",
           "reservations.yaml: JP 27(9)(e)", "JP", "subscriber",
           date(2025, 1, 1), False, True, True),
]
# fmt: on


@pytest.mark.parametrize("case", URGENT_CASES, ids=[c.name for c in URGENT_CASES])
def test_art27_9_e_routes_urgent_requests_to_the_central_authority(
    engine: LegalEngine, case: Urgent
) -> None:
    answer = engine.channels("CL", case.requested, case.data, True, case.as_of)
    interpol = answer.channel("interpol")
    assert (interpol is not None) is case.interpol_offered, case.decided_by
    assert (interpol is not None and "Art. 27(9)" in interpol.legal_basis) is case.interpol_mla
    art27 = answer.channel("convention_mla_art27")
    assert art27 is not None
    named = [c for c in art27.conditions if "urgent requests under Art. 27(9)" in c]
    assert bool(named) is case.routed, (case.decided_by, art27.conditions)
    if case.routed:
        label = {
            "JP": "JP declaration ETS 185 Art. 27(9)(e)",
            "FR": "FR declaration ETS 185 Art. 27",
            "CA": "CA declaration ETS 185 Art. 27",
        }
        source = {"JP": WIPOLEX_JP, "FR": "codePays=FRA", "CA": "remarks/CA/952"}[case.requested]
        assert "central authority" in named[0] and source in named[0]
        assert any(source in c for c in art27.citations)
        if interpol is None:
            ruled = answer.ruled_out("interpol")
            assert ruled is not None and label[case.requested] in ruled.reason
        else:
            assert any("Art. 27(9)(e)" in c for c in interpol.conditions)


def test_art27_9_e_withdrawn_restores_the_interpol_route(data_copy: Path) -> None:
    # Hypothetical withdrawal of JP's Art. 27(9)(e) declaration on 2020-01-01.
    engine = _withdraw(data_copy, "JP", "27(9)(e)", "2020-01-01")
    before = engine.channels("CL", "JP", "content", True, date(2019, 12, 31))
    after = engine.channels("CL", "JP", "content", True, date(2020, 1, 1))
    assert before.channel("interpol") is None
    interpol = after.channel("interpol")
    assert interpol is not None and "Art. 27(9)" in interpol.legal_basis


# --- Arts. 14(3), 21, 33, 34: real-time collection (the live watch) ------------------------


# fmt: off
REALTIME_CASES = [
    Live("NL", "traffic", DAY, True, None, "ETS 185 Art. 33",
         name="traffic data, no reservation"),
    Live("BG", "traffic", DAY, None, "BG reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: BG 14(3)(a)", name="traffic data, BG Art. 14(3)(a)"),
    Live("NL", "content", DAY, None, None, "ETS 185 Arts. 21, 34",
         name="content data, Arts. 21 and 34"),
    Live("FR", "content", DAY, None, "FR declaration ETS 185 Art. 21", "reservations.yaml: FR 21",
         name="content data, FR Art. 21 declaration (2 years)"),
    Live("AU", "traffic", DAY, None, "AU reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: AU 14(3)(a)", name="traffic data, AU Art. 14(3)(a) (3 years)"),
    Live("CH", "traffic", DAY, None, "CH reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: CH 14(3)(a)", name="traffic data, CH Art. 14(3)(a)"),
    Live("FI", "traffic", DAY, None, "FI reservation ETS 185 Art. 14(3)(a)",
         "reservations.yaml: FI 14(3)(a), 14(3)(b)", name="traffic data, FI Art. 14(3)(a) and (b)"),
    Live("BG", "traffic", date(2005, 7, 31), None, None,
         "parties/ets185.yaml BG in force 2005-08-01", name="before BG was a Party"),
    Live("BG", "traffic", DAY, True, None, "domestic law", requesting="BG", name="loop back"),
]
# fmt: on


@pytest.mark.parametrize("case", REALTIME_CASES, ids=[c.name for c in REALTIME_CASES])
def test_realtime_collection_against_art14_3_reservations(engine: LegalEngine, case: Live) -> None:
    answer = check_realtime(engine, case)
    if case.label is not None:
        article = case.label.rsplit("Art. ", 1)[1]
        assert any(f"Art. {article}" in c and "<https://" in c for c in answer.conditions)
    if case.requested == "BG" and case.label:
        assert COE_BG in answer.reservations[0]
        assert "ETS 185 Art. 14(3)(a)" in answer.citations
    if case.requested == "FI":
        # Art. 14(3)(b): closed systems excluded too (its conditions were not fully read).
        assert any(
            r.startswith("FI reservation ETS 185 Art. 14(3)(b)") for r in answer.reservations
        )
        assert not answer.verified
    payload = answer.to_dict()
    assert payload["allowed"] is case.allowed and payload["data"] == case.data


def test_realtime_collection_before_and_after_a_withdrawal(data_copy: Path) -> None:
    # Hypothetical withdrawal of BG's Art. 14(3)(a) reservation on 2020-01-01.
    engine = _withdraw(data_copy, "BG", "14(3)(a)", "2020-01-01")
    before = realtime_collection(engine, "US", "BG", "traffic", date(2019, 12, 31))
    after = realtime_collection(engine, "US", "BG", "traffic", date(2020, 1, 1))
    assert before.allowed is None and before.reservations
    assert after.allowed is True and not after.reservations


def test_realtime_collection_refuses_other_data(engine: LegalEngine) -> None:
    with pytest.raises(ValidationFailed, match="'subscriber'"):
        realtime_collection(engine, "US", "NL", "subscriber", date(2025, 1, 1))


def test_check_realtime_collection_names_the_art14_3_reservation(engine: LegalEngine) -> None:
    answer = engine.check("US", "BG", ["illegal_access"], "realtime_collection", date(2025, 1, 1))
    assert any("limits real-time collection" in line for line in answer.reasoning)
    assert any(n.startswith("BG reservation ETS 185 Art. 14(3)(a)") for n in answer.notes)
    plain = engine.check("US", "NL", ["illegal_access"], "realtime_collection", date(2025, 1, 1))
    assert not any("limits real-time collection" in line for line in plain.reasoning)


# --- Arts. 24(7), 27(2), 35: designated authorities ----------------------------------------


# fmt: off
AUTHORITY_CASES = [
    Auth("Austria: central authority and 24/7 contact", "reservations.yaml: AT 27(2), 35",
         "AT", date(2025, 1, 1),
         {"27(2)": "Federal Ministry of Justice", "35": "Federal Criminal Police Office"}),
    Auth("Netherlands: Landelijk Parket", "reservations.yaml: NL 27(2), 35", "NL",
         date(2025, 1, 1), {"27(2)": "Landelijk Parket", "35": "Landelijk Parket"}),
    Auth("Albania before its 24/7 designation", "reservations.yaml: AL 35 from 2006-10-10",
         "AL", date(2006, 10, 9), {"27(2)": "Ministry of Justice"}),
    Auth("Albania after its 24/7 designation", "reservations.yaml: AL 35 from 2006-10-10",
         "AL", date(2006, 10, 10), {"27(2)": "Ministry of Justice", "35": "Police of State"}),
    Auth("Germany: Federal Foreign Office, BKA", "reservations.yaml: DE 27(2), 35", "DE",
         date(2025, 1, 1), {"27(2)": "Federal Foreign Office", "35": "Federal Criminal Police"}),
    Auth("Denmark before the 2018 update", "reservations.yaml: DK 27(2) from 2018-08-01", "DK",
         date(2018, 7, 31), {"35": "Danish National Police"}),
    Auth("Denmark after the 2018 update", "reservations.yaml: DK 27(2) from 2018-08-01", "DK",
         date(2018, 8, 1), {"27(2)": "Rigsadvokaten", "35": "Danish National Police"}),
    Auth("Chile: Ministerio Público", "reservations.yaml: CL 27(2)", "CL", date(2025, 1, 1),
         {"27(2)": "Office of Public Prosecution"}),
    Auth("no designation in the data: Brazil", "reservations.yaml: no BR entry",
         "BR", date(2026, 11, 27), {}),
]
# fmt: on


@pytest.mark.parametrize("case", AUTHORITY_CASES, ids=[c.name for c in AUTHORITY_CASES])
def test_designated_authorities_are_shown(engine: LegalEngine, case: Auth) -> None:
    # Requesting Estonia, a Party since 2004-07-01 (before Albania's 2006 designations).
    answer, _ = check_authorities(engine, case)
    payload = answer.to_dict()
    assert [a["article"] for a in payload["authorities"]] == list(case.expected)
    if "35" in case.expected:
        assert_names_the_contact_point(answer)


def test_extradition_names_the_art24_7_authority(engine: LegalEngine) -> None:
    check_extradition_authority(engine, "JP", "Minister for Foreign Affairs")


# --- other declarations: notes with their citation -----------------------------------------


# fmt: off
NOTE_CASES = [
    ("illegal_access", ("US declaration ETS 185 Art. 2", "JP declaration ETS 185 Art. 2")),
    ("data_interference", ("US reservation ETS 185 Art. 4",)),
    ("computer_fraud", ()),
]
# Canada (ETS 185 Art. 10(3)): no criminal liability for copyright infringement; shown when the
# question's conduct is copyright infringement, not otherwise.
CANADA_NOTE = "CA reservation ETS 185 Art. 10(3)"
# fmt: on


@pytest.mark.parametrize(("conduct", "labels"), NOTE_CASES, ids=[c for c, _ in NOTE_CASES])
def test_offence_narrowing_declarations_appear_as_notes(
    engine: LegalEngine, conduct: str, labels: tuple[str, ...]
) -> None:
    # ETS 185 Arts. 40 and 42: declarations and reservations that narrow an offence.
    answer = engine.check("US", "JP", [conduct], "stored_content", date(2025, 1, 1))
    shown = [n for n in answer.notes if "Art. 24(7)" not in n and "Art. 27(2)" not in n]
    assert sorted(n.split(" (in effect")[0] for n in shown) == sorted(labels)
    for note in shown:
        assert "<https://" in note and "as of" in note
    assert answer.to_dict()["notes"] == list(answer.notes)


def test_canada_copyright_reservation_is_a_note_for_copyright_only(engine: LegalEngine) -> None:
    day = date(2025, 1, 1)
    copyright_ = engine.check("US", "CA", ["copyright_infringement"], "stored_content", day)
    assert any(n.startswith(CANADA_NOTE) for n in copyright_.notes)
    fraud = engine.check("US", "CA", ["computer_fraud"], "stored_content", day)
    assert not any(n.startswith(CANADA_NOTE) for n in fraud.notes)
    early = date(2015, 10, 31)  # CA bound from 2015-11-01
    before = engine.check("US", "CA", ["copyright_infringement"], "stored_content", early)
    assert not any(n.startswith(CANADA_NOTE) for n in before.notes)


def test_channels_notes_list_the_requested_partys_declarations(engine: LegalEngine) -> None:
    answer = engine.channels("FR", "AD", "subscriber", False, date(2025, 1, 1))
    assert any(n.startswith("AD reservation ETS 185 Art. 9(4)") for n in answer.notes)
    before = engine.channels("FR", "AD", "subscriber", False, date(2017, 2, 28))
    assert not any(n.startswith("AD ") for n in before.notes)  # AD bound from 2017-03-01


# --- the data: schema and cross-checks -----------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    authority: Ministry of Justice, Tirana\n",
            "",
            "names the authority",
        ),
        (
            "    conduct: [illegal_access]\n",
            "    conduct: [hacking]\n",
            "unknown conduct hacking",
        ),
        (
            '    country: "AL"\n    article: "27(2)"',
            '    country: "AL"\n    article: "27(9)"',
            "authorities are designated under",
        ),
        (
            "    valid_from: 2006-06-19",
            "    valid_from: 2004-01-01",
            "is before AL is bound",
        ),
        (
            "    effect: p2_art7_excluded",
            "    effect: art29_4_dual_criminality",
            "does not fit instrument cets224",
        ),
    ],
    ids=["authority-missing", "unknown-conduct", "not-a-designation", "before-party", "p2"],
)
def test_bad_reservations_fail_validation(
    data_copy: Path, old: str, new: str, expected: str
) -> None:
    edit(data_copy / "reservations.yaml", old, new)
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_every_reservation_names_a_source_and_dates(engine: LegalEngine) -> None:
    for reservation in engine.data.reservations:
        assert reservation.source in engine.data.sources
        assert reservation.as_of is not None
        if reservation.withdrawn is not None:
            assert reservation.valid_until is not None


# --- ranking by purpose --------------------------------------------------------------------


@dataclass(frozen=True)
class Rank:
    name: str
    purpose: str
    emergency: bool
    first: str | None
    not_first: str | None
    meanwhile: str | None


# fmt: off
RANK_CASES = [
    # The example: US -> BR subscriber data in an emergency must not start with a
    # channel that discloses nothing (ETS 185 Art. 29 preserves; Art. 29(7) keeps it).
    Rank("both, emergency: disclose first", "both", True, None, "preservation_24_7",
         "preservation_24_7"),
    Rank("obtain: disclose first", "obtain", False, None, "preservation_24_7",
         "preservation_24_7"),
    Rank("obtain, emergency", "obtain", True, None, "preservation_24_7", "preservation_24_7"),
    Rank("preserve: preservation first", "preserve", True, "preservation_24_7", None, None),
    Rank("both, no emergency: preservation first", "both", False, "preservation_24_7", None,
         None),
]
# fmt: on


@pytest.mark.parametrize("case", RANK_CASES, ids=[c.name for c in RANK_CASES])
def test_channels_are_ordered_by_purpose(engine: LegalEngine, case: Rank) -> None:
    answer = engine.channels(
        "US", "BR", "subscriber", case.emergency, date(2026, 11, 27), purpose=case.purpose
    )
    ids = [c.id for c in answer.channels]
    if case.first:
        assert ids[0] == case.first
    if case.not_first:
        assert ids[0] != case.not_first and answer.channels[0].discloses
    assert answer.preserve_meanwhile == case.meanwhile
    if case.meanwhile:
        assert any("keeps the trail" in line for line in answer.reasoning)
    # Same channels, only the order changes; the JSON keeps its keys and ids.
    default = engine.channels("US", "BR", "subscriber", case.emergency, date(2026, 11, 27))
    assert sorted(ids) == sorted(c.id for c in default.channels)
    assert set(ids) | {r.id for r in answer.not_available} == set(CHANNEL_IDS)
    payload = answer.to_dict()
    assert payload["purpose"] == case.purpose
    assert {"channels", "not_available", "reasoning", "citations", "notes"} <= set(payload)
    assert {"id", "speed_rank", "discloses", "preserves"} <= set(payload["channels"][0])


def test_purpose_is_checked(engine: LegalEngine) -> None:
    with pytest.raises(ValidationFailed, match="'keep'"):
        engine.channels("US", "BR", "subscriber", False, date(2026, 11, 27), purpose="keep")


def test_cli_channels_purpose_obtain() -> None:
    result = runner.invoke(
        app,
        [
            "law", "channels", "--from", "US", "--to", "BR", "--data", "subscriber",
            "--emergency", "--as-of", "2026-11-27", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["channels"][0]["id"] != "preservation_24_7"
    assert payload["preserve_meanwhile"] == "preservation_24_7"
    bad = runner.invoke(
        app,
        ["law", "channels", "--from", "US", "--to", "BR", "--data", "subscriber",
         "--purpose", "keep"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "purpose" in bad.stderr


# --- freshness: law sources --stale --------------------------------------------------------


def test_stale_report_lists_old_and_unverified_facts_by_source(engine: LegalEngine) -> None:
    report = stale_report(engine.data, date(2026, 12, 7), 3650)
    assert report["limit"] == "2016-12-09"
    by_source = {s["id"]: s for s in report["sources"]}
    # CZ's reservation is stated as of 2020-10-22 and verified: not stale at 10 years.
    assert "coe_reservation_cz_29_4" not in by_source
    # AT's designations are stated as of 2012-10-01: older than ten years.
    at = {f["fact"] for f in by_source["at_bgbl_185"]["facts"]}
    assert "AT declaration ETS 185 Art. 35" in at
    # Unverified facts are listed whatever their age (CETS 224 JP reservations, 2026-02-05).
    jp = by_source["cets224_status_nl"]["facts"]
    assert any(f["fact"] == "JP reservation CETS 224 Art. 7(9)" for f in jp)
    assert all(f["reasons"] == ["unverified"] for f in jp if f["as_of"] >= "2016-12-09")
    total = sum(len(s["facts"]) for s in report["sources"])
    assert report["stale_facts"] == total
    newer = stale_report(engine.data, date(2026, 12, 7), 36500)
    assert all(f["verified"] is False for s in newer["sources"] for f in s["facts"])


def test_cli_sources_stale_uses_the_injected_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # "today" for the CLI is the injectable default clock's
    monkeypatch.setattr(
        "trailguard.core.clock._default", FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    )
    result = runner.invoke(app, ["law", "sources", "--stale", "--older-than", "30", "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["today"] == "2030-01-01" and payload["limit"] == "2029-12-02"
    everything = sum(len(s["facts"]) for s in payload["sources"])
    dated = runner.invoke(
        app,
        ["law", "sources", "--stale", "--older-than", "30", "--as-of", "2000-01-01", "--json"],
    )
    assert dated.exit_code == 0
    fewer = json.loads(dated.stdout)
    assert fewer["today"] == "2000-01-01"
    assert sum(len(s["facts"]) for s in fewer["sources"]) < everything
    human = runner.invoke(app, ["law", "sources", "--stale", "--as-of", "2026-12-07"])
    assert human.exit_code == 0 and "facts to refresh" in human.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["law", "sources", "--older-than", "30"],
        ["law", "sources", "--stale", "--older-than", "-1"],
        ["law", "sources", "--stale", "--as-of", "yesterday"],
    ],
    ids=["older-than-without-stale", "negative", "bad-date"],
)
def test_cli_sources_stale_bad_input_exits_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stdout
