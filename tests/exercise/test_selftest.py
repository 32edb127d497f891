"""The selftest (issue 17 point 5): the careful trainee scores higher than the careless one on
every axis, for several seeds and difficulties; the CLI prints both with their breakdown and
refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.cli import _ensure_registered, app
from trailguard.exercise import AXES
from trailguard.exercise.selftest import run_selftest


@pytest.fixture(autouse=True)
def _groups() -> None:
    _ensure_registered()


@pytest.mark.parametrize(
    ("seed", "level"), [(1, "easy"), (3, "normal"), (8, "normal"), (5, "hard"), (0, "hard")]
)
def test_careful_beats_careless_on_every_axis(seed: int, level: str) -> None:
    result = run_selftest(seed, level)
    careful, careless = result.careful, result.careless
    for axis in AXES:
        assert careful["axes"][axis] > careless["axes"][axis], axis
    assert careful["total"] == 100.0
    assert careless["total"] < 50.0
    # the careless one's mistakes are named with their articles
    lost = [p for p in careless["points"] if p["earned"] < p["possible"]]
    assert {p["axis"] for p in lost} == set(AXES)
    assert all(p["article"] for p in lost)
    assert any("after the records were deleted" in p["explanation"] for p in lost)


def test_cli_selftest_json() -> None:
    answer = CliRunner().invoke(
        app, ["exercise", "selftest", "--seed", "2", "--difficulty", "easy", "--json"]
    )
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.output)
    assert data["seed"] == 2 and data["difficulty"] == "easy"
    assert data["careful_higher_on_every_axis"] is True
    assert set(data["careful"]["axes"]) == set(AXES) == set(data["careless"]["axes"])
    assert data["careful"]["points"] and data["careless"]["points"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exercise", "selftest", "--seed", "abc"], "seed"),
        (["exercise", "selftest", "--seed", "-5"], "seed"),
        (["exercise", "selftest", "--seed", "1", "--difficulty", "impossible"], "difficulty"),
        (["exercise", "generate", "--seed", "1", "--difficulty", "nightmare"], "difficulty"),
        (["exercise", "start", "--seed", "1", "--clock-rate", "0"], "clock-rate"),
        (["exercise", "start", "--seed", "x"], "seed"),
    ],
)
def test_cli_refuses_bad_input(args: list[str], message: str) -> None:
    answer = CliRunner().invoke(app, args)
    assert answer.exit_code == 2, answer.output
    assert message in " ".join(answer.output.split())


def test_cli_status_and_stop_need_an_exercise(tmp_path: Path) -> None:
    for command in ("status", "stop"):
        answer = CliRunner().invoke(app, ["exercise", command, "--data-dir", str(tmp_path)])
        assert answer.exit_code == 2
        assert "exercise.json missing" in " ".join(answer.output.split())


def test_cli_start_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x", encoding="utf-8")
    answer = CliRunner().invoke(
        app, ["exercise", "start", "--seed", "1", "--data-dir", str(tmp_path)]
    )
    assert answer.exit_code == 2 and "not empty" in " ".join(answer.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]


def test_cli_generate_prints_the_answer_key() -> None:
    answer = CliRunner().invoke(
        app, ["exercise", "generate", "--seed", "4", "--difficulty", "hard", "--json"]
    )
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.output)
    assert data["seed"] == 4 and data["hops"] and data["network"].startswith("exercise-")
