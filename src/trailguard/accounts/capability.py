"""The accounts capability, declared once (see ``trailguard.core.capability``)."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="accounts",
    orm="trailguard.accounts.orm",
    migrations=HERE / "migrations" / "versions",
    api_routers=("trailguard.accounts.web:api_router",),
    page_routers=("trailguard.accounts.web:router", "trailguard.accounts.admin_web:router"),
    cli=CliGroup(
        "users", "trailguard.accounts.cli:app", "People on this node: users, tokens, TOTP."
    ),
    templates=HERE / "templates",
)
