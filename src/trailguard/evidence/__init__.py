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
- ``service``: acquire, custody, package, verify, import (audited); ``transfer``: packages
  between nodes, encrypted and in chunks.
- ``cli`` (``trailguard evidence``, ``trailguard verify-document``), ``api``, ``web``.

Other capabilities use::

    from trailguard.evidence import sign_pdf, verify_document
"""

from __future__ import annotations

from typing import Any

__all__ = ["draw_verification_block", "sign_pdf", "verify_document"]

_LAZY = {
    "draw_verification_block": "documents",
    "sign_pdf": "documents",
    "verify_document": "documents",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trailguard.evidence' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"trailguard.evidence.{module}"), name)
