"""The navigation a person sees: only the pages their roles can open.

Which roles a page needs is read from the page's own route (its ``require_roles``
dependency), so the navigation cannot drift from the rules that guard the pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from trailguard.accounts import Principal, Role


@dataclass(frozen=True)
class NavLink:
    label: str
    path: str
    exercise_only: bool = False  # shown only on a training node (issue 17)


NAV: tuple[NavLink, ...] = (
    NavLink("Dashboard", "/"),
    NavLink("Investigations", "/investigations"),
    NavLink("Traces", "/traces"),
    NavLink("Requests", "/requests"),
    NavLink("Directory", "/directory"),
    NavLink("Exchange", "/exchange"),
    NavLink("Law", "/law"),
    NavLink("Traffic", "/traffic"),
    NavLink("Live watch", "/traffic/watch"),
    NavLink("Evidence", "/evidence"),
    NavLink("Users", "/admin/users"),
    NavLink("Audit", "/audit"),
    NavLink("Exercise", "/exercise", exercise_only=True),
)


def required_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles a route accepts (intersection of every role check it carries), or None when
    it carries no role check."""
    found: frozenset[Role] | None = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "required_roles", None)
        if roles is not None:
            found = roles if found is None else found & roles
        stack.extend(dep.dependencies)
    return found


def _walk(router: Any, prefix: str) -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute of ``router`` with its full path, into routers it includes (FastAPI
    keeps an included router as one entry that points at the original)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            inner = getattr(context, "prefix", "") or ""
            yield from _walk(route.original_router, prefix + inner)


def _page_roles(app: FastAPI) -> dict[str, frozenset[Role] | None]:
    cached: dict[str, frozenset[Role] | None] | None = getattr(app.state, "nav_page_roles", None)
    if cached is not None:
        return cached
    table: dict[str, frozenset[Role] | None] = {}
    for prefix, router in app.state.mounted_routers:
        for path, route in _walk(router, prefix):
            if "GET" in (route.methods or set()):
                table.setdefault(path, required_roles(route))
    app.state.nav_page_roles = table
    return table


def can_open(app: FastAPI, principal: Principal | None, path: str) -> bool:
    """Whether ``principal`` may open the page at ``path`` (False for an unknown page)."""
    if principal is None:
        return False
    table = _page_roles(app)
    if path not in table:
        return False
    roles = table[path]
    return roles is None or bool(principal.roles & roles)


def nav_for(app: FastAPI, principal: Principal | None) -> list[NavLink]:
    node = getattr(app.state, "node", None)
    exercise = bool(node is not None and node.config.is_exercise)
    return [
        link
        for link in NAV
        if (exercise or not link.exercise_only) and can_open(app, principal, link.path)
    ]
