"""Helpers of the trace tests, in a module of their own name (``from conftest import`` gives
whichever conftest.py pytest loaded last)."""

from __future__ import annotations

from typing import Any

from trailguard.accounts.domain import Principal, Role


def principal(username: str, *roles: Role) -> Principal:
    return Principal(
        user_id=abs(hash(username)) % 10_000,
        username=username,
        display_name=username.title(),
        roles=frozenset(roles),
    )


def enter(
    node: Any,
    node_id: str,
    kind: str,
    country: str,
    org: str,
    prefixes: tuple = (),
    timezone: str = "UTC",
) -> None:
    from trailguard.network.directory import DirectoryEntry, EntryKind
    from trailguard.network.directory_service import save_entry

    with node.db.session() as session:
        save_entry(
            session,
            node,
            DirectoryEntry(
                node_id=node_id,
                kind=EntryKind(kind),
                country=country,
                organisation=org,
                prefixes=prefixes,
                timezone=timezone,
            ),
            actor="system:test",
            source="test",
        )
