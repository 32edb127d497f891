"""Append-only, hash-chained audit log of every change on a node.

The face other capabilities use: ``record`` an entry in the caller's transaction, ``recent``
entries, ``verify`` the chain.
"""

from trailguard.audit.chain import AuditEntry, ChainReport
from trailguard.audit.service import lock_chain, recent, record, verify

__all__ = ["AuditEntry", "ChainReport", "lock_chain", "recent", "record", "verify"]
