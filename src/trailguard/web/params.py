"""Parameter types shared by the API routes: see ``trailguard.core.apitypes``.

``IsoInstant``: a time given as an RFC 3339 date-time with its offset
(``2026-11-20T03:14:07-05:00`` or ``...Z``). Pydantic would also read a bare number
(``at=0.5``) as seconds since 1970; a node refuses that with 422 instead of answering about
January 1970.
"""

from __future__ import annotations

from trailguard.core.apitypes import Instant

IsoInstant = Instant

__all__ = ["IsoInstant"]
