"""Links into the drafting form, pre-filled: how another capability's page (an investigation,
a trace's hop) offers "draft a request from this" without knowing the form's internals."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from trailguard.requests.domain.common import RequestKind


def draft_link(
    kind: str | RequestKind,
    values: Mapping[str, str | int | None],
    *,
    recipient: str | None = None,
    source: str | None = None,
) -> str:
    """``/requests/new?...`` for a request of ``kind`` whose fields (dotted names as the form
    names them: ``reference``, ``data_to_preserve.0.ip``) start with ``values``; ``source`` says
    on the form where they came from. Empty values are left out."""
    kind = RequestKind(kind)
    query: list[tuple[str, str]] = [("kind", kind.value)]
    if recipient:
        query.append(("recipient", recipient))
    if source:
        query.append(("source", source))
    query.extend((name, str(value)) for name, value in values.items() if value not in (None, ""))
    return "/requests/new?" + urlencode(query)
