"""Load and validate the legal data files into one immutable :class:`Dataset`.

The data lives in ``trailguard/law/data`` (or any folder with the same layout, for tests):
``meta.yaml``, ``sources.yaml`` (with ``sources_penalties.yaml``, the sources of the maximum
penalties, and ``sources_reservations.yaml``, the sources of the reservations and declarations,
where present), ``instruments.yaml``, ``parties/*.yaml``,
``reservations.yaml``, ``offences.yaml``, ``mla_treaties.yaml``, ``voluntary_disclosure.yaml``.
Each file is checked against its schema (:mod:`trailguard.law.schema`); then the files are
checked against each other: every fact names a known source, every country is an ISO 3166-1
alpha-2 code, every conduct name is one of Arts. 2-11, no fact is dated after the data was
collected. Any problem refuses the whole data set, listing every problem found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from trailguard.core.errors import ValidationFailed
from trailguard.law.schema import (
    CONDUCT_IDS,
    Conduct,
    CountryFact,
    Fact,
    Gap,
    Instrument,
    InstrumentsFile,
    Meta,
    MlaTreatiesFile,
    MlaTreaty,
    NationalOffence,
    OffencesFile,
    PartiesFile,
    Party,
    Reservation,
    ReservationsFile,
    ReservationsRead,
    Signatory,
    Source,
    SourcesFile,
    VoluntaryFile,
    VoluntaryRule,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"
PENALTY_SOURCES = "sources_penalties.yaml"
RESERVATION_SOURCES = "sources_reservations.yaml"

_Model = TypeVar("_Model", bound=BaseModel)


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DataLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML without implicit timestamps: dates stay text so that the schema parses them
    and names an impossible one (2007-02-30) instead of the YAML parser crashing on it."""


_DataLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LegalDataInvalid(ValidationFailed):
    """The legal data files are missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Dataset:
    """Everything the legal engine knows, validated. Plain data; no behaviour beyond look-ups."""

    folder: Path
    meta: Meta
    countries: dict[str, str]
    sources: dict[str, Source]
    instruments: dict[str, Instrument]
    parties: dict[str, dict[str, Party]]
    signatories: dict[str, dict[str, Signatory]]
    reservations: tuple[Reservation, ...]
    # Whose reservations were read (reservations.yaml ``read``): "no entry" then means none.
    reservations_read: tuple[ReservationsRead, ...]
    conducts: dict[str, Conduct]
    offences: dict[str, NationalOffence]
    gaps: tuple[Gap, ...]
    treaties: tuple[MlaTreaty, ...]
    voluntary: dict[str, VoluntaryRule]
    unverified_count: int = field(default=0)
    # source id -> the file that lists it (sources.yaml, sources_penalties.yaml or
    # sources_reservations.yaml)
    source_files: dict[str, str] = field(default_factory=dict)


def iso_countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> English short name, from the IANA tz database's iso3166.tab
    (shipped in the ``tzdata`` package; source ``iso3166_tzdata``)."""
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text("utf-8")
    countries: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, _, name = line.partition("\t")
        countries[code.strip()] = name.strip()
    return countries


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        problems.append(f"{path.name}: file is missing")
        return None
    try:
        return yaml.load(text, Loader=_DataLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
        return None


def _location(raw: Any, loc: tuple[int | str, ...]) -> str:
    """A readable path to a bad value: list items that have an id are named by it
    (``national_offences.23 (de_stgb_202a).max_penalty.0.source``)."""
    parts: list[str] = []
    node = raw
    for part in loc:
        label = str(part)
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                label = f"{part} ({node['id']})"
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
        parts.append(label)
    return ".".join(parts)


def _parse(model: type[_Model], path: Path, problems: list[str]) -> _Model | None:
    raw = _read_yaml(path, problems)
    if raw is None:
        if path.exists():
            problems.append(f"{path.name}: file is empty")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            where = _location(raw, error["loc"])
            bad = error.get("input")
            shown = "" if isinstance(bad, dict | list) else f" (value: {bad!r})"
            problems.append(f"{path.name}: {where}: {error['msg']}{shown}")
        return None


def _check_fact(
    fact: Fact, where: str, sources: dict[str, Source], meta: Meta | None, problems: list[str]
) -> None:
    if fact.source not in sources:
        problems.append(
            f"{where}: unknown source {fact.source!r} (not in sources.yaml or sources_*.yaml)"
        )
    if meta is not None and fact.as_of > meta.checked:
        problems.append(
            f"{where}: as_of {fact.as_of} is after the date the data was checked ({meta.checked})"
        )


def _check_country(code: str, where: str, countries: dict[str, str], problems: list[str]) -> None:
    if code not in countries:
        problems.append(f"{where}: unknown country code {code!r} (not in ISO 3166-1 alpha-2)")


def _unique(ids: Iterable[str], what: str, problems: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            problems.append(f"{what}: id {item!r} is used twice")
        seen.add(item)


def load_dataset(folder: Path | None = None) -> Dataset:
    """Load, validate and cross-check the data in ``folder`` (the packaged data by default).

    Raises :class:`LegalDataInvalid` listing every problem found."""
    folder = folder or DEFAULT_DATA_DIR
    problems: list[str] = []
    countries = iso_countries()

    meta = _parse(Meta, folder / "meta.yaml", problems)
    sources_file = _parse(SourcesFile, folder / "sources.yaml", problems)
    # The sources of the maximum penalties live in their own file (optional, so that a data
    # set without penalties still loads); their ids share one namespace with sources.yaml.
    # Further source lists (sources_penalties.yaml, and any other sources_<topic>.yaml, e.g.
    # for reservations), read in name order.
    extra_sources = [
        (path.name, _parse(SourcesFile, path, problems))
        for path in sorted(folder.glob("sources_*.yaml"))
    ]
    instruments_file = _parse(InstrumentsFile, folder / "instruments.yaml", problems)
    reservations_file = _parse(ReservationsFile, folder / "reservations.yaml", problems)
    offences_file = _parse(OffencesFile, folder / "offences.yaml", problems)
    treaties_file = _parse(MlaTreatiesFile, folder / "mla_treaties.yaml", problems)
    voluntary_file = _parse(VoluntaryFile, folder / "voluntary_disclosure.yaml", problems)
    party_files: list[tuple[str, PartiesFile]] = []
    parties_dir = folder / "parties"
    if not parties_dir.is_dir():
        problems.append("parties/: folder is missing")
    else:
        for path in sorted(parties_dir.glob("*.yaml")):
            parsed = _parse(PartiesFile, path, problems)
            if parsed is not None:
                party_files.append((f"parties/{path.name}", parsed))

    sources: dict[str, Source] = {}
    source_files: dict[str, str] = {}
    for name, parsed_sources in [("sources.yaml", sources_file), *extra_sources]:
        if parsed_sources is None:
            continue
        _unique((s.id for s in parsed_sources.sources), name, problems)
        for source in parsed_sources.sources:
            if source.id in source_files and source_files[source.id] != name:
                problems.append(
                    f"{name}: source id {source.id!r} is also used in {source_files[source.id]}"
                )
                continue
            sources[source.id] = source
            source_files[source.id] = name
            if meta is not None and source.as_of is not None and source.as_of > meta.checked:
                problems.append(
                    f"{name}: {source.id}: as_of {source.as_of} is after the date the "
                    f"data was checked ({meta.checked})"
                )

    facts: list[tuple[str, Fact]] = []
    instruments: dict[str, Instrument] = {}
    if instruments_file is not None:
        _unique((i.id for i in instruments_file.instruments), "instruments.yaml", problems)
        instruments = {i.id: i for i in instruments_file.instruments}
        facts += [(f"instruments.yaml: {i.id}", i) for i in instruments_file.instruments]
        for listed in instruments_file.instruments:
            where = f"instruments.yaml: {listed.id}"
            facts += [(f"{where}: {c.count} Parties", c) for c in listed.party_counts]
            day = listed.parties_complete_until
            if meta is not None and day is not None and day > meta.checked:
                problems.append(
                    f"{where}: parties_complete_until {day} is after the date the data was "
                    f"checked ({meta.checked})"
                )

    parties: dict[str, dict[str, Party]] = {}
    signatories: dict[str, dict[str, Signatory]] = {}
    for name, parsed in party_files:
        instrument = instruments.get(parsed.instrument)
        if instrument is None:
            problems.append(f"{name}: unknown instrument {parsed.instrument!r}")
        if parsed.instrument in parties:
            problems.append(f"{name}: a second parties file for {parsed.instrument!r}")
        by_country: dict[str, Party] = {}
        for party in parsed.parties:
            where = f"{name}: {party.country}"
            if party.country in by_country:
                problems.append(f"{where}: listed twice")
            by_country[party.country] = party
            facts.append((where, party))
            if instrument is not None and party.in_force is not None:
                if instrument.in_force is None:
                    problems.append(
                        f"{where}: in_force {party.in_force} but {instrument.short} is not in force"
                    )
                elif party.in_force < instrument.in_force:
                    problems.append(
                        f"{where}: in_force {party.in_force} is before {instrument.short} "
                        f"entered into force ({instrument.in_force})"
                    )
        signed: dict[str, Signatory] = {}
        for signatory in parsed.signatories_only:
            where = f"{name}: {signatory.country}"
            if signatory.country in by_country:
                problems.append(f"{where}: listed both as Party and as signatory only")
            signed[signatory.country] = signatory
            facts.append((where, signatory))
        parties[parsed.instrument] = by_country
        signatories[parsed.instrument] = signed

    reservations: tuple[Reservation, ...] = ()
    if reservations_file is not None:
        reservations = tuple(reservations_file.reservations)
        for reservation in reservations:
            where = f"reservations.yaml: {reservation.country} {reservation.article}"
            facts.append((where, reservation))
            if reservation.instrument not in instruments:
                problems.append(f"{where}: unknown instrument {reservation.instrument!r}")
            p2_effect = reservation.effect.startswith("p2_")
            if p2_effect != (reservation.instrument == "cets224"):
                problems.append(
                    f"{where}: effect {reservation.effect} does not fit instrument "
                    f"{reservation.instrument}"
                )
            bound = parties.get(reservation.instrument, {}).get(reservation.country)
            if bound is None:
                problems.append(
                    f"{where}: {reservation.country} is not listed as a Party to "
                    f"{reservation.instrument}"
                )
            elif (
                reservation.instrument == "ets185"
                and bound.in_force is not None
                and reservation.valid_from < bound.in_force
            ):
                problems.append(
                    f"{where}: valid_from {reservation.valid_from} is before "
                    f"{reservation.country} is bound ({bound.in_force})"
                )

    reservations_read: tuple[ReservationsRead, ...] = ()
    if reservations_file is not None:
        reservations_read = tuple(reservations_file.read)
        seen_whole: set[tuple[str, str]] = set()
        for read in reservations_read:
            where = f"reservations.yaml: read {read.country} {read.instrument}"
            facts.append((where, read))
            if read.articles == "all":
                if (read.instrument, read.country) in seen_whole:
                    problems.append(f"{where}: the whole list is recorded as read twice")
                seen_whole.add((read.instrument, read.country))
            if read.instrument not in instruments:
                problems.append(f"{where}: unknown instrument {read.instrument!r}")
            elif read.country not in parties.get(read.instrument, {}):
                problems.append(
                    f"{where}: {read.country} is not listed as a Party to {read.instrument}"
                )

    conducts: dict[str, Conduct] = {}
    offences: dict[str, NationalOffence] = {}
    gaps: tuple[Gap, ...] = ()
    if offences_file is not None:
        conducts = {c.id: c for c in offences_file.conducts}
        missing = [c for c in CONDUCT_IDS if c not in conducts]
        extra = [c for c in conducts if c not in CONDUCT_IDS]
        if missing:
            problems.append(f"offences.yaml: conducts lacks {', '.join(missing)}")
        if extra:
            problems.append(f"offences.yaml: unknown conduct {', '.join(extra)}")
        facts += [(f"offences.yaml: conduct {c.id}", c) for c in offences_file.conducts]
        _unique((o.id for o in offences_file.national_offences), "offences.yaml", problems)
        for offence in offences_file.national_offences:
            where = f"offences.yaml: {offence.id}"
            offences[offence.id] = offence
            facts.append((where, offence))
            facts += [(f"{where}: max_penalty", penalty) for penalty in offence.penalties()]
            for conduct in offence.conduct:
                if conduct not in CONDUCT_IDS:
                    problems.append(
                        f"{where}: unknown conduct {conduct!r}; accepted: {', '.join(CONDUCT_IDS)}"
                    )
            if offence.id in CONDUCT_IDS:
                problems.append(f"{where}: a national offence id may not be a conduct name")
        gaps = tuple(offences_file.gaps)
        for gap in gaps:
            where = f"offences.yaml: gap {gap.country} {gap.conduct}"
            facts.append((where, gap))
            if gap.conduct not in CONDUCT_IDS:
                problems.append(f"{where}: unknown conduct {gap.conduct!r}")

    treaties: tuple[MlaTreaty, ...] = ()
    if treaties_file is not None:
        treaties = tuple(treaties_file.treaties)
        _unique((t.id for t in treaties), "mla_treaties.yaml", problems)
        for treaty in treaties:
            where = f"mla_treaties.yaml: {treaty.id}"
            facts.append((where, treaty))
            for code in treaty.countries:
                _check_country(code, where, countries, problems)
            if treaty.pairs_with is not None and treaty.pairs_with not in treaty.countries:
                problems.append(f"{where}: pairs_with {treaty.pairs_with!r} is not in countries")

    voluntary: dict[str, VoluntaryRule] = {}
    if voluntary_file is not None:
        for rule in voluntary_file.rules:
            where = f"voluntary_disclosure.yaml: {rule.country}"
            facts.append((where, rule))
            voluntary[rule.country] = rule

    for where, fact in facts:
        _check_fact(fact, where, sources, meta, problems)
        if isinstance(fact, CountryFact):
            _check_country(fact.country, where, countries, problems)

    if problems or meta is None:
        raise LegalDataInvalid(
            f"the legal data in {folder} is invalid ({len(problems)} problems)", problems
        )
    return Dataset(
        folder=folder,
        meta=meta,
        countries=countries,
        sources=sources,
        instruments=instruments,
        parties=parties,
        signatories=signatories,
        reservations=reservations,
        reservations_read=reservations_read,
        conducts=conducts,
        offences=offences,
        gaps=gaps,
        treaties=treaties,
        voluntary=voluntary,
        unverified_count=sum(1 for _, fact in facts if not fact.verified),
        source_files=source_files,
    )


def latest_fact_date(dataset: Dataset) -> date:
    """The newest as_of of any party entry: how far the Party lists reach."""
    days = [p.as_of for by_country in dataset.parties.values() for p in by_country.values()]
    return max(days) if days else dataset.meta.checked
