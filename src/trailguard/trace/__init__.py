"""trace capability: follow a communication hop by hop across countries (Arts. 29-30).

The face other capabilities and entry points use::

    from trailguard.trace import read_message, attribute_on_node
    hops = read_message(path.read_bytes())          # Received: chain, sender's side first
    answer = attribute_on_node(node, "203.0.113.7")  # special range, provider, country, AS

Map: ``domain/`` (plain typed Python: ``attribution`` the special-purpose registries and
prefix tables, ``hops`` states, dead ends, pre-send checks, deadlines and the graph,
``case_uco``), ``data/special_purpose.yaml`` (the IANA registries with their RFCs and as-of
date), ``attribution`` (directory prefixes, iptocc, the imported prefix-to-AS table, RDAP),
``service/`` (start, decide, answers pushed by the ``requests.transition`` event, views),
``disclosure`` (the requested side of Art. 30: the ``trace.disclosure`` message), ``pictures``,
``api`` / ``web`` / ``cli``. The Received: chain is read by ``investigations.headers`` (an
investigation's observations come from it) and offered here as ``read_message``.
"""

from trailguard.investigations import FLAG_TEXT, Hop, read_message
from trailguard.trace.attribution import attribute_on_node, import_prefix_table
from trailguard.trace.domain.attribution import Attribution, PrefixTable, parse_prefix_table
from trailguard.trace.service import TraceView, case_of, set_custodian, traces_of

__all__ = [
    "FLAG_TEXT",
    "Attribution",
    "Hop",
    "PrefixTable",
    "TraceView",
    "attribute_on_node",
    "case_of",
    "import_prefix_table",
    "parse_prefix_table",
    "read_message",
    "set_custodian",
    "traces_of",
]
