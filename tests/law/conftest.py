"""Fixtures of the legal engine's tests: the engine over the packaged data, loaded once."""

from __future__ import annotations

import pytest

from trailguard.law import LegalEngine, get_engine


@pytest.fixture(scope="session")
def engine() -> LegalEngine:
    """The engine over src/trailguard/law/data (read only: tests that change the data edit a
    copy, ``data_copy``, and load their own)."""
    return get_engine()
