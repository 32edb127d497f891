"""The sources behind the legal data: which facts rest on each, and how many are unverified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from trailguard.law.loader import Dataset
from trailguard.law.schema import Fact
from trailguard.law.trail import RULE_SOURCES


def labelled_facts(dataset: Dataset) -> Iterator[tuple[str, Fact]]:
    """Every fact in the data with a label saying what it is ("ets185 Party NL", ...)."""
    for instrument in dataset.instruments.values():
        yield f"instrument {instrument.id} ({instrument.short})", instrument
        for count in instrument.party_counts:
            yield f"{instrument.id} Party count {count.count} on {count.as_of}", count
    for instrument_id, by_country in dataset.parties.items():
        for party in by_country.values():
            yield f"{instrument_id} Party {party.country}", party
    for instrument_id, signed in dataset.signatories.items():
        for signatory in signed.values():
            yield f"{instrument_id} signatory {signatory.country}", signatory
    for reservation in dataset.reservations:
        yield reservation.label(), reservation
    for read in dataset.reservations_read:
        articles = "all" if read.articles == "all" else ", ".join(read.articles)
        yield f"{read.country} reservations to {read.instrument} read ({articles})", read
    for conduct in dataset.conducts.values():
        yield f"ETS 185 Art. {conduct.article} ({conduct.id})", conduct
    for offence in dataset.offences.values():
        yield f"offence {offence.id} ({offence.statute}, {offence.country})", offence
        for penalty in offence.penalties():
            period = f" from {penalty.in_force_from}" if penalty.in_force_from else ""
            yield f"maximum penalty {offence.id} ({offence.statute}){period}", penalty
    for gap in dataset.gaps:
        yield f"no offence for {gap.conduct} in {gap.country}", gap
    for treaty in dataset.treaties:
        yield f"treaty {treaty.id}", treaty
    for rule in dataset.voluntary.values():
        yield f"voluntary disclosure {rule.country} ({rule.statute})", rule


def all_facts(dataset: Dataset) -> Iterator[Fact]:
    for _, fact in labelled_facts(dataset):
        yield fact


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


DEFAULT_STALE_DAYS = 365


def stale_report(dataset: Dataset, today: date, older_than_days: int) -> dict[str, Any]:
    """Facts to refresh: those whose as-of date is more than ``older_than_days`` before
    ``today``, or that are unverified, grouped by source (the place to re-read them)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    limit = today - timedelta(days=older_than_days)
    groups: dict[str, list[dict[str, Any]]] = {}
    for label, fact in labelled_facts(dataset):
        why: list[str] = []
        if fact.as_of < limit:
            why.append(f"as of {fact.as_of}, older than {older_than_days} days")
        if not fact.verified:
            why.append("unverified")
        if not why:
            continue
        groups.setdefault(fact.source, []).append(
            {
                "fact": label,
                "as_of": fact.as_of.isoformat(),
                "age_days": (today - fact.as_of).days,
                "verified": fact.verified,
                "reasons": why,
            }
        )
    sources = []
    for source_id, facts in sorted(groups.items()):
        source = dataset.sources[source_id]
        facts.sort(key=lambda item: (item["as_of"], item["fact"]))
        sources.append(
            {
                "id": source_id,
                "title": source.title,
                "url": source.url,
                "checked": source.checked.isoformat(),
                "file": dataset.source_files.get(source_id, "sources.yaml"),
                "facts": facts,
            }
        )
    return {
        "today": today.isoformat(),
        "older_than_days": older_than_days,
        "limit": limit.isoformat(),
        "data_version": dataset.meta.data_version,
        "checked": dataset.meta.checked.isoformat(),
        "stale_facts": sum(len(s["facts"]) for s in sources),
        "sources": sources,
    }
