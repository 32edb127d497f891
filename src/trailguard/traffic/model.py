"""The contract between the traffic-data parsers and the store.

A parser turns a provider's log file into batches of normalised records (an Arrow table with
``RECORD_SCHEMA``) plus an account of every line it could not use. The store never sees a
vendor format; a parser never sees the store. Adding a format is adding one module in
``trailguard/traffic/parsers/`` that registers a ``Parser``.

Normalisation rules (every parser follows them):
- ``start``/``end`` are UTC instants with microsecond precision; ``source_tz`` keeps what the
  source said about its zone (``+01:00``, ``Z``, an IANA name given with ``--tz``, ...).
  A format without zone or year never guesses: the parser needs ``ParseOptions.tz`` /
  ``ParseOptions.year`` and says which it used in ``ParsedBatch.notes``.
- ``ParseOptions.clock_skew`` (the source clock minus true time) is subtracted from every time.
- Addresses are canonical text (``ipaddress`` compressed form), IPv4 or IPv6.
- A line that cannot be used becomes a ``BadLine`` with its 1-based number and the reason;
  it never stops the parse and is never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Protocol

import pyarrow as pa


class RecordKind(StrEnum):
    NAT = "nat"  # an address translation: inside ip/port <-> public ip/port for a period
    PORT_BLOCK = "port_block"  # CGNAT port-block allocation: public ports [port, port_end]
    FLOW = "flow"  # a connection or flow seen by a firewall, probe or collector
    DHCP = "dhcp"  # an address lease: ip -> MAC/hostname for a period
    RADIUS = "radius"  # an access session: framed ip -> account for a period
    ACCESS = "access"  # a server's log of a client request (web access log)


UTC_US = pa.timestamp("us", tz="UTC")

RECORD_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        # create / teardown / start / stop / interim / lease / request
        pa.field("event", pa.string()),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US),  # null when the source gives only one instant or an open session
        pa.field("source_tz", pa.string()),
        pa.field("protocol", pa.string()),  # tcp / udp / icmp / ... lower case
        pa.field("inside_ip", pa.string()),  # the private side (NAT inside, lease or framed ip)
        pa.field("inside_port", pa.int32()),
        pa.field("public_ip", pa.string()),  # the translated / outside side, or the client seen
        pa.field("public_port", pa.int32()),
        pa.field("public_port_end", pa.int32()),  # port blocks: last port of the block
        pa.field("dst_ip", pa.string()),
        pa.field("dst_port", pa.int32()),
        pa.field("subscriber", pa.string()),  # account / username / client hostname
        pa.field("mac", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("packets", pa.int64()),
        pa.field("session_id", pa.string()),
        pa.field("device", pa.string()),  # the logging host / exporter
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class ParseOptions:
    tz: str | None = None  # IANA zone or fixed offset for sources that do not say
    year: int | None = None  # for syslog stamps without a year
    clock_skew: timedelta = timedelta(0)
    source_name: str | None = None  # the name recorded in source_file (default: the path)
    batch_lines: int = 1_000_000
    column_map: dict[str, str] | None = None  # generic CSV: record column -> CSV header


@dataclass(frozen=True)
class BadLine:
    line_no: int
    reason: str
    text: str  # the line, cut to 200 characters


@dataclass
class ParsedBatch:
    table: pa.Table  # RECORD_SCHEMA
    lines_read: int
    bad_lines: list[BadLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # assumptions made (zone, year), said aloud
    skipped_lines: int = 0  # lines that are valid but carry no traffic record (other message ids)


class FormatError(Exception):
    """The file as a whole cannot be read in this format (wrong format named, cut-short gzip,
    wrong encoding, missing --tz where the format needs it). Nothing of it is stored."""


class Parser(Protocol):
    NAME: ClassVar[str]  # registry key, e.g. "cisco-asa"
    DESCRIPTION: ClassVar[str]
    SOURCE: ClassVar[str]  # the vendor document or RFC followed, with URL
    KINDS: ClassVar[tuple[RecordKind, ...]]

    def detect(self, head: list[str]) -> float:
        """Confidence 0..1 that these first lines are this format."""
        ...

    def parse(self, path: Path, options: ParseOptions) -> Iterator[ParsedBatch]:
        """Parse the file (plain or .gz) in bulk, yielding batches of at most
        ``options.batch_lines`` lines. Raise ``FormatError`` for a file it cannot read at all."""
        ...
