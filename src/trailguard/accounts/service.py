"""Account services: create users, log in (password + optional TOTP), sessions, API tokens,
and ``authenticate_request`` that the web layer's dependencies call."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from trailguard.accounts.domain import Principal, Role
from trailguard.accounts.orm import (
    ApiTokenRow,
    LoginFailureRow,
    SessionRow,
    UserRoleRow,
    UserRow,
)
from trailguard.audit import record
from trailguard.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

if TYPE_CHECKING:
    from trailguard.core.config import NodeConfig
    from trailguard.node import Node

SESSION_HOURS = 12
MAX_FAILED_LOGINS = 5  # defaults of node.toml's login_max_failures ...
LOCKOUT = timedelta(minutes=15)  # ... and login_window_minutes
# One answer for an unknown name, a wrong password and a wrong or missing TOTP code, so that
# the answer tells an attacker nothing about which of them was wrong.
GENERIC_FAILURE = "unknown user, wrong password or wrong one-time code"
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


class LoginThrottled(LoginFailed):
    """Past a login limit (answered 429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per account name and per source address within ``window``."""

    max_failures: int = MAX_FAILED_LOGINS
    source_max_failures: int = 20
    window: timedelta = LOCKOUT

    @classmethod
    def of(cls, config: NodeConfig) -> LoginLimits:
        return cls(
            max_failures=config.login_max_failures,
            source_max_failures=config.login_source_max_failures,
            window=timedelta(minutes=config.login_window_minutes),
        )


@cache
def _dummy_hash() -> str:
    """An argon2 hash of a random secret: unknown names are checked against it, so that they
    cost the same time as a real password check (argon2's own verify, same parameters)."""
    return _hasher.hash(secrets.token_urlsafe(24))


def _totp_step(secret: str, code: str | None, now: datetime) -> int | None:
    """The RFC 6238 time step whose code ``code`` is (now, one step before or after), or
    None. Constant-time comparison; pyotp computes the codes."""
    if not code:
        return None
    code = code.strip()
    totp = pyotp.TOTP(secret)
    found = None
    for offset in (-1, 0, 1):
        instant = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(instant).encode(), code.encode()):
            found = totp.timecode(instant)
    return found


def _retry_after(
    session: Session,
    column: InstrumentedAttribute[str],
    value: str,
    since: datetime,
    limit: int,
    window: timedelta,
    now: datetime,
) -> int | None:
    """Seconds until failures for ``value`` in the window fall below ``limit``, or None when
    they are below it now."""
    ats = list(
        session.execute(
            select(LoginFailureRow.at)
            .where(column == value, LoginFailureRow.at > since)
            .order_by(LoginFailureRow.at)
        ).scalars()
    )
    if len(ats) < limit:
        return None
    frees_at = ats[len(ats) - limit] + window
    return max(1, int((frees_at - now).total_seconds() + 0.999))


def check_login(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    now: datetime,
    require_totp: bool,
    source: str | None = None,
    limits: LoginLimits | None = None,
) -> UserRow:
    """Verify password (and TOTP when the node requires it or the user enrolled).

    Limits come first: past ``limits`` failures for this name or from this source within the
    window, no password is checked and ``LoginThrottled`` says when to come back (the same for
    names that exist and names that do not). An unknown name, a wrong password and a wrong,
    missing or reused TOTP code each count as one failure and give the same message; an
    unknown name is checked against a dummy argon2 hash, so it takes the same time. A TOTP
    code works once (its time step is stored). Every outcome is audited."""
    limits = limits or LoginLimits()
    name = (username or "")[:64]
    src = (source or "unknown")[:64]
    since = now - limits.window

    def audit(reason: str) -> None:
        record(
            session,
            actor=f"user:{name}"[:200],
            action="login.failed",
            subject=f"user:{name}"[:300],
            details={"reason": reason, "source": src},
            at=now,
        )

    def fail(reason: str) -> LoginFailed:
        session.add(LoginFailureRow(at=now, username=name, source=src))
        audit(reason)
        return LoginFailed(GENERIC_FAILURE)

    # failures older than the window no longer count: drop them, so the table stays small
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= since))
    waits = [
        _retry_after(
            session, LoginFailureRow.username, name, since, limits.max_failures, limits.window, now
        ),
        _retry_after(
            session,
            LoginFailureRow.source,
            src,
            since,
            limits.source_max_failures,
            limits.window,
            now,
        ),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        audit("throttled")
        minutes = max(1, -(-wait // 60))
        raise LoginThrottled(
            f"too many failed attempts; try again in {minutes} minute(s)", retry_after=wait
        )

    user = session.execute(select(UserRow).where(UserRow.username == name)).scalar_one_or_none()
    if user is None or not user.active:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
        raise fail("unknown or inactive")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise fail("password") from None
    if require_totp and not user.totp_secret:
        raise LoginFailed(
            "this node requires a second factor and the user has none: an admin enrols it "
            "with `trailguard users totp --username ...`"
        )
    if user.totp_secret:
        step = _totp_step(user.totp_secret, totp_code, now)
        if step is None:
            raise fail("totp")
        if user.totp_last_step is not None and step <= user.totp_last_step:
            raise fail("totp reused")
        user.totp_last_step = step
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    # a success clears this name's count (the source's count stays)
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.username == name))
    user.failed_logins = 0
    user.locked_until = None
    return user


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime


def session_lifetime(clock_rate: float = 1.0) -> timedelta:
    """A login lasts SESSION_HOURS of real time: on an exercise node whose clock runs
    ``clock_rate`` times real time (issue 17), that is as many times more of its clock's time."""
    return timedelta(hours=SESSION_HOURS) * max(clock_rate, 1.0)


def start_session(
    session: Session, user: UserRow, *, now: datetime, lifetime: timedelta | None = None
) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = now + (lifetime or timedelta(hours=SESSION_HOURS))
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
    if user.must_change_password:
        raise PermissionDenied(
            f"user {user.username!r} must first replace the one-time password; no token issued"
        )
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


def end_other_sessions(
    session: Session, user: UserRow, *, keep_session: str | None = None
) -> tuple[int, int]:
    """Revoke every browser session of ``user`` except ``keep_session`` (a cookie value) and
    every API token; returns how many of each were ended."""
    sessions = update(SessionRow).where(
        SessionRow.user_id == user.id, SessionRow.revoked.is_(False)
    )
    if keep_session is not None:
        sessions = sessions.where(SessionRow.token_hash != _digest(keep_session))
    ended = session.execute(sessions.values(revoked=True)).rowcount  # type: ignore[attr-defined]
    tokens = session.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.user_id == user.id, ApiTokenRow.revoked.is_(False))
        .values(revoked=True)
    ).rowcount  # type: ignore[attr-defined]
    return int(ended or 0), int(tokens or 0)


def change_password(
    session: Session,
    user: UserRow,
    *,
    old: str,
    new: str,
    now: datetime,
    keep_session: str | None = None,
) -> None:
    """Replace the password; every other session and every API token of the user ends."""
    try:
        _hasher.verify(user.password_hash, old)
    except (VerificationError, InvalidHashError):
        raise ValidationFailed("the current password is wrong", ["old_password"]) from None
    _check_password_strength(new)
    if new == old:
        raise ValidationFailed("the new password must differ from the old one", ["new_password"])
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    ended, revoked = end_other_sessions(session, user, keep_session=keep_session)
    record(
        session,
        actor=f"user:{user.username}",
        action="user.password_changed",
        subject=f"user:{user.username}",
        details={"sessions_ended": ended, "tokens_revoked": revoked},
        at=now,
    )


def reset_password(session: Session, user: UserRow, *, now: datetime, actor: str) -> str:
    """An admin's reset: a new one-time password (returned, shown once), every session and API
    token of the user ended, and the name's failed-login count cleared."""
    password = secrets.token_urlsafe(15)
    user.password_hash = _hasher.hash(password)
    user.must_change_password = True
    ended, revoked = end_other_sessions(session, user)
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.username == user.username))
    record(
        session,
        actor=actor,
        action="user.password_reset",
        subject=f"user:{user.username}",
        details={"sessions_ended": ended, "tokens_revoked": revoked},
        at=now,
    )
    return password


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
            if node.config.require_totp and not user.totp_secret:
                raise NotAuthenticated(
                    "this node requires a second factor and the token's user has none",
                    challenge=True,
                )
            if user.must_change_password:
                raise PermissionDenied("change the one-time password first (/account/password)")
            return Authenticated(principal_of(user), None)
        if not session_id:
            return None
        srow = session.get(SessionRow, _digest(session_id))
        if srow is None or srow.revoked or srow.expires_at <= now:
            return None
        user = session.get(UserRow, srow.user_id)
        if user is None or not user.active:
            return None
        if node.config.require_totp and not user.totp_secret:
            return None  # the node began requiring TOTP after this login: log in again
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
