"""The trace capability (hop by hop across countries, Art. 29/30), declared once (see
``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="trace",
    orm="trailguard.trace.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.trace.api:router",),
    page_routers=("trailguard.trace.web:router",),
    cli=CliGroup(
        "trace", "trailguard.trace.cli:app", "The trace: e-mail headers, address attribution."
    ),
    dashboard=("trailguard.trace.web:dashboard_items",),
    templates=HERE / "templates",
)
