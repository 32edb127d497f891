"""The sources behind the legal data: which facts rest on each, and how many are unverified."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailguard.law.engine import RULE_SOURCES
from trailguard.law.loader import Dataset
from trailguard.law.schema import Fact


def all_facts(dataset: Dataset) -> Iterator[Fact]:
    for instrument in dataset.instruments.values():
        yield instrument
        yield from instrument.party_counts
    for by_country in dataset.parties.values():
        yield from by_country.values()
    for signed in dataset.signatories.values():
        yield from signed.values()
    yield from dataset.reservations
    yield from dataset.conducts.values()
    for offence in dataset.offences.values():
        yield offence
        yield from offence.penalties()
    yield from dataset.gaps
    yield from dataset.treaties
    yield from dataset.voluntary.values()


def fact_counts(dataset: Dataset) -> dict[str, tuple[int, int]]:
    """source id -> (facts citing it, of which unverified)."""
    counts: dict[str, tuple[int, int]] = {}
    for fact in all_facts(dataset):
        total, unverified = counts.get(fact.source, (0, 0))
        counts[fact.source] = (total + 1, unverified + (0 if fact.verified else 1))
    return counts


def sources_report(dataset: Dataset) -> list[dict[str, Any]]:
    """Every source with its URL, title, check date, the facts resting on it, and whether the
    engine's rules quote it (article texts)."""
    counts = fact_counts(dataset)
    return [
        {
            "id": source.id,
            "title": source.title,
            "url": source.url,
            "checked": source.checked.isoformat(),
            "as_of": source.as_of.isoformat() if source.as_of else None,
            "facts": counts.get(source.id, (0, 0))[0],
            "unverified": counts.get(source.id, (0, 0))[1],
            "quoted_by_rules": source.id in RULE_SOURCES,
            "file": dataset.source_files.get(source.id, "sources.yaml"),
        }
        for source in dataset.sources.values()
    ]
