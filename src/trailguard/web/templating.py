"""One Jinja2 environment for every capability's pages.

Templates live in ``trailguard/web/templates`` (the layout) and ``trailguard/<capability>/
templates`` (that capability's pages, named ``<capability>/<page>.html``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from trailguard.core.db import CAPABILITIES

_ROOT = Path(__file__).resolve().parent.parent


def _loaders() -> list[FileSystemLoader]:
    folders = [_ROOT / "web" / "templates"]
    folders += [_ROOT / name / "templates" for name in CAPABILITIES]
    folders += [_ROOT / "demo" / "templates"]
    return [FileSystemLoader(str(folder)) for folder in folders if folder.is_dir()]


def _utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def build_environment() -> Environment:
    env = Environment(loader=ChoiceLoader(_loaders()), autoescape=select_autoescape(["html"]))
    env.filters["utc"] = _utc
    env.filters["local"] = _local
    return env


templates = Jinja2Templates(env=build_environment())
