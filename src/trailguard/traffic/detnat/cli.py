"""``trailguard traffic detnat``: the deterministic NAT (RFC 7422) configuration history of a
provider node, and lookups that use it.

    trailguard traffic detnat add --data-dir DIR --user U --provider rio --plan cgn-1 \\
        --valid-from 2026-11-01T00:00:00Z --inside-prefix 100.64.0.0/16 \\
        --outside-pool 203.0.113.0/24 --ports-per-subscriber 2016 [--algorithm sequential]
    trailguard traffic detnat list --data-dir DIR [--provider rio] [--plan cgn-1] [--json]
    trailguard traffic detnat lookup --data-dir DIR --user U --ip IP --port N --at T [--json]

The history lives in the node's database (every addition audited), so ``--data-dir`` must be a
node's data directory. ``lookup`` answers like ``traffic lookup --user``: logged sessions and
blocks (dynamic overflow blocks of a deterministic CGN) and the computed answers, each match
with its ``basis``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trailguard.accounts import get_user, principal_of
from trailguard.cli_support import fail
from trailguard.core.errors import TrailguardError
from trailguard.registry import open_node
from trailguard.traffic.cli_parsing import parse_duration, parse_instant

app = typer.Typer(
    help="Deterministic NAT (RFC 7422): configuration history and lookups.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="A node's data directory (trailguard init).")
]
User = Annotated[str, typer.Option(help="Acting user (provider_liaison or admin; audited).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _node(data_dir: Path) -> Any:
    if not (data_dir / "node.toml").exists():
        raise fail(
            ValueError(
                f"{data_dir} is not a node's data directory: the deterministic NAT history is"
                " kept (and audited) in a node's database; run `trailguard init` first"
            )
        )
    try:
        return open_node(data_dir)
    except TrailguardError as exc:
        raise fail(exc) from exc


def _principal(node: Any, user: str) -> Any:
    with node.db.session() as session:
        return principal_of(get_user(session, user))


@app.command()
def add(
    data_dir: DataDir,
    user: User,
    provider: Annotated[str, typer.Option(help="Provider id (as in `traffic ingest`).")],
    plan: Annotated[str, typer.Option(help="Name of the CGN or NAT pool, e.g. cgn-1.")],
    valid_from: Annotated[str, typer.Option(help="In force from (ISO 8601 with zone).")],
    inside_prefix: Annotated[str, typer.Option(help="Subscribers' inside prefix.")],
    outside_pool: Annotated[
        list[str], typer.Option(help="Outside prefix, a-b range or address; repeat for more.")
    ],
    ports_per_subscriber: Annotated[int, typer.Option(help="Ports in each fixed range.", min=1)],
    first_port: Annotated[int, typer.Option(min=0, max=65535)] = 1024,
    last_port: Annotated[int, typer.Option(min=0, max=65535)] = 65535,
    algorithm: Annotated[
        str, typer.Option(help="sequential, juniper or round-robin (see detnat.py).")
    ] = "sequential",
    exclude_boundary: Annotated[
        bool, typer.Option(help="Skip the network and broadcast addresses of the prefix.")
    ] = False,
    note: Annotated[str, typer.Option(help="Why / change reference.")] = "",
    as_json: AsJson = False,
) -> None:
    """Record a new configuration version (history is only added to, never rewritten)."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.detnat.service import add_version

    instant = parse_instant(valid_from, "--valid-from")
    node = _node(data_dir)
    try:
        version = add_version(
            node,
            _principal(node, user),
            provider=provider,
            plan=plan,
            valid_from=instant,
            inside_prefix=inside_prefix,
            outside_pool=outside_pool,
            ports_per_subscriber=ports_per_subscriber,
            first_port=first_port,
            last_port=last_port,
            algorithm=algorithm,
            exclude_boundary=exclude_boundary,
            note=note,
        )
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    if as_json:
        typer.echo(json.dumps(version.to_json(), indent=1))
        return
    v = version.to_json()
    console.print(
        f"recorded {v['provider']}/{v['plan']} version {v['id']} valid from {v['valid_from']}:"
        f" {v['inside_prefix']} -> {', '.join(v['outside_pool'])}, {v['ports_per_subscriber']}"
        f" ports each ({v['algorithm']}), sha256 {v['sha256'][:16]}..."
    )


@app.command("list")
def list_(
    data_dir: DataDir,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
    plan: Annotated[str | None, typer.Option(help="Only this plan.")] = None,
    as_json: AsJson = False,
) -> None:
    """The stored configuration history, oldest version first per plan."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic.detnat.service import list_versions

    node = _node(data_dir)
    try:
        versions = list_versions(node, provider, plan)
    finally:
        node.close()
    if as_json:
        typer.echo(json.dumps([v.to_json() for v in versions], indent=1))
        return
    if not versions:
        console.print("no deterministic NAT configuration recorded")
        return
    table = Table("provider/plan", "valid from", "inside", "outside", "ports", "algorithm",
                  "recorded")  # fmt: skip
    for v in versions:
        j = v.to_json()
        table.add_row(
            f"{j['provider']}/{j['plan']}",
            j["valid_from"],
            j["inside_prefix"],
            ", ".join(j["outside_pool"]),
            f"{j['ports_per_subscriber']} of {j['first_port']}-{j['last_port']}",
            j["algorithm"],
            f"{j['recorded_at']} by {j['recorded_by']}",
        )
    console.print(table)


@app.command()
def lookup(
    data_dir: DataDir,
    user: User,
    ip: Annotated[str, typer.Option(help="Public (outside) address.")],
    port: Annotated[int, typer.Option(help="Public port.", min=0, max=65535)],
    at: Annotated[str, typer.Option(help="Instant, ISO 8601 with zone.")],
    tolerance: Annotated[str, typer.Option(help="Clock tolerance, e.g. 2s.")] = "2s",
    as_json: AsJson = False,
) -> None:
    """Who used IP:PORT at AT: logged sessions and blocks, and the deterministic mapping."""
    # the traffic store stack (NumPy, Arrow, DuckDB) loads on first use
    from trailguard.traffic import service

    instant = parse_instant(at, "--at")
    tol = parse_duration(tolerance, "tolerance")
    node = _node(data_dir)
    try:
        answer = service.lookup(node, _principal(node, user), ip, port, instant, tol)
    except TrailguardError as exc:
        raise fail(exc) from exc
    finally:
        node.close()
    out = answer.to_json()
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    q = out["query"]
    console.print(f"{q['public_ip']} port {q['public_port']} at {q['at']}: {len(out['matches'])}"
                  " match(es)")  # fmt: skip
    for m in out["matches"]:
        basis = m.get("basis", "-")
        block = m["port_block"]
        extra = ""
        if m.get("detnat"):
            d = m["detnat"]
            extra = f"  {d['provider']}/{d['plan']} version {d['version_id']} ({d['algorithm']})"
        console.print(
            f"  #{m['rank'] + 1} [bold]{m['inside_ip']}[/bold] subscriber:"
            f" [bold]{m['subscriber'] or 'unknown'}[/bold]  basis: {basis}"
            + (f"  ports {block[0]}-{block[1]}" if block else "")
            + extra
        )
