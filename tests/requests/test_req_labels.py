"""Values as a person reads them (issue 15): which way a request travels, offence articles
named, the preservation's "new or extension" not shown as a state."""

from __future__ import annotations

import re
from html import unescape

from req_payloads import payload

from trailguard.requests.documents import render_html
from trailguard.requests.domain import parse_request
from trailguard.requests.labels import kind_label, route_label, state_label, travels


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_an_expedited_disclosure_travels_from_the_requested_party() -> None:
    # NL executes US's preservation and discloses to the US (ETS 185 Art. 30(1)).
    assert travels("expedited_disclosure", "US", "NL") == ("NL", "US")
    assert route_label("expedited_disclosure", "US", "NL") == "NL → US"
    assert route_label("preservation", "US", "NL") == "US → NL"
    assert route_label("mla", "US", "NL") == "US → NL"


def test_states_and_kinds_read_as_words() -> None:
    assert state_label("superseded_by_mla") == "kept for the mutual assistance request"
    assert state_label("in_execution") == "in execution"
    assert kind_label("preservation") == "Preservation (Art. 29)"


def test_offence_articles_are_named_and_status_is_not_a_state() -> None:
    text = _text(render_html(parse_request(payload("preservation", offence_articles=[2, 4]))))
    assert "Art. 2 (Illegal access); Art. 4 (Data interference)" in text
    assert "Offence articles 2" not in text and "Offence articles 1" not in text
    assert "New request or extension a new request" in text
    assert not re.search(r"\bStatus new\b", text)
    extension = parse_request(
        payload("preservation", status="extension", previous_reference="US-2026-NJ-000")
    )
    assert "extension of US-2026-NJ-000" in _text(render_html(extension))
