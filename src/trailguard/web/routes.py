"""The routes an app serves, read from its own route table (included routers and all): for
the role walk, the navigation's tests and the documented errors."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


def iter_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API and page route the app serves, with its full path (for the role walk and
    the docs), taken from the app's own route table, included routers and all."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path:
            yield context.path, route
