"""Answers say whether a Party's reservations are known (read in a source), known to be none
(its list was read: reservations.yaml ``read``), or not read, so that missing data is never
taken for "no reservation" (issue 16). Cases cite the ETS 185 article the status is about."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import helpers
from law_data_kit import edit
from trailguard.accounts import Role
from trailguard.cli import _register_groups, app
from trailguard.core.clock import FixedClock
from trailguard.law import (
    LegalDataInvalid,
    LegalEngine,
    get_engine,
    load_dataset,
    realtime_collection,
)
from trailguard.node import Node

DAY = date(2026, 11, 27)
READ_RECORD = """
read:
  - instrument: ets185
    country: "DE"
    articles: {articles}
    source: coe_reservations_bg
    as_of: 2021-03-06
    verified: true
    note: test record (a reading of Germany's list that found no Art. 14(3) or 21 entry)
"""


def add_read(data_copy: Path, record: str) -> None:
    """Add a ``read`` record to reservations.yaml (into its ``read:`` section if it has one)."""
    path = data_copy / "reservations.yaml"
    text = path.read_text("utf-8")
    if "\nread:\n" in text:
        text = text.replace("\nread:\n", record, 1)
    else:
        text += record
    path.write_text(text, "utf-8")


def with_read(data_copy: Path, articles: str) -> LegalEngine:
    add_read(data_copy, READ_RECORD.format(articles=articles))
    return LegalEngine(load_dataset(data_copy))


@dataclass(frozen=True)
class Known:
    name: str
    article: str  # the ETS 185 provision the status is about
    requested: str
    data: str
    read_articles: str | None  # a read record for DE (None: packaged data unchanged)
    status: str
    allowed: bool | None
    verified: bool
    says: str


KNOWN_CASES = [
    # traffic data: Art. 14(3) (Art. 20 via Art. 33) is the article that can limit it
    Known("bg_art14_3_a_reservation_known", "Art. 14(3)(a)", "BG", "traffic", None, "known",
          None, True, "in effect on 2026-11-27: BG reservation ETS 185 Art. 14(3)(a)"),
    Known("de_not_read_is_not_none", "Art. 14(3)", "DE", "traffic", None, "not_read", True,
          False, "have not been read into the data"),
    Known("de_read_all_none", "Art. 14(3)", "DE", "traffic", "all", "none", True, True,
          "read in a source; none in effect on 2026-11-27"),
    Known("de_read_art14_3_none", "Art. 14(3)", "DE", "traffic", '["14(3)"]', "none", True,
          True, "none in effect"),
    Known("de_read_only_art29_4_still_not_read", "Art. 29(4) is not Art. 14(3)", "DE",
          "traffic", '["29(4)"]', "not_read", True, False, "have not been read"),
    # content data: Art. 21 (via Art. 34) as well
    Known("fr_art21_known_art14_3_unread_partial", "Arts. 14(3), 21", "FR", "content", None,
          "partial", None, False, "Arts. 14(3) not read"),
    Known("de_read_both_none", "Arts. 14(3), 21", "DE", "content", '["14(3)", "21"]', "none",
          None, True, "none in effect"),
]  # fmt: skip


@pytest.mark.parametrize("case", KNOWN_CASES, ids=[c.name for c in KNOWN_CASES])
def test_realtime_answer_says_whether_reservations_are_known(data_copy: Path, case: Known) -> None:
    engine = (
        get_engine() if case.read_articles is None else with_read(data_copy, case.read_articles)
    )
    answer = realtime_collection(engine, "NL", case.requested, case.data, DAY)
    (known,) = answer.reservations_known
    topic = ("14(3)",) if case.data == "traffic" else ("14(3)", "21")
    assert (known.country, known.status, known.articles) == (case.requested, case.status, topic)
    assert case.says in known.text, case.article
    assert answer.allowed is case.allowed
    assert answer.verified is case.verified
    assert answer.to_dict()["reservations_known"][0]["status"] == case.status
    unread = case.status in ("not_read", "partial")
    assert any(c.startswith("Not checked:") for c in answer.conditions) is unread
    assert any("reservations not read" in u for u in answer.unverified) is unread
    if case.status == "none":
        assert known.sources and "CoE Treaty Office" in known.sources[0]
    if case.status == "known":
        assert any("coe.int" in s for s in known.sources)


def test_withdrawn_art14_3_reservation_is_none_after_and_known_before(data_copy: Path) -> None:
    """A reservation withdrawn (ETS 185 Art. 43) stops applying on valid_until: before it the
    answer names it, after it the status is "none" and still names the ended entry."""
    edit(data_copy / "reservations.yaml", "    valid_from: 2005-08-01\n    made: 2005-04-07\n",
         "    valid_from: 2005-08-01\n    valid_until: 2026-11-01\n    made: 2005-04-07\n"
         "    withdrawn: 2026-10-20\n")  # fmt: skip
    engine = LegalEngine(load_dataset(data_copy))
    before = realtime_collection(engine, "NL", "BG", "traffic", date(2026, 10, 31))
    after = realtime_collection(engine, "NL", "BG", "traffic", date(2026, 11, 1))
    assert (before.allowed, before.reservations_known[0].status) == (None, "known")
    assert (after.allowed, after.reservations_known[0].status) == (True, "none")
    assert "until 2026-11-01" in after.reservations_known[0].text


def test_check_and_channels_carry_the_status(data_copy: Path) -> None:
    engine = with_read(data_copy, '["29(4)"]')
    # preservation: Art. 29(4) is the article that matters (dual criminality)
    de = engine.check("NL", "DE", ["illegal_access"], "preservation", DAY)
    assert [(k.country, k.status, k.articles) for k in de.reservations_known] == [
        ("DE", "none", ("29(4)",))
    ]
    at = engine.check("NL", "AT", ["illegal_access"], "preservation", DAY)
    assert at.reservations_known[0].status == "known"  # AT reservation ETS 185 Art. 29(4)
    assert "AT reservation ETS 185 Art. 29(4)" in at.reservations_known[0].text
    it = engine.check("NL", "IT", ["illegal_access"], "preservation", DAY)
    assert it.reservations_known[0].status == "not_read"
    assert any("not that none was made" in line for line in it.reasoning)
    # channels: any article; a Party with some entries but no record of its whole list
    br = engine.channels("US", "BR", "subscriber", False, DAY)
    assert [(k.country, k.status) for k in br.reservations_known] == [("BR", "not_read")]
    assert "not that none was made" in br.to_dict()["reservations_known"][0]["text"]
    jp = engine.channels("US", "JP", "subscriber", False, DAY)
    assert jp.reservations_known[0].status == "partial"
    # not both Parties: no ETS 185 question, no status
    assert (
        engine.check("NL", "CN", ["illegal_access"], "preservation", DAY).reservations_known == ()
    )


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ('    articles: ["14 3"]\n', "articles are written like"),
        ("    articles: []\n", "list the articles read"),
    ],
)
def test_read_records_are_checked(data_copy: Path, record: str, problem: str) -> None:
    text = READ_RECORD.replace("    articles: {articles}\n", record)
    add_read(data_copy, text)
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any(problem in p for p in caught.value.problems)


def test_read_record_of_a_state_not_party_is_refused(data_copy: Path) -> None:
    add_read(data_copy, READ_RECORD.format(articles="all").replace('"DE"', '"CN"'))
    with pytest.raises(LegalDataInvalid) as caught:
        load_dataset(data_copy)
    assert any("CN is not listed as a Party to ets185" in p for p in caught.value.problems)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    clock = FixedClock(datetime(2026, 11, 27, 8, 14, 7, tzinfo=UTC))
    made = helpers.make_node(tmp_path, database_url, node_id="us-poc", country="US", clock=clock,
                             timezone="America/New_York")  # fmt: skip
    yield made
    made.close()


@pytest.mark.slow
def test_cli_and_page_say_the_status(node: Node) -> None:

    _register_groups()
    args = ["law", "channels", "--from", "US", "--to", "BR", "--data", "subscriber",
            "--as-of", "2026-11-27"]  # fmt: skip
    shown = " ".join(CliRunner().invoke(app, args).stdout.split())
    assert "Reservations of BR: not read: BR's ETS 185 reservations" in shown
    check = ["law", "check", "--from", "NL", "--to", "AT", "--conduct", "illegal_access",
             "--measure", "preservation", "--as-of", "2026-11-27"]  # fmt: skip
    shown = " ".join(CliRunner().invoke(app, check).stdout.split())
    assert "Reservations of AT: known" in shown and "AT reservation ETS 185 Art. 29(4)" in shown
    client = helpers.browser_login(node, [Role.DUTY_OFFICER])
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/law").text)
    assert token is not None
    form = {"csrf_token": token.group(1), "kind": "channels", "requesting": "US",
            "requested": "BR", "data": "subscriber", "as_of": "2026-11-27"}  # fmt: skip
    page = client.post("/law/answer", data=form, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "Reservations of BR: <strong>not read</strong>" in page.text
