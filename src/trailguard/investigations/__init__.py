"""investigations capability: the case that groups an incident's observations, traces,
requests and holds, and the people on it.

    from trailguard.investigations import require_member, add_observations
    view = require_member(node, principal, "US-FBI-2026-0117")   # PermissionDenied if not on it

Map: ``domain`` (plain typed Python: the investigation, observations with UTC + source zone +
clock tolerance per kind of source, CSV/JSON import, e-mail hops), ``headers`` (plain
Python: an RFC 5322 message's Received: chain read into hops), ``orm`` + ``migrations/``
(``investigations_*`` tables), ``service`` (audited changes, membership enforced), ``api``
(``/api/investigations``), ``web`` (``/investigations`` pages).
"""

from trailguard.investigations.domain import parse_instant
from trailguard.investigations.headers import FLAG_TEXT, Hop, read_message
from trailguard.investigations.service import (
    CASE_ROLES,
    InvestigationView,
    ObservationView,
    add_observations,
    case_reference,
    create_investigation,
    get_investigation,
    link,
    list_investigations,
    observe_headers,
    observe_log_lines,
    require_member,
)

__all__ = [
    "CASE_ROLES",
    "FLAG_TEXT",
    "Hop",
    "InvestigationView",
    "ObservationView",
    "add_observations",
    "case_reference",
    "create_investigation",
    "get_investigation",
    "link",
    "list_investigations",
    "observe_headers",
    "observe_log_lines",
    "parse_instant",
    "read_message",
    "require_member",
]
