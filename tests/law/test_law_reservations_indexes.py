"""Partial ``read`` records of the fifth pass (reservations.yaml: HR, MU, SN, SM), read in
indexes of what a Party made rather than in the text of its list: the CoE chart's notes
columns (Croatia: authorities only) and the Octopus country wiki's summary line (Mauritius:
no reservations; Senegal and San Marino: Arts. 24, 27, 35 only). Each case names the record
that decides it, the ETS 185 article it is about, and the source the answer must cite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from law_data_kit import edit
from trailguard.law import (
    DualCriminalityAnswer,
    LegalEngine,
    RealtimeAnswer,
    load_dataset,
    realtime_collection,
)

DAY = date(2026, 11, 27)
CHART_2015 = "treaty/185/signatures?p_auth=igXbHmd5"
OCTOPUS_MU = "content/id/64859520"
OCTOPUS_SN = "content/senegal"
OCTOPUS_SM = "octopus/-/san-marino"


@dataclass(frozen=True)
class Case:
    name: str
    decided_by: str
    requested: str
    measure: str  # "preservation" (Art. 29(4)), "extradition" (Art. 24(7)), "traffic"/"content"
    status: str
    verified: bool
    source: str | None  # a part of the URL the status must cite (None: nothing read to cite)


# fmt: off
CASES = [
    Case("HR preservation: chart shows no reservation", "read HR 29(4), CoE chart 2015",
         "HR", "preservation", "none", True, CHART_2015),
    Case("HR traffic: no Art. 14(3) reservation", "read HR 14(3), CoE chart 2015",
         "HR", "traffic", "none", True, CHART_2015),
    Case("HR content: no Art. 14(3) or 21 statement", "read HR 14(3), 21, CoE chart 2015",
         "HR", "content", "none", True, CHART_2015),
    Case("HR extradition: Art. 24(7) designation not read", "no record covers HR 24(7)",
         "HR", "extradition", "not_read", False, None),
    Case("MU preservation: 'No reservations', unverified", "read MU 29(4), Octopus summary",
         "MU", "preservation", "none", False, OCTOPUS_MU),
    Case("MU content: Art. 21 not covered (reservations only)", "read MU 14(3) only",
         "MU", "content", "partial", False, OCTOPUS_MU),
    Case("SN content: statements under 24, 27, 35 only", "read SN 14(3), 21, Octopus summary",
         "SN", "content", "none", False, OCTOPUS_SN),
    Case("SM preservation: declarations under 24, 27, 35 only", "read SM 29(4), Octopus",
         "SM", "preservation", "none", False, OCTOPUS_SM),
]
# fmt: on


def _status(engine: LegalEngine, case: Case) -> DualCriminalityAnswer | RealtimeAnswer:
    if case.measure in ("traffic", "content"):
        return realtime_collection(engine, "NL", case.requested, case.measure, DAY)
    return engine.check("NL", case.requested, ["illegal_access"], case.measure, DAY)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_partial_read_records_decide_the_status(engine: LegalEngine, case: Case) -> None:
    answer = _status(engine, case)
    (known,) = answer.reservations_known
    assert (known.country, known.status) == (case.requested, case.status), case.decided_by
    if case.source is None:
        assert "have not been read into the data" in known.text
    else:
        assert any(case.source in s for s in known.sources), (case.decided_by, known.sources)
    label = f"{case.requested} ETS 185 reservations read"
    flagged = not case.verified and case.source is not None
    assert any(label in u for u in answer.unverified) is flagged


def test_partial_records_do_not_stand_for_the_whole_list(engine: LegalEngine) -> None:
    # channels ask about any article: only a record of the whole list (CI) answers "none";
    # a record of part of it answers "partial", cites what was read and says the rest was not
    # (HR's designations, the chart's "A.", were not read). A Party without any record (IT)
    # stays "not read".
    sources = {"HR": CHART_2015, "MU": OCTOPUS_MU, "SN": OCTOPUS_SN, "SM": OCTOPUS_SM}
    for country, source in sources.items():
        answer = engine.channels("US", country, "subscriber", False, DAY)
        (known,) = answer.reservations_known
        assert known.status == "partial", country
        assert "the rest of its list not read" in known.text, country
        assert any(source in s for s in known.sources), (country, known.sources)
        assert not [r for r in engine.data.reservations if r.country == country]
    (italy,) = engine.channels("US", "IT", "subscriber", False, DAY).reservations_known
    assert italy.status == "not_read"
    (ivory,) = engine.channels("US", "CI", "subscriber", False, DAY).reservations_known
    assert ivory.status == "none"


def test_without_the_record_croatia_is_not_read(data_copy: Path) -> None:
    # the record, not a default, decides: drop 29(4) from HR's articles and preservation is
    # back to "not read" while 14(3) (still listed) stays "none".
    edit(data_copy / "reservations.yaml", '"22(2)", "27(9)(e)", "29(4)", "41(1)"]\n'
         "    source: coe_chart_185_2015",
         '"22(2)", "27(9)(e)", "41(1)"]\n    source: coe_chart_185_2015')  # fmt: skip
    engine = LegalEngine(load_dataset(data_copy))
    pres = engine.check("NL", "HR", ["illegal_access"], "preservation", DAY)
    assert pres.reservations_known[0].status == "not_read"
    traffic = realtime_collection(engine, "NL", "HR", "traffic", DAY)
    assert traffic.reservations_known[0].status == "none"
