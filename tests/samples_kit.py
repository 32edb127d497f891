"""The real third-party samples beside the project (../shared/samples), with its own module
name: ``from conftest import ...`` gives whichever conftest.py pytest loaded last."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def samples_dir() -> Path:
    """../shared/samples, or skip (a user's machine has no ../shared)."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not present on this machine")
    return SAMPLES
