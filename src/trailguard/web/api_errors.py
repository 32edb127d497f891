"""One shape for every error answer, and an OpenAPI document that lists the errors each
operation really gives.

Every error the node answers with (domain errors, HTTP errors such as 401/403/404/405, and
request validation) is ``{"error": <code>, "detail": <text>, "problems": [<text>...]}``
(``problems`` when there are several). ``document_errors`` adds to each operation of the
OpenAPI document the error answers that its route can give, derived from the route itself:

* 401 and 403 when the route needs a person (a role check or the person's own account:
  no credentials, a wrong CSRF token, a password to change first, a missing role);
* 404 when its path or body names something (``{id}``, a recipient);
* 400 when it reads a JSON body (a body that is not JSON), and 409 when it changes
  something (a conflicting state);
* 422 for every route with parameters or a body, or that changes something, with the
  error shape above instead of FastAPI's default validation schema.

An operation's own documentation of a status is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from trailguard.core.apitypes import pattern_meaning
from trailguard.web.deps import current_principal
from trailguard.web.routes import iter_routes

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code"},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "problems": {
            "type": "array",
            "items": {"type": "string"},
            "description": "each problem found, when there are several",
        },
    },
}

ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
    429: "rate_limited",
    502: "bad_gateway",
}

_DESCRIPTIONS = {
    400: "the body is not JSON",
    401: "no valid credentials (session cookie or bearer token)",
    403: "a role this needs is missing, the CSRF token is wrong, or the password must be "
    "changed first",
    404: "no such thing on this node",
    409: "the change conflicts with the current state",
    422: "the request is not valid: every problem is listed",
}

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

# Public routes' own refusals, which their route alone does not show.
_OWN_REFUSALS: dict[tuple[str, str], dict[int, str]] = {
    ("POST", "/api/session"): {
        401: "wrong user name, password or TOTP code (one answer for all)",
        429: "too many failed logins for this account or from this address",
    },
    ("GET", "/api/trace/attribute"): {
        502: "the RDAP look-up (rdap=true) failed: the registry could not be reached",
    },
    ("GET", "/api/requests/recipient"): {
        404: "the directory has no 24/7 point of contact for the country",
    },
}


def error_body(status_code: int, detail: Any, problems: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": ERROR_CODES.get(status_code, f"http_{status_code}"),
        "detail": detail if isinstance(detail, str) else str(detail),
    }
    if problems:
        body["problems"] = problems
    return body


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _problem(error: dict[str, Any]) -> str:
    """One validation problem for a person: where, and what is wrong. A value that does not
    match a published pattern is named (as JSON text, never HTML) with what the pattern means."""
    where = _location(error.get("loc", ()))
    if error.get("type") == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        meaning = pattern_meaning(pattern) or f"does not match {pattern}"
        shown = str(error.get("input", ""))
        shown = shown if len(shown) <= 80 else shown[:80] + "..."
        return f"{where}: {shown!r} {meaning}"
    return f"{where}: {error.get('msg', '')}"


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation, answered in the node's error shape."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = [_problem(e) for e in errors]
    detail = "the request is not valid: " + "; ".join(problems)[:500]
    return JSONResponse(status_code=422, content=error_body(422, detail, problems))


def _needs_person(route: APIRoute) -> bool:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if getattr(dependency.call, "required_roles", None) is not None:
            return True
        if dependency.call is current_principal:
            return True
        stack.extend(dependency.dependencies)
    return False


def _statuses(route: APIRoute, method: str) -> set[int]:
    dependant = route.dependant
    has_params = bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )
    statuses: set[int] = set()
    if _needs_person(route):
        statuses |= {401, 403}
    if "{" in route.path:
        statuses.add(404)
    if dependant.body_params:
        statuses |= {400, 404}  # a body names things too (a recipient, a request)
    if method in _MUTATING:
        statuses |= {409, 422}
    if has_params:
        statuses.add(422)
    return statuses


def document_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` that documents each operation's error answers (see above)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        reference = {"$ref": "#/components/schemas/Error"}
        paths = schema.get("paths", {})
        for path, route in iter_routes(app):
            for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
                operation = paths.get(path, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                validation = responses.get("422")
                if validation is not None and "HTTPValidationError" in str(validation):
                    del responses["422"]  # FastAPI's default: the node answers in its shape
                own = _OWN_REFUSALS.get((method, path), {})
                for status_code in sorted(_statuses(route, method) | set(own)):
                    responses.setdefault(
                        str(status_code),
                        {
                            "description": own.get(status_code) or _DESCRIPTIONS[status_code],
                            "content": {"application/json": {"schema": reference}},
                        },
                    )
        components = schema["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused not in str(paths):
                components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app serves at ``path`` (all routes matching it), for ``Allow``."""
    compiled = getattr(app.state, "allow_table", None)
    if compiled is None:
        compiled = [
            (compile_path(full)[0], "{" not in full, frozenset(route.methods or ()))
            for full, route in iter_routes(app)
        ]
        app.state.allow_table = compiled
    matches = [(literal, methods) for pattern, literal, methods in compiled if pattern.match(path)]
    if any(literal for literal, _ in matches):
        # a path spelled out (``/api/requests/recipient``) is its own resource, as documented,
        # not an instance of a templated one (``/api/requests/{request_id}``)
        matches = [(literal, methods) for literal, methods in matches if literal]
    allowed: set[str] = set()
    for _literal, methods in matches:
        allowed |= methods
    return sorted(allowed - {"HEAD", "OPTIONS"})
