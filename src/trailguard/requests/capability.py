"""The requests capability, declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup, MessageHandler

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="requests",
    orm="trailguard.requests.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.requests.api:router",),
    page_routers=("trailguard.requests.web:router",),
    cli=CliGroup("requests", "trailguard.requests.cli:app", "Cooperation requests."),
    handlers=(
        MessageHandler("request.submit", "trailguard.requests.service.inbound:handle_submit", True),
        MessageHandler(
            "request.transition", "trailguard.requests.service.inbound:handle_transition"
        ),
    ),
    dashboard=("trailguard.requests.web:dashboard_items",),
    templates=HERE / "templates",
    template_filters=tuple(
        (name, f"trailguard.requests.labels:{name}")
        for name in ("route_label", "kind_label", "state_label", "direction_label")
    ),
)
