"""Fixtures of the exercise tests: a cheap password hash (the exercise's nodes make users by
the dozen; argon2's production cost is for real logins, not for fixtures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher


@pytest.fixture(autouse=True, scope="module")
def _cheap_hash() -> Iterator[None]:
    import trailguard.accounts.service as accounts_service

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield
