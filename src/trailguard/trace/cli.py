"""``trailguard trace``: read a message's Received: chain, attribute an address, import a
prefix-to-AS table. Two shapes here are contracts (see the issue): ``headers --json`` prints
``{"hops": [...]}`` and ``attribute --json`` prints ``ip``, ``special``, ``country``,
``sources`` (and more)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trailguard.accounts import get_user, principal_of
from trailguard.core.errors import TrailguardError
from trailguard.registry import open_node
from trailguard.trace import (
    FLAG_TEXT,
    attribute_on_node,
    import_prefix_table,
    read_message,
    service,
)
from trailguard.trace.pictures import graph_svg

app = typer.Typer(
    help="The trace: e-mail headers, address attribution, prefix tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def headers(
    file: Annotated[Path, typer.Argument(help="An RFC 5322 message (.eml or raw).")],
    as_json: AsJson = False,
) -> None:
    """The Received: chain as hops, from the sender's side to the recipient's."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        hops = read_message(data)
    except TrailguardError as exc:
        raise _fail(f"{file}: {exc}") from exc
    if as_json:
        typer.echo(json.dumps({"hops": [hop.to_json() for hop in hops]}, indent=2))
        return
    table = Table(title=f"{len(hops)} hop(s), sender's side first")
    for column in ("#", "from", "address", "by", "at (UTC)", "delay s", "flags"):
        table.add_column(column)
    for hop in hops:
        table.add_row(
            str(hop.index),
            hop.from_host or "-",
            hop.from_ip or "-",
            hop.by_host or "-",
            hop.to_json()["at"] or "-",
            "-" if hop.delay_s is None else f"{hop.delay_s:g}",
            ", ".join(hop.flags) or "",
        )
    console.print(table)
    for flag in sorted({flag for hop in hops for flag in hop.flags}):
        console.print(f"[yellow]{flag}[/yellow]: {FLAG_TEXT[flag]}")


@app.command()
def attribute(
    ip: Annotated[str, typer.Argument(help="An IPv4 or IPv6 address.")],
    at: Annotated[
        str | None, typer.Option("--at", help="When it was seen (ISO 8601 with a zone).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="A node's data dir: adds its directory and prefix table."),
    ] = None,
    rdap: Annotated[
        bool, typer.Option("--rdap", help="Also ask RDAP (off by default; audited).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Special range, provider (directory), country (iptocc) and AS of an address."""
    instant = None
    if at is not None:
        try:
            instant = datetime.fromisoformat(at.strip())
        except ValueError:
            raise _fail(f"--at {at!r} is not ISO 8601 (e.g. 2026-11-20T08:14:07Z)") from None
        if instant.tzinfo is None:
            raise _fail(f"--at {at!r} has no zone; add Z or an offset like +01:00")
    node = None
    try:
        if data_dir is not None:
            node = open_node(data_dir)
        answer = attribute_on_node(node, ip, instant, rdap=rdap)
    except TrailguardError as exc:
        raise _fail(str(exc)) from exc
    finally:
        if node is not None:
            node.close()
    if as_json:
        typer.echo(json.dumps(answer.to_json(), indent=2))
        return
    data = answer.to_json()
    console.print(f"[bold]{data['ip']}[/bold] (IPv{data['version']})")
    console.print(f"special: {data['special'] or 'none (globally reachable)'}")
    if data["meaning"]:
        console.print(f"  {data['meaning']}")
    console.print(f"country: {data['country'] or 'unknown'}")
    if data["provider"]:
        p = data["provider"]
        console.print(
            f"provider: {p['organisation']} ({p['node_id']}, {p['country']}) {p['prefix']}"
        )
    if data["origin"]:
        o = data["origin"]
        console.print(f"origin: AS{', AS'.join(map(str, o['asns']))} {o['prefix']}")
    for source in data["sources"]:
        console.print(f"source: {source['name']} (as of {source['as_of'] or 'unknown'})")


prefixes_app = typer.Typer(help="The prefix-to-AS/organisation table.", no_args_is_help=True)
app.add_typer(prefixes_app, name="prefixes")


@prefixes_app.command("import")
def prefixes_import(
    file: Annotated[Path, typer.Argument(help="CAIDA pfx2as or CSV prefix,asn[,organisation].")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the table's data (YYYY-MM-DD).")],
    name: Annotated[str | None, typer.Option(help="Name of the source.")] = None,
    actor: Annotated[str, typer.Option(help="Who imports (for the audit log).")] = "system:cli",
) -> None:
    """Import a prefix-to-AS table (all lines or nothing); audited."""
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise _fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from exc
    node = None
    try:
        node = open_node(data_dir)
        table = import_prefix_table(node, text, name=name or file.name, as_of=day, actor=actor)
    except TrailguardError as exc:
        problems = getattr(exc, "problems", None) or []
        raise _fail("\n".join([str(exc), *problems])) from exc
    finally:
        if node is not None:
            node.close()
    console.print(f"imported {len(table.origins)} prefixes from {table.name} (as of {as_of})")


DataDirOption = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
AsUser = Annotated[
    str, typer.Option("--as", help="Act as this user of the node (membership is checked).")
]


def _principal(node: Any, username: str) -> Any:
    with node.db.session() as session:
        return principal_of(get_user(session, username))


@app.command("list")
def list_traces(data_dir: DataDirOption, username: AsUser, as_json: AsJson = False) -> None:
    """Open traces of your investigations, nearest death first."""
    node = None
    try:
        node = open_node(data_dir)
        views = service.open_traces(node, _principal(node, username))
    except TrailguardError as exc:
        raise _fail(str(exc)) from exc
    finally:
        if node is not None:
            node.close()
    if as_json:
        typer.echo(json.dumps([v.to_json() for v in views], indent=2))
        return
    table = Table("the trail dies (UTC)", "trace", "hops", "next action")
    for v in views:
        last = v.hops[-1] if v.hops else {}
        table.add_row(
            v.dies_at.isoformat() if v.dies_at else "unknown",
            v.label,
            str(len(v.hops)),
            str(last.get("next_action", "")),
        )
    console.print(table)


@app.command()
def show(
    trace_id: Annotated[str, typer.Argument(help="The trace id.")],
    data_dir: DataDirOption,
    username: AsUser,
    export: Annotated[
        str, typer.Option("--export", help="trace (default), graph, case (CASE/UCO), svg")
    ] = "trace",
    as_json: AsJson = False,
) -> None:
    """One trace: its hops, or an export of its graph."""
    if export not in ("trace", "graph", "case", "svg"):
        raise _fail(f"--export {export!r}: use trace, graph, case or svg")
    node = None
    try:
        node = open_node(data_dir)
        principal = _principal(node, username)
        if export == "graph":
            typer.echo(json.dumps(service.graph_of(node, principal, trace_id), indent=2))
            return
        if export == "case":
            typer.echo(json.dumps(service.case_of(node, principal, trace_id), indent=2))
            return
        if export == "svg":
            typer.echo(graph_svg(service.graph_of(node, principal, trace_id)))
            return
        view = service.get_trace(node, principal, trace_id)
    except TrailguardError as exc:
        raise _fail(str(exc)) from exc
    finally:
        if node is not None:
            node.close()
    if as_json:
        typer.echo(json.dumps(view.to_json(), indent=2))
        return
    console.print(f"[bold]{view.label}[/bold] · {view.state}")
    for hop in view.to_json()["hops"]:
        console.print(
            f"  hop {hop['seq']}: {hop['ip']}:{hop['port']} at {hop['at']} · {hop['state']} · "
            f"{hop['next_action']}"
        )
