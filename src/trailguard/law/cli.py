"""law: command-line entry points.

    trailguard law check --from US --to NL --conduct illegal_access --measure preservation
    trailguard law channels --from US --to BR --data subscriber [--emergency] [--json]
    trailguard law channels --from NL --to DE --data traffic --conduct computer_fraud
    trailguard law channels --from US --to BR --data subscriber --emergency --purpose obtain
    trailguard law sources [--stale [--older-than DAYS] [--as-of DATE]] [--json]

Rich tables for people; ``--json`` prints the stable contract documented in
:mod:`trailguard.law.answers`. Bad input exits with status 2 and names the bad value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trailguard.core.clock import default_clock
from trailguard.core.errors import TrailguardError, ValidationFailed
from trailguard.law.answers import (
    PURPOSES,
    ChannelsAnswer,
    DualCriminalityAnswer,
    ReservationsKnown,
)
from trailguard.law.engine import LegalEngine, get_engine
from trailguard.law.sources import DEFAULT_STALE_DAYS, sources_report, stale_report

app = typer.Typer(
    help="Legal engine: dual criminality, lawful channels and the sources behind them.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Answer with the law of this date (YYYY-MM-DD); default: today (UTC)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON (stable contract).")]
Requesting = Annotated[str, typer.Option("--from", help="Requesting country (ISO 3166-1 alpha-2).")]
Requested = Annotated[str, typer.Option("--to", help="Requested country (ISO 3166-1 alpha-2).")]


def _engine() -> LegalEngine:
    try:
        return get_engine()
    except TrailguardError as exc:
        _fail(exc)


def _fail(exc: TrailguardError) -> NoReturn:
    err_console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
    problems = getattr(exc, "problems", [])
    for problem in problems:
        err_console.print(f"  - {problem}", highlight=False, markup=False)
    raise typer.Exit(2)


def parse_as_of(value: str | None) -> date:
    if value is None:
        return default_clock().now().date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"--as-of: {value!r} is not a date", ["--as-of: give the date as YYYY-MM-DD"]
        ) from None


def _print_json(payload: dict[str, Any]) -> None:
    # Plain stdout, not Rich: scripts parse it.
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))


_Answer = TypeVar("_Answer", DualCriminalityAnswer, ChannelsAnswer)


def _answer(ask: Callable[[], _Answer], as_json: bool, show: Callable[[_Answer], None]) -> None:
    """Ask the engine (a refusal exits with status 2, naming the bad value), then print the
    answer: its JSON contract with ``--json``, else ``show`` it to people."""
    try:
        answer = ask()
    except TrailguardError as exc:
        _fail(exc)
    if as_json:
        _print_json(answer.to_dict())
    else:
        show(answer)


def _print_trail(reasoning: tuple[str, ...], citations: tuple[str, ...], verified: bool) -> None:
    console.print("[bold]Reasoning[/bold]")
    for line in reasoning:
        console.print(f"  - {line}", highlight=False, markup=False)
    console.print("[bold]Citations[/bold]")
    for citation in citations:
        console.print(f"  - {citation}", highlight=False, markup=False)
    if not verified:
        console.print(
            "[yellow]This answer rests on facts marked unverified in the data; check them "
            "before relying on it.[/yellow]"
        )


def _print_notes(notes: tuple[str, ...], reservations: tuple[ReservationsKnown, ...]) -> None:
    for note in notes:
        console.print(f"Note: {note}", highlight=False, markup=False)
    for known in reservations:
        console.print(
            f"Reservations of {known.country}: {known.status.replace('_', ' ')}: {known.text}",
            highlight=False,
            markup=False,
        )


def _show_check(answer: DualCriminalityAnswer) -> None:
    dual = answer.dual_criminality
    satisfied = {True: "yes", False: "no", None: "unknown"}[dual.satisfied]
    console.print(
        f"[bold]{answer.requesting} -> {answer.requested}[/bold], {answer.measure}, "
        f"conduct {', '.join(answer.conduct)}, as of {answer.as_of}"
    )
    console.print(f"Dual criminality required: [bold]{'yes' if dual.required else 'no'}[/bold]")
    console.print(f"Dual criminality satisfied: [bold]{satisfied}[/bold]")
    console.print(dual.reason, highlight=False, markup=False)
    _print_notes(answer.notes, answer.reservations_known)
    for threshold in answer.penalty_checks:
        met = {True: "met", False: "not met", None: "unknown"}[threshold.met]
        console.print(
            f"Penalty threshold ({threshold.rule}) in {threshold.country}: {met}",
            highlight=False,
            markup=False,
        )
    table = Table(title="Provisions")
    for column in ("country", "statute", "title", "conduct", "max penalty", "verified"):
        table.add_column(column)
    for country, provisions in answer.provisions.items():
        if not provisions:
            table.add_row(country, "(none found in the data)", "", "", "", "")
        for item in provisions:
            penalty = item.max_penalty
            table.add_row(
                country,
                item.statute,
                item.title,
                ", ".join(item.conduct),
                (penalty.text + ("" if penalty.verified else " (unverified)")) if penalty else "-",
                "yes" if item.verified else "no",
            )
    console.print(table)
    _print_trail(answer.reasoning, answer.citations, answer.verified)


def _show_channels(answer: ChannelsAnswer) -> None:
    console.print(
        f"[bold]{answer.requesting} -> {answer.requested}[/bold] (provider in "
        f"{answer.provider_country}), {answer.data} data"
        f"{', emergency' if answer.emergency else ''}, purpose {answer.purpose}, "
        f"as of {answer.as_of}"
    )
    title = {
        "preserve": "Lawful channels, those that preserve first, fastest first",
        "obtain": "Lawful channels, those that disclose first, fastest first",
    }.get(answer.purpose, "Lawful channels, fastest first")
    if answer.purpose == "both" and answer.emergency:
        title = "Lawful channels, those that disclose first (emergency), fastest first"
    table = Table(title=title)
    table.add_column("#")
    table.add_column("id", no_wrap=True)
    for column in ("name", "legal basis", "deadline", "verified"):
        table.add_column(column)
    table.add_column("does")
    for number, channel in enumerate(answer.channels, start=1):
        does = " + ".join(
            word
            for word, flag in (("preserves", channel.preserves), ("discloses", channel.discloses))
            if flag
        )
        table.add_row(
            str(number),
            channel.id,
            channel.name,
            channel.legal_basis,
            channel.deadline,
            "yes" if channel.verified else "no",
            does,
        )
    console.print(table)
    if answer.preserve_meanwhile:
        kept = answer.channel(answer.preserve_meanwhile)
        console.print(
            f"Meanwhile: {kept.name if kept else answer.preserve_meanwhile} "
            f"({answer.preserve_meanwhile}) keeps the trail until the data is disclosed.",
            highlight=False,
            markup=False,
        )
    for authority in answer.authorities:
        console.print(
            f"Designated by {authority.country}, {authority.role}: {authority.authority}",
            highlight=False,
            markup=False,
        )
    ruled = Table(title="Considered and ruled out")
    ruled.add_column("id", no_wrap=True)
    ruled.add_column("reason")
    for item in answer.not_available:
        ruled.add_row(item.id, item.reason)
    console.print(ruled)
    for channel in answer.channels:
        for condition in channel.conditions:
            console.print(f"Condition ({channel.id}): {condition}", highlight=False, markup=False)
    _print_notes(answer.notes, answer.reservations_known)
    _print_trail(answer.reasoning, answer.citations, answer.verified)


@app.command()
def check(
    requesting: Requesting,
    requested: Requested,
    conduct: Annotated[
        list[str],
        typer.Option(
            "--conduct", help="Art. 2-11 conduct or national offence id; repeat for several."
        ),
    ],
    measure: Annotated[
        str,
        typer.Option(
            "--measure",
            help="preservation, traffic_disclosure, subscriber_info, stored_content, "
            "search_seizure, realtime_collection or extradition.",
        ),
    ],
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """Is dual criminality required for the measure, is it satisfied, and by which provisions?"""
    engine = _engine()
    _answer(
        lambda: engine.check(requesting, requested, conduct, measure, parse_as_of(as_of)),
        as_json,
        _show_check,
    )


@app.command()
def channels(
    requesting: Requesting,
    requested: Requested,
    data: Annotated[str, typer.Option("--data", help="subscriber, traffic, content or domain.")],
    emergency: Annotated[
        bool, typer.Option("--emergency", help="Significant and imminent risk to life or safety.")
    ] = False,
    provider_country: Annotated[
        str | None,
        typer.Option(
            "--provider-country",
            help="Where the provider is established, if not the requested country.",
        ),
    ] = None,
    conduct: Annotated[
        list[str] | None,
        typer.Option(
            "--conduct",
            help="Art. 2-11 conduct or national offence id (repeatable); lets penalty "
            "thresholds such as Regulation (EU) 2023/1543 Art. 5(4) be checked.",
        ),
    ] = None,
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            help="What you need: preserve (keep the data), obtain (receive it now: channels "
            "that disclose first) or both (preservation first, disclosure first in an "
            f"emergency). One of {', '.join(PURPOSES)}.",
        ),
    ] = "both",
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """The lawful channels to the data, ordered for the purpose, and those ruled out."""
    engine = _engine()
    _answer(
        lambda: engine.channels(
            requesting,
            requested,
            data,
            emergency,
            parse_as_of(as_of),
            provider_country=provider_country,
            conduct=conduct or None,
            purpose=purpose,
        ),
        as_json,
        _show_channels,
    )


@app.command()
def parties(
    instrument: Annotated[
        str, typer.Option("--instrument", help="ets185, cets224, un_cybercrime, eu_2023_1543, ...")
    ] = "ets185",
    as_of: AsOf = None,
    as_json: AsJson = False,
) -> None:
    """The States bound by an instrument on a date."""
    engine = _engine()
    try:
        day = parse_as_of(as_of)
        codes = engine.parties(instrument, day)
        caution = engine.parties_caution(instrument, day)
    except TrailguardError as exc:
        _fail(exc)
    if as_json:
        _print_json(
            {
                "as_of": day.isoformat(),
                "instrument": instrument,
                "parties": codes,
                "complete": caution is None,
                "caution": caution,
            }
        )
        return
    short = engine.data.instruments[instrument].short
    table = Table(title=f"{short}: {len(codes)} States bound on {day}")
    table.add_column("code")
    table.add_column("country")
    table.add_column("since")
    table.add_column("verified")
    for code in codes:
        party = engine.data.parties[instrument][code]
        table.add_row(
            code,
            engine.data.countries[code],
            str(party.in_force),
            "yes" if party.verified else "no",
        )
    console.print(table)
    if caution:
        console.print(caution)


@app.command()
def sources(
    as_json: AsJson = False,
    stale: Annotated[
        bool,
        typer.Option(
            "--stale",
            help="List the facts to refresh: as-of date older than --older-than days before "
            "today (or --as-of), or unverified; grouped by source.",
        ),
    ] = False,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            help=f"With --stale: age limit in days (default {DEFAULT_STALE_DAYS}).",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="With --stale: count ages from this date (YYYY-MM-DD)."),
    ] = None,
) -> None:
    """Every source the legal data cites, with how many facts rest on it; with --stale, the
    facts that are old or unverified."""
    engine = _engine()
    if not stale:
        if older_than is not None or as_of is not None:
            _fail(
                ValidationFailed(
                    "--older-than and --as-of go with --stale",
                    ["sources: add --stale, or drop --older-than/--as-of"],
                )
            )
        _show_sources(engine, as_json)
        return
    days = DEFAULT_STALE_DAYS if older_than is None else older_than
    if days < 0:
        _fail(
            ValidationFailed(
                f"--older-than: {days} is negative", ["--older-than: give a number of days >= 0"]
            )
        )
    try:
        today = parse_as_of(as_of)
    except TrailguardError as exc:
        _fail(exc)
    report = stale_report(engine.data, today, days)
    if as_json:
        _print_json(report)
        return
    console.print(
        f"[bold]{report['stale_facts']} facts to refresh[/bold] (as of before {report['limit']}, "
        f"{days} days before {today}, or unverified) in {len(report['sources'])} sources; "
        f"data {report['data_version']}, checked {report['checked']}",
        highlight=False,
    )
    for source in report["sources"]:
        table = Table(
            title=f"{source['id']} ({source['file']}): {source['title']} <{source['url']}>",
            title_justify="left",
        )
        table.add_column("fact", overflow="fold")
        table.add_column("as of")
        table.add_column("age (days)")
        table.add_column("why", overflow="fold")
        for fact in source["facts"]:
            table.add_row(
                fact["fact"], fact["as_of"], str(fact["age_days"]), "; ".join(fact["reasons"])
            )
        console.print(table)


def _show_sources(engine: LegalEngine, as_json: bool) -> None:
    rows = sources_report(engine.data)
    if as_json:
        _print_json(
            {
                "data_version": engine.data.meta.data_version,
                "checked": engine.data.meta.checked.isoformat(),
                "horizon": engine.data.meta.horizon.isoformat(),
                "sources": rows,
            }
        )
        return
    meta = engine.data.meta
    table = Table(
        title=f"Legal data {meta.data_version}: checked {meta.checked}, "
        f"answers up to {meta.horizon}"
    )
    # One wide column for what a source is (id, file, title, address), so that the address
    # folds over a few full lines instead of one character per line in a narrow column.
    table.add_column("source", overflow="fold", ratio=1)
    table.add_column("as of", no_wrap=True)
    table.add_column("facts", justify="right", no_wrap=True)
    table.add_column("unverified", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            f"[bold]{escape(row['id'])}[/bold] ({escape(row['file'])})\n"
            f"{escape(row['title'])}\n{escape(row['url'])}",
            row["as_of"] or "-",
            str(row["facts"]),
            str(row["unverified"]),
        )
    console.print(table)
