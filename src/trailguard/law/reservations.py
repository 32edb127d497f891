"""Reservations and declarations of the Parties, as answers use them.

``reservations.yaml`` records each Party's reservations and declarations with the effect the
engine applies (see the file's header). This module finds those in effect on a date and turns
them into citations, conditions and notes; the rules that use them live where the rule is
(dual criminality in :mod:`trailguard.law.engine`, channels in :mod:`trailguard.law.channels`).
It also answers whether real-time collection may be asked of a Party (ETS 185 Arts. 33 and 34,
with its Art. 14(3) reservations and Art. 21 declarations): :func:`realtime_collection`, which
the live watch can call.

The ETS 185 rules quoted (full text read, see ../shared/brief/LEGAL.md and ``ets185_text``):

* Art. 14(3)(a): a Party may reserve the right to apply the measures of Art. 20 (real-time
  collection of traffic data) only to the offences or categories it specifies.
* Art. 14(3)(b): a Party may reserve the right not to apply Arts. 20 and 21 to communications
  in a closed system (not connected with another computer system).
* Art. 21: interception of content data for "a range of serious offences to be determined by
  domestic law".
* Art. 27(9)(e): a Party may declare that urgent requests under Art. 27(9) are to be addressed
  to its central authority.
* Art. 33: mutual assistance in the real-time collection of traffic data, governed by domestic
  conditions; at least for offences for which it would be available in a similar domestic case.
* Art. 34: mutual assistance in the interception of content data "to the extent permitted
  under their applicable treaties and domestic laws".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from trailguard.core.errors import ValidationFailed
from trailguard.law.answers import (
    REALTIME_DATA,
    DesignatedAuthority,
    RealtimeAnswer,
    ReservationsKnown,
)
from trailguard.law.context import LegalContext
from trailguard.law.schema import Reservation
from trailguard.law.trail import ETS185, Trail

ROLES: dict[str, str] = {
    "24(7)": "extradition or provisional arrest in the absence of a treaty (Art. 24(7))",
    "27(2)": "central authority for mutual assistance (Art. 27(2))",
    "35": "24/7 point of contact (Art. 35)",
}
# Effects shown as notes (their rule is not applied by the engine, or applies only to live
# collection, which channels do not answer).
REALTIME_EFFECTS: frozenset[str] = frozenset(
    {
        "art14_3_a_realtime_traffic_limited",
        "art14_3_b_closed_systems",
        "art21_interception_limited",
    }
)
ETS185_SHORT = "ETS 185"
NOTE_EFFECTS: frozenset[str] = frozenset({"note"}) | REALTIME_EFFECTS
# The articles whose reservations and declarations bear on a measure (``known``); a measure
# not listed is answered for all articles.
REALTIME_ARTICLES: tuple[str, ...] = ("14(3)", "21")
MEASURE_ARTICLES: dict[str, tuple[str, ...]] = {
    "preservation": ("29(4)",),
    "realtime_collection": REALTIME_ARTICLES,
    "extradition": ("24(7)",),
}


def _under(article: str, articles: tuple[str, ...]) -> bool:
    """Is ``article`` (e.g. "14(3)(a)") one of ``articles`` or a part of one? Empty: all."""
    return not articles or any(article == a or article.startswith(a + "(") for a in articles)


def known(
    engine: LegalContext,
    country: str,
    as_of: date,
    trail: Trail,
    articles: tuple[str, ...] = (),
    instrument: str = ETS185,
) -> ReservationsKnown:
    """Does the data know ``country``'s reservations and declarations under ``articles``
    (empty: any article) on ``as_of``? An article counts as read when an entry under it is in
    the data or a ``read`` record of reservations.yaml covers it (for "any article": a record
    of the whole list). "known": all read, some in effect; "none": all read, none in effect;
    "partial": some read, others not; "not_read": none read. A Party missing from the data has
    NOT been shown to have made none. The sentence is said in the trail, with its sources."""
    scope = f"Arts. {', '.join(articles)}" if articles else "any article"
    short = engine.data.instruments[instrument].short
    entries = [
        r
        for r in engine.data.reservations
        if r.country == country and r.instrument == instrument and _under(r.article, articles)
    ]
    records = [
        r
        for r in engine.data.reservations_read
        if r.country == country and r.instrument == instrument
    ]
    if articles:
        unread = [
            a
            for a in articles
            if not any(_under(r.article, (a,)) for r in entries)
            and not any(r.covers(a) for r in records)
        ]
        records = [r for r in records if any(r.covers(a) for a in articles)]
    else:
        whole = [r for r in records if r.articles == "all"]
        unread = [] if whole else ["all"]
        records = whole or records  # without a record of the whole list: what was read of it
    current = [r for r in entries if r.applies_on(as_of)]
    ended = [r for r in entries if not r.applies_on(as_of)]
    sources = [trail.fact(r, f"{country} {short} reservations read") for r in records]
    sources += [cite(trail, r) for r in current]
    named = "; ".join(r.label() for r in current)
    if not unread:
        status = "known" if current else "none"
        text = (
            f"{country}'s {short} reservations and declarations under {scope}: read in a source; "
        )
        text += f"in effect on {as_of}: {named}" if current else f"none in effect on {as_of}"
        if ended:
            text += (
                " ("
                + "; ".join(
                    f"{r.label()} has effect from {r.valid_from}"
                    + (f" until {r.valid_until}" if r.valid_until else "")
                    for r in ended
                )
                + ")"
            )
            sources += [cite(trail, r) for r in ended]
    elif current or (articles and len(unread) < len(articles)) or (not articles and records):
        status = "partial"
        missing = "the rest of its list" if unread == ["all"] else f"Arts. {', '.join(unread)}"
        text = (
            f"{country}'s {short} reservations and declarations: partly read; "
            + (f"in effect on {as_of}: {named}; " if current else "")
            + f"{missing} not read into the data (no entry there does not mean none was made)"
        )
    else:
        status = "not_read"
        text = (
            f"{country}'s {short} reservations and declarations under {scope} have not been "
            "read into the data: no entry here means not known, not that none was made"
        )
    trail.say(text + ".")
    return ReservationsKnown(country, status, articles, text, tuple(dict.fromkeys(sources)))


def in_effect(
    engine: LegalContext,
    country: str,
    as_of: date,
    effects: Iterable[str] | None = None,
    instrument: str = ETS185,
) -> list[Reservation]:
    """The reservations and declarations of ``country`` to ``instrument`` in effect on
    ``as_of`` (optionally only those with one of ``effects``), in file order."""
    wanted = set(effects) if effects is not None else None
    return [
        r
        for r in engine.data.reservations
        if r.country == country
        and r.instrument == instrument
        and (wanted is None or r.effect in wanted)
        and r.applies_on(as_of)
    ]


def cite(trail: Trail, reservation: Reservation) -> str:
    """Cite the reservation as a data fact; returns the citation (label, source, as-of)."""
    return trail.fact(reservation, reservation.label())


def describe(trail: Trail, reservation: Reservation) -> str:
    """'JP declaration ETS 185 Art. 27(9)(e) (in effect from 2012-11-01): <text> [citation]'."""
    citation = cite(trail, reservation)
    period = f"in effect from {reservation.valid_from}" + (
        f" until {reservation.valid_until}" if reservation.valid_until else ""
    )
    return f"{reservation.label()} ({period}): {reservation.text} [{citation}]"


def authorities(
    engine: LegalContext,
    country: str,
    articles: Iterable[str],
    as_of: date,
    trail: Trail,
) -> list[DesignatedAuthority]:
    """The authorities ``country`` designated under ``articles`` (24(7), 27(2), 35) in
    effect on ``as_of``, each cited."""
    wanted = list(articles)
    found: list[DesignatedAuthority] = []
    for reservation in in_effect(engine, country, as_of, {"designated_authority"}):
        if reservation.article not in wanted or reservation.authority is None:
            continue
        citation = cite(trail, reservation)
        found.append(
            DesignatedAuthority(
                country,
                reservation.article,
                ROLES[reservation.article],
                reservation.authority,
                citation,
                reservation.verified,
            )
        )
    found.sort(key=lambda a: wanted.index(a.article))
    return found


def notes(
    engine: LegalContext,
    countries: Iterable[str],
    as_of: date,
    trail: Trail,
    categories: set[str] | None = None,
) -> list[str]:
    """Notes for the other reservations and declarations of ``countries`` in effect on
    ``as_of``, each with its citation. With ``categories`` (the Art. 2-11 conduct of the
    question), a note that narrows an offence is shown only if it narrows one of them."""
    shown: list[str] = []
    for country in dict.fromkeys(countries):
        for reservation in in_effect(engine, country, as_of, NOTE_EFFECTS):
            if (
                categories is not None
                and reservation.conduct
                and not categories.intersection(reservation.conduct)
            ):
                continue
            shown.append(describe(trail, reservation))
    return shown


def realtime_collection(
    engine: LegalContext,
    requesting: str,
    requested: str,
    data: str,
    as_of: date,
) -> RealtimeAnswer:
    """May ``requesting`` ask ``requested`` to collect ``data`` (traffic or content) in real
    time on ``as_of`` (the live watch's standing order)? ETS 185 Art. 33 (traffic data) and
    Art. 34 (content), limited by the requested Party's Art. 14(3) reservations."""
    requesting = engine.country(requesting, "requesting")
    requested = engine.country(requested, "requested")
    kind = (data or "").strip().lower()
    if kind not in REALTIME_DATA:
        raise ValidationFailed(
            f"data: real-time collection is of traffic or content data, not {data!r}",
            [f"data: accepted: {', '.join(REALTIME_DATA)}"],
        )
    as_of = engine.check_date(as_of)
    trail = engine.start_trail(as_of)
    conditions: list[str] = []
    cited: list[str] = []
    statuses: list[ReservationsKnown] = []

    def answer(allowed: bool | None) -> RealtimeAnswer:
        return RealtimeAnswer(
            as_of=as_of,
            requesting=requesting,
            requested=requested,
            data=kind,
            allowed=allowed,
            conditions=tuple(conditions),
            reservations=tuple(cited),
            reasoning=tuple(trail.reasoning),
            citations=tuple(trail.citations),
            verified=trail.verified,
            unverified=tuple(trail.unverified),
            reservations_known=tuple(statuses),
        )

    if requesting == requested:
        trail.say(
            f"Requesting and requested country are both {requesting}: real-time collection "
            "is a domestic measure under its own law; no mutual assistance is needed."
        )
        conditions.append(f"{requesting} domestic law governs the collection")
        return answer(True)
    mine = engine.describe_status(requesting, ETS185, as_of, trail)
    theirs = engine.describe_status(requested, ETS185, as_of, trail)
    if not (mine and theirs):
        line = (
            f"{requesting} and {requested} are not both Parties to ETS 185 on {as_of}: "
            "Arts. 33-34 do not apply; real-time collection rests on the requested country's "
            "law or a treaty (not in the data)"
        )
        trail.say(line + ".")
        conditions.append(line)
        return answer(None)

    reservations = in_effect(engine, requested, as_of, REALTIME_EFFECTS)
    closed = [r for r in reservations if r.effect == "art14_3_b_closed_systems"]
    limited = [r for r in reservations if r.effect == "art14_3_a_realtime_traffic_limited"]
    interception = [r for r in reservations if r.effect == "art21_interception_limited"]
    allowed: bool | None
    if kind == "traffic":
        trail.cite("ETS 185 Art. 33")
        conditions.append(
            "Art. 33(1): the collection follows the conditions and procedures of "
            f"{requested}'s domestic law; Art. 33(2): at least for offences for which "
            "real-time collection of traffic data would be available in a similar domestic case"
        )
        allowed = True
        for reservation in limited:
            trail.cite("ETS 185 Art. 14(3)(a)")
            cited.append(describe(trail, reservation))
            conditions.append(
                f"Art. 14(3)(a) reservation of {requested}: Art. 20 measures only for the "
                f"offences it names: {reservation.text} ({cite(trail, reservation)})"
            )
            allowed = None
        trail.say(
            f"Real-time collection of traffic data in {requested}: "
            + (
                "owed under Art. 33, under domestic conditions."
                if allowed
                else f"only for the offences {requested}'s Art. 14(3)(a) reservation names; "
                "whether the offence is one of them is not decided by the engine."
            )
        )
    else:
        trail.cite("ETS 185 Art. 34")
        trail.cite("ETS 185 Art. 21")
        conditions.append(
            "Art. 34: interception of content data only to the extent permitted under the "
            f"applicable treaties and {requested}'s domestic law; Art. 21: for a range of "
            "serious offences to be determined by domestic law"
        )
        allowed = None
        for reservation in interception:
            cited.append(describe(trail, reservation))
            conditions.append(
                f"Art. 21 declaration of {requested}: {reservation.text} "
                f"({cite(trail, reservation)})"
            )
        trail.say(
            f"Interception of content data in {requested}: only as far as its treaties and "
            "domestic law permit (Art. 34), for serious offences (Art. 21); not decided by "
            "the engine."
        )
    for reservation in closed:
        trail.cite("ETS 185 Art. 14(3)(b)")
        cited.append(describe(trail, reservation))
        conditions.append(
            f"Art. 14(3)(b) reservation of {requested}: Arts. 20 and 21 are not applied to "
            f"closed systems: {reservation.text} ({cite(trail, reservation)})"
        )
    topic = REALTIME_ARTICLES if kind == "content" else ("14(3)",)
    status = known(engine, requested, as_of, trail, topic)
    statuses.append(status)
    if status.status in ("not_read", "partial"):
        label = f"{requested} {ETS185_SHORT} Art. {'/'.join(topic)} reservations not read"
        if label not in trail.unverified:
            trail.unverified.append(label)
        conditions.append(
            f"Not checked: {status.text}; a reservation under Art. 14(3)"
            + (" or a declaration under Art. 21" if kind == "content" else "")
            + " may limit the collection"
        )
    return answer(allowed)
