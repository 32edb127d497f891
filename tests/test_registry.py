"""The capability registry is the one door: every declaration resolves, and the app, the CLI,
the database and the templates take exactly what is declared."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi import APIRouter

from trailguard.app import install_handlers
from trailguard.cli import _ensure_registered
from trailguard.cli import app as cli_app
from trailguard.core.capability import (
    CORE,
    Capability,
    CliGroup,
    MessageHandler,
    check_unique,
    load,
)
from trailguard.core.db import version_locations
from trailguard.network.exchange import registered_types
from trailguard.registry import CAPABILITIES

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "trailguard"


def test_every_reference_resolves_to_the_right_kind_of_object() -> None:
    for cap in CAPABILITIES:
        for ref in (*cap.api_routers, *cap.page_routers):
            assert isinstance(load(ref), APIRouter), ref
        if cap.cli is not None:
            assert isinstance(load(cap.cli.app), typer.Typer), cap.cli.app
        for spec in cap.handlers:
            assert callable(load(spec.handler)), spec.handler
        for ref in cap.dashboard:
            assert callable(load(ref)), ref
        for folder in (cap.migrations, cap.templates):
            assert folder is None or folder.is_dir(), folder


def test_every_capability_folder_with_tables_or_pages_is_registered() -> None:
    """A folder that owns migrations, templates or a capability.py but is missing from the
    registry would silently lose its tables or pages."""
    declared = {cap.name for cap in CAPABILITIES} | {CORE.name}
    for child in PACKAGE.iterdir():
        owns = [
            (child / "migrations").is_dir(),
            (child / "capability.py").is_file(),
            (child / "templates").is_dir() and child.name != "web",
        ]
        if any(owns):
            assert child.name in declared, f"{child.name} is not in trailguard.registry"


def test_database_takes_the_migration_folders_from_the_caller() -> None:
    assert version_locations([]) == [str(CORE.migrations)]
    every = version_locations(CAPABILITIES)
    assert every[0] == str(CORE.migrations)
    assert {Path(p).parent.parent.name for p in every[1:]} == {
        cap.name for cap in CAPABILITIES if cap.migrations is not None
    }


def test_the_app_registers_every_declared_handler() -> None:
    declared = {h.message_type: h.requires_ack for cap in CAPABILITIES for h in cap.handlers}
    assert declared, "no capability declares a handler"
    install_handlers(CAPABILITIES)
    registered = registered_types()
    for message_type, requires_ack in declared.items():
        assert registered.get(message_type) == requires_ack, message_type


def test_the_cli_has_one_group_per_declared_cli() -> None:
    _ensure_registered()
    names = {group.name for group in cli_app.registered_groups}
    assert names == {cap.cli.name for cap in CAPABILITIES if cap.cli is not None}


def test_declarations_refuse_malformed_references_and_duplicates() -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        Capability(name="x", api_routers=("trailguard.x.api.router",))
    with pytest.raises(ValueError, match="module:attribute"):
        load("trailguard.x")
    one = Capability(name="x", handlers=(MessageHandler("x.ping", "m:f"),))
    two = Capability(name="y", handlers=(MessageHandler("x.ping", "m:g"),))
    with pytest.raises(ValueError, match=r"message type 'x\.ping'"):
        check_unique([one, two])
    with pytest.raises(ValueError, match="CLI group or command 'z'"):
        check_unique(
            [
                Capability("x", cli=CliGroup("z", "m:a", "")),
                Capability("y", cli=CliGroup("z", "m:b", "")),
            ]
        )
    # a top-level command may not take a group's name either
    with pytest.raises(ValueError, match="CLI group or command 'z'"):
        check_unique(
            [
                Capability("x", cli=CliGroup("z", "m:a", "")),
                Capability("y", commands=(("z", "m:c"),)),
            ]
        )
    with pytest.raises(ValueError, match="module:attribute"):
        Capability(name="x", commands=(("verify", "trailguard.x.cli.verify"),))
