"""How a request is named to a person: which way it travels, its kind and state in words.

Plain functions (no web imports); the pages register them as template filters.

Which way a request travels: every kind goes from the requesting Party to the requested
Party, except the expedited disclosure of Convention Art. 30, which the requested Party
(executing the preservation request) sends to the requesting Party: "the requested Party
shall expeditiously disclose to the requesting Party" (ETS 185 Art. 30(1), text:
https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md).
"""

from __future__ import annotations

from trailguard.requests.domain.common import RequestKind

KIND_LABELS: dict[str, str] = {
    RequestKind.PRESERVATION: "Preservation (Art. 29)",
    RequestKind.EXPEDITED_DISCLOSURE: "Expedited disclosure (Art. 30)",
    RequestKind.EMERGENCY_DISCLOSURE: "Emergency disclosure",
    RequestKind.SUBSCRIBER_INFO: "Subscriber information (2nd Protocol Arts. 7-8)",
    RequestKind.EPOC: "European Production Order (EPOC)",
    RequestKind.EPOC_PR: "European Preservation Order (EPOC-PR)",
    RequestKind.MLA: "Mutual assistance (Art. 31)",
    RequestKind.ART32_RECORD: "Record of trans-border access (Art. 32)",
}

STATE_LABELS: dict[str, str] = {
    "superseded_by_mla": "kept for the mutual assistance request",
    "cannot_ensure_availability": "warned: availability not ensured (Art. 29(6))",
    "in_execution": "in execution",
}

DIRECTION_LABELS = {"inbound": "received by this node", "outbound": "drafted on this node"}


def travels(kind: str, requesting_party: str, requested_party: str) -> tuple[str, str]:
    """(sender Party, recipient Party) of a request of ``kind``."""
    if kind == RequestKind.EXPEDITED_DISCLOSURE:
        return requested_party, requesting_party
    return requesting_party, requested_party


def route_label(kind: str, requesting_party: str, requested_party: str) -> str:
    sender, recipient = travels(kind, requesting_party, requested_party)
    return f"{sender} → {recipient}"


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, str(kind).replace("_", " "))


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, str(state).replace("_", " "))


def direction_label(direction: str) -> str:
    return DIRECTION_LABELS.get(direction, direction)
