"""The composition root: everything one running node needs, built in one place.

Entry points (CLI, web app, demo, tests) build a ``Node`` and hand it to services; services
never build their own engines or clocks. This is where an adapter is chosen (SQLite or
PostgreSQL, the system clock or a fixed one). Which capabilities' tables the database holds
is the caller's to say; ``trailguard.registry.open_node`` opens a node with the registered ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trailguard.core.capability import Capability
from trailguard.core.clock import Clock, default_clock
from trailguard.core.config import NodeConfig, NodePaths, database_url_for, load_config
from trailguard.core.db import Database


@dataclass
class Node:
    config: NodeConfig
    paths: NodePaths
    db: Database
    clock: Clock = field(default_factory=default_clock)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        capabilities: Sequence[Capability],
        clock: Clock | None = None,
        database_url: str | None = None,
        migrate: bool = True,
    ) -> Node:
        config = load_config(data_dir)
        paths = NodePaths(data_dir)
        db = Database(database_url or database_url_for(config, paths), capabilities)
        if migrate:
            db.migrate()
        return cls(config=config, paths=paths, db=db, clock=clock or default_clock())

    def close(self) -> None:
        self.db.dispose()
