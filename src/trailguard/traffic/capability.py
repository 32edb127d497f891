"""The traffic capability (with its live watch, ``watch/``, and deterministic NAT, ``detnat``),
declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup, MessageHandler

HERE = Path(__file__).resolve().parent
_WATCH = "trailguard.traffic.watch.service"

CAPABILITY = Capability(
    name="traffic",
    orm="trailguard.traffic.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.traffic.api:router",),
    page_routers=("trailguard.traffic.web:router", "trailguard.traffic.watch.web:router"),
    cli=CliGroup(
        "traffic", "trailguard.traffic.cli:app", "Provider traffic data: ingest, look up, hold."
    ),
    handlers=(
        MessageHandler("traffic.watch_order", f"{_WATCH}:handle_order", requires_ack=True),
        MessageHandler("traffic.watch_cancel", f"{_WATCH}:handle_cancel"),
        MessageHandler("traffic.watch_hit", f"{_WATCH}:handle_hit"),
    ),
    templates=HERE / "templates",
)
