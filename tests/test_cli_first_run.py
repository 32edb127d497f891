"""What a new user meets on the command line: help that reads well, country codes checked at
init with a suggestion, a bad node.toml naming its field, an unreachable database refused
before anything is written, the database chosen at init kept, a mistyped --data-dir never
turned into an empty store, the serve port checked against the published base_url, and the
demo's temporary folder removed even on Ctrl-C."""

from __future__ import annotations

import io
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from trailguard.cli import _ensure_registered, app, base_url_mismatch
from trailguard.core.config import NodePaths, database_url_for, load_config
from trailguard.demo import runner as demo_runner
from trailguard.demo.script import Step

_ensure_registered()
runner = CliRunner()


def flat(output: str) -> str:
    return " ".join(output.split())


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    if hasattr(group, "commands"):  # a group (typer may carry its own copy of click)
        for name, sub in group.commands.items():
            found += _commands(sub, (*prefix, name))
    return found


def test_help_of_every_command_shows_no_bool_placeholder_and_whole_choices() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 30  # the walk reached the groups' commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
    init_help = runner.invoke(app, ["init", "--help"], env={"COLUMNS": "80"}).output
    assert "ROLE" in init_help and "central-authority" in flat(init_help)
    assert "authorit y" not in flat(init_help)


def _init(data: Path, *extra: str, country: str = "NL") -> Any:
    return runner.invoke(
        app,
        ["init", "--data-dir", str(data), "--name", "NL 24/7", "--country", country,
         "--role", "poc", *extra],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("given", "suggested"), [("UK", "'GB'"), ("EL", "'GR'"), ("Netherlands", "'NL'")]
)
def test_init_refuses_a_wrong_country_code_with_a_suggestion(
    tmp_path: Path, given: str, suggested: str
) -> None:
    result = _init(tmp_path / "n", country=given)
    assert result.exit_code == 2
    assert "ISO 3166-1 alpha-2" in flat(result.output) and suggested in result.output
    assert not (tmp_path / "n").exists(), "nothing is created for a refused init"


def test_init_refuses_a_code_iso_does_not_assign(tmp_path: Path) -> None:
    result = _init(tmp_path / "n", country="XX")
    assert result.exit_code == 2 and "'XX' is not an ISO 3166-1 alpha-2" in flat(result.output)


def test_a_bad_node_toml_names_the_field_and_the_reason(tmp_path: Path) -> None:
    data = tmp_path / "n"
    assert _init(data).exit_code == 0
    config = data / "node.toml"
    text = config.read_text()
    assert "ack_minutes = 30" in text
    config.write_text(
        text.replace("ack_minutes = 30", "ack_minutes = 0") + "require_totpp = true\n"
    )
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert result.exit_code == 2
    out = flat(result.output)
    assert "ack_minutes" in out and "greater than or equal to 1" in out
    assert "require_totpp: not a known setting" in out
    config.write_text(text.replace('country = "NL"', 'country = "UK"'))
    out = flat(runner.invoke(app, ["audit", "verify", "--data-dir", str(data)]).output)
    assert "country" in out and "'GB'" in out
    config.write_text("this is = = not toml")
    out = flat(runner.invoke(app, ["audit", "verify", "--data-dir", str(data)]).output)
    assert "not valid TOML" in out


def test_an_unreachable_database_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    data = tmp_path / "n"
    # port 1 on loopback: nothing listens there, the connection is refused at once
    url = "postgresql://trailguard@127.0.0.1:1/none"
    result = runner.invoke(
        app,
        ["init", "--data-dir", str(data), "--name", "NL", "--country", "NL", "--role", "poc"],
        env={"TRAILGUARD_DATABASE_URL": url},
    )
    assert result.exit_code == 2, result.output
    assert "cannot reach the database" in flat(result.output)
    assert "Traceback" not in result.output
    assert not data.exists()
    # an existing empty folder stays, and stays empty
    data.mkdir()
    again = runner.invoke(
        app,
        ["init", "--data-dir", str(data), "--name", "NL", "--country", "NL", "--role", "poc"],
        env={"TRAILGUARD_DATABASE_URL": url},
    )
    assert again.exit_code == 2 and list(data.iterdir()) == []


def test_the_database_named_by_the_environment_at_init_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "n"
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = runner.invoke(
        app,
        ["init", "--data-dir", str(data), "--name", "NL", "--country", "NL", "--role", "poc"],
        env={"TRAILGUARD_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    saved = tomllib.loads((data / "node.toml").read_text())
    assert saved["database_url"] == url
    assert (tmp_path / "elsewhere.db").exists() and not (data / "trailguard.db").exists()
    assert "TRAILGUARD_DATABASE_URL" not in os.environ
    # a later command without the variable opens the same database
    assert database_url_for(load_config(data), NodePaths(data)) == url
    add = ["users", "add", "--data-dir", str(data), "--username", "admin", "--name", "A",
           "--role", "admin"]  # fmt: skip
    again = runner.invoke(app, add)
    assert again.exit_code == 2 and "admin" in again.output  # the first admin is found there


def test_traffic_commands_do_not_create_a_mistyped_data_dir(tmp_path: Path) -> None:
    missing = tmp_path / "rio-typo"
    result = runner.invoke(
        app,
        ["traffic", "lookup", "--data-dir", str(missing), "--ip", "203.0.113.1",
         "--at", "2026-11-16T10:19:38Z"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "holds no traffic store" in flat(result.output)
    assert not missing.exists()
    held = runner.invoke(app, ["traffic", "hold", "list", "--data-dir", str(missing)])
    assert held.exit_code == 2 and not missing.exists()


def test_serve_warns_when_its_port_is_not_the_published_one() -> None:
    assert base_url_mismatch("http://127.0.0.1:8000", "127.0.0.1", 8000) == []
    assert base_url_mismatch("https://nl.example.org", "0.0.0.0", 443) == []
    (warning,) = base_url_mismatch("http://127.0.0.1:8000", "127.0.0.1", 8001)
    assert "port 8000" in warning and "--port 8000" in warning


def test_demo_removes_its_temporary_folder_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = tmp_path / "demo-root"
    stopped: list[bool] = []

    class FakeCluster:
        def __init__(self, root: Path, _nodes: Any) -> None:
            (root / "us-poc").mkdir(parents=True)
            self.nodes: dict[str, Any] = {}

        def stop(self) -> None:
            stopped.append(True)

    def interrupted(_ctx: Any) -> Any:
        yield "working"
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_runner.tempfile, "mkdtemp", lambda prefix: str(made))
    monkeypatch.setattr(demo_runner, "DemoCluster", FakeCluster)
    monkeypatch.setattr(demo_runner, "STEPS", [Step("interrupted", "us-poc", interrupted)])
    monkeypatch.setattr(demo_runner, "FINAL_STEPS", [])
    with pytest.raises(KeyboardInterrupt):
        demo_runner.run_demo(check=False, data_dir=None, console=Console(file=io.StringIO()))
    assert stopped == [True]
    assert not made.exists()
