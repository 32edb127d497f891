"""Pictures of a trace: the graph across countries laid out by Graphviz ``dot`` (Debian's
``graphviz`` package, run on the server, SVG out) and the hop timeline on a UTC axis.

The DOT text is built here with every label escaped; ``dot`` runs without a shell, with a
time limit, and its SVG is served as is (Graphviz escapes label text in its output).

The graph is drawn in two layouts: ``wide`` (left to right, the victim on the left, the newest
hop on the right) for a desk screen, and ``tall`` (top to bottom, the newest hop at the top,
each endpoint on one row beside the provider that holds its data, long names folded) that fits
the width of a phone.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from trailguard.core.errors import TrailguardError

COUNTRY_COLOURS = ["#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#e0e7ff", "#ffedd5"]
LAYOUTS = ("wide", "tall")
_GRAPH = {
    "wide": "rankdir=RL, nodesep=0.3, ranksep=0.5",
    "tall": "rankdir=TB, nodesep=0.2, ranksep=0.35",
}
# the tall layout folds long labels at these widths (characters), so that no row is much
# wider than an endpoint beside its provider
TALL_FOLD = {"provider": 20, "victim": 28}


class PictureUnavailable(TrailguardError):
    pass


def _q(text: Any) -> str:
    value = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{value}"'


def graph_dot(graph: dict[str, Any], layout: str = "wide") -> str:
    """DOT for the trace graph: one cluster per country; ``layout`` is one of ``LAYOUTS``."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    tall = layout == "tall"
    nodes = {n["id"]: n for n in graph["nodes"]}
    country_of: dict[str, str] = {}
    for edge in graph["edges"]:
        if edge["type"] == "operated_by":
            country_of[edge["from"]] = nodes[edge["to"]]["country"]
            country_of[edge["to"]] = nodes[edge["to"]]["country"]
    lines = [
        "digraph trace {",
        f'  graph [{_GRAPH[layout]}, fontname="Helvetica", fontsize=11, bgcolor="white"];',
        '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    clusters: dict[str, list[str]] = {}
    for node_id in nodes:
        clusters.setdefault(country_of.get(node_id, ""), []).append(node_id)
    # tall: an endpoint and its provider share a row, so the chain of hops runs straight down
    rows = _rows(graph["edges"]) if tall else []
    for index, (country, members) in enumerate(sorted(clusters.items())):
        indent = "    " if country else "  "
        if country:
            colour = COUNTRY_COLOURS[index % len(COUNTRY_COLOURS)]
            lines.append(f"  subgraph {_q('cluster_' + country)} {{")
            lines.append(
                f'    label={_q(country)}; style=filled; color="#94a3b8"; fillcolor={_q(colour)};'
            )
        for node_id in members:
            node = nodes[node_id]
            lines.append(f"{indent}{_q(node_id)} [{_attributes(node, tall)}];")
        for endpoint, provider in rows:
            if endpoint in members and provider in members:
                lines.append(f"{indent}{{rank=same; {_q(endpoint)}; {_q(provider)};}}")
        if country:
            lines.append("  }")
    for edge in graph["edges"]:
        label = ""
        style = ""
        if edge["type"] == "connection":
            label = f"hop {edge['hop']}\\n{(edge.get('at') or 'time unknown')[:19]}Z"
            style = "penwidth=1.6"
        elif edge["type"] == "operated_by":
            style = 'style=dashed, color="#64748b", arrowhead=none'
        elif edge["type"] == "session":
            label = "session"
            style = 'color="#b91c1c", penwidth=1.6'
        attrs = [style] if style else []
        if label:
            attrs.append(f"label={_q(label).replace(chr(92) * 2 + 'n', chr(92) + 'n')}")
        lines.append(f"  {_q(edge['from'])} -> {_q(edge['to'])} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines)


def _rows(edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(endpoint, provider) pairs drawn on one row in the tall layout: each provider beside
    the first endpoint it operates (a provider seen at several hops stays one node)."""
    rows: list[tuple[str, str]] = []
    placed: set[str] = set()
    for edge in edges:
        if edge["type"] == "operated_by" and not {edge["from"], edge["to"]} & placed:
            rows.append((edge["from"], edge["to"]))
            placed.update((edge["from"], edge["to"]))
    return rows


def _attributes(node: dict[str, Any], tall: bool = False) -> str:
    kind = node["type"]
    if kind == "victim":
        text = "victim: " + str(node.get("label") or "")
        label = _fold(text, TALL_FOLD["victim"]) if tall else text
        return f"label={_q(label)}, shape=doubleoctagon"
    if kind == "provider":
        name = node["organisation"] + " (" + node["country"] + ")"
        label = _fold(name, TALL_FOLD["provider"]) if tall else name
        return f'label={_q(label)}, shape=box, fillcolor="#f1f5f9"'
    if kind == "subscriber":
        return 'label="subscriber (records preserved)", shape=house, fillcolor="#fee2e2"'
    port = node.get("port")
    text = f"{node['ip']}" + (f":{port}" if port is not None else "")
    return f"label={_q(text)}, shape=ellipse"


def _fold(text: str, columns: int) -> str:
    return textwrap.fill(text, columns, break_long_words=False, break_on_hyphens=False)


def graph_svg(graph: dict[str, Any], layout: str = "wide") -> str:
    """The graph drawn by ``dot`` in ``layout``, sanitised; the tall drawing's ids carry a
    ``tall-`` prefix, so that both drawings can sit in one page with no id twice."""
    dot = shutil.which("dot")
    if dot is None:
        raise PictureUnavailable("Graphviz is not installed (Debian package 'graphviz')")
    done = subprocess.run(
        [dot, "-Tsvg"],
        input=graph_dot(graph, layout).encode("utf-8"),
        capture_output=True,
        timeout=20,
        check=False,
    )
    if done.returncode != 0:
        raise PictureUnavailable(f"dot failed: {done.stderr.decode(errors='replace')[:300]}")
    return sanitise_svg(done.stdout.decode("utf-8"), id_prefix="" if layout == "wide" else "tall-")


# What a drawn graph needs, and nothing that runs: no script, no event handler, no link, no
# foreign object, no style attribute (the page's Content-Security-Policy refuses those too).
_SVG_NS = "http://www.w3.org/2000/svg"
_ELEMENTS = {"svg", "g", "title", "polygon", "polyline", "ellipse", "path", "text", "rect"}
_ATTRIBUTES = {
    "id", "class", "x", "y", "width", "height", "viewBox", "points", "d", "cx", "cy", "rx",
    "ry", "fill", "stroke", "stroke-width", "stroke-dasharray", "font-family", "font-size",
    "font-weight", "font-style", "text-anchor", "transform", "preserveAspectRatio",
}  # fmt: skip


def sanitise_svg(text: str, id_prefix: str = "") -> str:
    """The SVG Graphviz drew, rebuilt from an allow-list of elements and attributes, so that it
    can be placed inline in a page: labels come from observations and directory entries, and
    whatever they hold stays text."""
    try:
        # Graphviz's own output (no DTD, no entities); expat >= 2.4.1 caps entity expansion
        root = ET.fromstring(text.encode("utf-8"))  # noqa: S314
    except ET.ParseError as exc:
        raise PictureUnavailable(f"the drawn graph is not well-formed SVG: {exc}") from exc

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def clean(element: ET.Element) -> ET.Element | None:
        name = local(element.tag)
        if name not in _ELEMENTS:
            return None
        out = ET.Element(name)
        for key, value in element.attrib.items():
            if local(key) in _ATTRIBUTES and "javascript:" not in value.lower():
                out.set(local(key), id_prefix + value if local(key) == "id" else value)
        out.text = element.text
        for child in element:
            kept = clean(child)
            if kept is not None:
                kept.tail = child.tail
                out.append(kept)
        return out

    cleaned = clean(root)
    if cleaned is None:
        raise PictureUnavailable("the drawn graph has no <svg> root")
    cleaned.set("xmlns", _SVG_NS)
    return ET.tostring(cleaned, encoding="unicode")


def timeline(hops: list[dict[str, Any]], zones: dict[str, str], now: datetime) -> dict[str, Any]:
    """The hops and their deadlines on one UTC axis (positions 0..1), with local times."""
    points: list[tuple[datetime, str, dict[str, Any]]] = []
    for hop in hops:
        if hop["at"]:
            points.append((datetime.fromisoformat(hop["at"]), "seen", hop))
        if hop["dies_at"]:
            points.append((datetime.fromisoformat(hop["dies_at"]), "dies", hop))
    points.append((now, "now", {}))
    start = min(p[0] for p in points)
    end = max(p[0] for p in points)
    span = (end - start).total_seconds() or 1.0
    marks = []
    for instant, kind, hop in sorted(points, key=lambda p: p[0]):
        provider = hop.get("provider") or {}
        zone = zones.get(provider.get("node_id", ""), "UTC")
        marks.append(
            {
                "kind": kind,
                "x": round((instant - start).total_seconds() / span, 4),
                "utc": instant.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "local": instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z"),
                "hop": hop.get("seq"),
                "label": (
                    "now"
                    if kind == "now"
                    else f"hop {hop['seq']} seen"
                    if kind == "seen"
                    else f"hop {hop['seq']}: trail dies"
                ),
            }
        )
    return {"start": start, "end": end, "marks": marks}
