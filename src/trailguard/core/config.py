"""A node's configuration: ``node.toml`` in its data directory, overridable by environment.

The data directory holds everything a node owns: this file, its keys (``keys/``), its SQLite
database (unless ``TRAILGUARD_DATABASE_URL`` or ``database_url`` names another), and the
provider's traffic store (``traffic/``).
"""

from __future__ import annotations

import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trailguard.core.countries import check_country
from trailguard.core.errors import ValidationFailed

CONFIG_FILE = "node.toml"


class NodeRole(StrEnum):
    """What a node does in the network (configuration, not a person's role)."""

    POC = "poc"  # national 24/7 point of contact (Convention Art. 35)
    CENTRAL_AUTHORITY = "central-authority"  # MLA authority (Art. 27(2))
    AGENCY = "agency"  # investigating agency, prosecutor, court
    PROVIDER = "provider"  # service provider (Art. 1(c)), custodian of traffic data


_NODE_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,62}$")


_EXERCISE_NETWORK = re.compile(r"^exercise-[a-z0-9][a-z0-9-]{2,60}$")
LIVE_NETWORK = "live"  # the network of every real node


def is_network_name(value: object) -> bool:
    """True for 'live' and for a well-formed exercise network id: what an envelope, a
    directory or a directory entry may name as its network."""
    return isinstance(value, str) and (
        value == LIVE_NETWORK or _EXERCISE_NETWORK.fullmatch(value) is not None
    )


class ExerciseSettings(BaseModel):
    """Present only on a training node (issue 17): the node belongs to one exercise network
    and never talks to a node outside it; every page, document and message it makes says
    EXERCISE. A real node has no such table in its ``node.toml``."""

    model_config = ConfigDict(extra="forbid")

    network: str = Field(
        description="The exercise network's id, 'exercise-' then lower-case letters, digits "
        "or dashes (e.g. 'exercise-seed-42-7f3a'); nodes talk only to nodes of the same one."
    )
    seed: int | None = Field(default=None, description="The scenario's seed, when generated.")
    clock_rate: float = Field(
        default=1.0,
        gt=0,
        le=100_000,
        description="Simulated seconds per real second (1440: one simulated day a real minute).",
    )

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        if not _EXERCISE_NETWORK.fullmatch(value):
            raise ValueError(
                f"exercise network {value!r} must be 'exercise-' followed by 3-61 lower-case "
                "letters, digits or dashes"
            )
        return value


class NodeConfig(BaseModel):
    # a misspelt setting is an error naming it, never silently ignored
    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(description="Stable identifier in the directory, e.g. 'us-poc'.")
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2 code")
    roles: list[NodeRole]
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "UTC"
    languages: list[str] = Field(default_factory=lambda: ["en"])
    database_url: str | None = None
    ack_minutes: int = Field(default=30, ge=1, le=24 * 60)
    require_totp: bool = False
    # Login limits (issue 11): failures per account name and per source address within the
    # window; past either, logins from there answer 429 until the window has moved on.
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_source_max_failures: int = Field(default=20, ge=1, le=100_000)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_envelope_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # one POST of several envelopes from one sender (the exchange's batch endpoint)
    max_batch_messages: int = Field(default=200, ge=1, le=10_000)
    max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # refused exchange requests per client address (IPv6: per /64) in a window; beyond, 429
    max_refusals_per_window: int = Field(default=30, ge=1, le=1_000_000)
    refusal_window_seconds: int = Field(default=60, ge=1, le=24 * 3600)
    smtp_url: str | None = None
    # a training node (issue 17); None on every real node
    exercise: ExerciseSettings | None = None

    @property
    def is_exercise(self) -> bool:
        return self.exercise is not None

    @property
    def network_name(self) -> str:
        """'live' for a real node, the exercise network's id for a training node: two nodes
        exchange messages only when these are equal."""
        return self.exercise.network if self.exercise is not None else LIVE_NETWORK

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return check_country(value)

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        if not _NODE_ID.fullmatch(value):
            raise ValueError(
                f"node id {value!r} must be 2-63 lower-case letters, digits, dots or dashes"
            )
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[NodeRole]) -> list[NodeRole]:
        if not value:
            raise ValueError(
                "a node needs at least one role: poc, central-authority, agency, provider"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value


class NodePaths:
    """Where a node keeps its files."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.config = data_dir / CONFIG_FILE
        self.keys = data_dir / "keys"
        self.database = data_dir / "node.db"
        self.traffic = data_dir / "traffic"


def database_url_for(config: NodeConfig, paths: NodePaths) -> str:
    """Environment first, then the config file, then the embedded SQLite file."""
    env = os.environ.get("TRAILGUARD_DATABASE_URL")
    if env:
        return env
    if config.database_url:
        return config.database_url
    return f"sqlite:///{paths.database}"


def load_config(data_dir: Path) -> NodeConfig:
    paths = NodePaths(data_dir)
    if not paths.config.exists():
        raise ValidationFailed(
            f"{data_dir} is not a trailguard data directory (no {CONFIG_FILE}); "
            "create one with `trailguard init`"
        )
    try:
        with paths.config.open("rb") as handle:
            raw: dict[str, Any] = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(
            f"{paths.config} is not valid TOML: {exc}", [f"{paths.config.name}: {exc}"]
        ) from exc
    try:
        return NodeConfig.model_validate(raw)
    except ValidationError as exc:
        problems = config_problems(exc)
        raise ValidationFailed(
            f"{paths.config} is invalid: " + "; ".join(problems), problems
        ) from exc


def config_problems(exc: ValidationError) -> list[str]:
    """One line per field: the field's name in node.toml and why its value is refused."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(file)"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "missing (required)"
        elif err["type"] == "extra_forbidden":
            message = "not a known setting"
        lines.append(f"{field}: {message}")
    return lines


def save_config(data_dir: Path, config: NodeConfig) -> None:
    paths = NodePaths(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    payload = config.model_dump(mode="json", exclude_none=True)
    tmp = paths.config.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(payload), encoding="utf-8")
    tmp.replace(paths.config)
