"""Handling codes and Traffic Light Protocol labels: how a receiving organisation may use and
share what it receives. Requests, evidence items and investigations carry them, so they live
in the shared kernel."""

from __future__ import annotations

from enum import StrEnum


class HandlingCode(StrEnum):
    """SIENA-like handling codes (Europol): restrictions on use and onward sharing."""

    H0 = "H0"  # for crime-fighting purposes only
    H1 = "H1"  # not to be used in judicial proceedings without the provider's permission
    H2 = "H2"  # not to be shared onward without the provider's permission
    H3 = "H3"  # other restrictions, stated in the conditions


class Tlp(StrEnum):
    """FIRST Traffic Light Protocol 2.0 labels (https://www.first.org/tlp/)."""

    CLEAR = "TLP:CLEAR"
    GREEN = "TLP:GREEN"
    AMBER = "TLP:AMBER"
    AMBER_STRICT = "TLP:AMBER+STRICT"
    RED = "TLP:RED"
