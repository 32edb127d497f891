"""Helpers for the evidence tests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from request_template_kit import TEMPLATE
from trailguard.cli import _ensure_registered, app
from trailguard.evidence.domain import LegalBasis
from trailguard.evidence.service import PackageResult, create_package
from trailguard.node import Node

_ensure_registered()
runner = CliRunner()


def flat(output: str) -> str:
    return " ".join(output.split())


def package(
    node: Node, files: list[Path], out: Path, *, recipient: str | None = None
) -> PackageResult:
    return create_package(
        node,
        out=out,
        reference="NL-PR-2026-0042",
        basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
        user="alice",
        files=files,
        recipient=recipient,
        investigation="Operation Nightjar",
    )


def verify_json(bag: Path, *extra: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["evidence", "verify", str(bag), "--json", *extra])
    return result.exit_code, json.loads(result.stdout)


def flip_byte(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# a request template for a trace's drafted requests: the trace tests' own
TRACE_TEMPLATE = TEMPLATE
