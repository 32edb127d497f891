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
  (``request.transition``, audited and sent to the other node), forwarding, clocks. Importing
  it registers the exchange handlers.
- ``api`` (``/api/requests``), ``web`` (``/requests`` pages), ``cli`` (``trailguard requests``).

A request flows: draft -> approved -> sent (exchange) -> received -> acknowledged ->
in_execution -> preserved / refused / ... on the receiving node, each step mirrored on the other
node by a ``request.transition`` message.
"""

from trailguard.requests.domain.common import HandlingCode, Tlp

__all__ = ["HandlingCode", "Tlp"]
