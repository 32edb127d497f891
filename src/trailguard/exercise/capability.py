"""The exercise capability (issue 17: generated scenarios, played on loopback, scored),
declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="exercise",
    orm="trailguard.exercise.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.exercise.api:router",),
    page_routers=("trailguard.exercise.web:router",),
    cli=CliGroup(
        "exercise",
        "trailguard.exercise.cli:app",
        "Training: generated scenarios on loopback nodes, scored with a debrief.",
    ),
    dashboard=("trailguard.exercise.web:dashboard_items",),
    templates=HERE / "templates",
)
