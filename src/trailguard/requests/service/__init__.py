"""Services for cooperation requests: drafting, approval, sending over the exchange, the
receiving node's handling, every transition (audited and sent to the other side), forwarding
by a 24/7 point of contact, and the clocks.

Every function takes a ``Node``, a ``Principal`` and plain values, so the CLI, the web pages,
the JSON API and the demo script all call the same code. Each call is one transaction: the
change, its audit entry and the outgoing message are committed together or not at all.

Message types on the exchange:
- ``request.submit``: a request (typed body, legal basis, ids) sent to the other node;
- ``request.transition``: one transition (id, from, to, who, when, why, details) of a request
  the other node also holds. Receivers apply both idempotently by request id / transition id.

The modules, one seam each: ``records`` (message types, roles, views of a stored request, the
audited transition), ``drafting`` (drafting, four-eyes approval, legal basis), ``sending``
(routing, sending, forwarding), ``inbound`` (the exchange handlers of the receiving node),
``transitions`` (people's transitions), ``views`` (reading). Callers use this package's names.
"""

from trailguard.requests.domain.deadlines import DeadlineKind
from trailguard.requests.service.drafting import (
    approval_standing,
    approve_request,
    draft_request,
    override_legal_basis,
    update_draft,
)
from trailguard.requests.service.inbound import (
    handle_submit,
    handle_transition,
)
from trailguard.requests.service.records import (
    APPROVERS,
    DRAFTERS,
    EXECUTORS,
    MIN_JUSTIFICATION,
    OVERRIDERS,
    RECEIVING_SIDE,
    REQUESTING_SIDE,
    SUBMIT,
    TRANSITION,
    RequestView,
    TransitionView,
    lookup_legal_basis,
)
from trailguard.requests.service.sending import (
    DIRECT_TO_PROVIDER,
    forward_request,
    resolve_recipient,
    send_request,
    send_standing,
)
from trailguard.requests.service.transitions import (
    acknowledge_request,
    close_request,
    draft_mla_from,
    expire_request,
    extend_preservation,
    mark_superseded_by_mla,
    proceed_despite_warning,
    record_disclosure,
    record_preservation,
    refuse_request,
    start_execution,
    warn_cannot_ensure_availability,
)
from trailguard.requests.service.views import (
    document_of,
    get_request,
    list_requests,
    open_reminders,
    scan_deadlines,
)

__all__ = [
    "APPROVERS",
    "DIRECT_TO_PROVIDER",
    "DRAFTERS",
    "EXECUTORS",
    "MIN_JUSTIFICATION",
    "OVERRIDERS",
    "RECEIVING_SIDE",
    "REQUESTING_SIDE",
    "SUBMIT",
    "TRANSITION",
    "DeadlineKind",
    "RequestView",
    "TransitionView",
    "acknowledge_request",
    "approval_standing",
    "approve_request",
    "close_request",
    "document_of",
    "draft_mla_from",
    "draft_request",
    "expire_request",
    "extend_preservation",
    "forward_request",
    "get_request",
    "handle_submit",
    "handle_transition",
    "list_requests",
    "lookup_legal_basis",
    "mark_superseded_by_mla",
    "open_reminders",
    "override_legal_basis",
    "proceed_despite_warning",
    "record_disclosure",
    "record_preservation",
    "refuse_request",
    "resolve_recipient",
    "scan_deadlines",
    "send_request",
    "send_standing",
    "start_execution",
    "update_draft",
    "warn_cannot_ensure_availability",
]
