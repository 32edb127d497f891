"""Render a page with what every layout needs: the node, the principal, the CSRF token and
the navigation that principal may use."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from trailguard import __version__
from trailguard.web.nav import nav_for


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    base: dict[str, Any] = {
        "node": request.app.state.node,
        "principal": principal,
        "csrf_token": getattr(request.state, "csrf_token", None),
        "version": __version__,
        "nav": nav_for(request.app, principal),
        "current_path": request.url.path,
    }
    base.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, base, status_code=status_code)
