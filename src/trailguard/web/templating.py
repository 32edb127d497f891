"""One Jinja2 environment for every capability's pages.

Templates live in ``trailguard/web/templates`` (the layout) and in each registered
capability's declared folder (``trailguard/<capability>/templates``, pages named
``<capability>/<page>.html``); ``create_app`` builds the environment from the registry's list
and keeps it in ``app.state.templates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

_LAYOUT = Path(__file__).resolve().parent / "templates"


def _loaders(folders: Sequence[Path]) -> list[FileSystemLoader]:
    every = [_LAYOUT, *folders]
    return [FileSystemLoader(str(folder)) for folder in every if folder.is_dir()]


def _utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def build_environment(folders: Sequence[Path]) -> Environment:
    """The layout's templates first, then each capability folder in the order given."""
    env = Environment(
        loader=ChoiceLoader(_loaders(folders)), autoescape=select_autoescape(["html"])
    )
    env.filters["utc"] = _utc
    env.filters["local"] = _local
    return env


def build_templates(folders: Sequence[Path]) -> Jinja2Templates:
    return Jinja2Templates(env=build_environment(folders))
