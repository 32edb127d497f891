"""Account services: create users, log in (password + optional TOTP), sessions, API tokens,
and ``authenticate_request`` that the web layer's dependencies call."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.accounts.domain import Principal, Role
from trailguard.accounts.orm import ApiTokenRow, SessionRow, UserRoleRow, UserRow
from trailguard.audit import record
from trailguard.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

if TYPE_CHECKING:
    from trailguard.node import Node

SESSION_HOURS = 12
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def principal_of(user: UserRow) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=frozenset(Role(row.role) for row in user.roles),
    )


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            ["password"],
        )


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    roles: list[Role],
    now: datetime,
    actor: str,
    password: str | None = None,
    email: str | None = None,
    one_time: bool = True,
) -> tuple[UserRow, str]:
    """Create a user; returns the row and the password (generated when none is given)."""
    problems = []
    if not _USERNAME.fullmatch(username or ""):
        problems.append(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_' or '-'")
    if not display_name.strip():
        problems.append("display_name: required")
    if not roles:
        problems.append("roles: at least one of " + ", ".join(r.value for r in Role))
    if problems:
        raise ValidationFailed("the user cannot be created", problems)
    if session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none():
        raise Conflict(f"user {username!r} already exists")
    if password is None:
        password = secrets.token_urlsafe(15)
    else:
        _check_password_strength(password)
    user = UserRow(
        username=username,
        display_name=display_name.strip(),
        email=email,
        password_hash=_hasher.hash(password),
        must_change_password=one_time,
        active=True,
        failed_logins=0,
        created_at=now,
    )
    user.roles = [UserRoleRow(role=Role(role).value) for role in sorted(set(roles))]
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="user.created",
        subject=f"user:{username}",
        details={"roles": sorted(r.value for r in roles), "one_time_password": one_time},
        at=now,
    )
    return user, password


def get_user(session: Session, username: str) -> UserRow:
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


class LoginFailed(PermissionDenied):
    pass


class CsrfRejected(PermissionDenied):
    """A cookie session's unsafe request without its CSRF token."""

    def __init__(self, message: str, *, csrf_token: str) -> None:
        super().__init__(message)
        self.csrf_token = csrf_token


class PasswordChangeRequired(PermissionDenied):
    """The user must change a one-time password before anything else."""

    def __init__(self, message: str, *, csrf_token: str) -> None:
        super().__init__(message)
        self.csrf_token = csrf_token


def check_login(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    now: datetime,
    require_totp: bool,
) -> UserRow:
    """Verify password (and TOTP when the node requires it or the user enrolled). Failed
    attempts count towards a temporary lockout; every outcome is audited."""
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    generic = "unknown user or wrong password"
    if user is None or not user.active:
        _hasher.hash(password)  # spend the same time as a real check: no user enumeration
        record(
            session,
            actor=f"user:{username}"[:200],
            action="login.failed",
            subject=f"user:{username}"[:300],
            details={"reason": "unknown or inactive"},
            at=now,
        )
        raise LoginFailed(generic)
    if user.locked_until and user.locked_until > now:
        record(
            session,
            actor=f"user:{username}",
            action="login.failed",
            subject=f"user:{username}",
            details={"reason": "locked"},
            at=now,
        )
        raise LoginFailed(
            f"too many failed attempts; try again after {user.locked_until:%H:%M} UTC"
        )
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        record(
            session,
            actor=f"user:{username}",
            action="login.failed",
            subject=f"user:{username}",
            details={"reason": "password"},
            at=now,
        )
        raise LoginFailed(generic) from None
    if require_totp and not user.totp_secret:
        raise LoginFailed(
            "this node requires a second factor and the user has none: an admin enrols it "
            "with `trailguard users totp --username ...`"
        )
    if user.totp_secret and (
        not totp_code
        or not pyotp.TOTP(user.totp_secret).verify(totp_code.strip(), for_time=now, valid_window=1)
    ):
        user.failed_logins += 1
        record(
            session,
            actor=f"user:{username}",
            action="login.failed",
            subject=f"user:{username}",
            details={"reason": "totp"},
            at=now,
        )
        raise LoginFailed("the one-time code (TOTP) is missing or wrong")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    return user


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


def start_session(session: Session, user: UserRow, *, now: datetime) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = now + timedelta(hours=SESSION_HOURS)
    session.add(
        SessionRow(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            revoked=False,
        )
    )
    record(
        session,
        actor=f"user:{user.username}",
        action="login.succeeded",
        subject=f"user:{user.username}",
        details={},
        at=now,
    )
    return NewSession(token=token, csrf_token=csrf, expires_at=expires)


def end_session(session: Session, token: str, *, now: datetime) -> None:
    row = session.get(SessionRow, _digest(token))
    if row is not None and not row.revoked:
        row.revoked = True
        user = session.get(UserRow, row.user_id)
        name = user.username if user else str(row.user_id)
        record(session, actor=f"user:{name}", action="logout", subject=f"user:{name}", at=now)


def issue_api_token(
    session: Session,
    user: UserRow,
    *,
    name: str,
    now: datetime,
    actor: str,
    lifetime: timedelta | None = timedelta(days=90),
) -> str:
    token = "tg_" + secrets.token_urlsafe(32)
    session.add(
        ApiTokenRow(
            token_hash=_digest(token),
            user_id=user.id,
            name=name[:100],
            created_at=now,
            expires_at=(now + lifetime) if lifetime else None,
            revoked=False,
        )
    )
    record(
        session,
        actor=actor,
        action="api_token.issued",
        subject=f"user:{user.username}",
        details={"name": name},
        at=now,
    )
    return token


def change_password(session: Session, user: UserRow, *, old: str, new: str, now: datetime) -> None:
    try:
        _hasher.verify(user.password_hash, old)
    except (VerificationError, InvalidHashError):
        raise ValidationFailed("the current password is wrong", ["old_password"]) from None
    _check_password_strength(new)
    if new == old:
        raise ValidationFailed("the new password must differ from the old one", ["new_password"])
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    record(
        session,
        actor=f"user:{user.username}",
        action="user.password_changed",
        subject=f"user:{user.username}",
        at=now,
    )


def enrol_totp(session: Session, user: UserRow, *, now: datetime, actor: str) -> str:
    """Give the user a new TOTP secret (RFC 6238); returns the otpauth:// provisioning URI."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    record(
        session, actor=actor, action="user.totp_enrolled", subject=f"user:{user.username}", at=now
    )
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="trailguard")


@dataclass(frozen=True)
class Authenticated:
    """Who is behind a request; ``csrf_token`` is the cookie session's (None for a token)."""

    principal: Principal
    csrf_token: str | None


def authenticate(
    node: Node,
    *,
    bearer: str | None,
    session_id: str | None,
    csrf_required: bool,
    csrf_token: str | None,
    password_change_pending_allowed: bool,
) -> Authenticated | None:
    """Resolve the principal from a bearer token or, failing that, a session id (cookie).

    A cookie session on an unsafe method (``csrf_required``) must present its CSRF token; a
    session whose user must still change a one-time password is refused
    (``PasswordChangeRequired``) unless ``password_change_pending_allowed``. A bad token is
    ``NotAuthenticated``; no credential (or a stale session) is None."""
    now = node.clock.now()
    with node.db.session() as session:
        if bearer is not None:
            row = session.get(ApiTokenRow, _digest(bearer))
            if row is None or row.revoked or (row.expires_at and row.expires_at <= now):
                raise NotAuthenticated("invalid or expired API token", challenge=True)
            user = session.get(UserRow, row.user_id)
            if user is None or not user.active:
                raise NotAuthenticated("the token's user is inactive")
            return Authenticated(principal_of(user), None)
        if not session_id:
            return None
        srow = session.get(SessionRow, _digest(session_id))
        if srow is None or srow.revoked or srow.expires_at <= now:
            return None
        user = session.get(UserRow, srow.user_id)
        if user is None or not user.active:
            return None
        if csrf_required and not (
            csrf_token and secrets.compare_digest(csrf_token, srow.csrf_token)
        ):
            raise CsrfRejected("missing or wrong CSRF token", csrf_token=srow.csrf_token)
        if user.must_change_password and not password_change_pending_allowed:
            raise PasswordChangeRequired(
                "change the one-time password first (/account/password)",
                csrf_token=srow.csrf_token,
            )
        return Authenticated(principal_of(user), srow.csrf_token)
