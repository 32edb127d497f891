"""Traffic-data parsers, one module per format, registered by name.

Each module defines a class following the ``trailguard.traffic.model.Parser`` protocol and a
module-level ``PARSER`` instance; importing this package finds every public module of the
package and registers its ``PARSER``. Adding a format is adding one module, nothing else.
Modules whose name starts with ``_`` are shared machinery and are not scanned.

Contract for callers (the store): every parser raises ``FormatError`` before yielding anything
when it can tell early (missing --tz/--year, unknown zone, wrong encoding, a gzip file of up to
``_common.GZIP_PREVERIFY_LIMIT`` compressed bytes that is cut short, a first batch with no line
of the named format). For a larger gzip cut short, or a missing year found deep in a file, the
``FormatError`` comes after some batches: the caller must stage a file's batches and commit
them only when the iterator finishes, discarding them all on ``FormatError``.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from trailguard.traffic.model import FormatError, Parser
from trailguard.traffic.parsers._common import read_head

_REGISTRY: dict[str, Parser] = {}
DETECT_THRESHOLD = 0.5


class UnknownFormat(FormatError, KeyError):
    """No parser of that name, or no parser recognises the file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def register(parser: Parser) -> Parser:
    """Add a parser under its NAME (a second parser of the same name is an error)."""
    name = parser.NAME
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not parser:
        raise ValueError(f"a parser named {name!r} is already registered")
    _REGISTRY[name] = parser
    return parser


def _load_builtin() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        parser = getattr(module, "PARSER", None)
        if parser is not None:
            register(parser)


def all_parsers() -> list[Parser]:
    """The registered parsers, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_parser(name: str) -> Parser:
    """The parser registered as ``name``; UnknownFormat lists the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownFormat(f"unknown format {name!r}; known formats: {known}") from None


def detect_scores(path: Path) -> list[tuple[float, Parser]]:
    """Every parser's confidence for this file's first lines, best first."""
    head = read_head(path)
    scored = [(p.detect(head), p) for p in all_parsers()]
    scored.sort(key=lambda sp: (-sp[0], sp[1].NAME))
    return scored


def detect_format(path: Path) -> Parser:
    """The parser that best recognises the first lines of ``path`` (plain or gzip)."""
    scored = detect_scores(path)
    if not scored or scored[0][0] < DETECT_THRESHOLD:
        best = ", ".join(f"{p.NAME} {s:.2f}" for s, p in scored[:3])
        raise UnknownFormat(
            f"{path}: the format could not be recognised from its first lines (best scores:"
            f" {best}); name it with --format"
        )
    return scored[0][1]


_load_builtin()

__all__ = [
    "DETECT_THRESHOLD",
    "UnknownFormat",
    "all_parsers",
    "detect_format",
    "detect_scores",
    "get_parser",
    "register",
]
