"""People on a node: users, roles, passwords (argon2), sessions, API tokens, TOTP."""

from trailguard.accounts.domain import Principal, Role
from trailguard.accounts.service import get_user, principal_of

__all__ = ["Principal", "Role", "get_user", "principal_of"]
