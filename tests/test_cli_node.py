"""The node-level commands: init, audit verify (naming a tampered row), users."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from trailguard.cli import _ensure_registered, app

_ensure_registered()
runner = CliRunner()


def flat(output: str) -> str:
    """Rich wraps long lines at the terminal width; compare words, not line breaks."""
    return " ".join(output.split())


def _init(data: Path) -> str:
    result = runner.invoke(
        app,
        [
            "init",
            "--data-dir",
            str(data),
            "--name",
            "NL 24/7",
            "--country",
            "NL",
            "--role",
            "poc",
            "--timezone",
            "Europe/Amsterdam",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "one-time password" in flat(result.output)
    return result.output


def test_init_then_audit_verify_then_tamper(tmp_path: Path) -> None:
    data = tmp_path / "nl"
    _init(data)
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(data), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["ok"] and report["entries"] >= 2
    engine = sa.create_engine(f"sqlite:///{data / 'node.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 2"))
    engine.dispose()
    broken = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert broken.exit_code == 1
    assert "entry 2" in flat(broken.output) and "changed" in flat(broken.output)


def test_init_refuses_existing_node_and_bad_role(tmp_path: Path) -> None:
    data = tmp_path / "nl"
    _init(data)
    again = runner.invoke(
        app, ["init", "--data-dir", str(data), "--name", "x", "--country", "NL", "--role", "poc"]
    )
    assert again.exit_code == 2 and "already holds a node" in flat(again.output)
    bad = runner.invoke(
        app,
        [
            "init",
            "--data-dir",
            str(tmp_path / "y"),
            "--name",
            "x",
            "--country",
            "NL",
            "--role",
            "police",
        ],
    )
    assert bad.exit_code != 0 and "police" in flat(bad.output)


def test_audit_verify_on_a_folder_that_is_no_node(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a trailguard data directory" in flat(result.output)


def test_users_add_and_token(tmp_path: Path) -> None:
    data = tmp_path / "nl"
    _init(data)
    added = runner.invoke(
        app,
        [
            "users",
            "add",
            "--data-dir",
            str(data),
            "--username",
            "noor",
            "--name",
            "Noor Visser",
            "--role",
            "duty_officer",
        ],
    )
    assert added.exit_code == 0, added.output
    # a one-time password gets no token (issue 11); once replaced, the token is issued
    refused = runner.invoke(app, ["users", "token", "--data-dir", str(data), "--username", "noor"])
    assert refused.exit_code == 2 and "one-time password" in flat(refused.output)
    one_time = flat(added.output).split("one-time password: ")[1].split()[0]
    from trailguard.accounts import service
    from trailguard.registry import open_node

    node = open_node(data)
    with node.db.session() as session:
        service.change_password(
            session,
            service.get_user(session, "noor"),
            old=one_time,
            new="a long enough passphrase",
            now=node.clock.now(),
        )
    node.close()
    token = runner.invoke(app, ["users", "token", "--data-dir", str(data), "--username", "noor"])
    assert token.exit_code == 0 and token.output.startswith("tg_")
    dup = runner.invoke(
        app,
        [
            "users",
            "add",
            "--data-dir",
            str(data),
            "--username",
            "noor",
            "--name",
            "Noor",
            "--role",
            "duty_officer",
        ],
    )
    assert dup.exit_code == 2 and "already exists" in flat(dup.output)
