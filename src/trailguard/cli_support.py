"""What every capability's CLI shares: the error exit (``error: ...`` and the problems, on
stderr, exit code 2) and a node opened with the registered capabilities for one command
(an exercise node announces itself with an EXERCISE line on stderr, issue 17, so that the
command's own output, JSON included, stays as it is: ``announce_for_args`` runs before every
command, from the root command's callback)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from trailguard.core.config import load_config
from trailguard.core.errors import TrailguardError
from trailguard.core.exercise_marking import exercise_marking
from trailguard.node import Node
from trailguard.registry import open_node

err_console = Console(stderr=True)


def fail(exc: Exception, code: int = 2, *, min_problems: int = 1) -> typer.Exit:
    """Print ``error: <exc>`` and, when there are at least ``min_problems``, each of its
    ``problems`` on stderr; returns the exit to raise (``raise fail(exc) from exc``)."""
    err_console.print(f"[red]error:[/red] {exc}")
    problems = list(getattr(exc, "problems", None) or [])
    if len(problems) >= min_problems:
        for problem in problems:
            err_console.print(f"  - {problem}")
    return typer.Exit(code)


def announce_exercise(node: Node) -> None:
    """One line on stderr when ``node`` is an exercise node; nothing for a real node."""
    marking = exercise_marking(node.config)
    if marking is not None:
        err_console.print(f"[bold white on red] {marking} [/bold white on red]", highlight=False)


def data_dirs_in(args: Sequence[str]) -> list[Path]:
    """The ``--data-dir`` values among a command line's arguments (``--data-dir X`` and
    ``--data-dir=X``)."""
    found = []
    for index, arg in enumerate(args):
        if arg == "--data-dir" and index + 1 < len(args):
            found.append(Path(args[index + 1]))
        elif arg.startswith("--data-dir="):
            found.append(Path(arg.split("=", 1)[1]))
    return found


def announce_for_args(args: Sequence[str]) -> None:
    """Before any command runs: the EXERCISE line on stderr for each exercise node the
    command line names. A directory that holds no node, or an invalid one, is left to the
    command itself to refuse."""
    for data_dir in data_dirs_in(args):
        try:
            config = load_config(data_dir)
        except (TrailguardError, OSError):
            continue
        marking = exercise_marking(config)
        if marking is not None:
            err_console.print(
                f"[bold white on red] {marking} [/bold white on red]", highlight=False
            )


@contextmanager
def node_for(
    data_dir: Path, *, errors: tuple[type[Exception], ...] = (TrailguardError,)
) -> Iterator[Node]:
    """The node in ``data_dir`` for one command: closed afterwards; an error in opening it or
    one of ``errors`` raised inside the block ends the command through ``fail``."""
    try:
        node = open_node(data_dir)
    except TrailguardError as exc:
        raise fail(exc) from exc
    try:
        yield node
    except errors as exc:
        raise fail(exc) from exc
    finally:
        node.close()
