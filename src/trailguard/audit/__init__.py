"""Append-only, hash-chained audit log of every change on a node.

The face other capabilities use: ``record`` an entry in the caller's transaction, ``recent``
entries, ``verify`` the chain; the chain's heads (``heads``: pure) and tables, for the network
capability's witnesses (``trailguard.network.witness``: heads signed with the node key,
countersigned by peers, ``verify_node`` against them), which sit above the audit log so that
the log names no network module.
"""

from trailguard.audit.chain import AuditEntry, ChainProblem, ChainReport, verify_chain
from trailguard.audit.heads import (
    HeadFormatError,
    KnownHead,
    SignedHead,
    WitnessedHead,
    check_heads,
)
from trailguard.audit.orm import AuditHeadRow, AuditSignedHeadRow, AuditWitnessedHeadRow
from trailguard.audit.service import iter_entries, lock_chain, recent, record, verify

__all__ = [
    "AuditEntry",
    "AuditHeadRow",
    "AuditSignedHeadRow",
    "AuditWitnessedHeadRow",
    "ChainProblem",
    "ChainReport",
    "HeadFormatError",
    "KnownHead",
    "SignedHead",
    "WitnessedHead",
    "check_heads",
    "iter_entries",
    "lock_chain",
    "recent",
    "record",
    "verify",
    "verify_chain",
]
