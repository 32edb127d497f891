"""Node-database tables of the traffic capability (the traffic records themselves live in the
Parquet store, not here): the live watch's orders, hits and authorised requesters, and the
deterministic NAT configuration history."""

from trailguard.traffic.detnat.orm import DetNatVersionRow  # noqa: F401
from trailguard.traffic.watch.orm import (  # noqa: F401
    WatchHitRow,
    WatchOrderRow,
    WatchReceivedRow,
    WatchRequesterRow,
)
