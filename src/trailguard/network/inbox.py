"""The exchange endpoint other nodes post envelopes to: ``POST /exchange/v1/messages``.

No user authentication: the node is authenticated by the envelope's signature. The body size
is checked against ``max_envelope_bytes`` from Content-Length and again while streaming,
before anything is parsed. The delivery worker (outbox and escalation clocks) is started by
``trailguard serve`` with ``trailguard.network.start_delivery_worker``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from trailguard.network.envelope import RejectionCode
from trailguard.network.exchange import InboxAnswer, receive_batch, receive_envelope, reject
from trailguard.network.transport import BATCH_PATH, INBOX_PATH
from trailguard.web.deps import get_node

exchange_router = APIRouter()


@exchange_router.post(
    INBOX_PATH,
    tags=["exchange"],
    summary="Receive a signed, encrypted envelope from another node",
    responses={
        400: {"description": "malformed"},
        401: {"description": "bad_signature"},
        403: {"description": "unknown_sender"},
        409: {"description": "replay"},
        410: {"description": "expired"},
        413: {"description": "oversize"},
        421: {"description": "wrong_recipient"},
        422: {"description": "bad_payload"},
        424: {"description": "rejected_by_handler"},
    },
)
async def receive(request: Request) -> JSONResponse:
    node = get_node(request)
    body = await _bounded_body(request, node.config.max_envelope_bytes)
    if isinstance(body, JSONResponse):
        return body
    answer = await run_in_threadpool(receive_envelope, node, body)
    return JSONResponse(answer.body, status_code=answer.status_code)


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
    responses={400: {"description": "malformed batch"}, 413: {"description": "oversize"}},
)
async def receive_many(request: Request) -> JSONResponse:
    node = get_node(request)
    raw = await _bounded_body(request, node.config.max_batch_bytes)
    if isinstance(raw, JSONResponse):
        return raw
    problem, items = _batch_items(raw, node.config.max_batch_messages)
    if problem is not None:
        refusal = await run_in_threadpool(reject, node, RejectionCode.MALFORMED, problem)
        return JSONResponse(refusal.body, status_code=refusal.status_code)
    limit = node.config.max_envelope_bytes
    oversize = {i for i, item in enumerate(items) if len(item) > limit}
    fitting = [item for i, item in enumerate(items) if i not in oversize]
    answers = iter(await run_in_threadpool(receive_batch, node, fitting))
    results: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        answer: InboxAnswer | None
        if i in oversize:
            answer = await run_in_threadpool(
                reject,
                node,
                RejectionCode.OVERSIZE,
                f"envelope {i} is {len(item)} bytes; this node accepts at most {limit}",
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
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"the batch is not JSON: {exc}", []
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        return 'the batch must be an object {"envelopes": [...]} with at least one envelope', []
    if len(envelopes) > maximum:
        return f"the batch has {len(envelopes)} envelopes; this node accepts at most {maximum}", []
    if not all(isinstance(item, str) for item in envelopes):
        return "each envelope in a batch must be a string holding the signed envelope JSON", []
    return None, [item.encode("utf-8") for item in envelopes]


async def _bounded_body(request: Request, limit: int) -> bytes | JSONResponse:
    """The request body, or the refusal when it is (or claims to be) over ``limit`` bytes."""
    node = get_node(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            answer = await run_in_threadpool(
                reject,
                node,
                RejectionCode.MALFORMED,
                f"Content-Length {declared!r} is not a number",
            )
            return JSONResponse(answer.body, status_code=answer.status_code)
        if int(declared) > limit:
            answer = await run_in_threadpool(
                reject,
                node,
                RejectionCode.OVERSIZE,
                f"the body is {declared} bytes; this node accepts at most {limit}",
            )
            return JSONResponse(answer.body, status_code=answer.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            answer = await run_in_threadpool(
                reject,
                node,
                RejectionCode.OVERSIZE,
                f"the body exceeds {limit} bytes (streamed)",
            )
            return JSONResponse(answer.body, status_code=answer.status_code)
        chunks.append(chunk)
    return b"".join(chunks)
