"""trace capability: follow a communication hop by hop across countries (Arts. 29-30).

The face other capabilities and entry points use::

    from trailguard.trace import read_message, attribute_on_node
    hops = read_message(path.read_bytes())          # Received: chain, sender's side first
    answer = attribute_on_node(node, "203.0.113.7")  # special range, provider, country, AS

Map: ``domain/`` (plain typed Python: ``headers`` reads the Received: chain, ``attribution``
the special-purpose registries and prefix tables), ``data/special_purpose.yaml`` (the IANA
registries with their RFCs and as-of date), ``attribution`` (the service: directory prefixes,
iptocc, the imported prefix-to-AS table), ``cli`` (``trailguard trace``).
"""

from typing import Any

from trailguard.trace.attribution import attribute_on_node, import_prefix_table
from trailguard.trace.domain.attribution import Attribution, PrefixTable, parse_prefix_table
from trailguard.trace.domain.headers import FLAG_TEXT, Hop, read_message


def traces_of(node: Any, principal: Any, investigation_id: str) -> list[Any]:
    """The traces of one investigation (for its page)."""
    from trailguard.trace.service import traces_of as _traces_of

    return list(_traces_of(node, principal, investigation_id))


def case_of(node: Any, principal: Any, trace_id: str) -> dict[str, Any]:
    """One trace as CASE/UCO JSON-LD (its network connections and their relationships)."""
    from trailguard.trace.service import case_of as _case_of

    return _case_of(node, principal, trace_id)


__all__ = [
    "FLAG_TEXT",
    "Attribution",
    "Hop",
    "PrefixTable",
    "attribute_on_node",
    "case_of",
    "import_prefix_table",
    "parse_prefix_table",
    "read_message",
    "traces_of",
]
