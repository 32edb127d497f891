"""Fixtures of the exercise tests: a cheap password hash (the nodes' users are made by the
dozen; argon2's production cost is for real logins, not for fixtures) and no background
delivery worker unless a test starts the loopback cluster itself."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher


@pytest.fixture(autouse=True)
def _cheap_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    import trailguard.accounts.service as accounts_service

    monkeypatch.setattr(
        accounts_service,
        "_hasher",
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
