"""Helpers of the requests tests, in a module of their own name (``from conftest import``
gives whichever conftest.py pytest loaded first when several folders are collected)."""

from __future__ import annotations

from datetime import UTC, datetime

from trailguard.accounts.domain import Principal, Role
from trailguard.network.directory import DirectoryEntry, EntryKind
from trailguard.network.directory_service import save_entry
from trailguard.node import Node

START = datetime(2026, 11, 20, 13, 0, 0, 250000, tzinfo=UTC)


def principal(username: str, *roles: Role) -> Principal:
    return Principal(
        user_id=abs(hash(username)) % 10_000,
        username=username,
        display_name=username.title(),
        roles=frozenset(roles),
    )


def know_peer(node: object, node_id: str = "nl-poc", country: str = "NL") -> None:
    """Put a 24/7 point of contact in a lone node's directory, so drafts may name it (a draft's
    recipient must be a node the directory knows)."""
    assert isinstance(node, Node)
    entry = DirectoryEntry(
        node_id=node_id, kind=EntryKind.POC, country=country, organisation=f"{country} 24/7"
    )
    with node.db.session() as session:
        save_entry(session, node, entry, actor="system:test", source="test")
