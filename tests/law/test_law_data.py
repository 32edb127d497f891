"""The legal data files: schema validation, cross-checks, and a Second Protocol in force.

Bad data is written to a temporary copy of src/trailguard/law/data and loaded through the same
loader the engine uses (``load_dataset``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from law_data_kit import edit
from trailguard.law import LegalDataInvalid, LegalEngine, load_dataset
from trailguard.law.sources import all_facts, sources_report


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(folder)
    return caught.value.problems


def test_packaged_data_loads_and_every_fact_is_sourced() -> None:
    data = load_dataset()
    facts = list(all_facts(data))
    assert len(facts) > 200
    assert all(fact.source in data.sources for fact in facts)
    assert set(data.parties) >= {"ets185", "cets224", "un_cybercrime", "eu_2023_1543"}
    # Every one of the twelve focus countries has national offences with a statute reference.
    for country in ("US", "NL", "DE", "FR", "GB", "BR", "JP", "NG", "IN", "VN", "RU", "ZA"):
        offences = [o for o in data.offences.values() if o.country == country]
        assert offences and all(o.statute for o in offences), country


def test_sources_report_lists_every_source_with_counts() -> None:
    data = load_dataset()
    rows = sources_report(data)
    assert [r["id"] for r in rows] == list(data.sources)
    assert all(r["url"].startswith("http") and r["title"] for r in rows)
    assert sum(r["facts"] for r in rows) == len(list(all_facts(data)))
    assert sum(r["unverified"] for r in rows) == data.unverified_count
    unused = [r["id"] for r in rows if r["facts"] == 0 and not r["quoted_by_rules"]]
    assert unused == [], "every source backs a fact or an article the rules quote"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        pytest.param(
            "parties/ets185.yaml",
            '{country: "US", deposited: 2006-09-29, in_force: 2007-01-01, '
            "source: us_embassy_2006, ",
            '{country: "US", deposited: 2006-09-29, in_force: 2007-01-01, ',
            "source: Field required",
            id="missing-source",
        ),
        pytest.param(
            "offences.yaml",
            "source: us_1030a2_text,",
            "",
            "source: Field required",
            id="missing-source-offence",
        ),
        pytest.param(
            "parties/ets185.yaml",
            "in_force: 2007-01-01",
            "in_force: 2007-02-30",
            "2007-02-30",
            id="bad-date",
        ),
        pytest.param(
            "reservations.yaml",
            "valid_from: 2012-10-01",
            "valid_from: first of October",
            "first of October",
            id="not-a-date",
        ),
        pytest.param(
            "parties/ets185.yaml",
            '{country: "US",',
            '{country: "XX",',
            "unknown country code 'XX'",
            id="unknown-country",
        ),
        pytest.param(
            "parties/ets185.yaml",
            '{country: "US",',
            '{country: "USA",',
            "'USA' is not an ISO 3166-1 alpha-2 code",
            id="not-alpha-2",
        ),
        pytest.param(
            "parties/ets185.yaml",
            '{country: "NO",',
            "{country: NO,",
            "read as a boolean",
            id="yaml-no-is-false",
        ),
        pytest.param(
            "mla_treaties.yaml",
            'countries: ["US", "BR"]',
            'countries: ["US", "QQ"]',
            "unknown country code 'QQ'",
            id="unknown-country-treaty",
        ),
        pytest.param(
            "parties/ets185.yaml",
            "source: us_embassy_2006",
            "source: nowhere",
            "unknown source 'nowhere'",
            id="unknown-source",
        ),
        pytest.param(
            "offences.yaml",
            "conduct: [illegal_access], source: us_1030a2_text",
            "conduct: [hacking], source: us_1030a2_text",
            "unknown conduct 'hacking'",
            id="unknown-conduct",
        ),
        pytest.param(
            "parties/ets185.yaml",
            "as_of: 2006-10-02",
            "as_of: 2027-01-01",
            "after the date the data was checked",
            id="fact-dated-after-collection",
        ),
        pytest.param(
            "parties/cets224.yaml",
            '{country: "RS", deposited: 2023-02-09, in_force: null,',
            '{country: "RS", deposited: 2023-02-09, in_force: 2023-06-01,',
            "CETS 224 is not in force",
            id="party-of-instrument-not-in-force",
        ),
        pytest.param(
            "parties/ets185.yaml",
            "in_force: 2007-01-01, source: us_embassy_2006",
            "in_force: 2003-01-01, source: us_embassy_2006",
            "before ETS 185 entered into force",
            id="party-before-instrument",
        ),
        pytest.param(
            "sources.yaml",
            "url: https://www.law.cornell.edu/uscode/text/18/1030",
            "url: www.law.cornell.edu/uscode/text/18/1030",
            "must start with http",
            id="source-url",
        ),
        pytest.param(
            "meta.yaml",
            "horizon: 2026-12-31",
            "horizon: 2000-01-01",
            "must be before horizon",
            id="horizon-before-earliest",
        ),
        pytest.param(
            "offences.yaml",
            "verified: true}",
            "verified: maybe}",
            "verified",
            id="bad-flag",
        ),
    ],
)
def test_bad_data_fails_validation(
    data_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(data_copy / file, old, new)
    problems = problems_of(data_copy)
    assert any(expected in problem for problem in problems), problems


def test_missing_file_fails_validation(data_copy: Path) -> None:
    (data_copy / "reservations.yaml").unlink()
    assert "reservations.yaml: file is missing" in problems_of(data_copy)


def test_duplicate_party_fails_validation(data_copy: Path) -> None:
    path = data_copy / "parties" / "ets185.yaml"
    line = next(x for x in path.read_text().splitlines() if x.startswith('  - {country: "US"'))
    path.write_text(path.read_text().replace(line, line + "\n" + line, 1))
    assert any("US: listed twice" in p for p in problems_of(data_copy))


def test_all_problems_are_reported_at_once(data_copy: Path) -> None:
    edit(data_copy / "parties/ets185.yaml", '{country: "US",', '{country: "XX",')
    edit(data_copy / "parties/ets185.yaml", "source: jp_mofa_2012", "source: nowhere")
    problems = problems_of(data_copy)
    assert any("'XX'" in p for p in problems) and any("'nowhere'" in p for p in problems)


def _protocol_in_force(data_copy: Path) -> LegalEngine:
    """A hypothetical: CETS 224 in force from 2026-10-01 with US, NL and JP bound."""
    edit(
        data_copy / "instruments.yaml",
        "opened: 2022-05-12\n    in_force: null",
        "opened: 2022-05-12\n    in_force: 2026-10-01",
    )
    parties = data_copy / "parties" / "cets224.yaml"
    text = parties.read_text()
    text = text.replace("in_force: null", "in_force: 2026-10-01")
    text = text.replace("signatories_only:\n", "signatories_only: []\nunused:\n")
    text = text.replace(
        "parties:\n",
        "parties:\n"
        '  - {country: "US", deposited: 2026-06-01, in_force: 2026-10-01, '
        "source: cets224_status_nl, as_of: 2026-06-01, verified: true}\n"
        '  - {country: "NL", deposited: 2026-06-01, in_force: 2026-10-01, '
        "source: cets224_status_nl, as_of: 2026-06-01, verified: true}\n",
    )
    text = text.split("unused:\n")[0]
    parties.write_text(text)
    return LegalEngine(load_dataset(data_copy))


@pytest.mark.parametrize(
    ("as_of", "offered"),
    [(date(2026, 9, 30), False), (date(2026, 10, 1), True)],
    ids=["before-entry-into-force", "after-entry-into-force"],
)
def test_second_protocol_before_and_after_entry_into_force(
    data_copy: Path, as_of: date, offered: bool
) -> None:
    # CETS 224 Arts. 7 and 9 apply only between Parties bound on the date (Art. 16(3)).
    engine = _protocol_in_force(data_copy)
    subscriber = engine.channels("US", "NL", "subscriber", False, as_of)
    emergency = engine.channels("US", "NL", "content", True, as_of)
    assert (subscriber.channel("p2_art7_subscriber_direct") is not None) is offered
    assert (subscriber.channel("p2_art8_production") is not None) is offered
    assert (emergency.channel("p2_art9_emergency_disclosure") is not None) is offered
    basis = engine.legal_basis("emergency_disclosure", "US", "NL", as_of)
    assert basis is not None
    assert basis.instrument == ("CETS 224" if offered else "ETS 185")


def test_second_protocol_reservation_rules_out_direct_orders(data_copy: Path) -> None:
    # reservations.yaml: JP Art. 7(9) (p2_art7_excluded) and Art. 8 for traffic data.
    engine = _protocol_in_force(data_copy)
    subscriber = engine.channels("US", "JP", "subscriber", False, date(2026, 11, 1))
    ruled = subscriber.ruled_out("p2_art7_subscriber_direct")
    assert ruled is not None and "reserved" in ruled.reason
    assert subscriber.channel("p2_art8_production") is not None  # subscriber info still via Art. 8
    traffic = engine.channels("US", "JP", "traffic", False, date(2026, 11, 1))
    assert traffic.ruled_out("p2_art8_production") is not None
    basis = engine.legal_basis("subscriber_info", "US", "JP", date(2026, 11, 1))
    assert basis is not None and basis.articles == ["8"]


def test_second_protocol_with_a_non_bound_party(data_copy: Path) -> None:
    engine = _protocol_in_force(data_copy)
    answer = engine.channels("US", "DE", "subscriber", False, date(2026, 11, 1))
    ruled = answer.ruled_out("p2_art7_subscriber_direct")
    assert ruled is not None and "DE is not bound by CETS 224" in ruled.reason


def test_loader_reads_the_countries_from_iso3166() -> None:
    data = load_dataset()
    assert len(data.countries) == 249
    assert data.countries["NL"] == "Netherlands"
    assert "EU" not in data.countries
