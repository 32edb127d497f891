"""The legal basis of a request, for the request drafting to pre-fill.

``legal_basis`` returns None when no instrument gives a basis between the two countries on
that date: the request drafting then refuses to send unless a user with authority overrides
with a written justification (audited by the requests capability).
"""

from __future__ import annotations

from datetime import date

from trailguard.law.answers import LegalBasis
from trailguard.law.context import LegalContext
from trailguard.law.trail import CETS224, ETS185, EU_EEVIDENCE, G7_NETWORK, Trail


def legal_basis(
    engine: LegalContext,
    request_kind: str,
    requesting: str,
    requested: str,
    as_of: date,
    emergency: bool = False,
) -> LegalBasis | None:
    kind = engine.request_kind(request_kind)
    requesting = engine.country(requesting, "requesting")
    requested = engine.country(requested, "requested")
    as_of = engine.check_date(as_of)
    if requesting == requested:
        return None  # a loop-back uses domestic process: no international basis to cite
    trail = engine.start_trail(as_of)
    ets = {c: engine.party_entry(c, ETS185, as_of) for c in (requesting, requested)}
    both = all(ets.values())
    for country, entry in ets.items():
        if entry is not None:
            trail.fact(entry, f"ETS 185 Party {country}")

    def basis(
        instrument: str, articles: list[str], summary: str, verified: bool = True
    ) -> LegalBasis:
        cites = [f"{instrument} Art. {a}" for a in articles] + trail.citations
        return LegalBasis(instrument, articles, summary, cites, verified and trail.verified)

    def bound(instrument_id: str) -> bool:
        entries = [engine.party_entry(c, instrument_id, as_of) for c in (requesting, requested)]
        for entry in entries:
            if entry is not None:
                trail.fact(entry, f"{engine.data.instruments[instrument_id].short} {entry.country}")
        return all(entries)

    if kind == "preservation":
        if both:
            return basis(
                "ETS 185",
                ["29", "35"],
                "Expedited preservation of stored computer data "
                "requested through the 24/7 network; no dual criminality (Art. 29(3)).",
            )
        if bound(G7_NETWORK):
            return basis(
                "G7 24/7 network",
                [],
                "Preservation requested through the G7 24/7 "
                "network under the requested country's law (no treaty obligation).",
                verified=False,
            )
        return None
    if kind == "expedited_disclosure":
        if both:
            return basis(
                "ETS 185",
                ["30"],
                "Expedited disclosure of preserved traffic data "
                "sufficient to identify the next provider and the path.",
            )
        return None
    if kind == "emergency_disclosure":
        if bound(CETS224):
            return basis(
                "CETS 224",
                ["9"],
                "Expedited disclosure of stored computer data in an "
                "emergency, 24/7 point of contact to 24/7 point of contact.",
            )
        if both:
            return basis(
                "ETS 185",
                ["25(3)", "35"],
                "Urgent request by expedited means through "
                "the 24/7 network (the Second Protocol's Art. 9 is not in force "
                "between them).",
            )
        return None
    if kind == "subscriber_info":
        if bound(CETS224):
            if engine.reservation(requested, CETS224, "p2_art7_excluded", as_of) is None:
                return basis(
                    "CETS 224", ["7"], "Direct order to the provider for subscriber information."
                )
            return basis(
                "CETS 224",
                ["8"],
                "Order for subscriber information given effect by the requested Party.",
            )
        if both:
            return basis(
                "ETS 185",
                ["31", "18(3)"],
                "Mutual assistance to disclose stored "
                "subscriber information (T-CY(2018)10 template).",
            )
        treaty = _treaty_basis(engine, requesting, requested, as_of, trail)
        return treaty
    if kind in ("epoc", "epoc_pr"):
        mine = engine.party_entry(requesting, EU_EEVIDENCE, as_of)
        theirs = engine.party_entry(requested, EU_EEVIDENCE, as_of)
        if mine is None or theirs is None:
            return None
        trail.fact(mine, f"Regulation (EU) 2023/1543 binds {requesting}")
        trail.fact(theirs, f"Regulation (EU) 2023/1543 binds {requested}")
        if kind == "epoc":
            summary = "European Production Order to a provider" + (
                "; emergency: data within 8 hours" if emergency else "; data within 10 days"
            )
            return basis("Regulation (EU) 2023/1543", ["5", "10"], summary)
        return basis(
            "Regulation (EU) 2023/1543",
            ["6", "11"],
            "European Preservation Order: 60 days, extendable by 30.",
        )
    if kind == "mla":
        treaty = _treaty_basis(engine, requesting, requested, as_of, trail)
        if treaty is not None:
            return treaty
        if both:
            return basis(
                "ETS 185",
                ["27", "31"],
                "Mutual assistance under the Convention "
                "where no treaty applies between the Parties.",
            )
        return None
    # art32_record: trans-border access to public data, or with lawful and voluntary consent
    if ets[requesting] is None:
        return None
    if ets[requested] is not None:
        return basis(
            "ETS 185",
            ["32(a)", "32(b)"],
            "Trans-border access to publicly available "
            "data, or to data in another Party with lawful and voluntary consent.",
        )
    return basis(
        "ETS 185",
        ["32(a)"],
        "Access to publicly available (open source) data "
        "regardless of where it is located; consent-based access (Art. 32(b)) needs "
        "the data to be in another Party.",
    )


def _treaty_basis(
    engine: LegalContext, requesting: str, requested: str, as_of: date, trail: Trail
) -> LegalBasis | None:
    treaties = engine.treaties_between(requesting, requested, as_of)
    if treaties:
        citations = [trail.fact(t, t.title) for t in treaties]
        return LegalBasis(
            instrument=treaties[0].title,
            articles=[],
            summary="Mutual legal assistance under " + "; ".join(t.title for t in treaties) + ".",
            citations=citations + [c for c in trail.citations if c not in citations],
            verified=all(t.verified for t in treaties) and trail.verified,
        )
    conventions = engine.mla_conventions_between(requesting, requested, as_of)
    if not conventions:
        return None
    instrument, mine, theirs = conventions[0]
    citations = [
        trail.fact(instrument, f"{instrument.short} in force"),
        trail.fact(mine, f"{instrument.short} Party {mine.country}"),
        trail.fact(theirs, f"{instrument.short} Party {theirs.country}"),
    ]
    return LegalBasis(
        instrument=instrument.short,
        articles=["1", "2"],
        summary=f"Mutual legal assistance under the {instrument.name} ({instrument.short}); "
        "no bilateral treaty between them, so it is their mutual assistance treaty "
        "(ETS 185 Arts. 25(4), 27(1)).",
        citations=[f"{instrument.short} Art. 1", f"{instrument.short} Art. 2"]
        + citations
        + [c for c in trail.citations if c not in citations],
        verified=instrument.verified and mine.verified and theirs.verified and trail.verified,
    )
