"""The node's web application: JSON API (OpenAPI at /openapi.json) and server-rendered pages.

Entry points stay thin: each capability contributes an ``api.router`` and a ``web.router``;
this module only wires them and maps domain errors to HTTP answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from trailguard import __version__
from trailguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trailguard.node import Node


def _wants_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/exchange/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def create_app(node: Node) -> FastAPI:
    from trailguard.accounts import web as accounts_web
    from trailguard.audit import api as audit_api
    from trailguard.law import api as law_api
    from trailguard.law import web as law_web
    from trailguard.network import api as network_api
    from trailguard.network import web as network_web
    from trailguard.requests import api as requests_api
    from trailguard.requests import web as requests_web
    from trailguard.traffic import api as traffic_api
    from trailguard.traffic import web as traffic_web
    from trailguard.traffic.watch import web as watch_web
    from trailguard.web import pages

    app = FastAPI(
        title=f"trailguard node {node.config.node_id}",
        version=__version__,
        description="A trailguard node: signed exchange, cooperation requests, legal engine, "
        "traffic data. Authenticate with a session cookie or `Authorization: Bearer <token>`.",
    )
    app.state.node = node
    static = Path(__file__).resolve().parent / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    mounted: list[tuple[str, APIRouter]] = []
    for module in (network_api, requests_api, law_api, traffic_api, audit_api):
        mounted.append(("/api", module.router))
    mounted.append(("/api", accounts_web.api_router))
    for module in (pages, accounts_web, network_web, requests_web, law_web, traffic_web, watch_web):
        mounted.append(("", module.router))
    from trailguard.accounts import admin_web

    mounted.append(("", admin_web.router))  # user administration pages (admin role)
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
        return await http_exception_handler(request, exc)

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

    from trailguard.web.errors import install_error_pages

    install_error_pages(app)  # pages get HTML errors in the layout; /api/ and /exchange/ JSON
    return app


def iter_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API and page route with its full path (for the role walk and the docs).
    Capability routers are flat: they do not include other routers."""
    for prefix, router in app.state.mounted_routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route
