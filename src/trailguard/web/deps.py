"""FastAPI dependencies every route uses: the node, the principal, role checks, CSRF.

Every route that reads or changes casework declares ``Depends(require_roles(...))``; a test
walks all routes and checks that a user without the role gets 403 (401 without a session).
Browser sessions use a cookie plus a CSRF token on every unsafe method; API clients use
``Authorization: Bearer <token>`` and need no CSRF token (no ambient credential).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status

from trailguard.accounts import (
    CsrfRejected,
    PasswordChangeRequired,
    Principal,
    Role,
    authenticate,
)
from trailguard.core.errors import NotAuthenticated
from trailguard.node import Node

SESSION_COOKIE = "tg_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Where a session whose one-time password is still unchanged may go.
PASSWORD_CHANGE_PATHS = {"/account/password", "/logout"}


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def optional_principal(request: Request) -> Principal | None:
    """The principal behind this request, or None. Cookie sessions on unsafe methods must
    carry the session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``)."""
    if hasattr(request.state, "principal"):
        return request.state.principal  # type: ignore[no-any-return,unused-ignore]
    csrf_token = request.headers.get(CSRF_HEADER)
    if csrf_token is None and request.method not in SAFE_METHODS:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            csrf_token = value if isinstance(value, str) else None
    principal = _authenticate(request, csrf_token)
    request.state.principal = principal
    return principal


def _authenticate(request: Request, csrf_token: str | None) -> Principal | None:
    """The accounts service decides; this maps its refusals to HTTP answers."""
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    try:
        found = authenticate(
            get_node(request),
            bearer=bearer,
            session_id=request.cookies.get(SESSION_COOKIE),
            csrf_required=request.method not in SAFE_METHODS,
            csrf_token=csrf_token,
            password_change_pending_allowed=request.url.path in PASSWORD_CHANGE_PATHS,
        )
    except NotAuthenticated as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.challenge else None
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=headers) from exc
    except (CsrfRejected, PasswordChangeRequired) as exc:
        request.state.csrf_token = exc.csrf_token
        if isinstance(exc, PasswordChangeRequired):
            request.state.must_change_password = True
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    if found is None:
        return None
    if found.csrf_token is not None:
        request.state.csrf_token = found.csrf_token
    return found.principal


async def current_principal(request: Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="log in first (session cookie or Authorization: Bearer token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_roles(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency factory: the principal must hold at least one of ``roles``."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    wanted = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.roles.intersection(wanted):
            names = ", ".join(sorted(role.value for role in wanted))
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this needs one of the roles: {names}",
            )
        return principal

    dependency.required_roles = wanted  # type: ignore[attr-defined]
    return dependency


ANY_ROLE: tuple[Role, ...] = tuple(Role)
