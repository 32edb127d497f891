"""Append-only, hash-chained audit log of every change on a node."""
