"""Command-line values shared by the traffic commands (``traffic``, ``traffic detnat``):
durations and zoned instants, refused with a clear message."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import typer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d)?\s*$")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``2s``, ``500ms``, ``1.5m``, ``3h``, ``90`` (seconds); a leading ``-`` is allowed."""
    sign = -1 if text.strip().startswith("-") else 1
    match = _DURATION.match(text.strip().lstrip("-"))
    if not match:
        raise typer.BadParameter(f"{what} {text!r} is not a duration like 2s, 500ms, 1m, 3h")
    return timedelta(seconds=sign * float(match.group(1)) * _UNITS[match.group(2)])


def parse_instant(text: str, what: str = "time") -> datetime:
    """ISO 8601 with a zone (``2026-11-20T08:14:07Z``, ``...+01:00``); naive times refused."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{what} {text!r} is not ISO 8601 (e.g. 2026-11-20T08:14:07Z)"
        ) from None
    if value.tzinfo is None:
        raise typer.BadParameter(
            f"{what} {text!r} has no zone; add Z or an offset like +01:00 (no guessing)"
        )
    return value
