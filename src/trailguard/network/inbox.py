"""The exchange endpoint other nodes post envelopes to: ``POST /exchange/v1/messages``.

No user authentication: the node is authenticated by the envelope's signature. A client
address with too many refused requests in the current window is answered 429 before its body
is read (``refusals.py``). The body size is checked against ``max_envelope_bytes`` from
Content-Length and again while streaming, before anything is parsed; parsing is bounded in
depth (``core/jsonsafe.py``). A body that is not an envelope at all gets an unsigned
refusal; a refusal of an envelope carries a signed ``rejected`` receipt. The delivery
worker (outbox and escalation clocks) is started by ``trailguard serve`` with
``trailguard.network.start_delivery_worker``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from trailguard.core.config import NodeConfig
from trailguard.core.jsonsafe import JsonRefused, loads_bounded
from trailguard.network.envelope import RejectionCode
from trailguard.network.exchange import (
    InboxAnswer,
    receive_batch,
    receive_envelope,
    reject,
    write_serialised,
)
from trailguard.network.openapi import (
    BATCH_ANSWER_SCHEMA,
    BATCH_BODY_SCHEMA,
    ENVELOPE_SCHEMA,
    INBOX_ANSWER_SCHEMA,
    REFUSAL_SCHEMA,
)
from trailguard.network.refusals import RATE_LIMITED, guard_for, source_of, write_entries
from trailguard.network.transport import BATCH_PATH, INBOX_PATH
from trailguard.node import Node
from trailguard.web.deps import get_node

exchange_router = APIRouter()


def _json_doc(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _refusal_doc(description: str) -> dict[str, Any]:
    return _json_doc(description, REFUSAL_SCHEMA)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint whose body (read raw) is JSON of ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_RATE_LIMITED_DOC = {
    "description": "rate_limited: too many refused requests from this address in the "
    "current window (unsigned; see Retry-After)",
    "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
    "content": {"application/json": {"schema": REFUSAL_SCHEMA}},
}


@exchange_router.post(
    INBOX_PATH,
    tags=["exchange"],
    summary="Receive a signed, encrypted envelope from another node",
    description=(
        "The body is the envelope exactly as its sender signed it: its canonical JSON "
        "(sorted keys, no whitespace, UTF-8), each base64 value canonical, so that one "
        "message has one byte form. Any other encoding of the same fields is `malformed`."
    ),
    openapi_extra=_json_body(ENVELOPE_SCHEMA),
    responses={
        200: _json_doc("accepted (or a duplicate of an accepted envelope)", INBOX_ANSWER_SCHEMA),
        400: _refusal_doc("malformed (not an envelope at all: unsigned)"),
        401: _refusal_doc("bad_signature"),
        403: _refusal_doc("unknown_sender"),
        409: _refusal_doc("replay"),
        410: _refusal_doc("expired"),
        413: _refusal_doc("oversize (unsigned)"),
        421: _refusal_doc(
            "wrong_recipient, or wrong_network (the envelope, or the X-Trailguard-Network "
            "header, names another network than this node's: live and exercise nodes never "
            "talk)"
        ),
        422: _refusal_doc("bad_payload"),
        424: _refusal_doc("rejected_by_handler"),
        429: _RATE_LIMITED_DOC,
    },
)
async def receive(request: Request) -> JSONResponse:
    admitted = await _admitted(request, lambda config: config.max_envelope_bytes)
    if isinstance(admitted, JSONResponse):
        return admitted
    node, source, body = admitted
    answer = await run_in_threadpool(_receive_one, node, body, source)
    return JSONResponse(answer.body, status_code=answer.status_code)


def _receive_one(node: Node, body: bytes, source: str) -> InboxAnswer:
    return receive_envelope(node, body, source=source)


def _receive_many(node: Node, bodies: list[bytes], source: str) -> list[InboxAnswer | None]:
    return receive_batch(node, bodies, source=source)


def _reject_unsigned(node: Node, code: RejectionCode, detail: str, source: str) -> InboxAnswer:
    return reject(node, code, detail, source=source, signed=False)


async def _refused(node: Node, code: RejectionCode, detail: str, source: str) -> JSONResponse:
    """The unsigned refusal of a request that is no envelope (or batch) to read."""
    answer = await run_in_threadpool(_reject_unsigned, node, code, detail, source)
    return JSONResponse(answer.body, status_code=answer.status_code)


async def _admitted(
    request: Request, limit: Callable[[NodeConfig], int]
) -> tuple[Node, str, bytes] | JSONResponse:
    """The node, the client's address and the body of a post; or the answer refusing it: the
    address is rate limited, or the body is over ``limit(node.config)`` bytes."""
    node = get_node(request)
    source = source_of(request.client.host if request.client else None)
    limited = await _rate_limited(node, source)
    if limited is not None:
        return limited
    body = await _bounded_body(request, limit(node.config), source)
    if isinstance(body, JSONResponse):
        return body
    return node, source, body


async def _rate_limited(node: Node, source: str) -> JSONResponse | None:
    """The 429 answer when ``source`` has used up its refusals in the current window (the
    answer itself is counted in the audit log, never signed)."""
    now = node.clock.now()
    guard = guard_for(node)
    decision = guard.check(source, now)
    if decision.allowed:
        return None
    detail = f"too many refused requests from {source}; try again in {decision.retry_after} seconds"
    entries = guard.note(source, RATE_LIMITED, detail, now)
    if entries:
        await run_in_threadpool(_write, node, entries)
    return JSONResponse(
        {"error": RATE_LIMITED, "detail": detail},
        status_code=429,
        headers={"Retry-After": str(decision.retry_after)},
    )


def _write(node: Node, entries: list[dict[str, Any]]) -> None:
    with write_serialised(node), node.db.session() as session:
        write_entries(session, entries)


@exchange_router.post(
    BATCH_PATH,
    tags=["exchange"],
    summary="Receive several envelopes from one sender, in order, in one transaction",
    description=(
        'Body: `{"envelopes": ["<envelope JSON>", ...]}`, each item the exact bytes the '
        'sender signed. Answer: `{"results": [...]}`, one per envelope in order, each '
        "`{status_code, body}` exactly as the single-message endpoint would have answered, or "
        "`{status_code: null, error}` for an envelope that was not processed (retry it)."
    ),
    openapi_extra=_json_body(BATCH_BODY_SCHEMA),
    responses={
        200: _json_doc("one result per envelope, in order", BATCH_ANSWER_SCHEMA),
        400: _refusal_doc("malformed batch (unsigned)"),
        413: _refusal_doc("oversize (unsigned)"),
        429: _RATE_LIMITED_DOC,
    },
)
async def receive_many(request: Request) -> JSONResponse:
    admitted = await _admitted(request, lambda config: config.max_batch_bytes)
    if isinstance(admitted, JSONResponse):
        return admitted
    node, source, raw = admitted
    problem, items = _batch_items(raw, node.config.max_batch_messages)
    if problem is not None:
        return await _refused(node, RejectionCode.MALFORMED, problem, source)
    limit = node.config.max_envelope_bytes
    oversize = {i for i, item in enumerate(items) if len(item) > limit}
    fitting = [item for i, item in enumerate(items) if i not in oversize]
    answers = iter(await run_in_threadpool(_receive_many, node, fitting, source))
    results: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        answer: InboxAnswer | None
        if i in oversize:
            answer = await run_in_threadpool(
                _reject_unsigned,
                node,
                RejectionCode.OVERSIZE,
                f"envelope {i} is {len(item)} bytes; this node accepts at most {limit}",
                source,
            )
        else:
            answer = next(answers)
        if answer is None:
            results.append({"status_code": None, "error": "not processed; send it again"})
        else:
            results.append({"status_code": answer.status_code, "body": answer.body})
    return JSONResponse({"results": results})


def _batch_items(raw: bytes, maximum: int) -> tuple[str | None, list[bytes]]:
    try:
        # a batch is an object holding a list of strings: depth 2 (3 to name a wrong item)
        document = loads_bounded(raw, max_bytes=len(raw), max_depth=3)
    except JsonRefused as exc:
        return f"the batch is not a JSON batch: {exc}", []
    if isinstance(document, dict) and set(document) - {"envelopes"}:
        unknown = ", ".join(sorted(set(document) - {"envelopes"}))[:200]
        return f"the batch has unknown fields: {unknown}", []
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        return 'the batch must be an object {"envelopes": [...]} with at least one envelope', []
    if len(envelopes) > maximum:
        return f"the batch has {len(envelopes)} envelopes; this node accepts at most {maximum}", []
    if not all(isinstance(item, str) for item in envelopes):
        return "each envelope in a batch must be a string holding the signed envelope JSON", []
    return None, [item.encode("utf-8") for item in envelopes]


async def _bounded_body(request: Request, limit: int, source: str) -> bytes | JSONResponse:
    """The request body, or the refusal when it is (or claims to be) over ``limit`` bytes."""
    node = get_node(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return await _refused(
                node,
                RejectionCode.MALFORMED,
                f"Content-Length {declared!r} is not a number",
                source,
            )
        if int(declared) > limit:
            return await _refused(
                node,
                RejectionCode.OVERSIZE,
                f"the body is {declared} bytes; this node accepts at most {limit}",
                source,
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return await _refused(
                node, RejectionCode.OVERSIZE, f"the body exceeds {limit} bytes (streamed)", source
            )
        chunks.append(chunk)
    return b"".join(chunks)
