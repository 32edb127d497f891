"""The composition root's one list of capabilities: the app (``app.create_app``), the CLI
(``cli.py``), the database (``Database(url, CAPABILITIES)``, via ``open_node``) and the page
templates all take it from here.

Adding a capability is: write ``trailguard/<name>/capability.py`` (one ``Capability(...)``,
see ``trailguard.core.capability``) and add it to ``CAPABILITIES`` below, after the
capabilities whose tables it references (ARCHITECTURE.md, "Adding a capability").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trailguard.accounts.capability import CAPABILITY as ACCOUNTS
from trailguard.audit.capability import CAPABILITY as AUDIT
from trailguard.core.capability import Capability, check_unique
from trailguard.core.clock import Clock
from trailguard.evidence.capability import CAPABILITY as EVIDENCE
from trailguard.exercise.capability import CAPABILITY as EXERCISE
from trailguard.investigations.capability import CAPABILITY as INVESTIGATIONS
from trailguard.law.capability import CAPABILITY as LAW
from trailguard.network.capability import CAPABILITY as NETWORK
from trailguard.node import Node
from trailguard.requests.capability import CAPABILITY as REQUESTS
from trailguard.trace.capability import CAPABILITY as TRACE
from trailguard.traffic.capability import CAPABILITY as TRAFFIC

# In dependency order: a capability comes after those whose tables or faces it uses.
CAPABILITIES: tuple[Capability, ...] = (
    ACCOUNTS, AUDIT, NETWORK, REQUESTS, LAW, TRAFFIC, INVESTIGATIONS, TRACE, EVIDENCE,
    EXERCISE,
)  # fmt: skip
check_unique(CAPABILITIES)


def open_node(
    data_dir: Path,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    migrate: bool = True,
    capabilities: Sequence[Capability] = CAPABILITIES,
) -> Node:
    """``Node.open`` with the registered capabilities' tables (migrated unless told not to)."""
    return Node.open(
        data_dir,
        capabilities=capabilities,
        clock=clock,
        database_url=database_url,
        migrate=migrate,
    )
