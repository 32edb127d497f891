"""One rule per channel: each offers its channel (legal basis, deadline, form, citations,
conditions) or rules it out with the reason. :mod:`trailguard.law.channels` asks every rule
and orders the answer.

A European Production Order (Regulation (EU) 2023/1543) for traffic or content data also needs
the offence to pass Art. 5(4): punishable in the issuing State by a custodial sentence of a
maximum of at least 3 years (point (a)), or one of the offences listed in point (b) committed
wholly or partly by means of an information system. Subscriber data and data requested solely
to identify the user may be ordered for all criminal offences (Art. 5(3)). The threshold is
checked when the question names the conduct; otherwise the channel says it was not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from trailguard.law import reservations as res
from trailguard.law.answers import Channel, RuledOut
from trailguard.law.context import LegalContext
from trailguard.law.trail import (
    CETS224,
    ETS185,
    EU_EEVIDENCE,
    G7_NETWORK,
    UN_CONVENTION,
    Trail,
    article_source,
)

EPOC_RULE = "Regulation (EU) 2023/1543 Art. 5(4)"
EPOC_MIN_YEARS = 3.0
# Art. 5(4)(b)(iii): offences of Directive 2013/40/EU Arts. 3-8 (illegal access, system and data
# interference, interception, tools, and incitement, aiding, abetting and attempt);
# Art. 5(4)(b)(ii): Directive 2011/93/EU Arts. 3-7 (child sexual abuse material among them).
EPOC_LISTED: dict[str, str] = {
    "illegal_access": "Directive 2013/40/EU Art. 3",
    "system_interference": "Directive 2013/40/EU Art. 4",
    "data_interference": "Directive 2013/40/EU Art. 5",
    "illegal_interception": "Directive 2013/40/EU Art. 6",
    "misuse_of_devices": "Directive 2013/40/EU Art. 7",
    "child_sexual_abuse_material": "Directive 2011/93/EU Art. 5",
}
# Art. 5(4)(b)(i): offences of Directive (EU) 2019/713 Arts. 3-8 (non-cash means of payment).
# Computer fraud and forgery may fall under it, depending on the facts; the engine does not
# decide, so a failed 3-year threshold leaves them unknown rather than ruled out.
EPOC_MAYBE_LISTED: dict[str, str] = {
    "computer_fraud": "Directive (EU) 2019/713 Arts. 3-8 (non-cash means of payment)",
    "computer_forgery": "Directive (EU) 2019/713 Arts. 3-8 (non-cash means of payment)",
}

# Lower is faster. Ties are broken by channel id so that answers are stable.
SPEED_RANK: dict[str, int] = {
    "domestic_process": 0,
    "preservation_24_7": 1,
    "eu_epoc_pr": 1,
    "p2_art9_emergency_disclosure": 2,
    "eu_epoc": 3,  # 10 days; 2 in an emergency (8 hours, Art. 10(4))
    "art30_disclosure": 3,
    "voluntary_provider": 3,
    "police_to_police": 3,
    "interpol": 4,
    "p2_art10_emergency_mla": 4,
    "p2_art6_domain": 5,
    "p2_art7_subscriber_direct": 6,
    "p2_art8_production": 7,
    "mlat_bilateral": 8,
    "convention_mla_art27": 9,
    "letters_rogatory": 10,
}
EMERGENCY_RANK: dict[str, int] = {"eu_epoc": 2, "voluntary_provider": 2}

# What each channel does with the data. Preservation (ETS 185 Art. 29; EPOC-PR, Regulation
# (EU) 2023/1543 Art. 11) keeps the data and discloses nothing; an EPOC makes the provider
# preserve at once on receipt (Art. 10(1)) and then disclose; Art. 30 discloses traffic data
# while executing a preservation request; a domestic order can do both. Every other channel
# discloses (or carries information) but does not by itself keep the trail.
PRESERVE_ONLY: frozenset[str] = frozenset({"preservation_24_7", "eu_epoc_pr"})
PRESERVING: frozenset[str] = PRESERVE_ONLY | {"eu_epoc", "art30_disclosure", "domestic_process"}


@dataclass
class Ask:
    """One channels question, checked, with the facts the rules need."""

    requesting: str
    requested: str
    provider: str
    data: str
    emergency: bool
    as_of: date
    ets_both: bool
    trail: Trail
    conduct: tuple[str, ...] = ()
    purpose: str = "both"


Outcome = Channel | RuledOut


def make_channel(
    ask: Ask,
    channel_id: str,
    name: str,
    legal_basis: str,
    deadline: str,
    form: str,
    citations: list[str],
    verified: bool,
    conditions: tuple[str, ...] = (),
) -> Channel:
    rank = SPEED_RANK[channel_id]
    if ask.emergency:
        rank = EMERGENCY_RANK.get(channel_id, rank)
    for citation in citations:
        ask.trail.cite(citation)
        quoted = article_source(citation)
        verified = verified and (quoted is None or quoted[1])
    return Channel(
        channel_id,
        name,
        legal_basis,
        deadline,
        form,
        tuple(citations),
        verified,
        rank,
        conditions,
        discloses=channel_id not in PRESERVE_ONLY,
        preserves=channel_id in PRESERVING,
    )


def _domestic(ask: Ask) -> Outcome:
    if ask.provider == ask.requesting:
        return make_channel(
            ask,
            "domestic_process",
            f"Domestic order to the provider in {ask.provider}",
            f"{ask.provider} domestic criminal procedure",
            "as set by domestic law",
            "domestic order",
            [],
            True,
        )
    return RuledOut(
        "domestic_process", f"the provider is in {ask.provider}, not in {ask.requesting}"
    )


def _preservation(engine: LegalContext, ask: Ask) -> Outcome:
    deadline = (
        "preserve at once; kept for at least 60 days and, once the MLA request arrives, "
        "until it is decided (Art. 29(7))"
    )
    form = "T-CY(2018)11 preservation request, 24/7 point of contact to 24/7 point of contact"
    if ask.ets_both:
        citations = ["ETS 185 Art. 29", "ETS 185 Art. 35", "ETS 185 Art. 29(7)"]
        conditions: list[str] = []
        reservation = engine.reservation(
            ask.requested, ETS185, "art29_4_dual_criminality", ask.as_of
        )
        if reservation is not None:
            cited = res.cite(ask.trail, reservation)
            citations += ["ETS 185 Art. 29(4)", cited]
            categories = engine.conduct_scope(list(ask.conduct))[0] if ask.conduct else None
            if categories is None:
                reach = "give --conduct to know whether it applies"
            elif categories:
                reach = "it does not reach the conduct given, which falls under Arts. 2-11"
            else:
                reach = "it reaches the conduct given, which lies outside Arts. 2-11"
            conditions.append(
                f"{reservation.label()} (in effect from {reservation.valid_from}): "
                f"{ask.requested} may refuse preservation for offences other than Arts. 2-11 "
                "where dual criminality cannot be fulfilled at the time of disclosure; "
                f"{reach} ({cited})"
            )
        for item in res.authorities(engine, ask.requested, ("35",), ask.as_of, ask.trail):
            conditions.append(
                f"{item.country}'s 24/7 point of contact (Art. 35): {item.authority} "
                f"({item.citation})"
            )
            citations.append(item.citation)
        return make_channel(
            ask,
            "preservation_24_7",
            "Expedited preservation via the 24/7 network",
            "ETS 185 Arts. 29 and 35",
            deadline,
            form,
            citations,
            reservation is None or reservation.verified,
            tuple(conditions),
        )
    mine = engine.party_entry(ask.requesting, G7_NETWORK, ask.as_of)
    theirs = engine.party_entry(ask.requested, G7_NETWORK, ask.as_of)
    if mine is not None and theirs is not None:
        ask.trail.fact(mine, f"G7 24/7 network member {ask.requesting}")
        ask.trail.fact(theirs, f"G7 24/7 network member {ask.requested}")
        return make_channel(
            ask,
            "preservation_24_7",
            "Preservation request via the G7 24/7 High Tech Crime Network",
            f"G7 24/7 network practice and {ask.requested}'s domestic law (no treaty obligation)",
            f"as {ask.requested}'s law allows",
            "24/7 point-of-contact request",
            [f"G7 24/7 network ({ask.requesting}, {ask.requested})"],
            mine.verified and theirs.verified,
        )
    return RuledOut(
        "preservation_24_7",
        f"{ask.requesting} and {ask.requested} are not both Parties to ETS 185 on {ask.as_of}, "
        "nor both known members of the G7 24/7 network",
    )


def _art30(ask: Ask) -> Outcome:
    if ask.data != "traffic":
        return RuledOut("art30_disclosure", "Art. 30 discloses traffic data only")
    if not ask.ets_both:
        return RuledOut("art30_disclosure", "Art. 30 needs both countries to be Parties to ETS 185")
    return make_channel(
        ask,
        "art30_disclosure",
        "Expedited disclosure of preserved traffic data (Art. 30)",
        "ETS 185 Art. 30 (during execution of an Art. 29 preservation request)",
        "expeditiously (Art. 30(1))",
        "part of the answer to the preservation request",
        ["ETS 185 Art. 30(1)", "ETS 185 Art. 30(2)"],
        True,
    )


_P2 = {
    "p2_art6_domain": (
        "Request for domain name registration information to the registrar (CETS 224 Art. 6)",
        "direct request to the registrar; no fixed deadline",
        "Art. 6 request from the competent authority to the registrar",
        ("domain",),
        False,
    ),
    "p2_art7_subscriber_direct": (
        "Direct order to the provider for subscriber information (CETS 224 Art. 7)",
        "30 days, or the time stated in the order if longer (Art. 7(7))",
        "Art. 7(3)-(4) order sent directly to the provider",
        ("subscriber",),
        False,
    ),
    "p2_art8_production": (
        "Giving effect to a production order through the requested Party (CETS 224 Art. 8)",
        "served within 45 days; subscriber information within 20 days, traffic data within "
        "45 days (Art. 8(6))",
        "Art. 8 order with supporting information, sent electronically to the requested Party",
        ("subscriber", "traffic"),
        False,
    ),
    "p2_art9_emergency_disclosure": (
        "Emergency disclosure via the 24/7 network (CETS 224 Art. 9)",
        "rapidly expedited decision (Art. 9)",
        "Art. 9 request, 24/7 point of contact to 24/7 point of contact",
        ("subscriber", "traffic", "content", "domain"),
        True,
    ),
    "p2_art10_emergency_mla": (
        "Emergency mutual assistance (CETS 224 Art. 10)",
        "rapidly expedited (Art. 10)",
        "emergency MLA request to the central authority (staffed 24/7), accepted electronically",
        ("subscriber", "traffic", "content", "domain"),
        True,
    ),
}


def _p2(engine: LegalContext, ask: Ask, channel_id: str) -> Outcome:
    name, deadline, form, kinds, emergency_only = _P2[channel_id]
    article = name.rsplit("Art. ", 1)[1].rstrip(")")
    if ask.data not in kinds:
        return RuledOut(channel_id, f"CETS 224 Art. {article} does not cover {ask.data} data")
    if emergency_only and not ask.emergency:
        return RuledOut(
            channel_id,
            f"CETS 224 Art. {article} is for emergencies only: a significant and imminent risk "
            "to the life or safety of a person (Art. 3)",
        )
    instrument = engine.data.instruments[CETS224]
    if instrument.in_force is None or ask.as_of < instrument.in_force:
        ask.trail.fact(instrument, "CETS 224 status")
        status = "; ".join(
            engine.consent_note(country, CETS224, ask.as_of, ask.trail)
            for country in dict.fromkeys((ask.requesting, ask.requested))
        )
        consents = _count_consents(engine, ask.as_of)
        return RuledOut(
            channel_id,
            f"the Second Additional Protocol (CETS 224) is not in force on {ask.as_of} "
            f"({consents} of {instrument.required_consents} consents to be bound; {status})",
        )
    target = (
        ask.provider
        if channel_id in ("p2_art6_domain", "p2_art7_subscriber_direct")
        else ask.requested
    )
    for country in dict.fromkeys((ask.requesting, target)):
        if engine.party_entry(country, CETS224, ask.as_of) is None:
            return RuledOut(channel_id, f"{country} is not bound by CETS 224 on {ask.as_of}")
    effect = {
        "p2_art7_subscriber_direct": "p2_art7_excluded",
        "p2_art8_production": "p2_art8_traffic_excluded",
    }.get(channel_id)
    if effect is not None and (channel_id != "p2_art8_production" or ask.data == "traffic"):
        reservation = engine.reservation(target, CETS224, effect, ask.as_of)
        if reservation is not None:
            ask.trail.fact(reservation, f"{target} reservation CETS 224 Art. {reservation.article}")
            return RuledOut(
                channel_id, f"{target} reserved against CETS 224 Art. {reservation.article}"
            )
    return make_channel(
        ask,
        channel_id,
        name,
        f"CETS 224 Art. {article}",
        deadline,
        form,
        [f"CETS 224 Art. {article}"],
        True,
    )


def _count_consents(engine: LegalContext, as_of: date) -> int:
    """Consents to be bound to CETS 224 deposited by ``as_of``."""
    return sum(
        1
        for party in engine.data.parties.get(CETS224, {}).values()
        if party.deposited is None or party.deposited <= as_of
    )


def _eu(engine: LegalContext, ask: Ask, channel_id: str) -> Outcome:
    instrument = engine.data.instruments[EU_EEVIDENCE]
    if instrument.in_force is None or ask.as_of < instrument.in_force:
        ask.trail.fact(instrument, "Regulation (EU) 2023/1543 date of application")
        return RuledOut(
            channel_id,
            f"Regulation (EU) 2023/1543 applies only from {instrument.in_force}; "
            f"no EPOC or EPOC-PR exists on {ask.as_of}",
        )
    for country, role in ((ask.requesting, "issuing State"), (ask.provider, "provider's State")):
        entry = engine.party_entry(country, EU_EEVIDENCE, ask.as_of)
        if entry is None:
            return RuledOut(
                channel_id,
                f"{country} ({role}) is not bound by Regulation (EU) 2023/1543"
                + (" (Denmark does not take part)" if country == "DK" else ""),
            )
        ask.trail.fact(entry, f"Regulation (EU) 2023/1543 binds {country}")
    if ask.requesting == ask.provider:
        return RuledOut(channel_id, "the provider is in the issuing State: use a domestic order")
    if channel_id == "eu_epoc_pr":
        return make_channel(
            ask,
            channel_id,
            "European Preservation Order (EPOC-PR) to the provider",
            "Regulation (EU) 2023/1543 Arts. 6 and 11",
            "preserve without undue delay; 60 days, extendable by 30 (Art. 11)",
            "EPOC-PR certificate (Annex II) via the decentralised IT system (Art. 19)",
            ["Regulation (EU) 2023/1543 Art. 11", "Regulation (EU) 2023/1543 Art. 19"],
            True,
        )
    threshold = _epoc_threshold(engine, ask)
    if isinstance(threshold, RuledOut):
        return threshold
    article, conditions = threshold
    deadline = (
        "within 8 hours (emergency, Art. 10(4))" if ask.emergency else "within 10 days (Art. 10)"
    )
    return make_channel(
        ask,
        channel_id,
        "European Production Order (EPOC) to the provider",
        "Regulation (EU) 2023/1543 Arts. 5 and 10",
        deadline,
        "EPOC certificate (Annex I) via the decentralised IT system (Art. 19); notification of "
        "the enforcing State for traffic and content data (Art. 8)",
        [
            article,
            "Regulation (EU) 2023/1543 Art. 8",
            "Regulation (EU) 2023/1543 Art. 10",
        ],
        True,
        conditions,
    )


def _epoc_threshold(engine: LegalContext, ask: Ask) -> RuledOut | tuple[str, tuple[str, ...]]:
    """Regulation (EU) 2023/1543 Art. 5(3)-(4) for an EPOC: the article that governs, and the
    conditions the channel is offered under; or the channel ruled out by Art. 5(4)."""
    issuing = ask.requesting
    if ask.data not in ("traffic", "content"):
        line = (
            f"Art. 5(3): an EPOC for {ask.data} data may be issued for all criminal offences; "
            "no penalty threshold"
        )
        ask.trail.say(line + ".")
        return "Regulation (EU) 2023/1543 Art. 5(3)", (line,)
    exception = (
        " (traffic data requested solely to identify the user falls under Art. 5(3) instead: "
        "all criminal offences)"
        if ask.data == "traffic"
        else ""
    )
    rule = (
        f"Art. 5(4): an EPOC for {ask.data} data needs an offence punishable in {issuing} by a "
        "custodial sentence of a maximum of at least 3 years, or a listed offence committed "
        f"wholly or partly by means of an information system{exception}"
    )
    if not ask.conduct:
        line = f"{rule}; not checked: no conduct was given (give --conduct)"
        ask.trail.say(line[0].upper() + line[1:] + ".")
        return EPOC_RULE, (line,)
    categories, tags = engine.conduct_scope(list(ask.conduct))
    principal = categories - {"attempt_aiding_abetting"}
    if principal and principal <= EPOC_LISTED.keys():
        listed = ", ".join(sorted({EPOC_LISTED[c] for c in principal}))
        line = (
            f"Art. 5(4)(b): the conduct is a listed offence ({listed}); no penalty threshold, "
            "provided it was committed wholly or partly by means of an information system"
        )
        ask.trail.say(line + ".")
        return EPOC_RULE, (line,)
    provisions, _ = engine.coverage(issuing, categories, tags, ask.as_of, ask.trail)
    check = engine.penalty_check(
        issuing, provisions, EPOC_MIN_YEARS, EPOC_RULE, ask.as_of, ask.trail
    )
    if check.met is True:
        return EPOC_RULE, (f"Art. 5(4)(a) met: {check.reason}",)
    maybe = sorted({EPOC_MAYBE_LISTED[c] for c in principal if c in EPOC_MAYBE_LISTED})
    if check.met is False and not maybe:
        return RuledOut(
            "eu_epoc",
            f"Regulation (EU) 2023/1543 {rule}; {check.reason}, and the conduct is not a listed "
            "offence (Art. 5(4)(b))",
        )
    why = check.reason if check.met is None else f"threshold not met ({check.reason})"
    listed_note = (
        f"; it may still be a listed offence under Art. 5(4)(b)(i) ({', '.join(maybe)}), "
        "depending on the facts"
        if maybe
        else ""
    )
    line = f"{rule}; unknown: {why}{listed_note}"
    ask.trail.say(line[0].upper() + line[1:] + ".")
    return EPOC_RULE, (line,)


def _mlat(engine: LegalContext, ask: Ask) -> Outcome:
    treaties = engine.treaties_between(ask.requesting, ask.requested, ask.as_of)
    if treaties:
        citations = [ask.trail.fact(t, t.title) for t in treaties]
        names = "; ".join(t.title for t in treaties)
        return make_channel(
            ask,
            "mlat_bilateral",
            f"Treaty-based mutual legal assistance: {names}",
            names + (" (with ETS 185 Art. 25(4), 27(1))" if ask.ets_both else ""),
            "set by the treaty and practice; often months",
            "MLA request, central authority to central authority",
            citations,
            all(t.verified for t in treaties),
        )
    conventions = engine.mla_conventions_between(ask.requesting, ask.requested, ask.as_of)
    if conventions:
        cited: list[str] = []
        for instrument, mine, theirs in conventions:
            cited.append(ask.trail.fact(instrument, f"{instrument.short} in force"))
            cited.append(ask.trail.fact(mine, f"{instrument.short} Party {mine.country}"))
            cited.append(ask.trail.fact(theirs, f"{instrument.short} Party {theirs.country}"))
        names = "; ".join(f"{i.name} ({i.short})" for i, _, _ in conventions)
        shorts = ", ".join(i.short for i, _, _ in conventions)
        ask.trail.say(
            f"No bilateral treaty between {ask.requesting} and {ask.requested} in the data; both "
            f"are Parties to {shorts}, which is their mutual assistance treaty."
        )
        return make_channel(
            ask,
            "mlat_bilateral",
            f"Treaty-based mutual legal assistance: {names}",
            f"{shorts} Arts. 1-2"
            + (" (the treaty ETS 185 Arts. 25(4) and 27(1) defer to)" if ask.ets_both else ""),
            "set by the treaty and practice; often months",
            "letter rogatory / MLA request between the Ministries of Justice or, where the "
            "treaty allows, between judicial authorities",
            [*cited, "ETS 30 Art. 1", "ETS 30 Art. 2"],
            all(i.verified and m.verified and th.verified for i, m, th in conventions),
        )
    return RuledOut(
        "mlat_bilateral",
        f"no mutual legal assistance treaty between {ask.requesting} and {ask.requested} "
        f"in force on {ask.as_of} in the data (bilateral, or multilateral such as ETS 30)",
    )


def _art27(engine: LegalContext, ask: Ask) -> Outcome:
    if not ask.ets_both:
        return RuledOut("convention_mla_art27", "needs both countries to be Parties to ETS 185")
    if engine.treaties_between(ask.requesting, ask.requested, ask.as_of):
        return RuledOut(
            "convention_mla_art27",
            "a mutual legal assistance treaty is in force between them: Art. 27 applies only "
            "where there is none (Art. 27(1)); the treaty governs (Art. 25(4))",
        )
    conventions = engine.mla_conventions_between(ask.requesting, ask.requested, ask.as_of)
    if conventions:
        shorts = ", ".join(i.short for i, _, _ in conventions)
        return RuledOut(
            "convention_mla_art27",
            f"both are Parties to {shorts} (European Convention on Mutual Assistance in "
            "Criminal Matters): Art. 27 applies only where no mutual assistance treaty is in "
            f"force (Art. 27(1)); {shorts} governs (Art. 25(4))",
        )
    citations = ["ETS 185 Art. 27", "ETS 185 Art. 31", "ETS 185 Art. 25(3)"]
    conditions: list[str] = []
    verified = True
    for reservation in res.in_effect(
        engine, ask.requested, ask.as_of, {"art27_9_e_central_authority"}
    ):
        cited = res.cite(ask.trail, reservation)
        citations += ["ETS 185 Art. 27(9)(e)", cited]
        verified = verified and reservation.verified
        conditions.append(
            f"{reservation.label()} (in effect from {reservation.valid_from}): urgent requests "
            f"under Art. 27(9) must go through {ask.requested}'s central authority (or the "
            "channel it names), not directly between judicial authorities or via INTERPOL: "
            f"{reservation.text} ({cited})"
        )
    for item in res.authorities(engine, ask.requested, ("27(2)",), ask.as_of, ask.trail):
        conditions.append(
            f"{item.country}'s central authority (Art. 27(2)): {item.authority} ({item.citation})"
        )
        citations.append(item.citation)
    return make_channel(
        ask,
        "convention_mla_art27",
        "Mutual assistance under the Convention where no treaty exists",
        "ETS 185 Art. 27 (with Art. 31 for stored data)",
        "none fixed; urgent requests by expedited means (Art. 25(3)); reasons for any "
        "refusal (Art. 27(7))",
        "MLA request between central authorities (Art. 27(2); T-CY(2018)10 template for "
        "subscriber information)",
        citations,
        verified,
        tuple(conditions),
    )


def _letters_rogatory(ask: Ask) -> Outcome:
    return make_channel(
        ask,
        "letters_rogatory",
        "Letters rogatory through the diplomatic channel",
        "international comity; the requested country's law",
        "none; usually the slowest channel",
        "letter rogatory from a court, transmitted through diplomatic channels",
        [],
        True,
    )


def _interpol(engine: LegalContext, ask: Ask) -> Outcome:
    no_treaty = not engine.has_mla_treaty(ask.requesting, ask.requested, ask.as_of)
    central = engine.reservation(ask.requested, ETS185, "art27_9_e_central_authority", ask.as_of)
    routed: tuple[str, ...] = ()
    if ask.ets_both and no_treaty and ask.emergency and central is not None:
        cited = res.cite(ask.trail, central)
        ask.trail.cite("ETS 185 Art. 27(9)(e)")
        line = (
            f"{central.label()} (in effect from {central.valid_from}): urgent requests under "
            f"Art. 27(9) to {ask.requested} go to its central authority, so INTERPOL cannot "
            f"carry the mutual assistance request ({cited})"
        )
        ask.trail.say(line[0].upper() + line[1:] + ".")
        if ask.data == "content":
            return RuledOut("interpol", line + "; stored content needs that judicial request")
        routed = (line + "; INTERPOL carries police information only",)
    elif ask.ets_both and no_treaty and ask.emergency:
        return make_channel(
            ask,
            "interpol",
            "Urgent request transmitted via INTERPOL (Art. 27(9))",
            "ETS 185 Art. 27(9): in urgent cases requests may go via INTERPOL",
            "hours to days",
            "urgent MLA request via the National Central Bureaus (I-24/7)",
            ["ETS 185 Art. 27(9)"],
            True,
        )
    if ask.data == "content":
        return RuledOut(
            "interpol",
            "INTERPOL carries police information; stored content needs a judicial request "
            "(it may carry one only under Art. 27(9), urgent cases without a treaty)",
        )
    return make_channel(
        ask,
        "interpol",
        "Police information via INTERPOL (I-24/7)",
        "INTERPOL police co-operation; no coercive powers",
        "hours to days",
        "message between National Central Bureaus",
        [],
        True,
        routed,
    )


def _police(ask: Ask) -> Outcome:
    if ask.data == "content":
        return RuledOut(
            "police_to_police",
            "police-to-police co-operation cannot obtain stored content, which needs a "
            "judicial order in the requested country",
        )
    return make_channel(
        ask,
        "police_to_police",
        "Police-to-police information exchange",
        "the requested country's police law; information already held or obtainable without "
        "coercive measures, usable as intelligence; court use may need MLA",
        "hours to days",
        "police channel (liaison officers, 24/7 contact)",
        [],
        True,
    )


def _voluntary(engine: LegalContext, ask: Ask) -> Outcome:
    rule = engine.data.voluntary.get(ask.provider)
    if rule is None:
        return RuledOut(
            "voluntary_provider",
            f"the data has no rule on whether {ask.provider} law lets providers disclose "
            "voluntarily to foreign authorities",
        )
    allowed = ask.data in rule.data or (ask.emergency and ask.data in rule.emergency_data)
    if not allowed:
        when = " outside an emergency" if ask.data in rule.emergency_data else ""
        return RuledOut(
            "voluntary_provider",
            f"{ask.provider} law does not let the provider disclose {ask.data} data "
            f"voluntarily{when} ({rule.statute})",
        )
    citation = ask.trail.fact(rule, f"{rule.statute}")
    return make_channel(
        ask,
        "voluntary_provider",
        f"Voluntary disclosure by the provider under {ask.provider} law",
        rule.statute,
        "at the provider's discretion; emergency disclosures are often made within hours",
        "request to the provider's law-enforcement portal",
        [citation],
        rule.verified,
    )


def general_notes(engine: LegalContext, as_of: date, trail: Trail) -> list[str]:
    un = engine.data.instruments[UN_CONVENTION]
    if un.in_force is not None and as_of >= un.in_force:
        return []
    trail.fact(un, "UN Convention against Cybercrime status")
    if as_of < un.opened:
        return [
            f"The UN Convention against Cybercrime was not yet open for signature on {as_of} "
            f"(it opened on {un.opened}); it offers no channel."
        ]
    return [
        f"The UN Convention against Cybercrime is not in force on {as_of} "
        f"({un.ratifications_known or 0} of {un.required_consents} ratifications known "
        f"as of {un.as_of}): it offers no channel yet."
    ]


def channel_rules(engine: LegalContext) -> list[Callable[[Ask], Outcome]]:
    """One rule per channel, in the order of ``CHANNEL_IDS``' listing of outcomes."""
    return [
        _domestic,
        lambda a: _preservation(engine, a),
        _art30,
        lambda a: _p2(engine, a, "p2_art6_domain"),
        lambda a: _p2(engine, a, "p2_art7_subscriber_direct"),
        lambda a: _p2(engine, a, "p2_art8_production"),
        lambda a: _p2(engine, a, "p2_art9_emergency_disclosure"),
        lambda a: _p2(engine, a, "p2_art10_emergency_mla"),
        lambda a: _eu(engine, a, "eu_epoc"),
        lambda a: _eu(engine, a, "eu_epoc_pr"),
        lambda a: _mlat(engine, a),
        lambda a: _art27(engine, a),
        _letters_rogatory,
        lambda a: _interpol(engine, a),
        _police,
        lambda a: _voluntary(engine, a),
    ]
