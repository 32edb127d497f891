"""Who answers for an address: special-purpose ranges, provider prefixes, prefix-to-AS tables.

Every answer carries its sources, each with a name and an as-of date, so that a duty officer
can tell how old the knowledge behind a hop is.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from trailguard.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SPECIAL_CATEGORIES = (
    "private",
    "shared",
    "documentation",
    "loopback",
    "link-local",
    "multicast",
    "reserved",
)


@dataclass(frozen=True)
class SpecialBlock:
    network: Network
    name: str
    rfc: str
    globally_reachable: bool | None  # None where the registry says N/A
    category: str | None  # None: traced as a public address


@dataclass(frozen=True)
class SpecialRegistry:
    name: str
    as_of: date
    blocks: tuple[SpecialBlock, ...]
    meanings: dict[str, str]

    def match(self, ip: IPAddress) -> SpecialBlock | None:
        """The most specific block that contains ``ip`` (None: an ordinary address)."""
        best: SpecialBlock | None = None
        for block in self.blocks:
            inside = block.network.version == ip.version and ip in block.network
            if inside and (best is None or block.network.prefixlen > best.network.prefixlen):
                best = block
        return best


def parse_ip(text: str) -> IPAddress:
    try:
        ip = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise ValidationFailed(f"{text!r} is not an IPv4 or IPv6 address", ["ip"]) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip  # kept as written; the registry marks ::ffff:0:0/96 itself
    return ip


def _load_registry(raw: dict[str, Any]) -> SpecialRegistry:
    blocks = []
    for item in raw["blocks"]:
        category = item.get("category")
        if category is not None and category not in SPECIAL_CATEGORIES:
            raise ValueError(f"special_purpose.yaml: unknown category {category!r}")
        reach = item.get("global")
        blocks.append(
            SpecialBlock(
                network=ipaddress.ip_network(str(item["block"]), strict=True),
                name=str(item["name"]),
                rfc=str(item["rfc"]),
                globally_reachable=reach if isinstance(reach, bool) else None,
                category=category,
            )
        )
    return SpecialRegistry(
        name=str(raw["registry"]),
        as_of=date.fromisoformat(str(raw["as_of"])),
        blocks=tuple(blocks),
        meanings={str(k): str(v) for k, v in raw["meanings"].items()},
    )


@lru_cache(maxsize=1)
def special_registry() -> SpecialRegistry:
    text = resources.files("trailguard.trace").joinpath("data/special_purpose.yaml").read_text()
    return _load_registry(yaml.safe_load(text))


# --- the user-imported prefix-to-AS/organisation table -------------------------------------


@dataclass(frozen=True)
class PrefixOrigin:
    network: Network
    asns: tuple[int, ...]
    organisation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": str(self.network),
            "asns": list(self.asns),
            "organisation": self.organisation,
        }


@dataclass(frozen=True)
class PrefixTable:
    """A prefix-to-AS table: longest prefix wins. ``name`` and ``as_of`` describe its source."""

    name: str
    as_of: date
    origins: tuple[PrefixOrigin, ...] = field(default=())

    def match(self, ip: IPAddress) -> PrefixOrigin | None:
        best: PrefixOrigin | None = None
        for origin in self.origins:
            inside = origin.network.version == ip.version and ip in origin.network
            if inside and (best is None or origin.network.prefixlen > best.network.prefixlen):
                best = origin
        return best

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "trailguard.prefix-table.v1",
            "name": self.name,
            "as_of": self.as_of.isoformat(),
            "origins": [origin.to_json() for origin in self.origins],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PrefixTable:
        if raw.get("format") != "trailguard.prefix-table.v1":
            raise ValidationFailed("not a trailguard.prefix-table.v1 document")
        return cls(
            name=str(raw["name"]),
            as_of=date.fromisoformat(str(raw["as_of"])),
            origins=tuple(
                PrefixOrigin(
                    network=ipaddress.ip_network(item["prefix"], strict=True),
                    asns=tuple(int(a) for a in item["asns"]),
                    organisation=item.get("organisation"),
                )
                for item in raw["origins"]
            ),
        )


def _asns(text: str, where: str) -> tuple[int, ...]:
    # CAIDA pfx2as: multi-origin ASes joined by "_", AS sets by ","; an "AS" prefix is allowed
    # in the CSV form.
    parts = [p for chunk in text.strip().split("_") for p in chunk.split(",")]
    asns = []
    for part in parts:
        digits = part.strip().upper().removeprefix("AS")
        if not digits.isdigit() or not 0 < int(digits) < 2**32:
            raise ValidationFailed(f"{where}: {text!r} is not an AS number (e.g. 64496 or AS64496)")
        asns.append(int(digits))
    return tuple(asns)


def parse_prefix_table(text: str, *, name: str, as_of: date) -> PrefixTable:
    """Read a prefix-to-AS table in one of two documented formats (detected per file):

    - CAIDA Routeviews prefix-to-AS (``pfx2as``): ``prefix<TAB>length<TAB>AS`` per line, the
      AS field a number, ``_``-joined multi-origin ASes or ``,``-joined AS sets
      (https://www.caida.org/catalog/datasets/routeviews-prefix2as/);
    - CSV with a header ``prefix,asn[,organisation]`` (prefix in CIDR form).

    Every line must parse: a bad line is an error naming it, and nothing is imported.
    """
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValidationFailed("the prefix table is empty")
    origins: list[PrefixOrigin] = []
    problems: list[str] = []
    header = [cell.strip().lower() for cell in lines[0].split(",")]
    if header[:2] == ["prefix", "asn"]:
        reader = csv.reader(io.StringIO("\n".join(lines[1:])))
        for number, row in enumerate(reader, start=2):
            where = f"line {number}"
            try:
                if len(row) < 2:
                    raise ValidationFailed(f"{where}: expected prefix,asn[,organisation]")
                network = ipaddress.ip_network(row[0].strip(), strict=True)
                organisation = row[2].strip() if len(row) > 2 and row[2].strip() else None
                origins.append(PrefixOrigin(network, _asns(row[1], where), organisation))
            except ValidationFailed as exc:
                problems.append(str(exc))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    else:
        for number, line in enumerate(lines, start=1):
            where = f"line {number}"
            cells = line.split("\t") if "\t" in line else line.split()
            try:
                if len(cells) != 3:
                    raise ValidationFailed(
                        f"{where}: expected 'prefix<TAB>length<TAB>AS' (CAIDA pfx2as) "
                        "or a CSV with header prefix,asn[,organisation]"
                    )
                network = ipaddress.ip_network(f"{cells[0]}/{cells[1]}", strict=True)
                origins.append(PrefixOrigin(network, _asns(cells[2], where)))
            except ValidationFailed as exc:
                problems.append(str(exc))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise ValidationFailed(
            f"the prefix table has {len(problems)} bad line(s); nothing imported", problems[:20]
        )
    return PrefixTable(name=name, as_of=as_of, origins=tuple(origins))


# --- the answer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderPrefix:
    """A provider's prefix from the signed directory."""

    node_id: str
    organisation: str
    country: str
    network: Network


@dataclass(frozen=True)
class Source:
    name: str
    as_of: str | None  # ISO date or instant

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "as_of": self.as_of}


@dataclass(frozen=True)
class Attribution:
    ip: str
    version: int
    special: str | None
    special_block: SpecialBlock | None
    meaning: str | None
    country: str | None
    provider: ProviderPrefix | None
    origin: PrefixOrigin | None
    sources: tuple[Source, ...]
    at: str | None = None
    rdap: dict[str, Any] | None = None  # only when an RDAP look-up was asked for

    @property
    def traced_as_public(self) -> bool:
        """Documentation addresses are flagged but traced as public ones."""
        return self.special in (None, "documentation")

    def to_json(self) -> dict[str, Any]:
        block = self.special_block
        return {
            "ip": self.ip,
            "version": self.version,
            "at": self.at,
            "special": self.special,
            "special_block": (
                {
                    "block": str(block.network),
                    "name": block.name,
                    "rfc": block.rfc,
                    "globally_reachable": block.globally_reachable,
                }
                if block
                else None
            ),
            "meaning": self.meaning,
            "traced_as_public": self.traced_as_public,
            "country": self.country,
            "provider": (
                {
                    "node_id": self.provider.node_id,
                    "organisation": self.provider.organisation,
                    "country": self.provider.country,
                    "prefix": str(self.provider.network),
                }
                if self.provider
                else None
            ),
            "origin": self.origin.to_json() if self.origin else None,
            "sources": [source.to_json() for source in self.sources],
            "rdap": self.rdap,
        }


def most_specific_provider(ip: IPAddress, prefixes: list[ProviderPrefix]) -> ProviderPrefix | None:
    """Longest prefix match over the directory's provider prefixes."""
    best: ProviderPrefix | None = None
    for candidate in prefixes:
        network = candidate.network
        inside = network.version == ip.version and ip in network
        if inside and (best is None or network.prefixlen > best.network.prefixlen):
            best = candidate
    return best


def attribute(
    text: str,
    *,
    country: str | None,
    country_source: Source,
    provider_prefixes: list[ProviderPrefix] | None = None,
    directory_source: Source | None = None,
    prefix_table: PrefixTable | None = None,
    at: str | None = None,
) -> Attribution:
    """Everything known about one address, with every source consulted."""
    ip = parse_ip(text)
    registry = special_registry()
    block = registry.match(ip)
    special = block.category if block else None
    sources = [Source(registry.name, registry.as_of.isoformat()), country_source]
    provider = None
    if provider_prefixes is not None and directory_source is not None:
        sources.append(directory_source)
        if special in (None, "documentation"):
            provider = most_specific_provider(ip, provider_prefixes)
    origin = None
    if prefix_table is not None:
        sources.append(Source(prefix_table.name, prefix_table.as_of.isoformat()))
        origin = prefix_table.match(ip)
    return Attribution(
        ip=str(ip),
        version=ip.version,
        special=special,
        special_block=block,
        meaning=registry.meanings.get(special) if special else None,
        country=country if special in (None, "documentation") else None,
        provider=provider,
        origin=origin,
        sources=tuple(sources),
        at=at,
    )
