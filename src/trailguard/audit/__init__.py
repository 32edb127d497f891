"""Append-only, hash-chained audit log of every change on a node."""

from trailguard.audit.service import record

__all__ = ["record"]
