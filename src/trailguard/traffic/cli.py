"""``trailguard traffic``: ingest provider logs, look up (ip, port, time), hold, purge.

``--data-dir`` is either a node's data directory (made by ``trailguard init``; the store is its
``traffic/`` folder and every ingest, hold, release and purge is written to the node's audit
log) or a bare directory for a provider who only runs the store (the store is again
``<dir>/traffic``, created on first use; there is no node database, so nothing is audited and
``--actor`` names who acted).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from trailguard.accounts import get_user, principal_of
from trailguard.cli_support import fail
from trailguard.core.clock import default_clock
from trailguard.core.errors import NotFound, TrailguardError
from trailguard.registry import open_node
from trailguard.traffic.cli_parsing import parse_duration, parse_instant
from trailguard.traffic.detnat.cli import app as detnat_app
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.watch.cli import app as watch_app

app = typer.Typer(
    help="Provider traffic data: ingest, look up, hold, purge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
hold_app = typer.Typer(help="Preservation holds: place, list, release.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")


app.add_typer(watch_app, name="watch", help="Live watch (Art. 33): orders, listeners, hits.")
app.add_typer(detnat_app, name="detnat")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", help="Node data dir or bare directory; the store is <dir>/traffic."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class _Context:
    """The store, and the node when the data dir is one (for audit and users)."""

    def __init__(self, data_dir: Path, create: bool = False) -> None:
        # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
        from trailguard.traffic.store import open_store

        # a mistyped --data-dir must not become a new, empty store answering "0 matches"
        if (
            not create
            and not (data_dir / "node.toml").exists()
            and not (data_dir / "traffic").is_dir()
        ):
            raise NotFound(
                f"{data_dir} holds no traffic store (neither a node made by `trailguard "
                "init` nor a store made by `trailguard traffic ingest`); check the path"
            )
        self.node: Any = None
        if (data_dir / "node.toml").exists():
            self.node = open_node(data_dir)
            # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
            from trailguard.traffic.service import store_for

            self.store = store_for(self.node)
        else:
            self.store = open_store(data_dir)

    def principal(self, user: str | None) -> Any:
        if self.node is None:
            return None
        if not user:
            raise typer.BadParameter(
                "this data dir is a node: name the acting user with --user (provider_liaison "
                "or admin)"
            )

        with self.node.db.session() as session:
            return principal_of(get_user(session, user))

    def close(self) -> None:
        if self.node is not None:
            self.node.close()


def _open(data_dir: Path, create: bool = False) -> _Context:
    """The data dir's store; only ``ingest`` (``create``) makes a store where there is none."""
    try:
        return _Context(data_dir, create)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc


@app.command()
def formats(as_json: AsJson = False) -> None:
    """The log formats the store can ingest, with the document each parser follows."""
    # the parsers register on import and compile numba scanners
    from trailguard.traffic.parsers import all_parsers

    parsers = all_parsers()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": p.NAME,
                        "description": p.DESCRIPTION,
                        "kinds": [str(k) for k in p.KINDS],
                        "source": p.SOURCE,
                    }
                    for p in parsers
                ],
                indent=1,
            )
        )
        return
    table = Table("format", "kinds", "description", "follows")
    for p in parsers:
        table.add_row(p.NAME, ", ".join(str(k) for k in p.KINDS), p.DESCRIPTION, p.SOURCE)
    console.print(table)


@app.command()
def ingest(
    data_dir: DataDir,
    files: Annotated[list[Path], typer.Argument(help="Log files (plain or .gz).")],
    provider: Annotated[str, typer.Option(help="Provider id the records belong to.")],
    format_name: Annotated[
        str | None,
        typer.Option("--format", help="Format name (see `traffic formats`); detected if omitted."),
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="Zone of stamps that carry none (IANA name or +01:00).")
    ] = None,
    year: Annotated[
        int | None, typer.Option(help="Year of stamps that carry none.", min=1970, max=2200)
    ] = None,
    clock_skew: Annotated[
        str,
        typer.Option(
            help="Source clock minus true time, e.g. 2s or -1.5s; subtracted from every stamp."
        ),
    ] = "0s",
    actor: Annotated[str, typer.Option(help="Who runs the ingest (audit).")] = "system:cli",
    as_json: AsJson = False,
) -> None:
    """Parse log files and publish them into the store; a file is stored whole or not at all."""
    # progress bars load only for a long ingest
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    skew = parse_duration(clock_skew, "clock skew")
    for path in files:
        if not path.is_file():
            raise fail(ValueError(f"{path} does not exist or is not a file"), min_problems=2)
    ctx = _open(data_dir, create=True)
    options = ParseOptions(tz=tz, year=year, clock_skew=skew)
    reports = []
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} lines"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json or not sys.stderr.isatty(),
        ) as progress:
            for path in files:
                task = progress.add_task(path.name, total=None)

                def advance(lines: int, task_id: Any = task) -> None:
                    progress.advance(task_id, lines)

                if ctx.node is not None:
                    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
                    from trailguard.traffic.service import ingest_files

                    reports += ingest_files(
                        ctx.node,
                        [path],
                        provider=provider,
                        actor=actor,
                        format_name=format_name,
                        options=options,
                        progress=advance,
                    )
                else:
                    reports.append(
                        ctx.store.ingest_file(
                            path,
                            provider=provider,
                            format_name=format_name,
                            options=options,
                            progress=advance,
                        )
                    )
                progress.update(task, total=reports[-1].lines_read)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    elapsed = time.perf_counter() - started
    refused = [r for r in reports if r.refused]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "seconds": round(elapsed, 3),
                    "files": [
                        {
                            "path": r.path,
                            "sha256": r.sha256,
                            "format": r.format,
                            "lines_read": r.lines_read,
                            "records_stored": r.records_stored,
                            "skipped_lines": r.skipped_lines,
                            "bad_lines": [
                                {"line": b.line_no, "reason": b.reason, "text": b.text}
                                for b in r.bad_lines
                            ],
                            "notes": r.notes,
                            "duplicate": r.duplicate,
                            "refused": r.refused,
                        }
                        for r in reports
                    ],
                },
                indent=1,
            )
        )
    else:
        for r in reports:
            name = Path(r.path).name
            if r.refused:
                console.print(f"[red]refused[/red] {name}: {r.refused} (nothing stored)")
                continue
            if r.duplicate:
                console.print(f"[yellow]skipped[/yellow] {name}: {'; '.join(r.notes)}")
                continue
            console.print(
                f"[green]stored[/green] {name} ({r.format}): {r.lines_read:,} lines read, "
                f"{r.records_stored:,} records stored, {r.skipped_lines:,} other lines skipped, "
                f"{r.bad_line_count:,} bad lines"
            )
            for note in r.notes:
                console.print(f"  note: {note}")
            for bad in r.bad_lines[:20]:
                console.print(f"  line {bad.line_no}: {bad.reason}: {bad.text[:80]!r}")
            if r.bad_line_count > 20:
                numbers = ", ".join(str(b.line_no) for b in r.bad_lines[20:200])
                console.print(
                    f"  ... {r.bad_line_count - 20} more bad lines: {numbers}"
                    + (" ..." if r.bad_line_count > 200 else "")
                )
        total = sum(r.lines_read for r in reports)
        console.print(f"{len(reports)} file(s), {total:,} lines in {elapsed:.2f} s")
    if refused:
        raise typer.Exit(1)


@app.command()
def lookup(
    data_dir: DataDir,
    ip: Annotated[str, typer.Option(help="Public address (IPv4 or IPv6).")],
    at: Annotated[str, typer.Option(help="Instant, ISO 8601 with zone.")],
    port: Annotated[
        int | None, typer.Option(help="Public port; omit for any port.", min=0, max=65535)
    ] = None,
    tolerance: Annotated[str, typer.Option(help="Clock tolerance, e.g. 2s.")] = "2s",
    engine: Annotated[str, typer.Option(help="embedded or spark.")] = "embedded",
    user: Annotated[str | None, typer.Option(help="Acting user on a node (audited).")] = None,
    as_json: AsJson = False,
) -> None:
    """Who used IP:PORT at AT: NAT session -> inside address -> DHCP/RADIUS -> subscriber."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.query import get_engine
    from trailguard.traffic.resolve import lookup_one
    from trailguard.traffic.values import canonical_ip, check_port

    instant = parse_instant(at, "--at")
    tol = parse_duration(tolerance, "tolerance")
    try:  # the question is checked before the store is opened
        canonical_ip(ip)
        check_port(port)
    except TrailguardError as exc:
        raise fail(exc) from exc
    ctx = _open(data_dir)
    try:
        if ctx.node is not None and engine == "embedded" and user:
            # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
            from trailguard.traffic import service

            answer = service.lookup(ctx.node, ctx.principal(user), ip, port, instant, tol)
        else:
            answer = lookup_one(get_engine(ctx.store, engine), ip, port, instant, tol)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(answer.to_json(), indent=1))
        return
    q = answer.query
    console.print(
        f"{q.public_ip} port {q.public_port if q.public_port is not None else 'any'}"
        f" at {q.to_json()['at']} (± {tol.total_seconds():g} s): "
        f"{len(answer.matches)} match(es)"
    )
    for m in answer.matches:
        end = m.to_json()["end"] or "open"
        console.print(
            f"  #{m.rank + 1} [bold]{m.inside_ip}[/bold]:{m.inside_port} "
            f"{m.to_json()['start']} .. {end}  subscriber: "
            f"[bold]{m.subscriber or 'unknown'}[/bold]"
            + (f"  (off by {m.distance.total_seconds():g} s)" if m.distance else "")
            + (f"  port block {m.port_block[0]}-{m.port_block[1]}" if m.port_block else "")
        )
        if m.end_note:  # issue 18: what an end not logged rests on
            console.print(f"      [yellow]{m.end_note}[/yellow]")
        for r in m.records + tuple(r for a in m.assignments[:1] for r in a.records):
            console.print(f"      {r.kind}/{r.event or '-'} {r.source_file}:{r.source_line}")
    if answer.ambiguous:
        console.print(f"[yellow]ambiguous: {answer.ambiguity}[/yellow]")


@app.command()
def flows(
    data_dir: DataDir,
    ip: Annotated[str, typer.Option(help="Address (as public, inside or destination).")],
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 with zone.")],
    end: Annotated[str, typer.Option(help="Window end, ISO 8601 with zone.")],
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Kinds (default: nat, port_block, flow, access); repeat."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 1000,
    as_json: AsJson = False,
) -> None:
    """Records to or from an address in a time window."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.resolve import flows as find_flows

    lo, hi = parse_instant(start, "--start"), parse_instant(end, "--end")
    ctx = _open(data_dir)
    try:
        records = find_flows(ctx.store, ip, lo, hi, kind or None, limit)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in records], indent=1))
        return
    table = Table("start", "end", "kind", "proto", "inside", "public", "destination", "source")
    for r in records:
        j = r.to_json()
        table.add_row(
            j["start"],
            j["end"] or "",
            r.kind,
            r.protocol or "",
            f"{r.inside_ip or ''}:{r.inside_port or ''}",
            f"{r.public_ip or ''}:{r.public_port or ''}",
            "",
            f"{r.source_file}:{r.source_line}",
        )
    console.print(table)
    console.print(f"{len(records)} record(s)")


@app.command()
def purge(
    data_dir: DataDir,
    now: Annotated[
        str | None, typer.Option(help="Purge as of this instant (default: now).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    actor: Annotated[str, typer.Option(help="Who runs the purge (audit).")] = "system:cli",
    as_json: AsJson = False,
) -> None:
    """Delete partitions past their kind's retention, keeping records under an active hold."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.retention import purge as run_purge

    instant = parse_instant(now, "--now") if now else default_clock().now()
    ctx = _open(data_dir)
    try:
        if ctx.node is not None:
            # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
            from trailguard.traffic import service

            report = service.purge(ctx.node, actor, instant, dry_run)
        else:
            report = run_purge(ctx.store, instant, dry_run=dry_run)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=1))
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {report.records_deleted:,} records in {report.parts_deleted} "
        f"partition file(s); kept {report.records_kept_for_holds:,} held records; "
        f"{report.bytes_freed:,} bytes freed; {report.source_lines_purged:,} raw source "
        f"line(s) purged, {report.source_lines_kept_for_holds:,} kept for holds"
    )


@app.command()
def stats(data_dir: DataDir, as_json: AsJson = False) -> None:
    """Records, bytes per record, days and retention per kind; holds."""
    ctx = _open(data_dir)
    try:
        result = ctx.store.stats()
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    table = Table("kind", "records", "bytes/record", "days", "first", "last", "retention")
    for kind, k in result["kinds"].items():
        table.add_row(
            kind,
            f"{k['rows']:,}",
            str(k["bytes_per_record"]),
            str(k["days"]),
            k["first_day"],
            k["last_day"],
            f"{k['retention_days']} d",
        )
    console.print(table)
    console.print(
        f"{result['records']:,} records, {result['parquet_bytes']:,} bytes of Parquet,"
        f" {result['source_files']} original file(s) ({result['source_bytes']:,} "
        f"bytes), holds: {result['holds_active']} active, "
        f"{result['holds_released']} released"
    )


@app.command()
def query(
    data_dir: DataDir,
    sql: Annotated[str, typer.Argument(help="SQL over the view `records`.")],
    as_json: AsJson = False,
) -> None:
    """Ad-hoc SQL (DuckDB) over the published partitions, as the view ``records``."""
    ctx = _open(data_dir)
    try:
        con = ctx.store.duckdb()
        try:
            result = con.execute(sql)
            names = [d[0] for d in result.description or []]
            rows = result.fetchall()
        except Exception as exc:  # DuckDB raises many error types; all are the user's SQL
            raise fail(ValueError(f"query failed: {exc}"), min_problems=2) from exc
    finally:
        ctx.close()
    if as_json:
        typer.echo(
            json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str, indent=1)
        )
        return
    table = Table(*names)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table)


@app.command("source-line")
def source_line(
    data_dir: DataDir,
    sha256: Annotated[str, typer.Option(help="SHA-256 of the original file.")],
    line: Annotated[int, typer.Option(help="Line number (1-based).", min=1)],
) -> None:
    """Print a raw line of an archived original file (for auditors)."""
    ctx = _open(data_dir)
    try:
        typer.echo(ctx.store.read_source_line(sha256, line))
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()


@app.command()
def synth(
    records: Annotated[int, typer.Option(help="Number of records.", min=1)],
    format_name: Annotated[str, typer.Option("--format", help="Vendor format to write.")],
    out: Annotated[Path, typer.Option(help="Output directory.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Write realistic synthetic logs in a vendor format plus an answer key."""
    try:
        # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
        from trailguard.traffic.synth import write_synthetic
    except ImportError as exc:
        raise fail(
            ValueError(f"the synthetic-data writer is not available: {exc}"), min_problems=2
        ) from exc
    try:
        result = write_synthetic(format_name, out, records, seed)
    except (TrailguardError, ValueError, KeyError) as exc:
        raise fail(exc, min_problems=2) from exc
    console.print(f"wrote {records:,} records in {format_name} to {out}")
    listed = list(getattr(result, "inputs", []) or getattr(result, "files", {}).items())
    for fmt, path in listed:
        console.print(f"  {fmt}: {path}", soft_wrap=True)  # paths stay whole, to copy
    console.print(f"  answer key: {result.answer_key}", soft_wrap=True)
    tz = getattr(result, "tz", "UTC")
    console.print(
        f"  ingest with: trailguard traffic ingest --data-dir DIR --provider ID --tz {tz} FILE..."
    )


# -- holds ---------------------------------------------------------------------------------


@hold_app.command("place")
def hold_place(
    data_dir: DataDir,
    reference: Annotated[str, typer.Option(help="Preservation request reference.")],
    ip: Annotated[str, typer.Option(help="Address the preservation names.")],
    start: Annotated[str, typer.Option(help="Window start, ISO 8601 with zone.")],
    end: Annotated[str, typer.Option(help="Window end, ISO 8601 with zone.")],
    port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    kind: Annotated[
        list[str] | None, typer.Option(help="Kinds to hold (default all); repeat.")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Acting user on a node.")] = None,
    actor: Annotated[str, typer.Option(help="Who acts, on a bare store.")] = "system:cli",
    as_json: AsJson = False,
) -> None:
    """Copy matching records into a sealed hold set; prints its SHA-256."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.holds import HoldCriteria
    from trailguard.traffic.holds import place_hold as place

    criteria = HoldCriteria(
        ip=ip, port=port, start=parse_instant(start, "--start"), end=parse_instant(end, "--end")
    )
    if kind:
        criteria = replace(criteria, kinds=tuple(kind))
    ctx = _open(data_dir)
    try:
        if ctx.node is not None:
            # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
            from trailguard.traffic import service

            hold = service.place_hold(ctx.node, ctx.principal(user), reference, criteria)
        else:
            hold = place(ctx.store, reference, criteria, actor, default_clock().now())
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(hold.to_json(), indent=1))
        return
    console.print(
        f"[green]hold {hold.hold_id}[/green] for {hold.reference}: {hold.records} "
        f"records sealed, SHA-256 {hold.sha256}"
    )


@hold_app.command("list")
def hold_list(data_dir: DataDir, as_json: AsJson = False) -> None:
    """Holds with their status, record counts and digests."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.holds import list_holds

    ctx = _open(data_dir)
    try:
        holds = list_holds(ctx.store)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps([h.to_json() for h in holds], indent=1))
        return
    # ids and digests are what other commands take: shown whole, folded rather than cut
    table = Table(
        Column("hold", overflow="fold", min_width=12),
        Column("reference", overflow="fold"),
        "status",
        "records",
        Column("placed", overflow="fold"),
        Column("by", overflow="fold"),
        Column("sha256", overflow="fold", min_width=16),
    )
    for h in holds:
        table.add_row(
            h.hold_id,
            h.reference,
            h.status,
            str(h.records),
            h.placed_at,
            h.placed_by,
            h.sha256,
        )
    console.print(table)


@hold_app.command("release")
def hold_release(
    data_dir: DataDir,
    hold_id: Annotated[str, typer.Option("--hold-id", help="The hold to release.")],
    reason: Annotated[str, typer.Option(help="Why (e.g. preservation expired).")] = "",
    user: Annotated[
        str | None, typer.Option(help="Acting user on a node (provider_liaison or admin).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who acts, on a bare store.")] = "system:cli",
) -> None:
    """Release a hold (authorised users only on a node); its sealed copy is deleted."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.holds import release_hold as release

    ctx = _open(data_dir)
    try:
        if ctx.node is not None:
            # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
            from trailguard.traffic import service

            hold = service.release_hold(ctx.node, ctx.principal(user), hold_id, reason)
        else:
            hold = release(ctx.store, hold_id, actor, default_clock().now(), reason)
    except TrailguardError as exc:
        raise fail(exc, min_problems=2) from exc
    finally:
        ctx.close()
    console.print(f"released {hold.hold_id} ({hold.reference})")
