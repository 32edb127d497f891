"""The domain of cooperation requests: plain typed Python (Pydantic models), no web or
database imports. The request types and their required elements (``types``), the life of a
request (``lifecycle``), its clocks (``deadlines``) and drafting helpers (``drafting``)."""

from trailguard.requests.domain.common import (
    Authority,
    Confidentiality,
    Contact,
    Handling,
    HandlingCode,
    LegalBasisRef,
    RequestBase,
    RequestKind,
    Tlp,
)
from trailguard.requests.domain.lifecycle import (
    RefusalGround,
    RequestState,
    allowed_next,
    check_refusal,
    check_transition,
)
from trailguard.requests.domain.types import (
    REQUEST_TYPES,
    Art32Record,
    EmergencyDisclosure,
    EuPreservationOrder,
    EuProductionOrder,
    ExpeditedDisclosure,
    MutualAssistanceRequest,
    PreservationRequest,
    SubscriberInformationRequest,
    missing_elements,
    parse_request,
)

__all__ = [
    "REQUEST_TYPES",
    "Art32Record",
    "Authority",
    "Confidentiality",
    "Contact",
    "EmergencyDisclosure",
    "EuPreservationOrder",
    "EuProductionOrder",
    "ExpeditedDisclosure",
    "Handling",
    "HandlingCode",
    "LegalBasisRef",
    "MutualAssistanceRequest",
    "PreservationRequest",
    "RefusalGround",
    "RequestBase",
    "RequestKind",
    "RequestState",
    "SubscriberInformationRequest",
    "Tlp",
    "allowed_next",
    "check_refusal",
    "check_transition",
    "missing_elements",
    "parse_request",
]
