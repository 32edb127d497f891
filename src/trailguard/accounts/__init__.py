"""People on a node: users, roles, passwords (argon2), sessions, API tokens, TOTP.

The face other capabilities (and the shared web plumbing) use: the principal and its roles,
finding a user, and authenticating a request's credentials.
"""

from trailguard.accounts.domain import Principal, Role
from trailguard.accounts.service import (
    Authenticated,
    CsrfRejected,
    PasswordChangeRequired,
    authenticate,
    create_user,
    get_user,
    principal_of,
)

__all__ = [
    "Authenticated",
    "CsrfRejected",
    "PasswordChangeRequired",
    "Principal",
    "Role",
    "authenticate",
    "create_user",
    "get_user",
    "principal_of",
]
