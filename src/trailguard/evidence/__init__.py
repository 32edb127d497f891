"""evidence capability: items with a chain of custody, signed packages a court can verify,
and verifiable documents.

Map:
- ``domain``: digests (streamed SHA-256/SHA-512, MD5/SHA-1 as legacy extras), legal basis,
  acquisition record, custody events (hash-chained per item, signed), chain check.
- ``caseuco``: the CASE/UCO JSON-LD description of a package.
- ``bag``: the BagIt bag on disk (write, verify); ``documents``: signed verification blocks
  on issued PDFs; ``certificate``: the hash certificate PDF.
- ``orm`` and ``migrations/``: ``evidence_items``, ``evidence_custody_events``,
  ``evidence_packages``, ``evidence_transfers``.
- ``service``: acquire, custody, package (one streaming pass per new file; the payload copied,
  or linked where policy allows: ``bag.PayloadMode``; the investigation's traces from
  ``trailguard.trace`` in the CASE/UCO), verify, import (audited); ``transfer``: packages
  between nodes, encrypted and in chunks; refused ones leave nothing, stale ones expire.
- ``cli`` (``trailguard evidence``, ``trailguard verify-document``), ``api``, ``web``.

Other capabilities use::

    from trailguard.evidence import sign_pdf, verify_document
    # a PDF rendered without a node: visibly and machine-readably an unsigned draft
    from trailguard.evidence import UNSIGNED_DRAFT, mark_unsigned_draft
"""

from __future__ import annotations

from trailguard.evidence.documents import (
    UNSIGNED_DRAFT,
    draw_verification_block,
    mark_unsigned_draft,
    sign_pdf,
    verify_document,
)

__all__ = [
    "UNSIGNED_DRAFT",
    "draw_verification_block",
    "mark_unsigned_draft",
    "sign_pdf",
    "verify_document",
]
