"""The evidence capability (items with a custody chain, signed BagIt packages with CASE/UCO,
verifiable documents, transfer between nodes), declared once (see
``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup, MessageHandler

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="evidence",
    orm="trailguard.evidence.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.evidence.api:router",),
    page_routers=("trailguard.evidence.web:router", "trailguard.evidence.web:exchange_router"),
    cli=CliGroup(
        "evidence", "trailguard.evidence.cli:app", "Evidence packages with a chain of custody."
    ),
    # anyone holding a document (a court, a defence expert) checks it without a node
    commands=(("verify-document", "trailguard.evidence.cli:verify_document_command"),),
    handlers=(
        MessageHandler("evidence.transfer_offer", "trailguard.evidence.transfer:handle_offer"),
    ),
    templates=HERE / "templates",
)
