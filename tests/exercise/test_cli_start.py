"""`trailguard exercise start` in its own process: it writes where its nodes listen, `status`
sees it running with its session, `stop` ends it (SIGTERM to that process only) and the
nodes' data stays. Waits are bounded for failure only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from trailguard.cli import _ensure_registered, app
from trailguard.core.config import load_config


def test_start_status_stop(tmp_path: Path) -> None:
    _ensure_registered()
    folder = tmp_path / "training"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trailguard",
            "exercise",
            "start",
            "--seed",
            "1",
            "--difficulty",
            "easy",
            "--data-dir",
            str(folder),
            "--clock-rate",
            "60",
            "--for-seconds",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (folder / "exercise.json").exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "exercise.json never appeared"
            time.sleep(0.5)
        answer = CliRunner().invoke(
            app, ["exercise", "status", "--data-dir", str(folder), "--json"]
        )
        assert answer.exit_code == 0, answer.output
        state = json.loads(answer.output)
        assert state["running"] is True and state["pid"] == process.pid
        assert len(state["sessions"]) == 1 and state["sessions"][0]["state"] == "running"
        for where in state["nodes"].values():
            assert load_config(Path(where["data_dir"])).network_name == state["network"]
        stopped = CliRunner().invoke(app, ["exercise", "stop", "--data-dir", str(folder)])
        assert stopped.exit_code == 0, stopped.output
        assert process.wait(timeout=60) == 0
        output = process.stdout.read() if process.stdout else ""
        assert "/login" in output and "trainee /" in output and "trainer /" in output
        after = CliRunner().invoke(app, ["exercise", "status", "--data-dir", str(folder), "--json"])
        assert json.loads(after.output)["running"] is False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
