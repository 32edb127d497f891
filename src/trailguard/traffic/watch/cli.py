"""Live watch: command-line entry points (``trailguard traffic watch ...`` once mounted).

trailguard traffic watch authorise --data-dir DIR NODE_ID [--note TEXT]
trailguard traffic watch orders --data-dir DIR
trailguard traffic watch run --data-dir DIR [--host 127.0.0.1] [--syslog-port 5514]
    [--ipfix-port 4739] [--format cisco-asa] [--tz Europe/Amsterdam] [--seconds N]
trailguard traffic watch ingest --data-dir DIR [--format NAME] [--tz ZONE] FILE...
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trailguard.cli_support import node_for
from trailguard.core.clock import isoformat_z
from trailguard.core.errors import TrailguardError
from trailguard.traffic.model import FormatError, ParseOptions
from trailguard.traffic.watch import service

app = typer.Typer(help="Live watch (Art. 33): orders, listeners, file ingest.",
                  no_args_is_help=True)  # fmt: skip
NODE_ERRORS = (TrailguardError, FormatError)  # ended as `error: ...`, exit 2
console = Console()
err_console = Console(stderr=True)
DataDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
ACTOR = "cli:admin"


@app.command("authorise")
def authorise(
    data_dir: DataDir,
    node_id: Annotated[str, typer.Argument(help="The requester node to authorise.")],
    note: Annotated[str, typer.Option(help="Why (the arrangement it rests on).")] = "",
) -> None:
    """Allow a node of the directory to send watch orders to this provider node."""

    with (
        node_for(data_dir, errors=NODE_ERRORS) as node,
        node.db.session() as session,
    ):
        service.authorise_requester(session, node, node_id, actor=ACTOR, note=note)
    console.print(f"{node_id} may send watch orders to this node")


@app.command("orders")
def orders(
    data_dir: DataDir,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
) -> None:
    """The watch orders received, newest first."""

    with (
        node_for(data_dir, errors=NODE_ERRORS) as node,
        node.db.session() as session,
    ):
        rows = [
            {"id": r.id, "order_ref": r.order_ref, "requester": r.requester, "state": r.state,
             "start": isoformat_z(r.start), "end": isoformat_z(r.end),
             "criteria": json.loads(r.criteria), "legal_reference": r.legal_reference,
             "hits": r.hits, "law_decision": r.law_decision,
             "law": json.loads(r.law_answer) if r.law_answer else None}
            for r in service.list_orders(session)
        ]  # fmt: skip
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("id", "order", "from", "state", "start", "end", "watching", "hits", "law")
    for r in rows:
        table.add_row(str(r["id"]), r["order_ref"], r["requester"], r["state"], r["start"],
                      r["end"], ", ".join(r["criteria"]["addresses"]), str(r["hits"]),
                      r["law_decision"] or "not checked")  # fmt: skip
    console.print(table)
    for r in rows:
        law = r["law"] or {}
        for condition in law.get("conditions", []) if r["law_decision"] == "conditional" else []:
            console.print(f"{r['order_ref']}: condition: {escape(condition)}")


def _parser(name: str | None) -> object | None:
    if name is None:
        return None
    # the parsers register on import and compile numba scanners
    from trailguard.traffic.parsers import get_parser

    return get_parser(name)


@app.command("run")
def run(
    data_dir: DataDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    syslog_port: Annotated[int, typer.Option(help="Syslog UDP and TCP port (0: off).")] = 5514,
    ipfix_port: Annotated[int, typer.Option(help="IPFIX/NetFlow UDP port (0: off).")] = 4739,
    fmt: Annotated[str | None, typer.Option("--format", help="Syslog format name.")] = None,
    tz: Annotated[str | None, typer.Option(help="Zone of stamps without one.")] = None,
    seconds: Annotated[float, typer.Option(help="Stop after this long (0: until Ctrl-C).")] = 0,
) -> None:
    """Listen for traffic data and report every hit of the orders in force."""
    # the watch runtime loads NumPy, Arrow and the parsers
    from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings

    with node_for(data_dir, errors=NODE_ERRORS) as node:
        settings = WatchSettings(
            host=host,
            syslog_udp_port=syslog_port or None,
            syslog_tcp_port=syslog_port or None,
            ipfix_port=ipfix_port or None,
            parser=_parser(fmt),  # type: ignore[arg-type]
            tz=tz,
        )
        rt = WatchRuntime(node, settings).start()
        in_force = len(rt.compiled.orders)
        console.print(f"watching on {host}: syslog {syslog_port or 'off'} (UDP+TCP),"
                      f" IPFIX {ipfix_port or 'off'}; {in_force} orders in force")  # fmt: skip
        started = time.monotonic()
        try:
            while not seconds or time.monotonic() - started < seconds:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            rt.stop()
        console.print(json.dumps(rt.stats.snapshot(), sort_keys=True))


@app.command("ingest")
def ingest(
    data_dir: DataDir,
    files: Annotated[list[Path], typer.Argument(help="Log files (plain or gzip).")],
    fmt: Annotated[str | None, typer.Option("--format", help="Format name.")] = None,
    tz: Annotated[str | None, typer.Option(help="Zone of stamps without one.")] = None,
    year: Annotated[int | None, typer.Option(help="Year of stamps without one.")] = None,
) -> None:
    """Match files against the orders in force and report the hits."""
    # the watch runtime loads NumPy, Arrow and the parsers
    from trailguard.traffic.watch.runtime import WatchRuntime, WatchSettings

    with node_for(data_dir, errors=NODE_ERRORS) as node:
        rt = WatchRuntime(node, WatchSettings(syslog_udp_port=None, syslog_tcp_port=None,
                                              ipfix_port=None))  # fmt: skip
        for path in files:
            options = ParseOptions(tz=tz or node.config.timezone, year=year)
            counts = rt.ingest_file(path, _parser(fmt), options)  # type: ignore[arg-type]
            console.print(f"{path}: {counts['records']} records, {counts['bad_lines']} bad lines,"
                          f" {counts['hits']} hits")  # fmt: skip
        rt.flush()
