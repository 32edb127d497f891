"""People on a node: users, roles, passwords (argon2), sessions, API tokens, TOTP."""

from typing import Any

from trailguard.accounts.domain import Principal, Role

__all__ = ["Principal", "Role", "get_user", "principal_of"]


def __getattr__(name: str) -> Any:
    # The service (database, argon2) loads on first use, so the face stays light.
    if name in ("get_user", "principal_of"):
        from trailguard.accounts import service

        return getattr(service, name)
    raise AttributeError(f"module 'trailguard.accounts' has no attribute {name!r}")
