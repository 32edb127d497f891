"""The hash certificate: a PDF for a court listing a verified package's items, their
digests and their custody, issued with the node's signed verification block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trailguard.core.errors import ValidationFailed
from trailguard.core.exercise_marking import exercise_marking, mark_pdf
from trailguard.core.pdftext import latin1_safe
from trailguard.evidence.bag import BagReport
from trailguard.evidence.documents import VerificationBlock, draw_verification_block, sign_pdf
from trailguard.evidence.service import verify_package
from trailguard.node import Node


def certificate_content(report: BagReport) -> dict[str, Any]:
    """The certified facts (their SHA-256 is the document's content digest)."""
    return {
        "package_id": report.info.get("Trailguard-Package-Id"),
        "reference": report.info.get("External-Identifier"),
        "legal_basis": report.info.get("Trailguard-Legal-Basis"),
        "issuer": report.signer_node,
        "key_id": report.key_id,
        "items": [
            {
                "item_id": record.item_id,
                "file_name": record.file_name,
                "size": record.digests.size,
                "sha256": record.digests.sha256,
                "sha512": record.digests.sha512,
                "acquired_by": record.acquisition.acquired_by,
                "acquired_at": record.acquisition.local_time,
                "node": record.acquisition.node_id,
                "custody": [
                    [e.seq, e.action.value, e.local_time, e.user, e.node_id, e.event_hash]
                    for e in record.custody
                ],
            }
            for record in report.records
        ],
    }


def render_certificate(
    content: dict[str, Any], block: VerificationBlock | None, marking: str | None = None
) -> bytes:
    # fpdf2 (and its fonts) load only when a PDF is drawn
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"Hash certificate {content['reference']}")
    mark_pdf(pdf, marking)  # an exercise node's EXERCISE on every page (issue 17)
    family, clean = "Helvetica", latin1_safe
    pdf.add_page()

    def line(text: str, size: float = 9, style: str = "", height: float = 4.5) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(0, height, clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line("Hash certificate of an evidence package", 14, "B", 7)
    line(f"Reference: {content['reference']}")
    line(f"Package: {content['package_id']}")
    line(f"Legal basis: {content['legal_basis']}")
    line(f"Package signed by node {content['issuer']} with key {content['key_id']}")
    line(
        "The package was verified before this certificate was issued: every payload and tag "
        "file against the BagIt manifests, the signature over the tag manifests, and every "
        "item's custody chain.",
        8,
    )
    for item in content["items"]:
        pdf.ln(2)
        line(f"Item {item['item_id']}: {item['file_name']} ({item['size']} bytes)", 10, "B", 5)
        line(f"SHA-256 {item['sha256']}", 7.5, height=3.8)
        line(f"SHA-512 {item['sha512'][:64]}", 7.5, height=3.8)
        line(f"        {item['sha512'][64:]}", 7.5, height=3.8)
        line(f"Acquired by {item['acquired_by']} at {item['node']}, {item['acquired_at']}", 8)
        for seq, action, when, user, node_id, event_hash in item["custody"]:
            line(
                f"  {seq}. {action} {when} by {user} at {node_id} (event {event_hash[:16]}...)",
                7.5,
                height=3.8,
            )
    if block is not None:
        draw_verification_block(pdf, block, family, clean)
    return bytes(pdf.output())


def issue_certificate(node: Node, bag: Path, *, actor: str) -> bytes:
    """Verify ``bag`` against this node's directory, then issue its signed certificate."""
    report = verify_package(bag, node=node)
    if not report.ok:
        raise ValidationFailed(
            f"no certificate for a package that does not verify: {report.problems[0]}",
            report.problems,
        )
    content = certificate_content(report)
    return sign_pdf(
        node,
        kind="hash-certificate",
        title=f"Hash certificate {content['reference']} ({content['package_id']})",
        content=content,
        render=lambda block: render_certificate(content, block, exercise_marking(node.config)),
        actor=actor,
    )
