"""The network capability, declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup, MessageHandler

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="network",
    orm="trailguard.network.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.network.api:router",),
    page_routers=("trailguard.network.web:router",),
    cli=CliGroup("directory", "trailguard.network.cli:app", "The network's signed directory."),
    handlers=(
        MessageHandler("network.receipt", "trailguard.network.exchange.receipts:handle_receipt"),
        MessageHandler(
            "network.ping", "trailguard.network.exchange.receipts:handle_ping", requires_ack=True
        ),
    ),
    dashboard=("trailguard.network.web:dashboard_items",),
    templates=HERE / "templates",
)
