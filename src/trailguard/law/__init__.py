"""The legal engine: instruments, Parties, offences, dual criminality and the fastest lawful
channel, each answer dated and cited.

    from trailguard.law import get_engine
    engine = get_engine()
    answer = engine.check("US", "NL", ["illegal_access"], "preservation", date(2025, 1, 1))
    answer.dual_criminality.required   # False (ETS 185 Art. 29(3))
    engine.channels("US", "BR", "subscriber", False, date(2026, 11, 27)).channels[0].id
    engine.legal_basis("preservation", "US", "NL", date(2026, 11, 27))
    realtime_collection(engine, "US", "BG", "traffic", date(2026, 11, 27)).allowed
    # None: only for the serious offences of Bulgaria's Art. 14(3)(a) reservation

The data (``trailguard/law/data``) is versioned YAML validated at load; see ``load_dataset``.
"""

from trailguard.law.answers import (
    CHANNEL_IDS,
    CONDUCTS,
    DATA_KINDS,
    MEASURES,
    REQUEST_KINDS,
    Channel,
    ChannelsAnswer,
    DesignatedAuthority,
    DualCriminality,
    DualCriminalityAnswer,
    LegalBasis,
    Provision,
    RealtimeAnswer,
    RuledOut,
)
from trailguard.law.engine import LegalEngine, get_engine
from trailguard.law.loader import Dataset, LegalDataInvalid, load_dataset
from trailguard.law.reservations import realtime_collection

__all__ = [
    "CHANNEL_IDS",
    "CONDUCTS",
    "DATA_KINDS",
    "MEASURES",
    "REQUEST_KINDS",
    "Channel",
    "ChannelsAnswer",
    "Dataset",
    "DesignatedAuthority",
    "DualCriminality",
    "DualCriminalityAnswer",
    "LegalBasis",
    "LegalDataInvalid",
    "LegalEngine",
    "Provision",
    "RealtimeAnswer",
    "RuledOut",
    "get_engine",
    "load_dataset",
    "realtime_collection",
]
