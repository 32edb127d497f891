"""HTTP adapter: posts envelopes to a peer's inbox with httpx and reports what came back."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

INBOX_PATH = "/exchange/v1/messages"


@dataclass(frozen=True)
class TransportResult:
    """``status_code`` is None when no HTTP answer arrived (refused, timed out, reset)."""

    status_code: int | None
    body: dict[str, Any] | None
    error: str | None = None


class Transport(Protocol):
    def post_envelope(self, endpoint: str, envelope: bytes) -> TransportResult: ...


class HttpTransport:
    """Keeps one connection pool per transport; safe to share between threads."""

    def __init__(self, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout)
            return self._client

    def post_envelope(self, endpoint: str, envelope: bytes) -> TransportResult:
        url = endpoint.rstrip("/") + INBOX_PATH
        try:
            response = self.client.post(
                url,
                content=envelope,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            return TransportResult(None, None, f"{type(exc).__name__}: {exc}"[:500])
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        return TransportResult(response.status_code, body, None)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
