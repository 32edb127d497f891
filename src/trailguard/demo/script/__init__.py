"""The steps of Operation Nightjar. Each step is a small function that acts through the
nodes' HTTP API (as a person would) or the exchange (as a node would), checks what must
hold, and returns the lines to print. Later capabilities add steps to ``STEPS``.

The modules, by group of steps: ``common`` (nodes, people, rosters, helpers), ``network``
(1-4), ``preservation`` (5-9), ``trace`` (10-11, through the trace capability), ``followup``
(12-14), ``verify`` (the final checks); ``acts`` holds what the people do, shared by the steps
and ``benchmarks/trace.py``."""

from trailguard.demo.script.common import (
    BR,
    NL,
    POLDERHOST,
    RIO,
    ROSTERS,
    SCENARIO_NODES,
    US,
    US_AUTHORITY,
    DemoContext,
    Step,
    _json,
    _maybe,
    _preservation_body,
    expect,
)
from trailguard.demo.script.followup import evidence_travels, extension_and_mla, live_watch
from trailguard.demo.script.network import ask_the_law, signed_ping, start_network, who_can_help
from trailguard.demo.script.preservation import (
    nl_acknowledges_and_forwards,
    polderhost_preserves,
    preservation_to_nl,
    providers_ingest,
    read_the_victims_log,
)
from trailguard.demo.script.trace import art30_disclosure, preservation_to_br
from trailguard.demo.script.verify import verify_audit_chains, verify_receipts

STEPS: list[Step] = [
    Step("Five nodes start on loopback and exchange their signed directories", US, start_network),
    Step("The US duty officer asks the directory who can help", US, who_can_help),
    Step("A signed, encrypted message with receipts and an acknowledgement clock", US, signed_ping),
    Step("The US duty officer asks the legal engine", US, ask_the_law),
    Step("The providers' logs flow into their traffic stores", POLDERHOST, providers_ingest),
    Step("The victim's log gives the first observation", US, read_the_victims_log),
    Step(
        "US drafts, approves and sends a preservation request (Art. 29) to NL",
        US,
        preservation_to_nl,
    ),
    Step("NL acknowledges and forwards it to Polderhost", NL, nl_acknowledges_and_forwards),
    Step(
        "Polderhost looks up its flow records and preserves them under a hold",
        POLDERHOST,
        polderhost_preserves,
    ),
    Step("Art. 30: NL discloses the path to a provider in a third country", NL, art30_disclosure),
    Step(
        "US asks BR to preserve; Rio Litoral resolves CGNAT and RADIUS to an account",
        RIO,
        preservation_to_br,
    ),
    Step("An extension, and the MLA request that keeps the data preserved", US, extension_and_mla),
    Step("The evidence travels to US as signed packages with their custody", US, evidence_travels),
    Step("Live watch (Art. 33): Rio Litoral reports a hit as the traffic arrives", RIO, live_watch),
]

FINAL_STEPS: list[Step] = [
    Step("Every message was delivered and every receipt's signature verifies", US, verify_receipts),
    Step("Every node's hash-chained audit log verifies", US, verify_audit_chains),
]

__all__ = [
    "BR",
    "FINAL_STEPS",
    "NL",
    "POLDERHOST",
    "RIO",
    "ROSTERS",
    "SCENARIO_NODES",
    "STEPS",
    "US",
    "US_AUTHORITY",
    "DemoContext",
    "Step",
    "_json",
    "_maybe",
    "_preservation_body",
    "expect",
]
