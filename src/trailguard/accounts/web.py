"""Login, logout and password pages; ``/api/session`` (password -> API token) and ``/api/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from trailguard.accounts import service
from trailguard.accounts.domain import Principal
from trailguard.core.errors import ValidationFailed
from trailguard.node import Node
from trailguard.web.deps import ANY_ROLE, SESSION_COOKIE, current_principal, get_node, require_roles
from trailguard.web.render import render

router = APIRouter(tags=["accounts"])
api_router = APIRouter(tags=["accounts"])


def _safe_next(target: str | None) -> str:
    # Only local paths: never redirect a freshly logged-in user to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _source(request: Request) -> str:
    """The address the login comes from (the proxy's, unless uvicorn trusts its headers)."""
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "accounts/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    totp: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    node = get_node(request)
    now = node.clock.now()
    # A failed attempt is committed too (its count and audit entry), so the check runs inside
    # the transaction and the refusal is answered after it.
    failure: service.LoginFailed | None = None
    with node.db.session() as session:
        try:
            user = service.check_login(
                session,
                username=username.strip(),
                password=password,
                totp_code=totp,
                now=now,
                require_totp=node.config.require_totp,
                source=_source(request),
                limits=service.LoginLimits.of(node.config),
            )
        except service.LoginFailed as exc:
            failure = exc
        else:
            new = service.start_session(
                session, user, now=now, lifetime=service.session_lifetime(_rate(node))
            )
            must_change = user.must_change_password
    if failure is not None:
        throttled = isinstance(failure, service.LoginThrottled)
        page = render(
            request,
            "accounts/login.html",
            {"next": _safe_next(next), "error": str(failure)},
            status_code=429 if throttled else 401,
        )
        if isinstance(failure, service.LoginThrottled):
            page.headers["Retry-After"] = str(failure.retry_after)
        return page
    target = "/account/password" if must_change else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=service.SESSION_HOURS * 3600,
    )
    return response


def _rate(node: Node) -> float:
    """How fast the node's clock runs against real time (an exercise node's, issue 17)."""
    exercise = node.config.exercise
    return exercise.clock_rate if exercise is not None else 1.0


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    node = get_node(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with node.db.session() as session:
            service.end_session(session, token, now=node.clock.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password_page(
    request: Request, principal: Principal = Depends(current_principal)
) -> HTMLResponse:
    return render(request, "accounts/password.html", {"error": None})


@router.post("/account/password", include_in_schema=False)
def password_submit(
    request: Request,
    old_password: Annotated[str, Form()],
    new_password: Annotated[str, Form()],
    principal: Principal = Depends(current_principal),
) -> Response:
    node = get_node(request)
    try:
        with node.db.session() as session:
            user = service.get_user(session, principal.username)
            service.change_password(
                session,
                user,
                old=old_password,
                new=new_password,
                now=node.clock.now(),
                keep_session=request.cookies.get(SESSION_COOKIE),
            )
    except ValidationFailed as exc:
        return render(request, "accounts/password.html", {"error": str(exc)}, status_code=422)
    return RedirectResponse("/", status_code=303)


class TokenRequest(BaseModel):
    username: str
    password: str
    totp: str | None = None
    name: str = "api"


class TokenResponse(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name, not a secret)
    username: str
    roles: list[str]


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]


@api_router.post(
    "/session", response_model=TokenResponse, summary="Exchange a password for an API token"
)
def create_token(request: Request, body: TokenRequest) -> TokenResponse:
    node = get_node(request)
    now = node.clock.now()
    failure: service.LoginFailed | None = None
    with node.db.session() as session:
        try:
            user = service.check_login(
                session,
                username=body.username,
                password=body.password,
                totp_code=body.totp,
                now=now,
                require_totp=node.config.require_totp,
                source=_source(request),
                limits=service.LoginLimits.of(node.config),
            )
            if user.must_change_password:
                raise service.LoginFailed("change the one-time password first (/account/password)")
        except service.LoginFailed as exc:
            failure = exc
        else:
            token = service.issue_api_token(
                session,
                user,
                name=body.name,
                now=now,
                actor=f"user:{user.username}",
                lifetime=service.session_lifetime(_rate(node)),
            )
            principal = service.principal_of(user)
    if isinstance(failure, service.LoginThrottled):
        raise HTTPException(
            status_code=429, detail=str(failure), headers={"Retry-After": str(failure.retry_after)}
        )
    if failure is not None:
        raise HTTPException(status_code=401, detail=str(failure))
    return TokenResponse(
        token=token, username=principal.username, roles=sorted(r.value for r in principal.roles)
    )


@api_router.get("/me", response_model=Me, summary="Who am I")
async def me(principal: Principal = Depends(require_roles(*ANY_ROLE))) -> Me:
    return Me(
        username=principal.username,
        display_name=principal.display_name,
        roles=sorted(r.value for r in principal.roles),
    )
