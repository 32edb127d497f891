"""Administering users on a node: list them, change roles, reset a password, enrol TOTP.

Each change is audited and refused whole when it is invalid. A node always keeps at least
one active administrator: the last one cannot lose the admin role."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime

import segno
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from trailguard.accounts.domain import Role
from trailguard.accounts.orm import UserRoleRow, UserRow
from trailguard.audit import record
from trailguard.core.errors import Conflict, ValidationFailed

_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserSummary:
    username: str
    display_name: str
    email: str | None
    roles: tuple[Role, ...]
    active: bool
    must_change_password: bool
    has_totp: bool
    locked_until: datetime | None


def _summary(user: UserRow) -> UserSummary:
    return UserSummary(
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        roles=tuple(sorted(Role(row.role) for row in user.roles)),
        active=user.active,
        must_change_password=user.must_change_password,
        has_totp=bool(user.totp_secret),
        locked_until=user.locked_until,
    )


def list_users(session: Session) -> list[UserSummary]:
    users = session.execute(select(UserRow).order_by(UserRow.username)).scalars().all()
    return [_summary(user) for user in users]


def parse_roles(values: list[str]) -> list[Role]:
    """Role names from a form; an unknown name is refused, not dropped."""
    roles: list[Role] = []
    unknown = []
    for value in values:
        try:
            roles.append(Role(value))
        except ValueError:
            unknown.append(value)
    if unknown:
        raise ValidationFailed(
            "unknown role(s): " + ", ".join(unknown),
            ["roles: one or more of " + ", ".join(r.value for r in Role)],
        )
    return roles


def _active_admins(session: Session) -> set[str]:
    rows = session.execute(
        select(UserRow.username)
        .join(UserRoleRow, UserRoleRow.user_id == UserRow.id)
        .where(UserRoleRow.role == Role.ADMIN.value, UserRow.active.is_(True))
    ).scalars()
    return set(rows)


def set_roles(
    session: Session, user: UserRow, roles: list[Role], *, now: datetime, actor: str
) -> None:
    """Replace the user's roles (at least one); the last active admin keeps the admin role."""
    wanted = sorted(set(roles))
    if not wanted:
        raise ValidationFailed(
            "a user needs at least one role", ["roles: at least one of the roles listed"]
        )
    before = sorted(Role(row.role) for row in user.roles)
    losing_admin = Role.ADMIN in before and Role.ADMIN not in wanted
    if losing_admin and _active_admins(session) <= {user.username}:
        raise Conflict(
            f"{user.username} is the node's last administrator: give another user the "
            "admin role first"
        )
    if before == wanted:
        return
    user.roles = [UserRoleRow(role=role.value) for role in wanted]
    session.flush()
    record(
        session,
        actor=actor,
        action="user.roles_changed",
        subject=f"user:{user.username}",
        details={"before": [r.value for r in before], "after": [r.value for r in wanted]},
        at=now,
    )


def reset_password(session: Session, user: UserRow, *, now: datetime, actor: str) -> str:
    """Give the user a new one-time password (to be changed at the next login); returns it.
    The lockout is lifted and the user's open sessions stay valid only until they change it."""
    password = secrets.token_urlsafe(15)
    user.password_hash = _hasher.hash(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    record(
        session,
        actor=actor,
        action="user.password_reset",
        subject=f"user:{user.username}",
        details={"one_time_password": True},
        at=now,
    )
    return password


def qr_svg(text: str) -> str:
    """``text`` as a QR code in SVG (for an authenticator app to scan), drawn by segno (the
    one QR library, also used for the documents' verification blocks)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
    svg = buffer.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :]
