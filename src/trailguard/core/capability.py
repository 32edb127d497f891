"""What a capability declares about itself, once: the one door through which the app, the CLI,
the database and the templates learn that it exists.

Each capability writes a ``capability.py`` holding one ``CAPABILITY = Capability(...)``; the
composition root ``trailguard/registry.py`` lists them. Everything that would load code (a
router, a Typer app, a handler, a dashboard provider) is named by a ``"module:attribute"``
reference and loaded only when the app or the CLI is built, so a declaration is plain data:
importing it loads nothing of the capability, and ``core`` names no capability.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Ref = str
"""``"package.module:attribute"``, resolved by ``load``."""


def load(ref: Ref) -> Any:
    """The object a ``"module:attribute"`` reference names (the module is imported)."""
    module, colon, attribute = ref.partition(":")
    if not colon or not module or not attribute:
        raise ValueError(f"reference {ref!r} is not 'module:attribute'")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class CliGroup:
    """A ``trailguard <name>`` sub-command group: ``app`` refers to a ``typer.Typer``."""

    name: str
    app: Ref
    help: str


@dataclass(frozen=True)
class MessageHandler:
    """An exchange message type the capability receives: ``handler`` refers to a function
    ``(session, node, ReceivedMessage) -> None`` run inside the inbox transaction;
    ``requires_ack`` starts the acknowledgement clock for every accepted message."""

    message_type: str
    handler: Ref
    requires_ack: bool = False


@dataclass(frozen=True)
class Listener:
    """An in-process event the capability follows (``trailguard.core.events``): ``handler``
    refers to a function ``(session, node, data) -> None`` run in the publisher's
    transaction."""

    event: str
    handler: Ref


@dataclass(frozen=True)
class Capability:
    """One capability, declared in ``trailguard/<name>/capability.py``.

    - ``orm``: module importing every table the capability owns (so ``Base.metadata`` is whole);
    - ``migrations``: its Alembic ``versions`` folder (one branch, ``branch_labels = (name,)``);
    - ``api_routers``: FastAPI routers mounted under ``/api``; ``page_routers``: mounted at ``/``;
    - ``cli``: its ``trailguard <name>`` group; ``commands``: top-level commands
      (``("verify-document", "module:function")``), for the few a person without a node runs;
    - ``handlers``: the exchange message types it receives;
    - ``listeners``: the in-process events of other capabilities it follows;
    - ``dashboard``: functions ``(node, principal, now) -> list[DashboardItem]``;
    - ``case_sections``: what it adds to a case's page, as ``("name", "mod:func")`` with
      ``func(node, principal, case_id) -> list`` (the page's template shows ``name``; the
      capability that owns the page reads them from ``app.state.case_sections``);
    - ``templates``: folder of its page templates (named ``<name>/<page>.html``);
    - ``template_filters``: Jinja filters its templates use (``("kind_label", "mod:func")``).
    """

    name: str
    orm: Ref | None = None
    migrations: Path | None = None
    api_routers: tuple[Ref, ...] = ()
    page_routers: tuple[Ref, ...] = ()
    cli: CliGroup | None = None
    commands: tuple[tuple[str, Ref], ...] = ()
    handlers: tuple[MessageHandler, ...] = ()
    listeners: tuple[Listener, ...] = ()
    dashboard: tuple[Ref, ...] = ()
    case_sections: tuple[tuple[str, Ref], ...] = ()
    templates: Path | None = None
    template_filters: tuple[tuple[str, Ref], ...] = ()

    def __post_init__(self) -> None:
        refs = [*self.api_routers, *self.page_routers, *self.dashboard]
        refs += [ref for _name, ref in self.commands]
        refs += [ref for _name, ref in self.template_filters]
        refs += [ref for _name, ref in self.case_sections]
        refs += [handler.handler for handler in self.handlers]
        refs += [listener.handler for listener in self.listeners]
        if self.cli is not None:
            refs.append(self.cli.app)
        for ref in refs:
            if ref.count(":") != 1:
                raise ValueError(f"capability {self.name}: {ref!r} is not 'module:attribute'")
        if self.orm is not None and ":" in self.orm:
            raise ValueError(f"capability {self.name}: orm {self.orm!r} must be a module name")


def orm_modules(capabilities: Sequence[Capability]) -> list[str]:
    return [cap.orm for cap in capabilities if cap.orm is not None]


def migration_folders(capabilities: Sequence[Capability]) -> list[Path]:
    return [cap.migrations for cap in capabilities if cap.migrations is not None]


def case_sections(capabilities: Sequence[Capability]) -> list[tuple[str, Callable[..., Any]]]:
    return [(name, load(ref)) for cap in capabilities for name, ref in cap.case_sections]


def template_folders(capabilities: Sequence[Capability]) -> list[Path]:
    return [cap.templates for cap in capabilities if cap.templates is not None]


def dashboard_providers(capabilities: Sequence[Capability]) -> list[Callable[..., Any]]:
    return [load(ref) for cap in capabilities for ref in cap.dashboard]


def check_unique(capabilities: Sequence[Capability]) -> None:
    """Refuse two capabilities with one name, CLI group or message type."""
    for what, names in (
        ("capability", [cap.name for cap in capabilities]),
        (
            "CLI group or command",
            [cap.cli.name for cap in capabilities if cap.cli is not None]
            + [name for cap in capabilities for name, _ref in cap.commands],
        ),
        ("message type", [h.message_type for cap in capabilities for h in cap.handlers]),
    ):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"{what} {name!r} is declared twice")
            seen.add(name)


HERE = Path(__file__).resolve().parent

CORE = Capability(
    name="core", orm="trailguard.core.orm", migrations=HERE / "migrations" / "versions"
)
"""The shared kernel's own table (``node_meta``); every database has it."""
