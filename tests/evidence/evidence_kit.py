"""Helpers for the evidence tests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

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


# a request template for a trace's drafted requests (synthetic people, as in the trace tests)
TRACE_TEMPLATE = {
    "requesting_authority": {
        "organisation": "United States 24/7 point of contact (synthetic)",
        "person_in_charge": "Dan Cole",
        "address": "1 Example Plaza, Washington DC",
        "phone": "+12025550100",
        "email": "duty@us-poc.example",
        "office_hours": "24/7",
        "time_zone": "America/New_York",
        "preferred_channel": "trailguard",
    },
    "confirmation_contact": {
        "name": "Iris Reed",
        "phone": "+12025550101",
        "email": "iris.reed@us-poc.example",
    },
    "seeking_authority": "US Department of Justice (synthetic)",
    "offence": "Illegal access to a bank's web server (18 U.S.C. 1030)",
    "offence_articles": [2],
    "summary_of_facts": "An unknown person logged in to a bank's administration interface.",
}
