"""Error answers people can act on: HTML pages inside the layout for pages, JSON for machines.

Under ``/api/`` and the node-to-node ``/exchange/v1/`` (and for static files) every error
keeps the JSON answer the API documents; everywhere else a 403, 404, 409, 422 or 500 is a
page in the layout that says what happened and what to do. ``install_error_pages`` wraps
the JSON handlers that ``create_app`` registered, so the API's answers stay exactly as they were."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.web.deps import optional_principal
from trailguard.web.render import render

log = logging.getLogger(__name__)

MACHINE_PREFIXES = ("/api/", "/exchange/v1/", "/static/", "/openapi.json", "/docs", "/redoc")

Handler = Callable[[Request, Any], Any]

_TITLES = {
    400: "The request could not be read",
    401: "Log in first",
    403: "Your roles do not open this page",
    404: "There is no such page",
    405: "This page cannot be used that way",
    409: "This conflicts with the current state",
    422: "Some input was refused",
    500: "Something went wrong on this node",
}
_ADVICE = {
    403: "Ask your node's administrator for the role you need, or go back to the dashboard.",
    404: "Check the address, or start again from the dashboard.",
    405: "Go back and use the page's own buttons and forms.",
    409: "Reload the page to see the current state, then try again.",
    422: "Go back, correct the input named below and send it again.",
    500: "Nothing was half-saved: try again in a moment. If it happens again, tell the node's "
    "administrator the time shown below; the node's log has the details.",
}


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


async def error_page(
    request: Request, status_code: int, detail: str, problems: list[str] | None = None
) -> Response:

    if not hasattr(request.state, "principal"):
        try:  # a 404 has run no dependency: find who is asking, for the navigation
            await optional_principal(request)
        except Exception:  # an error page must render whatever the session
            request.state.principal = None
    node = request.app.state.node
    return render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": _TITLES.get(status_code, "The request could not be completed"),
            "detail": detail,
            "problems": problems or [],
            "advice": _ADVICE.get(status_code, "Go back and try again."),
            "path": request.url.path,
            "at": node.clock.now(),
        },
        status_code=status_code,
    )


def install_error_pages(app: FastAPI) -> None:
    """Wrap the app's JSON error handlers: machine paths keep them, pages get HTML."""
    json_http: Handler = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_machine_path(request.url.path) or exc.status_code == 401:
            answer: Response = await json_http(request, exc)  # 401 on a page: login redirect
            return answer
        if exc.status_code == 403 and getattr(request.state, "must_change_password", False):
            redirect: Response = await json_http(request, exc)  # to the password change
            return redirect
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        response = await error_page(request, exc.status_code, detail)
        for name, value in (exc.headers or {}).items():
            response.headers.setdefault(name, value)
        return response

    app.add_exception_handler(StarletteHTTPException, http_error)

    for cls, status_code in (
        (ValidationFailed, 422),
        (NotFound, 404),
        (PermissionDenied, 403),
        (Conflict, 409),
    ):
        app.add_exception_handler(cls, _wrap(app.exception_handlers[cls], status_code))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if is_machine_path(request.url.path):
            return JSONResponse(
                status_code=500, content={"error": "internal", "detail": "internal server error"}
            )
        return await error_page(request, 500, "The node could not complete this page.")

    app.add_exception_handler(Exception, server_error)


def _wrap(json_handler: Handler, status_code: int) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if is_machine_path(request.url.path):
            answer: Response = await json_handler(request, exc)
            return answer
        problems = list(getattr(exc, "problems", []) or [])
        return await error_page(request, status_code, str(exc), problems)

    return handler
