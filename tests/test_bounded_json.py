"""core/jsonsafe.py: bounded JSON parsing, held to the standard library's parser on ordinary
documents, refusing what would crash it or mean two things (issue 11, point 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import browser_login, make_node
from trailguard.accounts.domain import Role
from trailguard.core.jsonsafe import JsonRefused, loads_bounded, nesting_depth

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=200, deadline=None)
@given(_json)
def test_ordinary_documents_parse_as_the_standard_library_does(value: Any) -> None:
    text = json.dumps(value)
    assert nesting_depth(text.encode()) == _depth(value)
    assert loads_bounded(text, max_depth=max(1, _depth(value))) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('{"a":' * 3000 + "1" + "}" * 3000, "nested deeper"),
        ('{"a": 1, "a": 2}', "appears twice"),
        ('{"x": NaN}', "NaN"),
        ('{"x": -Infinity}', "Infinity"),
        ("[1, 2", "not JSON"),
        (b"\xff[]", "not UTF-8"),
    ],
)
def test_what_would_crash_or_mean_two_things_is_refused(text: str | bytes, why: str) -> None:
    with pytest.raises(JsonRefused, match=why):
        loads_bounded(text)


def test_size_and_depth_bounds_are_exact() -> None:
    assert loads_bounded("[[1]]", max_depth=2) == [[1]]
    with pytest.raises(JsonRefused, match="deeper than 1"):
        loads_bounded("[[1]]", max_depth=1)
    assert loads_bounded(b'"abc"', max_bytes=5) == "abc"
    with pytest.raises(JsonRefused, match="6 bytes"):
        loads_bounded(b'"abcd"', max_bytes=5)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"s": "[[[[{{{{", "t": 'a\\"[[['})
    assert nesting_depth(text.encode()) == 1
    assert loads_bounded(text, max_depth=1)["s"] == "[[[[{{{{"


def test_a_deep_draft_on_the_requests_page_is_a_message_not_a_500(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'node.db'}")
    browser = browser_login(node, [Role.INVESTIGATOR])
    page = browser.get("/requests/new?kind=preservation")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    deep = "[" * 50_000 + "]" * 50_000
    answer = browser.post("/requests/new/check", data={"body": deep, "csrf_token": token})
    assert answer.status_code == 200
    assert "nested deeper than 64 levels" in answer.text
    node.close()
