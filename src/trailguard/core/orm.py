"""Tables of the shared kernel."""

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base


class NodeMeta(Base):
    """Facts about this installation (schema notes, creation time); one row per key."""

    __tablename__ = "node_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
