"""Security headers on every answer the node gives (issue 11, point 3).

A pure ASGI middleware, so that it sees every response: pages, the JSON API, the exchange
endpoints, static files, error answers, and the plain 500 it sends itself when a handler
raises before answering.

- ``Content-Security-Policy``: scripts and styles only from the node itself (htmx is a static
  file; no inline script, no inline style attribute, no ``eval``); no plugins; no framing
  (``frame-ancestors 'none'``); forms post only to the node. The one reviewed inline
  ``<style>`` block (the printable request document, a standalone file) is allowed by its
  SHA-256 hash, computed from the template at start-up.
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (older browsers),
  ``Referrer-Policy: no-referrer`` (addresses carry request ids),
  ``Cross-Origin-Opener-Policy: same-origin``.
- ``Cache-Control: no-store`` on every answer except static files: pages and API answers
  show casework to the person logged in and must not stay in a shared or browser cache.
- ``Strict-Transport-Security`` when the node is served over HTTPS (its ``base_url`` is
  https, or this request's scheme is https, e.g. behind a TLS-terminating proxy that uvicorn
  trusts).
- ``X-Trailguard-Network``: the node's network ('live', or an exercise network's id, issue
  17) on every answer, so a client and a peer see at once which network answered. A request
  to the node-to-node ``/exchange/v1/`` endpoints that names another network in that header
  is refused (421, ``wrong_network``) before the application sees it; the signed envelope
  carries the network too, and is refused by the inbox whatever the header says.

Sources: MDN "Content-Security-Policy" and "Strict-Transport-Security" reference pages;
OWASP Secure Headers Project (recommended values); W3C CSP Level 3 (hash sources).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trailguard.core.exercise_marking import NETWORK_HEADER

_ROOT = Path(__file__).resolve().parent.parent
# Standalone documents whose <style> block is allowed by hash (reviewed: static CSS, no
# template expression inside; a change to the block changes the hash automatically).
INLINE_STYLE_TEMPLATES = (_ROOT / "requests" / "templates" / "requests" / "document.html",)
_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.DOTALL)

HSTS = "max-age=63072000; includeSubDomains"  # two years (OWASP / MDN recommendation)


def style_hashes(templates: Iterable[Path] = INLINE_STYLE_TEMPLATES) -> list[str]:
    """CSP hash sources ('sha256-...') for the static <style> blocks of ``templates``."""
    hashes = []
    for path in templates:
        if not path.is_file():
            continue
        for block in _STYLE_BLOCK.findall(path.read_text(encoding="utf-8")):
            if "{{" in block or "{%" in block:
                raise ValueError(f"{path}: a <style> block with template expressions")
            digest = hashlib.sha256(block.encode("utf-8")).digest()
            hashes.append("'sha256-" + base64.b64encode(digest).decode("ascii") + "'")
    return hashes


def content_security_policy(extra_style_sources: Iterable[str] = ()) -> str:
    style = " ".join(["'self'", *extra_style_sources])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {style}",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _network_of(scope: Scope) -> str | None:
    """The network of the node the application serves (``app.state.node``), if any."""
    state = getattr(scope.get("app"), "state", None)
    node = getattr(state, "node", None)
    config = getattr(node, "config", None)
    network = getattr(config, "network_name", None)
    return network if isinstance(network, str) else None


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response of the wrapped application."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        https: bool = False,
        static_prefix: str = "/static/",
        on_error: Callable[[Request, Exception], Awaitable[Response]] | None = None,
    ):
        self.app = app
        self.https = https
        # the answer to an unexpected failure (the app's error page), sent with the headers
        self.on_error = on_error
        self.static_prefix = static_prefix
        self.csp = content_security_policy(style_hashes())

    def _headers(self, scope: Scope) -> dict[str, str]:
        headers = {
            "Content-Security-Policy": self.csp,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        if not str(scope.get("path", "")).startswith(self.static_prefix):
            headers["Cache-Control"] = "no-store"
        if self.https or scope.get("scheme") == "https":
            headers["Strict-Transport-Security"] = HSTS
        network = _network_of(scope)
        if network is not None:
            headers[NETWORK_HEADER] = network
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self._headers(scope)
        started = False
        network = wanted.get(NETWORK_HEADER)
        claimed = Headers(scope=scope).get(NETWORK_HEADER)
        if (
            network is not None
            and claimed is not None
            and claimed != network
            and str(scope.get("path", "")).startswith("/exchange/")
        ):
            refusal = JSONResponse(
                {
                    "error": "wrong_network",
                    "detail": f"this node belongs to network {network!r}, the request to "
                    f"{claimed[:80]!r}; live and exercise nodes never talk",
                },
                status_code=421,
                headers=wanted,
            )
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name == "Cache-Control" or name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if not started and self.on_error is not None:
                # the app's own answer (a page in the layout, or JSON under /api/), with the
                # headers; the error still propagates to be logged
                response = await self.on_error(Request(scope, receive), exc)
                await response(scope, receive, send_with_headers)
            elif not started:  # answer the 500 here, with the headers; the error propagates
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
