"""Table of the deterministic NAT (RFC 7422) configuration history of a provider node.

One row per configuration version of one NAT plan (a CGN device or NAT pool, named by the
provider), in force from ``valid_from`` until the next version of the same plan. Rows are only
ever added: a new version never overwrites an old one (same plan and ``valid_from`` is refused),
so the answer for a past instant can always be recomputed from the configuration that was in
force then. Who recorded each version, and when, is kept with it and in the audit log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class DetNatVersionRow(Base):
    __tablename__ = "traffic_detnat_versions"
    __table_args__ = (UniqueConstraint("provider", "plan", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(63), index=True)
    plan: Mapped[str] = mapped_column(String(63))  # the CGN or NAT pool this history is of
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    inside_prefix: Mapped[str] = mapped_column(String(64))
    outside_pool: Mapped[str] = mapped_column(Text)  # JSON list of prefixes, ranges, addresses
    ports_per_subscriber: Mapped[int] = mapped_column(Integer)
    first_port: Mapped[int] = mapped_column(Integer)
    last_port: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(20))
    exclude_boundary: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64))  # digest of the canonical configuration
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
