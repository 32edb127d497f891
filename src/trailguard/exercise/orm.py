"""Tables of the exercise capability: one row per exercise session on the trainee's node, with
its scenario (the answer key, shown only at the debrief), the trainee's conclusion and score."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trailguard.core.db import Base, UTCDateTime


class ExerciseSessionRow(Base):
    __tablename__ = "exercise_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    difficulty: Mapped[str] = mapped_column(String(10))
    network: Mapped[str] = mapped_column(String(80))
    trainee: Mapped[str] = mapped_column(String(200), index=True)  # username
    scenario: Mapped[str] = mapped_column(Text)  # JSON of the Scenario (answer key included)
    state: Mapped[str] = mapped_column(String(20), index=True)  # running | concluded | scored
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())  # simulated start
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    conclusion: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    score: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the Score
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
