"""Verifiable documents: every PDF a node issues carries a signed verification block.

The visible block (drawn by ``draw_verification_block``) names the issuing node, its key id,
the document id and the SHA-256 of the document's content (its fields as canonical JSON),
with a QR code (segno) of the node's verification address. The machine-readable block is a
signed statement appended after the PDF's ``%%EOF`` as PDF comment lines (readers ignore
them): issuer, key id, document id, content digest and the SHA-256 of every PDF byte before
the block, signed with the node's Ed25519 key. ``verify_document`` says who issued the file,
whether the verifier's directory knows that key, and whether the bytes are unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from trailguard.audit import record
from trailguard.core.clock import isoformat_z
from trailguard.evidence.domain import SignatureCheck, canonical_json
from trailguard.evidence.orm import EvidenceDocumentRow
from trailguard.evidence.service import directory_keys, keys_from_file, node_signer
from trailguard.node import Node

BEGIN = b"\n%TRAILGUARD-VERIFICATION-BEGIN\n"
END = b"%TRAILGUARD-VERIFICATION-END\n"
# after %%EOF of a PDF rendered without a node: nobody issued it, nothing signs it
DRAFT = b"\n%TRAILGUARD-UNSIGNED-DRAFT\n"
STATEMENT_FORMAT = "trailguard-document/1"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class VerificationBlock:
    """What the visible block shows; known before the PDF is drawn."""

    issuer_node: str
    issuer_name: str
    key_id: str
    document_id: str
    kind: str
    title: str
    issued_at: datetime
    content_sha256: str
    verify_url: str


@dataclass(frozen=True)
class UnsignedDraft:
    """In place of a ``VerificationBlock`` when a document is rendered without a node (no
    key to sign with): the PDF says, visibly and after its end, that it is an unsigned draft
    that proves nothing about who made it."""

    text: str = (
        "UNSIGNED DRAFT: rendered without a trailguard node, so no node issued or signed it. "
        "It proves nothing about who made it or whether it was changed; the version sent is "
        "the one issued by a node (with a signed verification block)."
    )


UNSIGNED_DRAFT = UnsignedDraft()


def mark_unsigned_draft(pdf_bytes: bytes) -> bytes:
    """The rendered draft with its machine-readable mark (a PDF comment after ``%%EOF``), so
    ``verify-document`` names it as an unsigned draft."""
    return pdf_bytes + DRAFT


def content_digest(content: Any) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _qr_png(text: str) -> bytes:
    import segno  # the QR code library loads only when a document is drawn

    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def draw_verification_block(
    pdf: Any, block: VerificationBlock | UnsignedDraft, family: str, clean: Callable[[str], str]
) -> None:
    """Draw the block at the end of an fpdf2 document (a new page if needed); for an
    ``UnsignedDraft``, a box saying so instead."""
    from fpdf.enums import XPos, YPos  # fpdf2 loads only when a PDF is drawn

    if isinstance(block, UnsignedDraft):
        if pdf.get_y() > pdf.h - 40:
            pdf.add_page()
        pdf.ln(3)
        pdf.set_draw_color(180, 0, 0)
        pdf.set_text_color(180, 0, 0)
        pdf.set_font(family, "B", 9)
        pdf.multi_cell(0, 4.5, clean(block.text), border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(60, 60, 60)
        return
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(3)
    top = pdf.get_y()
    pdf.set_draw_color(60, 60, 60)
    pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, 44)
    pdf.image(io.BytesIO(_qr_png(block.verify_url)), x=pdf.w - pdf.r_margin - 40, y=top + 2, w=38)
    pdf.set_xy(pdf.l_margin + 2, top + 2)
    width = pdf.w - pdf.l_margin - pdf.r_margin - 46
    pdf.set_font(family, "B", 9)
    pdf.multi_cell(width, 4.5, "Verification", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "", 7.5)
    lines = [
        f"Issued by {block.issuer_name} (node {block.issuer_node}), signing key {block.key_id}",
        f"Document {block.document_id}, issued {isoformat_z(block.issued_at)}",
        f"Content SHA-256: {block.content_sha256}",
        "This file carries a signed statement after its end. Check it with",
        "`trailguard verify-document FILE` or at the address in the QR code:",
        block.verify_url,
    ]
    for line in lines:
        pdf.set_x(pdf.l_margin + 2)
        pdf.multi_cell(width, 3.8, clean(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _statement(block: VerificationBlock, pdf_sha256: str) -> dict[str, Any]:
    return {
        "format": STATEMENT_FORMAT,
        "issuer_node": block.issuer_node,
        "issuer_name": block.issuer_name,
        "key_id": block.key_id,
        "document_id": block.document_id,
        "kind": block.kind,
        "title": block.title,
        "issued_at": isoformat_z(block.issued_at),
        "content_sha256": block.content_sha256,
        "pdf_sha256": pdf_sha256,
    }


def attach_statement(
    pdf_bytes: bytes, block: VerificationBlock, sign: Callable[[bytes], str]
) -> bytes:
    """The PDF with its signed statement appended (as comment lines after ``%%EOF``)."""
    statement = _statement(block, hashlib.sha256(pdf_bytes).hexdigest())
    signed = {**statement, "signature": sign(canonical_json(statement))}
    encoded = base64.b64encode(canonical_json(signed))
    lines = b"".join(b"%" + encoded[i : i + 76] + b"\n" for i in range(0, len(encoded), 76))
    return pdf_bytes + BEGIN + lines + END


def sign_pdf(
    node: Node,
    *,
    kind: str,
    title: str,
    content: Any,
    render: Callable[[VerificationBlock], bytes],
    actor: str = "system",
) -> bytes:
    """Issue a signed document: ``render`` draws the PDF with the visible block; the signed
    statement is appended and the issue is registered and audited."""
    signer = node_signer(node)
    now = node.clock.now()
    document_id = str(uuid.uuid4())
    block = VerificationBlock(
        issuer_node=node.config.node_id,
        issuer_name=node.config.name,
        key_id=signer.key_id,
        document_id=document_id,
        kind=kind,
        title=title[:300],
        issued_at=now,
        content_sha256=content_digest(content),
        verify_url=f"{node.config.base_url.rstrip('/')}/verify-document?id={document_id}",
    )
    pdf_bytes = render(block)
    signed = attach_statement(pdf_bytes, block, signer.sign)
    with node.db.session() as session:
        session.add(
            EvidenceDocumentRow(
                id=document_id,
                kind=kind,
                title=block.title,
                content_sha256=block.content_sha256,
                pdf_sha256=hashlib.sha256(pdf_bytes).hexdigest(),
                key_id=signer.key_id,
                issued_at=now,
                issued_by=actor[:200],
            )
        )
        record(
            session,
            actor=actor,
            action="document.issued",
            subject=f"document:{document_id}",
            details={"kind": kind, "title": block.title, "content_sha256": block.content_sha256},
            at=now,
        )
    return signed


@dataclass
class DocumentVerdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    issuer_node: str | None = None
    issuer_name: str | None = None
    key_id: str | None = None
    key_known: bool = False
    content_unchanged: bool = False
    statement: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "issuer_node": self.issuer_node,
            "issuer_name": self.issuer_name,
            "key_id": self.key_id,
            "key_known": self.key_known,
            "content_unchanged": self.content_unchanged,
            "document_id": self.statement.get("document_id"),
            "title": self.statement.get("title"),
            "issued_at": self.statement.get("issued_at"),
            "content_sha256": self.statement.get("content_sha256"),
            "reasons": list(self.reasons),
        }


def verify_document(data: bytes, check: SignatureCheck) -> DocumentVerdict:
    """Who issued ``data``, whether ``check`` knows that key, whether it is unchanged."""
    verdict = DocumentVerdict(ok=False)
    if len(data) > MAX_DOCUMENT_BYTES:
        verdict.reasons.append("the file is larger than 50 MB; not a trailguard document")
        return verdict
    start = data.rfind(BEGIN)
    if start < 0 and data.rstrip().endswith(DRAFT.strip()):
        verdict.reasons.append(
            "an unsigned draft: rendered without a node (no key signed it), so it was not "
            "issued by anyone and proves nothing about who made it"
        )
        return verdict
    if start < 0:
        verdict.reasons.append(
            "no verification block: the document was not issued by a trailguard node, or its "
            "block was removed"
        )
        return verdict
    end = data.find(END, start)
    if end < 0:
        verdict.reasons.append("the verification block is cut off")
        return verdict
    body = data[start + len(BEGIN) : end]
    try:
        encoded = b"".join(line[1:] for line in body.split(b"\n") if line.startswith(b"%"))
        signed = json.loads(base64.b64decode(encoded, validate=True))
        if not isinstance(signed, dict) or signed.get("format") != STATEMENT_FORMAT:
            raise ValueError("unknown format")
        signature = str(signed.pop("signature"))
        issued_at = datetime.fromisoformat(str(signed["issued_at"]).replace("Z", "+00:00"))
        issuer, key_id = str(signed["issuer_node"]), str(signed["key_id"])
    except (ValueError, KeyError, TypeError) as exc:
        verdict.reasons.append(f"the verification block is unreadable ({exc})")
        return verdict
    verdict.statement = signed
    verdict.issuer_node, verdict.key_id = issuer, key_id
    verdict.issuer_name = str(signed.get("issuer_name", ""))
    reason = check(issuer, key_id, canonical_json(signed), signature, issued_at)
    if reason is None:
        verdict.key_known = True
    else:
        verdict.key_known = "not known" not in reason
        if verdict.key_known:
            reason = f"{reason}: the verification block was forged or altered"
        verdict.reasons.append(reason)
    pdf_sha256 = hashlib.sha256(data[:start]).hexdigest()
    verdict.content_unchanged = pdf_sha256 == signed.get("pdf_sha256")
    if not verdict.content_unchanged:
        verdict.reasons.append("the content was altered after it was issued (digest differs)")
    if data[end + len(END) :].strip():
        verdict.reasons.append("bytes were added after the verification block")
    verdict.ok = not verdict.reasons
    return verdict


def claimed_issuer(data: bytes) -> str | None:
    """The node a document claims issued it (to look its keys up; never trusted)."""
    start = data.rfind(BEGIN)
    end = data.find(END, start) if start >= 0 else -1
    if start < 0 or end < 0:
        return None
    try:
        body = data[start + len(BEGIN) : end]
        encoded = b"".join(line[1:] for line in body.split(b"\n") if line.startswith(b"%"))
        return str(json.loads(base64.b64decode(encoded))["issuer_node"])
    except (ValueError, KeyError, TypeError):
        return None


def check_for_document(node: Node | None, public_key: Path | None, data: bytes) -> SignatureCheck:
    """The key check for a document: a public key file, else the node's directory (looked up
    for the issuer the document names), else nothing verifies."""
    if public_key is not None:
        return keys_from_file(public_key).check
    if node is None:

        def refuse(node_id: str, key_id: str, message: bytes, sig: str, at: datetime) -> str:
            return f"node {node_id} is not known: give --data-dir DIR or --public-key FILE"

        return refuse
    with node.db.session() as session:
        issuer = claimed_issuer(data)
        return directory_keys(session, node, [issuer] if issuer else []).check
