"""Evidence pages: the public document verification page, and the items list for staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from trailguard.accounts import Principal
from trailguard.evidence import transfer
from trailguard.evidence.documents import MAX_DOCUMENT_BYTES, check_for_document, verify_document
from trailguard.evidence.orm import EvidenceDocumentRow
from trailguard.evidence.service import EVIDENCE_ROLES, list_items
from trailguard.web.deps import get_node, optional_principal, require_roles
from trailguard.web.render import render

router = APIRouter(include_in_schema=False)  # pages
# other nodes' transfer endpoints (machine answers, documented in /openapi.json)
exchange_router = APIRouter(tags=["evidence transfer"])


def _registered(request: Request, document_id: str | None) -> dict[str, Any] | None:
    if not document_id:
        return None
    node = get_node(request)
    with node.db.session() as session:
        row = session.get(EvidenceDocumentRow, document_id[:36])
        if row is None:
            return {"found": False, "id": document_id[:36]}
        return {
            "found": True,
            "id": row.id,
            "kind": row.kind,
            "title": row.title,
            "content_sha256": row.content_sha256,
            "key_id": row.key_id,
            "issued_at": row.issued_at,
        }


@router.get("/verify-document", response_class=HTMLResponse)
async def verify_page(request: Request, id: str | None = None) -> HTMLResponse:
    """Public: anyone holding a document (a provider receiving a request by e-mail) may check
    it here; ``?id=`` (the QR code) shows what this node registered under that id."""
    request.state.principal = await optional_principal(request)
    return render(request, "evidence/verify.html", {"registered": _registered(request, id)})


@router.post("/verify-document", response_class=HTMLResponse)
async def verify_upload(request: Request, file: UploadFile) -> HTMLResponse:
    request.state.principal = None  # public; changes nothing, so no session or CSRF is read
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            return render(
                request,
                "evidence/verify.html",
                {"error": "the file is larger than 50 MB; not a trailguard document"},
                status_code=413,
            )
        chunks.append(chunk)
    data = b"".join(chunks)
    node = get_node(request)
    verdict = verify_document(data, check_for_document(node, None, data))
    registered = None
    if verdict.issuer_node == node.config.node_id:
        registered = _registered(request, verdict.statement.get("document_id"))
    return render(
        request,
        "evidence/verify.html",
        {"verdict": verdict, "file_name": file.filename, "registered": registered},
        status_code=200,
    )


@router.get("/evidence", response_class=HTMLResponse)
def items_page(
    request: Request, _principal: Principal = Depends(require_roles(*EVIDENCE_ROLES))
) -> HTMLResponse:
    with get_node(request).db.session() as session:
        items = [
            {
                "id": row.id,
                "reference": row.reference,
                "file_name": row.file_name,
                "size": row.size,
                "sha256": row.sha256,
                "state": row.state,
                "origin_node": row.origin_node,
                "handling": f"{row.handling_code} {row.tlp}",
            }
            for row in list_items(session)
        ]
    return render(request, "evidence/items.html", {"items": items})


# --- the exchange's evidence endpoints (other nodes) ---------------------------------------
# Not behind a login: a transfer id is a random UUID that travelled only inside a signed,
# encrypted offer, and every chunk must open under the offer's key (XChaCha20-Poly1305 with
# the transfer id and index as associated data), so nobody else can add or change data.


@exchange_router.get(f"{transfer.PATH}/{{transfer_id}}")
def transfer_status(request: Request, transfer_id: str) -> JSONResponse:
    state = transfer.incoming(get_node(request), transfer_id)
    return JSONResponse(
        {
            "transfer_id": state.transfer_id,
            "state": state.state,
            "chunk_count": state.chunk_count,
            "received": transfer.received_chunks(state),
        }
    )


@exchange_router.put(f"{transfer.PATH}/{{transfer_id}}/chunks/{{index}}")
async def transfer_chunk(request: Request, transfer_id: str, index: int) -> JSONResponse:
    limit = transfer.MAX_CHUNK_SIZE + 1024
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            return JSONResponse({"error": "chunk too large"}, status_code=413)
        parts.append(part)
    node = get_node(request)
    new = await run_in_threadpool(transfer.store_chunk, node, transfer_id, index, b"".join(parts))
    return JSONResponse({"index": index, "duplicate": not new}, status_code=201 if new else 200)


@exchange_router.post(f"{transfer.PATH}/{{transfer_id}}/complete")
def transfer_complete(request: Request, transfer_id: str) -> JSONResponse:
    answer = transfer.complete(get_node(request), transfer_id)
    return JSONResponse(answer, status_code=200 if answer["ok"] else 422)
