"""People on a node: users, roles, passwords (argon2), sessions, API tokens, TOTP."""

from trailguard.accounts.domain import Principal, Role

__all__ = ["Principal", "Role"]
