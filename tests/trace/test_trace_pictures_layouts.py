"""The trace graph's two layouts (trace/pictures.py): ``wide`` for a desk screen and ``tall``
for a phone, where each endpoint sits on one row beside its provider and long names fold. The
DOT text is checked here without Graphviz; the drawn SVG where ``dot`` is installed."""

from __future__ import annotations

import re
import shutil
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from browser_support import IN_CI
from trailguard.trace.pictures import TALL_FOLD, graph_dot, graph_svg, sanitise_svg

LONG_PROVIDER = "Polderhost Hosting and Colocation B.V."  # 38 characters, folds at 20


def _graph() -> dict[str, Any]:
    # victim <- hop 1 from 198.51.100.23 (NL) <- hop 2 from 203.0.113.77 (BR)
    return {
        "nodes": [
            {"id": "victim", "type": "victim", "label": "the victim's mail server"},
            {"id": "ep1", "type": "endpoint", "ip": "198.51.100.23", "port": 41234},
            {"id": "ep2", "type": "endpoint", "ip": "203.0.113.77", "port": None},
            {"id": "p1", "type": "provider", "organisation": LONG_PROVIDER, "country": "NL"},
            {"id": "p2", "type": "provider", "organisation": "Rio Litoral", "country": "BR"},
        ],
        "edges": [
            {"from": "ep1", "to": "victim", "type": "connection", "hop": 1,
             "at": "2026-11-20T08:14:07.250000Z"},
            {"from": "ep2", "to": "ep1", "type": "connection", "hop": 2, "at": None},
            {"from": "ep1", "to": "p1", "type": "operated_by"},
            {"from": "ep2", "to": "p2", "type": "operated_by"},
        ],
    }  # fmt: skip


def _label(dot: str, node_id: str) -> str:
    found = re.search(rf'^\s*"{node_id}" \[label="((?:[^"\\]|\\.)*)"', dot, re.MULTILINE)
    assert found is not None, (node_id, dot)
    return found.group(1)


def test_wide_runs_right_to_left_with_names_on_one_line() -> None:
    dot = graph_dot(_graph())
    assert graph_dot(_graph(), "wide") == dot  # the default
    assert "rankdir=RL" in dot and "rank=same" not in dot
    assert _label(dot, "p1") == f"{LONG_PROVIDER} (NL)"
    assert _label(dot, "ep1") == "198.51.100.23:41234" and _label(dot, "ep2") == "203.0.113.77"


def test_tall_runs_top_down_each_endpoint_beside_its_provider() -> None:
    dot = graph_dot(_graph(), "tall")
    assert "rankdir=TB" in dot and "rankdir=RL" not in dot
    rows = re.findall(r'\{rank=same; "(\w+)"; "(\w+)";\}', dot)
    assert sorted(rows) == [("ep1", "p1"), ("ep2", "p2")]
    # a row sits inside its country's cluster
    nl = dot[dot.index('subgraph "cluster_NL"') :]
    assert '{rank=same; "ep1"; "p1";}' in nl[: nl.index("  }")]
    # the long provider name folds; each line within the fold width, nothing lost
    lines = _label(dot, "p1").split(r"\n")
    assert len(lines) > 1 and all(len(line) <= TALL_FOLD["provider"] for line in lines)
    assert " ".join(lines) == f"{LONG_PROVIDER} (NL)"
    victim = _label(dot, "victim").split(r"\n")  # 32 characters fold at 28
    assert len(victim) == 2 and all(len(line) <= TALL_FOLD["victim"] for line in victim)
    assert " ".join(victim) == "victim: the victim's mail server"
    # the same edges, with the same hop labels, in both layouts
    edges = re.compile(r'^\s*"\w+" -> "\w+" \[.*\];$', re.MULTILINE)
    assert edges.findall(dot) == edges.findall(graph_dot(_graph()))


def test_a_provider_seen_at_two_hops_is_one_row() -> None:
    graph = _graph()
    graph["edges"][-1] = {"from": "ep2", "to": "p1", "type": "operated_by"}
    rows = re.findall(r'\{rank=same; "(\w+)"; "(\w+)";\}', graph_dot(graph, "tall"))
    assert rows == [("ep1", "p1")]


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown layout 'round'"):
        graph_dot(_graph(), "round")


def test_the_id_prefix_applies_to_every_id_and_nothing_else() -> None:
    svg = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">
      <g id="graph0" class="graph"><g id="node1" class="node"><title>ep1</title>
      <text x="1" y="2">node1</text></g></g></svg>"""
    out = ET.fromstring(sanitise_svg(svg, id_prefix="tall-"))
    ids = [e.get("id") for e in out.iter() if e.get("id") is not None]
    assert ids == ["tall-graph0", "tall-node1"]
    assert [e.text for e in out.iter() if e.tag.endswith("text")] == ["node1"]
    assert 'id="graph0"' in sanitise_svg(svg)


def test_drawn_tall_is_narrower_than_wide_and_ids_do_not_clash() -> None:
    if shutil.which("dot") is None:
        message = "Graphviz dot is missing (apt-get install graphviz)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    wide = ET.fromstring(graph_svg(_graph()))
    tall = ET.fromstring(graph_svg(_graph(), "tall"))

    def size(svg: ET.Element) -> tuple[float, float]:
        _, _, width, height = (float(v) for v in svg.get("viewBox", "").split())
        return width, height

    (wide_w, wide_h), (tall_w, tall_h) = size(wide), size(tall)
    assert tall_w < wide_w and tall_h > wide_h
    wide_ids = {e.get("id") for e in wide.iter()} - {None}
    tall_ids = {e.get("id") for e in tall.iter()} - {None}
    assert tall_ids and all(i.startswith("tall-") for i in tall_ids)  # type: ignore[union-attr]
    assert not wide_ids & tall_ids
