"""Helpers for the parser tests (a plain module, imported by the test files beside it)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from trailguard.traffic.model import RECORD_SCHEMA, ParsedBatch, ParseOptions
from trailguard.traffic.parsers import get_parser

try:  # works when the project root is on sys.path (python -m pytest)
    from tests.conftest import samples_dir
except ImportError:  # pragma: no cover - depends on how pytest was started
    # "import conftest" would give whichever conftest.py pytest loaded last (several test
    # folders have one), so the root one is loaded by its path instead
    _spec = importlib.util.spec_from_file_location(
        "trailguard_root_conftest", Path(__file__).resolve().parents[2] / "conftest.py"
    )
    assert _spec is not None and _spec.loader is not None
    _root = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_root)
    samples_dir = _root.samples_dir

FIXTURES = Path(__file__).parent / "fixtures"

__all__ = ["FIXTURES", "Parsed", "parse", "samples_dir", "utc"]


class Parsed:
    """Everything a parse produced, joined over its batches."""

    def __init__(self, batches: list[ParsedBatch]) -> None:
        self.batches = batches
        tables = [b.table for b in batches]
        for t in tables:
            assert t.schema == RECORD_SCHEMA
        self.table = pa.concat_tables(tables) if tables else RECORD_SCHEMA.empty_table()
        self.rows: list[dict[str, Any]] = self.table.to_pylist()
        self.lines_read = sum(b.lines_read for b in batches)
        self.skipped = sum(b.skipped_lines for b in batches)
        self.bad = [bl for b in batches for bl in b.bad_lines]
        self.notes = [n for b in batches for n in b.notes]

    def by_line(self, line: int) -> dict[str, Any]:
        found = [r for r in self.rows if r["source_line"] == line]
        assert len(found) == 1, f"expected one record from line {line}, got {found}"
        return found[0]

    def bad_at(self, line: int) -> str:
        found = [b.reason for b in self.bad if b.line_no == line]
        assert found, f"no bad line {line}; bad lines: {self.bad}"
        return found[0]


def parse(fmt: str, path: Path, **options: Any) -> Parsed:
    return Parsed(list(get_parser(fmt).parse(path, ParseOptions(**options))))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
