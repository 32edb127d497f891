"""The law capability, declared once (see ``trailguard.core.capability``). It owns no tables:
its facts are versioned YAML in ``law/data``."""

from pathlib import Path

from trailguard.core.capability import Capability, CliGroup

HERE = Path(__file__).resolve().parent

CAPABILITY = Capability(
    name="law",
    api_routers=("trailguard.law.api:router",),
    page_routers=("trailguard.law.web:router",),
    cli=CliGroup(
        "law", "trailguard.law.cli:app", "Legal engine: dual criminality, channels, sources."
    ),
    templates=HERE / "templates",
)
