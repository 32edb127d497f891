"""HTTP adapter: posts envelopes to a peer's inbox with httpx and reports what came back."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from trailguard.core.jsonsafe import JsonRefused, loads_bounded

INBOX_PATH = "/exchange/v1/messages"
BATCH_PATH = "/exchange/v1/batches"
# The largest answer read from a peer (a batch answer holds a few receipts per envelope).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# The sender's own bounds on one batch; the receiver enforces its limits and answers 413.
BATCH_MAX_MESSAGES = 100
BATCH_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TransportResult:
    """``status_code`` is None when no HTTP answer arrived (refused, timed out, reset)."""

    status_code: int | None
    body: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """The answer to one batch post. ``results`` holds one entry per envelope, in order,
    each ``{"status_code": int | None, "body": {...}}``; an entry with status None was not
    processed (the sender retries it). ``supported`` is False when the peer has no batch
    endpoint (an older node), and ``results`` is then empty: the sender posts one by one."""

    status_code: int | None
    results: list[dict[str, Any]]
    error: str | None = None
    supported: bool = True


class Transport(Protocol):
    def post_envelope(self, endpoint: str, envelope: bytes) -> TransportResult: ...


class BatchTransport(Transport, Protocol):
    def post_batch(self, endpoint: str, envelopes: list[bytes]) -> BatchResult: ...


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
        body = _answer_json(response)
        if not isinstance(body, dict):
            body = None
        return TransportResult(response.status_code, body, None)

    def post_batch(self, endpoint: str, envelopes: list[bytes]) -> BatchResult:
        """Post several envelopes for one recipient in one request (``BATCH_PATH``); each
        envelope travels as the exact bytes that were signed, inside a JSON list of strings."""
        url = endpoint.rstrip("/") + BATCH_PATH
        content = json.dumps({"envelopes": [e.decode("utf-8") for e in envelopes]})
        try:
            response = self.client.post(
                url,
                content=content.encode("utf-8"),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout * 3,
            )
        except httpx.HTTPError as exc:
            return BatchResult(None, [], f"{type(exc).__name__}: {exc}"[:500])
        if response.status_code in (404, 405, 413):
            # no batch endpoint there, or the batch is over the peer's limit: go one by one
            return BatchResult(response.status_code, [], None, supported=False)
        body = _answer_json(response)
        results = body.get("results") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(results, list):
            return BatchResult(
                response.status_code, [], f"HTTP {response.status_code}: no batch results"
            )
        return BatchResult(200, [r if isinstance(r, dict) else {} for r in results])

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _answer_json(response: httpx.Response) -> Any:
    """A peer's answer as JSON, bounded in size and depth (None when it is not)."""
    try:
        return loads_bounded(response.content, max_bytes=MAX_ANSWER_BYTES, max_depth=16)
    except JsonRefused:
        return None
