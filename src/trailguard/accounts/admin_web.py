"""Administrator pages: the node's users, their roles, one-time passwords and TOTP enrolment.

Every route needs the admin role; forms carry the session's CSRF token like every other form
(checked by the principal dependency); every change is audited by ``accounts.admin`` and
``accounts.service``. A generated password or TOTP secret is shown once, in the answer to the
form that made it, and never stored in clear."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import pyotp
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trailguard.accounts import admin, service
from trailguard.accounts.domain import Principal, Role
from trailguard.core.errors import NotFound, TrailguardError
from trailguard.web.deps import get_node, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)
ADMIN_ONLY = Depends(require_roles(Role.ADMIN))

ROLE_HELP = {
    Role.DUTY_OFFICER: "staffs the 24/7 point of contact (Convention Art. 35)",
    Role.INVESTIGATOR: "holds the case and drafts requests",
    Role.CENTRAL_AUTHORITY: "sends and answers mutual assistance requests (Art. 27(2))",
    Role.PROVIDER_LIAISON: "a provider's law-enforcement response team",
    Role.ADMIN: "users, directory, keys and node settings",
}


def _roles_context() -> list[dict[str, str]]:
    return [{"value": role.value, "help": ROLE_HELP[role]} for role in Role]


def _list_page(
    request: Request,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    problems: list[str] | None = None,
    created: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        users = admin.list_users(session)
    return render(
        request,
        "accounts/admin_users.html",
        {
            "users": users,
            "roles": _roles_context(),
            "form": form or {"roles": []},
            "error": error,
            "problems": problems or [],
            "created": created,
        },
        status_code=status_code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, _principal: Principal = ADMIN_ONLY) -> HTMLResponse:
    return _list_page(request)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    principal: Principal = ADMIN_ONLY,
) -> HTMLResponse:
    node = get_node(request)
    form = {
        "username": username,
        "display_name": display_name,
        "email": email,
        "roles": roles or [],
    }
    try:
        with node.db.session() as session:
            _user, password = service.create_user(
                session,
                username=username.strip(),
                display_name=display_name,
                roles=admin.parse_roles(roles or []),
                email=email.strip() or None,
                now=node.clock.now(),
                actor=principal.actor,
            )
    except TrailguardError as exc:
        return _list_page(
            request,
            form=form,
            error=str(exc),
            problems=getattr(exc, "problems", []),
            status_code=422,
        )
    return _list_page(request, created={"username": username.strip(), "password": password})


def _user_page(
    request: Request,
    username: str,
    *,
    message: str | None = None,
    error: str | None = None,
    password: str | None = None,
    totp: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        user = service.get_user(session, username)
        summary = next(u for u in admin.list_users(session) if u.username == user.username)
    return render(
        request,
        "accounts/admin_user.html",
        {
            "user": summary,
            "roles": _roles_context(),
            "message": message,
            "error": error,
            "password": password,
            "totp": totp,
        },
        status_code=status_code,
    )


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, _principal: Principal = ADMIN_ONLY) -> HTMLResponse:
    return _user_page(request, username)


@router.post("/admin/users/{username}/roles", response_class=HTMLResponse, response_model=None)
def change_roles(
    request: Request,
    username: str,
    roles: Annotated[list[str] | None, Form()] = None,
    principal: Principal = ADMIN_ONLY,
) -> Response:
    node = get_node(request)
    try:
        with node.db.session() as session:
            user = service.get_user(session, username)
            admin.set_roles(
                session,
                user,
                admin.parse_roles(roles or []),
                now=node.clock.now(),
                actor=principal.actor,
            )
    except NotFound:
        raise
    except TrailguardError as exc:
        return _user_page(request, username, error=str(exc), status_code=422)
    return RedirectResponse(f"/admin/users/{username}?saved=roles", status_code=303)


@router.post("/admin/users/{username}/password", response_class=HTMLResponse)
def reset_password(
    request: Request, username: str, principal: Principal = ADMIN_ONLY
) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        user = service.get_user(session, username)
        password = admin.reset_password(session, user, now=node.clock.now(), actor=principal.actor)
    return _user_page(request, username, password=password)


@router.post("/admin/users/{username}/totp", response_class=HTMLResponse)
def enrol_totp(request: Request, username: str, principal: Principal = ADMIN_ONLY) -> HTMLResponse:
    node = get_node(request)
    with node.db.session() as session:
        user = service.get_user(session, username)
        uri = service.enrol_totp(session, user, now=node.clock.now(), actor=principal.actor)
    secret = pyotp.parse_uri(uri).secret
    # The SVG drawn by the QR library (segno), shown as an image (a data: URL): nothing in it is
    # ever read as the page's markup
    qr = "data:image/svg+xml;base64," + base64.b64encode(admin.qr_svg(uri).encode()).decode()
    return _user_page(request, username, totp={"uri": uri, "secret": secret, "qr": qr})
