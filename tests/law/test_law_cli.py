"""``trailguard law ...`` through the root CLI: JSON contract, tables for people, exit 2 on
bad input."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from trailguard.cli import _register_groups, app
from trailguard.law import CHANNEL_IDS, load_dataset

_register_groups()
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["law", *args])
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> Any:
    """``law ... --json`` that must exit 0: its output, parsed."""
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def check(
    requesting: str, requested: str, conduct: str = "illegal_access", measure: str = "preservation"
) -> list[str]:
    return ["check", "--from", requesting, "--to", requested, "--conduct", conduct,
            "--measure", measure]  # fmt: skip


def channels(requesting: str, requested: str, data: str) -> list[str]:
    return ["channels", "--from", requesting, "--to", requested, "--data", data]


def test_check_json_contract() -> None:
    payload = run_json(*check("US", "NL"), "--as-of", "2025-01-01")
    assert payload["as_of"] == "2025-01-01"
    assert set(payload["dual_criminality"]) == {"required", "satisfied", "reason"}
    assert payload["dual_criminality"]["required"] is False  # ETS 185 Art. 29(3)
    assert payload["dual_criminality"]["satisfied"] is True
    assert set(payload["provisions"]) == {"US", "NL"}
    assert all(isinstance(c, str) for c in payload["citations"])
    assert "ETS 185 Art. 29(3)" in payload["citations"]


def test_check_json_repeated_conduct_and_national_offence() -> None:
    dual = run_json(*check("NL", "AT", "nl_sr_285"), "--as-of", "2020-01-01")["dual_criminality"]
    assert dual["required"] is True and "29(4)" in dual["reason"]  # reservations.yaml: AT
    assert dual["satisfied"] is None  # no offence data for AT


def test_channels_json_contract() -> None:
    payload = run_json(*channels("US", "BR", "subscriber"), "--as-of", "2026-11-27")
    assert payload["as_of"] == "2026-11-27"
    assert payload["channels"], "at least one lawful channel"
    for channel in payload["channels"]:
        assert {"id", "name", "legal_basis", "deadline", "citations"} <= set(channel)
        assert channel["id"] in CHANNEL_IDS
    assert payload["channels"][0]["id"] == "preservation_24_7"
    for item in payload["not_available"]:
        assert set(item) == {"id", "reason"} and item["id"] in CHANNEL_IDS
    ids = [c["id"] for c in payload["channels"]] + [n["id"] for n in payload["not_available"]]
    assert sorted(ids) == sorted(CHANNEL_IDS)


def test_channels_emergency_and_loop_back() -> None:
    payload = run_json(*channels("US", "US", "traffic"), "--emergency", "--as-of", "2026-11-20")
    assert [c["id"] for c in payload["channels"]] == ["domestic_process"]


def test_channels_default_date_is_today() -> None:
    payload = run_json(*channels("NL", "DE", "traffic"))
    assert date.fromisoformat(payload["as_of"])  # a date, whatever today is


def test_human_output_has_tables_and_citations() -> None:
    code, out, _ = run(*channels("US", "NL", "subscriber"), "--as-of", "2025-01-01")
    assert code == 0
    assert "Lawful channels, fastest first" in out and "Considered and ruled out" in out
    assert "preservation_24_7" in out and "Citations" in out
    code, out, _ = run(*check("US", "NO"), "--as-of", "2025-01-01")
    assert code == 0
    assert "Dual criminality required: no" in out and "Provisions" in out
    assert "unverified" in out


def test_parties_on_a_date() -> None:
    parties = run_json("parties", "--instrument", "ets185", "--as-of", "2004-07-01")["parties"]
    assert parties == ["AL", "EE", "HR", "HU", "LT"]  # in force 2004-07-01
    payload = run_json("parties", "--instrument", "cets224", "--as-of", "2026-11-27")
    assert payload["parties"] == []  # 3 of 5 consents
    code, _, err = run("parties", "--instrument", "ets999")
    assert code == 2 and "'ets999'" in err


def test_sources_lists_every_source() -> None:
    payload = run_json("sources")
    data = load_dataset()
    assert [s["id"] for s in payload["sources"]] == list(data.sources)
    assert payload["horizon"] == data.meta.horizon.isoformat()
    code, out, _ = run("sources")
    assert code == 0 and "us_embassy_2006" in out


# fmt: off
BAD_INPUT = [
    # (id, arguments, what the message must name)
    ("country", check("XX", "NL"), "'XX'"),
    ("conduct", check("US", "NL", "hacking"), "'hacking'"),
    ("too-early", [*check("US", "NL"), "--as-of", "1999-01-01"], "1999-01-01"),
    ("bad-date", [*check("US", "NL"), "--as-of", "2025-13-01"], "'2025-13-01'"),
    ("eu", channels("US", "EU", "subscriber"), "'EU'"),
    ("data", channels("US", "NL", "emails"), "'emails'"),
    ("contradictory", [*channels("US", "US", "traffic"), "--provider-country", "BR"],
     "contradictory"),
    ("channels-conduct", [*channels("NL", "DE", "traffic"), "--conduct", "spam"], "'spam'"),
]
# fmt: on


@pytest.mark.parametrize(
    ("args", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "accepted" in err or "ask" in err or "YYYY-MM-DD" in err
    assert out == ""


def test_a_day_past_the_horizon_is_answered_with_a_caution_not_refused() -> None:
    # a node whose legal data was not refreshed still answers its duty officer, and says so
    late = run_json(*check("US", "NL"), "--as-of", "2099-01-01")
    assert late["verified"] is False
    assert any("past its horizon" in item for item in late["unverified"])
    assert any("Caution: the legal data" in line and "2099-01-01" in line
               for line in late["reasoning"])  # fmt: skip
    current = run_json(*check("US", "NL"), "--as-of", "2026-11-20")
    assert not any("past its horizon" in item for item in current["unverified"])
    assert current["dual_criminality"]["required"] == late["dual_criminality"]["required"]


def test_check_extradition_json_reports_the_penalty_threshold() -> None:
    # ETS 185 Art. 24(1)(a); offences.yaml us_18usc1030_a2 (1 y) and de_stgb_202a (3 y).
    payload = run_json(*check("US", "DE", measure="extradition"), "--as-of", "2025-01-01")
    assert set(payload["dual_criminality"]) == {"required", "satisfied", "reason"}
    assert payload["dual_criminality"]["satisfied"] is True
    threshold = payload["penalty_threshold"]
    assert threshold["rule"] == "ETS 185 Art. 24(1)(a)" and threshold["satisfied"] is True
    assert {c["country"]: c["statute"] for c in threshold["countries"]} == {
        "US": "18 U.S.C. § 1030(a)(2)",
        "DE": "StGB § 202a",
    }
    de = [p for p in payload["provisions"]["DE"] if p["id"] == "de_stgb_202a"]
    assert de[0]["max_penalty"]["years"] == 3


def test_channels_conduct_option_checks_the_epoc_threshold() -> None:
    # Regulation (EU) 2023/1543 Art. 5(4); offences.yaml de_stgb_241 (1 y, unverified).
    base = [*channels("DE", "NL", "traffic"), "--as-of", "2026-09-01"]
    payload = run_json(*base, "--conduct", "de_stgb_241")
    assert payload["conduct"] == ["de_stgb_241"]
    ruled = {item["id"]: item["reason"] for item in payload["not_available"]}
    assert "Regulation (EU) 2023/1543 Art. 5(4)" in ruled["eu_epoc"]
    assert all(set(item) == {"id", "reason"} for item in payload["not_available"])
    # Without --conduct the EPOC is offered and says the threshold was not checked.
    epoc = next(c for c in run_json(*base)["channels"] if c["id"] == "eu_epoc")
    assert {"id", "name", "legal_basis", "deadline", "citations"} <= set(epoc)
    assert any("not checked" in c for c in epoc["conditions"])
    code, out, _ = run(*base)
    assert code == 0 and "Condition (eu_epoc)" in out


def test_sources_lists_the_penalty_sources_with_their_file() -> None:
    rows = {row["id"]: row for row in run_json("sources")["sources"]}
    assert rows["pen_de_stgb_2012"]["file"] == "sources_penalties.yaml"
    assert rows["pen_de_stgb_2012"]["facts"] >= 3
    assert rows["ets185_text"]["file"] == "sources.yaml"
