from __future__ import annotations

import json
from pathlib import Path

from req_payloads import payload
from typer.testing import CliRunner

from trailguard.requests.cli import app

runner = CliRunner()


def test_validate_and_render(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(payload("preservation")))
    bad_data = payload("preservation")
    del bad_data["custodian"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_data))

    assert runner.invoke(app, ["validate", str(good)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1 and "Art. 29(2)(d)" in result.output

    out = tmp_path / "request.pdf"
    assert runner.invoke(app, ["render", str(good), "--out", str(out)]).exit_code == 0
    assert out.read_bytes().startswith(b"%PDF")
    html = tmp_path / "request.html"
    assert runner.invoke(app, ["render", str(good), "--out", str(html)]).exit_code == 0
    assert "US-2026-0042" in html.read_text()
    assert (
        runner.invoke(app, ["render", str(good), "--out", str(tmp_path / "x.doc")]).exit_code == 2
    )
    assert runner.invoke(app, ["render", str(bad), "--out", str(out)]).exit_code == 1
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    assert runner.invoke(app, ["validate", str(garbage)]).exit_code == 2
