"""The node's web application: JSON API (OpenAPI at /openapi.json) and server-rendered pages.

Entry points stay thin: each registered capability (``trailguard.registry``) declares its API
and page routers, exchange handlers, dashboard providers and templates; this module only wires
them and maps domain errors to HTTP answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from trailguard import __version__
from trailguard.core.capability import (
    Capability,
    case_sections,
    dashboard_providers,
    load,
    template_folders,
)
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.core.events import subscribe
from trailguard.network import register_handler
from trailguard.node import Node
from trailguard.registry import CAPABILITIES
from trailguard.web import pages
from trailguard.web.api_errors import (
    allowed_methods,
    document_errors,
    error_body,
    validation_error,
)
from trailguard.web.errors import install_error_pages
from trailguard.web.routes import iter_routes
from trailguard.web.security import SecurityHeadersMiddleware
from trailguard.web.templating import build_templates


def _wants_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/exchange/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_handlers(capabilities: Sequence[Capability]) -> None:
    """Register every declared exchange message handler with the network and every declared
    event listener (idempotent)."""
    for capability in capabilities:
        for spec in capability.handlers:
            register_handler(spec.message_type, load(spec.handler), requires_ack=spec.requires_ack)
        for listener in capability.listeners:
            subscribe(listener.event, load(listener.handler))


def create_app(node: Node, capabilities: Sequence[Capability] = CAPABILITIES) -> FastAPI:
    install_handlers(capabilities)
    app = FastAPI(
        title=f"trailguard node {node.config.node_id}",
        version=__version__,
        description="A trailguard node: signed exchange, cooperation requests, legal engine, "
        "traffic data. Authenticate with a session cookie or `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.node = node
    app.state.templates = build_templates(template_folders(capabilities))
    for capability in capabilities:
        for name, ref in capability.template_filters:
            app.state.templates.env.filters[name] = load(ref)
    app.state.dashboard_providers = dashboard_providers(capabilities)
    app.state.case_sections = case_sections(capabilities)

    # Security headers on every answer (issue 11); Swagger UI is off: it needs a CDN and
    # inline script, which the Content-Security-Policy refuses (/openapi.json stays).
    async def _on_error(request: Request, exc: Exception) -> Response:
        handler = app.exception_handlers.get(Exception)
        if handler is None:
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        answer = handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_middleware(
        SecurityHeadersMiddleware,
        https=node.config.base_url.startswith("https:"),
        on_error=_on_error,
    )
    static = Path(__file__).resolve().parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    mounted: list[tuple[str, APIRouter]] = []
    for capability in capabilities:
        mounted += [("/api", load(ref)) for ref in capability.api_routers]
    mounted.append(("", pages.router))
    for capability in capabilities:
        mounted += [("", load(ref)) for ref in capability.page_routers]
    for prefix, router in mounted:
        app.include_router(router, prefix=prefix)
    app.state.mounted_routers = mounted

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # People using pages are sent where they can act; API clients get JSON.
        if _wants_page(request):
            if exc.status_code == 401:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            if exc.status_code == 403 and getattr(request.state, "must_change_password", False):
                return RedirectResponse("/account/password", status_code=303)
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method served at this path, not one route's
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return JSONResponse(error_body(exc.status_code, exc.detail), exc.status_code, headers)

    app.add_exception_handler(RequestValidationError, validation_error)
    app.openapi = document_errors(app)  # type: ignore[method-assign]

    @app.exception_handler(ValidationFailed)
    async def _invalid(_request: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"error": "validation_failed", "detail": str(exc), "problems": exc.problems},
        )

    @app.exception_handler(NotFound)
    async def _missing(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not_found", "detail": str(exc)})

    @app.exception_handler(PermissionDenied)
    async def _denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return JSONResponse(status_code=403, content={"error": "forbidden", "detail": str(exc)})

    @app.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": "conflict", "detail": str(exc)})

    install_error_pages(app)  # pages get HTML errors in the layout; /api/ and /exchange/ JSON
    return app


__all__ = ["create_app", "iter_routes"]
