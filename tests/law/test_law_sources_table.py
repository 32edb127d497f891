"""`law sources` at a terminal's width: addresses fold over full lines, not one character per
line (issue 15)."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from trailguard.cli import _register_groups, app

_register_groups()


def test_sources_table_keeps_addresses_readable_at_80_columns() -> None:
    result = CliRunner().invoke(app, ["law", "sources"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    cells = [
        part.strip()
        for line in result.output.splitlines()
        for part in re.split(r"[│┃]", line)
        if part.strip()
    ]
    joined = "".join(cells)
    listed = CliRunner().invoke(app, ["law", "sources", "--json"])
    urls = [row["url"] for row in json.loads(listed.output)["sources"]]
    # Each address reads whole when its folded lines are put together (in a narrow column
    # between others it was cut into pieces interleaved with the other columns' text).
    unreadable = [url for url in urls if url and url not in joined]
    assert not unreadable, unreadable[:3]
    assert "us_embassy_2006" in result.output
