"""The investigations capability (cases: reference, conduct, handling code, members,
observations, links to requests and holds), declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="investigations",
    orm="trailguard.investigations.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.investigations.api:router",),
    page_routers=("trailguard.investigations.web:router",),
    templates=HERE / "templates",
)
