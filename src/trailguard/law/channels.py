"""Which lawful channels lead from the requesting country to the data, ordered for the purpose.

Each rule (:mod:`trailguard.law.channel_rules`) looks at one channel and either offers it (with
its legal basis, deadline, form and citations) or rules it out with the reason. Within a
purpose group the order is the expected speed: ``SPEED_RANK`` is a ranking, not a promise,
taken from the deadlines the instruments set (hours for 24/7 preservation and emergency
orders, 10 days for an EPOC, 20-45 days for Second Protocol orders, months for formal MLA and
letters rogatory). European Production Order thresholds: see ``channel_rules``.
"""

from __future__ import annotations

from datetime import date

from trailguard.core.errors import ValidationFailed
from trailguard.law import reservations as res
from trailguard.law.answers import (
    CHANNEL_IDS,
    PURPOSES,
    Channel,
    ChannelsAnswer,
    DesignatedAuthority,
    ReservationsKnown,
    RuledOut,
)
from trailguard.law.channel_rules import (
    PRESERVE_ONLY,
    Ask,
    Outcome,
    channel_rules,
    general_notes,
    make_channel,
)
from trailguard.law.context import LegalContext
from trailguard.law.trail import ETS185, Trail


def rank_channels(
    engine: LegalContext,
    requesting: str,
    requested: str,
    data: str,
    emergency: bool,
    as_of: date,
    provider_country: str | None,
    conduct: list[str] | None = None,
    purpose: str = "both",
) -> ChannelsAnswer:
    requesting = engine.country(requesting, "requesting")
    requested = engine.country(requested, "requested")
    provider = (
        engine.country(provider_country, "provider_country") if provider_country else requested
    )
    data = engine.data_kind(data)
    purpose = engine._choice(purpose, PURPOSES, "purpose")
    as_of = engine.check_date(as_of)
    conduct_ids = tuple(engine.conduct_ids(conduct, (requesting, requested))) if conduct else ()
    if requesting == requested and provider != requesting:
        raise ValidationFailed(
            f"contradictory options: requested country {requested} is the requesting country, "
            f"but the provider is in {provider}",
            [f"requested: ask {provider} (--to {provider}) or drop --provider-country"],
        )
    trail = engine.start_trail(as_of)
    trail.say(
        f"Question: {requesting} needs {data} data held in {provider}"
        + (f" (requested country {requested})" if provider != requested else "")
        + (", emergency" if emergency else "")
        + (f", conduct {', '.join(conduct_ids)}" if conduct_ids else "")
        + f", on {as_of}; purpose: {purpose}."
    )

    if requesting == requested:
        return _loop_back(engine, requesting, data, emergency, as_of, trail, conduct_ids, purpose)

    # Both statuses are described (no short-circuit) so that the reasoning names each country.
    mine = engine.describe_status(requesting, ETS185, as_of, trail)
    theirs = engine.describe_status(requested, ETS185, as_of, trail)
    ets_both = mine and theirs
    ask = Ask(
        requesting,
        requested,
        provider,
        data,
        emergency,
        as_of,
        ets_both,
        trail,
        conduct_ids,
        purpose,
    )
    outcomes = [rule(ask) for rule in channel_rules(engine)]
    notes = general_notes(engine, as_of, trail)
    authorities: tuple[DesignatedAuthority, ...] = ()
    status: tuple[ReservationsKnown, ...] = ()
    if ets_both:
        categories = engine.conduct_scope(list(conduct_ids))[0] if conduct_ids else None
        notes = [
            *res.notes(engine, (requested, provider), as_of, trail, categories),
            *notes,
        ]
        authorities = tuple(res.authorities(engine, requested, ("27(2)", "35"), as_of, trail))
        status = (res.known(engine, requested, as_of, trail),)
    return _answer(ask, outcomes, notes, authorities, status)


def wants_now(purpose: str, emergency: bool) -> bool:
    """Is the data wanted now (disclosing channels first)? For ``obtain``, and for ``both``
    in an emergency (a significant and imminent risk to life or safety)."""
    return purpose == "obtain" or (purpose == "both" and emergency)


def order_key(channel: Channel, purpose: str, emergency: bool) -> tuple[int, int, str]:
    """Channels that do what the user needs first, each group fastest first: disclosing
    channels when the data is wanted now, preserving channels for ``preserve``; for ``both``
    outside an emergency, speed alone (preservation first, then a disclosing channel)."""
    if purpose == "preserve":
        group = 0 if channel.preserves else 1
    elif wants_now(purpose, emergency):
        group = 0 if channel.discloses else 1
    else:
        group = 0
    return (group, channel.speed_rank, channel.id)


def _answer(
    ask: Ask,
    outcomes: list[Outcome],
    notes: list[str],
    authorities: tuple[DesignatedAuthority, ...] = (),
    status: tuple[ReservationsKnown, ...] = (),
) -> ChannelsAnswer:
    channels = sorted(
        (o for o in outcomes if isinstance(o, Channel)),
        key=lambda c: order_key(c, ask.purpose, ask.emergency),
    )
    ruled_out = [o for o in outcomes if isinstance(o, RuledOut)]
    trail = ask.trail
    meanwhile: str | None = None
    if channels:
        if ask.purpose == "preserve":
            trail.say(
                f"Purpose preserve: channels that keep the data rank first: {channels[0].name}."
            )
        elif wants_now(ask.purpose, ask.emergency):
            why = "obtain" if ask.purpose == "obtain" else "both, in an emergency"
            trail.say(
                f"Purpose {why}: the data is wanted now, so channels that disclose rank first; "
                f"first: {channels[0].name}."
            )
            keep = next((c for c in channels if c.id in PRESERVE_ONLY), None)
            if keep is not None and not channels[0].preserves:
                meanwhile = keep.id
                trail.say(
                    f"Meanwhile, {keep.name} keeps the trail (it preserves the data and "
                    "discloses nothing) until a disclosing channel delivers."
                )
        else:
            trail.say(f"Fastest lawful channel: {channels[0].name}.")
    return ChannelsAnswer(
        as_of=ask.as_of,
        requesting=ask.requesting,
        requested=ask.requested,
        provider_country=ask.provider,
        data=ask.data,
        emergency=ask.emergency,
        channels=tuple(channels),
        not_available=tuple(ruled_out),
        reasoning=tuple(trail.reasoning),
        citations=tuple(trail.citations),
        verified=trail.verified and all(c.verified for c in channels),
        unverified=tuple(trail.unverified),
        notes=tuple(notes),
        conduct=ask.conduct,
        purpose=ask.purpose,
        preserve_meanwhile=meanwhile,
        authorities=authorities,
        reservations_known=status,
    )


def _loop_back(
    engine: LegalContext,
    country: str,
    data: str,
    emergency: bool,
    as_of: date,
    trail: Trail,
    conduct: tuple[str, ...] = (),
    purpose: str = "both",
) -> ChannelsAnswer:
    trail.fact(engine.source_fact("ets185_explanatory_290"), "Explanatory Report para. 290")
    trail.say(
        f"The trace loops back to {country}, the requesting country: it uses its own domestic "
        "process (Explanatory Report para. 290); no international channel is needed."
    )
    ask = Ask(country, country, country, data, emergency, as_of, False, trail, conduct, purpose)
    domestic = make_channel(
        ask,
        "domestic_process",
        "Domestic process (the trace loops back home)",
        f"{country} domestic criminal procedure",
        "as set by domestic law",
        "domestic order to the provider",
        ["ETS 185 Explanatory Report para. 290"],
        True,
    )
    ruled = [
        RuledOut(cid, f"the trace loops back to {country}: domestic process applies instead")
        for cid in CHANNEL_IDS
        if cid != "domestic_process"
    ]
    return _answer(ask, [domestic, *ruled], [])
