"""Append-only, hash-chained audit log of every change on a node.

The face other capabilities use: ``record`` an entry in the caller's transaction, ``recent``
entries, ``verify`` the chain (``verify_node``: against the signed and witnessed heads too).
"""

from trailguard.audit.chain import AuditEntry, ChainReport
from trailguard.audit.service import lock_chain, recent, record, verify
from trailguard.audit.witness import verify_node

__all__ = ["AuditEntry", "ChainReport", "lock_chain", "recent", "record", "verify", "verify_node"]
