"""Cooperation requests: the typed requests the treaties describe, their lifecycle, the clocks
that decide whether the trail survives, and their exchange between nodes.

Map:
- ``domain/``: plain typed Python (Pydantic models), no web or database imports:
  ``types`` (PreservationRequest (Art. 29), ExpeditedDisclosure (Art. 30), EmergencyDisclosure
  (Protocol Arts. 9-10 / Art. 25(3)), SubscriberInformationRequest (Protocol Arts. 7-8),
  EuProductionOrder / EuPreservationOrder (Reg. 2023/1543), MutualAssistanceRequest (Art. 31),
  Art32Record (Art. 32)), ``lifecycle`` (states, transitions, refusal grounds),
  ``deadlines`` (clocks in calendar days or elapsed hours, reminders), ``drafting``.
- ``documents``: HTML and PDF rendering of any request.
- ``orm`` and ``migrations/``: tables (``requests_requests``, ``requests_transitions``,
  ``requests_reminders``).
- ``service``: drafting, approval (four eyes), sending (``request.submit``), transitions
  (``request.transition``, audited and sent to the other node), forwarding, clocks. Its exchange
  handlers are declared in ``capability.py`` and registered by the app.
- ``api`` (``/api/requests``), ``web`` (``/requests`` pages), ``cli`` (``trailguard requests``).

A request flows: draft -> approved -> sent (exchange) -> received -> acknowledged ->
in_execution -> preserved / refused / ... on the receiving node, each step mirrored on the other
node by a ``request.transition`` message.
"""

from trailguard.core.handling import HandlingCode, Tlp
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.drafting import disclosure_draft_from_preservation
from trailguard.requests.domain.lifecycle import ENDED_STATES
from trailguard.requests.domain.types import CONVENTION_OFFENCE_ARTICLES, REQUEST_TYPES
from trailguard.requests.events import TRANSITION_EVENT
from trailguard.requests.links import draft_link
from trailguard.requests.service import (
    approve_request,
    draft_request,
    get_request,
    list_requests,
    send_request,
)

__all__ = [
    "CONVENTION_OFFENCE_ARTICLES",
    "ENDED_STATES",
    "TRANSITION_EVENT",
    "HandlingCode",
    "Tlp",
    "approve_request",
    "disclosure_draft_from_preservation",
    "draft_link",
    "draft_request",
    "get_request",
    "list_requests",
    "request_elements",
    "send_request",
]


def request_elements(kind: str) -> dict[str, str]:
    """The elements a complete request of ``kind`` carries, each with the article or template
    field that requires it (the request type's ``ELEMENTS``); KeyError for an unknown kind."""
    elements: dict[str, str] = getattr(REQUEST_TYPES[RequestKind(kind)], "ELEMENTS", {})
    return dict(elements)
