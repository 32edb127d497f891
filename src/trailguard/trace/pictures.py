"""Pictures of a trace: the graph across countries laid out by Graphviz ``dot`` (Debian's
``graphviz`` package, run on the server, SVG out) and the hop timeline on a UTC axis.

The DOT text is built here with every label escaped; ``dot`` runs without a shell, with a
time limit, and its SVG is served as is (Graphviz escapes label text in its output).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from trailguard.core.errors import TrailguardError

COUNTRY_COLOURS = ["#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#e0e7ff", "#ffedd5"]


class PictureUnavailable(TrailguardError):
    pass


def _q(text: Any) -> str:
    value = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{value}"'


def graph_dot(graph: dict[str, Any]) -> str:
    """DOT for the trace graph: one cluster per country, the victim on the right."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    country_of: dict[str, str] = {}
    for edge in graph["edges"]:
        if edge["type"] == "operated_by":
            country_of[edge["from"]] = nodes[edge["to"]]["country"]
            country_of[edge["to"]] = nodes[edge["to"]]["country"]
    lines = [
        "digraph trace {",
        '  graph [rankdir=RL, fontname="Helvetica", fontsize=11, nodesep=0.3, ranksep=0.5,'
        ' bgcolor="white"];',
        '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    clusters: dict[str, list[str]] = {}
    for node_id in nodes:
        clusters.setdefault(country_of.get(node_id, ""), []).append(node_id)
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
            lines.append(f"{indent}{_q(node_id)} [{_attributes(node)}];")
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


def _attributes(node: dict[str, Any]) -> str:
    kind = node["type"]
    if kind == "victim":
        return f"label={_q('victim: ' + str(node.get('label') or ''))}, shape=doubleoctagon"
    if kind == "provider":
        return (
            f"label={_q(node['organisation'] + ' (' + node['country'] + ')')}, shape=box, "
            'fillcolor="#f1f5f9"'
        )
    if kind == "subscriber":
        return 'label="subscriber (records preserved)", shape=house, fillcolor="#fee2e2"'
    port = node.get("port")
    text = f"{node['ip']}" + (f":{port}" if port is not None else "")
    return f"label={_q(text)}, shape=ellipse"


def graph_svg(graph: dict[str, Any]) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise PictureUnavailable("Graphviz is not installed (Debian package 'graphviz')")
    done = subprocess.run(
        [dot, "-Tsvg"],
        input=graph_dot(graph).encode("utf-8"),
        capture_output=True,
        timeout=20,
        check=False,
    )
    if done.returncode != 0:
        raise PictureUnavailable(f"dot failed: {done.stderr.decode(errors='replace')[:300]}")
    return sanitise_svg(done.stdout.decode("utf-8"))


# What a drawn graph needs, and nothing that runs: no script, no event handler, no link, no
# foreign object, no style attribute (the page's Content-Security-Policy refuses those too).
_SVG_NS = "http://www.w3.org/2000/svg"
_ELEMENTS = {"svg", "g", "title", "polygon", "polyline", "ellipse", "path", "text", "rect"}
_ATTRIBUTES = {
    "id", "class", "x", "y", "width", "height", "viewBox", "points", "d", "cx", "cy", "rx",
    "ry", "fill", "stroke", "stroke-width", "stroke-dasharray", "font-family", "font-size",
    "font-weight", "font-style", "text-anchor", "transform", "preserveAspectRatio",
}  # fmt: skip


def sanitise_svg(text: str) -> str:
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
                out.set(local(key), value)
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
