"""No user-controlled value is ever marked safe (issue 11, point 2), and no template needs
inline script or inline style (point 3: the Content-Security-Policy refuses both).

Scans every template under src/ and every Python module that builds HTML. A hit that is not on
the short reviewed allow-list below (with its reason) fails the test."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Constructs that switch escaping off or run inline code.
TEMPLATE_PATTERNS = {
    "|safe filter": re.compile(r"\|\s*safe\b"),
    "Markup(": re.compile(r"\bMarkup\s*\("),
    "autoescape false": re.compile(r"autoescape\s+false", re.IGNORECASE),
    "inline <script> (no src)": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "inline style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "inline <style> block": re.compile(r"<style\b", re.IGNORECASE),
    "inline event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "htmx eval (hx-on / js:)": re.compile(r"hx-on|hx-vals\s*=\s*['\"]js:", re.IGNORECASE),
}
PYTHON_PATTERNS = {
    "Markup(": re.compile(r"\bMarkup\s*\("),
    "autoescape=False": re.compile(r"autoescape\s*=\s*False"),
    # a Jinja environment must say how it escapes (within its call's first 300 characters)
    "Environment without autoescape": re.compile(r"\bEnvironment\((?![\s\S]{0,300}autoescape)"),
}

# (relative path, pattern name) -> why it is acceptable. Keep it short and reviewed.
ALLOWED: dict[tuple[str, str], str] = {
    ("trailguard/requests/templates/requests/document.html", "inline <style> block"): "the "
    "printable request document is self-contained; its one fixed block is allowed by hash in "
    "the Content-Security-Policy (web/security.py)",
    ("trailguard/trace/web.py", "Markup("): "the trace graph: Graphviz SVG rebuilt from an "
    "allow-list of elements and attributes by trace.pictures.sanitise_svg (tested with script, "
    "handlers, links and foreign objects planted in labels)",
}


def _templates() -> list[Path]:
    return sorted(p for p in SRC.rglob("*") if p.is_file() and "templates" in p.parts)


def _scan(paths: list[Path], patterns: dict[str, re.Pattern[str]]) -> list[str]:
    hits = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(SRC))
        for name, pattern in patterns.items():
            for match in pattern.finditer(text):
                if (rel, name) in ALLOWED:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                hits.append(f"{rel}:{line}: {name}")
    return hits


def test_no_template_marks_a_value_safe_or_runs_inline_code() -> None:
    templates = _templates()
    assert len(templates) >= 15  # the walk really finds the templates
    assert all(p.suffix == ".html" for p in templates), "autoescape is keyed on .html"
    assert _scan(templates, TEMPLATE_PATTERNS) == []


def test_no_python_module_turns_escaping_off() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert _scan(modules, PYTHON_PATTERNS) == []


def test_the_scan_catches_each_pattern(tmp_path: Path) -> None:
    """The scanner is not blind: a planted template with each construct is reported."""
    samples = [
        "{{ x|safe }}",
        "{{ x | safe }}",
        "{{ Markup(x) }}",
        "{% autoescape false %}{{ x }}{% endautoescape %}",
        "<script>alert(1)</script>",
        '<p style="color:red">',
        '<a onclick="x()">',
        '<a href="javascript:x()">',
        '<div hx-on:click="x()">',
        "<style>p { color: red }</style>",
    ]
    target = tmp_path / "planted.html"
    target.write_text("\n".join(samples), encoding="utf-8")
    hits = []
    for name, pattern in TEMPLATE_PATTERNS.items():
        hits += [name for _ in pattern.finditer(target.read_text(encoding="utf-8"))]
    assert len(hits) >= len(samples)
    ok = tmp_path / "ok.html"
    ok.write_text('<script src="/static/htmx.min.js" defer></script>{{ value }}', "utf-8")
    assert not any(p.search(ok.read_text("utf-8")) for p in TEMPLATE_PATTERNS.values())
    for py in ("env = Environment(loader=x)", "Markup(v)", "Environment(autoescape=False)"):
        assert any(p.search(py) for p in PYTHON_PATTERNS.values()), py
    assert not any(
        p.search("Environment(loader=x, autoescape=True)") for p in PYTHON_PATTERNS.values()
    )
