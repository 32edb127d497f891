"""The trace as a service: start from an observation, decide every hop, draft the next
preservation request, let answers move the trace, end at a subscriber or a dead end.

Built only on other capabilities' faces: ``investigations`` (membership, observations),
``requests`` (draft, approve, send, read; its ``requests.transition`` event moves the
trace), ``traffic`` (own look-ups), ``network`` (the directory), ``law`` (the channel and its
citation), ``audit``.

The modules, one seam each: ``common`` (roles, rows, access, a new hop, a dead end),
``decide`` (custodians, deciding a hop, drafting, adopting, refining), ``start``,
``answers`` (the listener that moves the trace when an answer arrives, answers recorded once,
``sync`` as the repair tool), ``views`` (reading, the graph). Callers use this package's names.
"""

from trailguard.trace.service.answers import (
    ANSWER_KINDS,
    on_request_transition,
    record_answer,
    sync_trace,
)
from trailguard.trace.service.common import POLICY_ACTOR, TEMPLATE_FIELDS, TRACE_ROLES
from trailguard.trace.service.decide import preservation_body, refine_hop, set_custodian
from trailguard.trace.service.start import start_trace
from trailguard.trace.service.views import (
    TraceView,
    case_of,
    get_trace,
    graph_of,
    hop_json,
    open_traces,
    traces_of,
)

__all__ = [
    "ANSWER_KINDS",
    "POLICY_ACTOR",
    "TEMPLATE_FIELDS",
    "TRACE_ROLES",
    "TraceView",
    "case_of",
    "get_trace",
    "graph_of",
    "hop_json",
    "on_request_transition",
    "open_traces",
    "preservation_body",
    "record_answer",
    "refine_hop",
    "set_custodian",
    "start_trace",
    "sync_trace",
    "traces_of",
]
