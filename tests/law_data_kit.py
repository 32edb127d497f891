"""Test kit for the legal data files: a writable copy of the packaged data to break on purpose
(the ``data_copy`` fixture, registered in tests/conftest.py) and ``edit`` to change it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trailguard.law.loader import DEFAULT_DATA_DIR


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A copy of src/trailguard/law/data to edit and load with ``load_dataset``."""
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path`` by ``new``; fails when the data no longer has it."""
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path.name}: the test no longer matches the data"
    path.write_text(text.replace(old, new, 1), "utf-8")
