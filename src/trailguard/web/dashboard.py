"""What the dashboard shows: every clock that matters, nearest first.

Each capability contributes items through provider functions it declares (``dashboard`` in its
``capability.py``); ``create_app`` keeps them in ``app.state.dashboard_providers``, so the
dashboard needs no knowledge of requests, the exchange or traffic holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from trailguard.accounts import Principal
from trailguard.node import Node


@dataclass(frozen=True)
class DashboardItem:
    kind: str  # "request", "message", "hold", ...
    title: str
    url: str
    state: str
    deadline: datetime | None
    deadline_label: str  # what the deadline is: "acknowledgement due", "preservation expires", ...
    counterpart: str = ""

    def remaining_seconds(self, now: datetime) -> float | None:
        if self.deadline is None:
            return None
        return (self.deadline - now).total_seconds()


DashboardProvider = Callable[[Node, Principal, datetime], list[DashboardItem]]


def dashboard_items(
    providers: Sequence[DashboardProvider], node: Node, principal: Principal, now: datetime
) -> list[DashboardItem]:
    items: list[DashboardItem] = []
    for provider in providers:
        items.extend(provider(node, principal, now))
    far_future = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(items, key=lambda item: item.deadline or far_future)
