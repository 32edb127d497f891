"""Parameter types shared by the API routes.

``IsoInstant``: a time given as an ISO 8601 text with its offset (``2026-11-20T03:14:07-05:00``
or ``...Z``). Pydantic would also read a bare number (``at=0.5``) as seconds since 1970; a
node refuses that with 422 instead of answering about January 1970.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, WithJsonSchema

_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_INSTANT.match(value.strip()):
        raise ValueError(
            "give an ISO 8601 instant with its offset, e.g. 2026-11-20T03:14:07-05:00 "
            f"(not {str(value)[:40]!r}; a bare number is not read as a time)"
        )
    return value.strip()


IsoInstant = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_text),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 instant with its offset",
        }
    ),
]
