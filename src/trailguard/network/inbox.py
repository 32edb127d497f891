"""The exchange endpoint other nodes post envelopes to: ``POST /exchange/v1/messages``.

No user authentication: the node is authenticated by the envelope's signature. The body size
is checked against ``max_envelope_bytes`` from Content-Length and again while streaming,
before anything is parsed. The delivery worker (outbox and escalation clocks) is started by
``trailguard serve`` with ``trailguard.network.start_delivery_worker``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from trailguard.network.envelope import RejectionCode
from trailguard.network.exchange import receive_envelope, reject
from trailguard.network.transport import INBOX_PATH
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
    limit = node.config.max_envelope_bytes
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
    answer = await run_in_threadpool(receive_envelope, node, b"".join(chunks))
    return JSONResponse(answer.body, status_code=answer.status_code)
