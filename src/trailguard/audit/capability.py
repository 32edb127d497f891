"""The audit capability, declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="audit",
    orm="trailguard.audit.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.audit.api:router",),
    # peers fetch this node's signed head and the heads it witnessed (/exchange/v1/audit/...)
    page_routers=("trailguard.audit.api:exchange_router",),
    cli=CliGroup(
        "audit", "trailguard.audit.cli:app", "Verify and read the hash-chained audit log."
    ),
)
