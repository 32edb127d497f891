"""The trace capability (hop by hop across countries, Art. 29/30), declared once (see
``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup, Listener, MessageHandler

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
    # a custodian's Art. 30 answer to the point of contact that forwarded the request
    handlers=(MessageHandler("trace.disclosure", "trailguard.trace.disclosure:handle_disclosure"),),
    # answers are pushed: every request transition (local or received) may move a hop
    listeners=(Listener("requests.transition", "trailguard.trace.service:on_request_transition"),),
    dashboard=("trailguard.trace.web:dashboard_items",),
    case_sections=(("traces", "trailguard.trace.web:case_traces"),),
    templates=HERE / "templates",
)
