"""Bounded JSON parsing for everything a node reads from outside (peers' envelopes, batches,
answers and directory files).

``json.loads`` recurses once per nesting level and raises ``RecursionError`` (not
``ValueError``) near Python's recursion limit, and it reads a document of any size; both
turn hostile input into a server error. ``loads_bounded`` refuses, with ``JsonRefused`` (a
``ValueError``), a document over ``max_bytes``, nested deeper than ``max_depth``, holding a
key twice (one document, one meaning) or the non-standard constants NaN/Infinity (RFC 8259
has none). The depth is measured before parsing, on the text with its strings removed, so a
deep document costs one linear scan and no recursion.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

# A JSON string literal: a quote, then anything but a quote or backslash, or an escape pair.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonRefused(ValueError):
    """A document ``loads_bounded`` will not parse; the message says why."""


def nesting_depth(data: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings do not
    count). With ``stop_above``, the scan stops as soon as the depth passes it."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise JsonRefused(f"the key {key[:60]!r} appears twice in one object")
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def loads_bounded(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """Parse ``data`` as JSON within the bounds; ``JsonRefused`` (a ``ValueError``) says why
    not, for bad JSON as well as for a document over a bound."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JsonRefused(f"the document is {len(raw)} bytes; at most {max_bytes} are read")
    if nesting_depth(raw, stop_above=max_depth) > max_depth:
        raise JsonRefused(f"the document is nested deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"the document is not UTF-8: {exc}") from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: belt and braces
        raise JsonRefused(f"not JSON: {exc}") from exc
