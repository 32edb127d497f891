"""Input parsing shared by the traffic entry points (API and pages)."""

from __future__ import annotations

from datetime import datetime

from trailguard.core.clock import ensure_utc
from trailguard.core.errors import ValidationFailed


def parse_instant(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            f"{field} {text!r} is not ISO 8601 (e.g. 2026-11-20T08:14:07Z)", [field]
        ) from None
    try:
        return ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} {text!r} has no zone; add Z or an offset", [field]
        ) from exc
