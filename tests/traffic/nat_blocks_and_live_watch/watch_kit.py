"""Shared pieces of the live watch tests (a unique module name, unlike conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from trailguard.core.clock import FixedClock
from trailguard.network import DeliveryReport
from trailguard.network.transport import HttpTransport
from trailguard.node import Node

START = datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)


@dataclass
class WatchNet:
    poc: Node  # the requester: the Dutch 24/7 point of contact
    isp: Node  # the provider
    rogue: Node  # a node in the directory that is not authorised to order watches
    clock: FixedClock
    transport: HttpTransport

    def deliver(self, node: Node) -> DeliveryReport:
        from trailguard.network import deliver_pending

        return deliver_pending(node, transport=self.transport)
