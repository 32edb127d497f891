"""The legal engine: who is bound by what on a given day, dual criminality, legal bases.

Plain Python over a validated :class:`~trailguard.law.loader.Dataset`. Every answer is dated
(``as_of``), explains itself (``reasoning``), cites the articles and data sources it rests on
(``citations``) and says whether any fact it used is unverified. The rules follow the
Convention on Cybercrime (ETS 185) as quoted in ../shared/brief/LEGAL.md:

* Art. 25(5): dual criminality looks at the conduct, not the offence's name or category.
* Art. 29(3): preservation needs no dual criminality, except where the requested Party made
  the Art. 29(4) reservation and the offence lies outside Arts. 2-11.
* Art. 30(2): expedited disclosure of preserved traffic data may be withheld only for
  political offences or essential interests.
* Art. 24(1)(a): extradition needs the offence punishable in both Parties by deprivation of
  liberty for a maximum of at least one year: checked against each offence's ``max_penalty``.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import cache
from pathlib import Path

from trailguard.law import reservations as res
from trailguard.law.answers import (
    CONDUCTS,
    ChannelsAnswer,
    DualCriminality,
    DualCriminalityAnswer,
    LegalBasis,
    PenaltyCheck,
    Provision,
)
from trailguard.law.bases import legal_basis
from trailguard.law.channels import rank_channels
from trailguard.law.context import LegalContext
from trailguard.law.loader import load_dataset
from trailguard.law.trail import ETS185, EXTRADITION_MIN_YEARS, EXTRADITION_RULE, Trail


class LegalEngine(LegalContext):
    """Answers about instruments, Parties, dual criminality, channels and legal bases."""

    def check(
        self,
        requesting: str,
        requested: str,
        conduct: list[str],
        measure: str,
        as_of: date,
    ) -> DualCriminalityAnswer:
        """Is dual criminality required for ``measure``, is it satisfied, and by what?"""
        requesting = self.country(requesting, "requesting")
        requested = self.country(requested, "requested")
        measure = self.measure(measure)
        conduct_ids = self.conduct_ids(conduct, (requesting, requested))
        as_of = self.check_date(as_of)
        trail = self.start_trail(as_of)

        categories: set[str] = set()
        tags: set[str] = set()
        for item in conduct_ids:
            if item in CONDUCTS:
                categories.add(item)
                trail.fact(
                    self.data.conducts[item], f"ETS 185 Art. {self.data.conducts[item].article}"
                )
                continue
            offence = self.data.offences[item]
            categories.update(offence.conduct)
            if offence.other_conduct:
                tags.add(offence.other_conduct)
            trail.fact(offence, f"{offence.statute} ({offence.country})")
            if not offence.in_force_on(as_of):
                trail.say(
                    f"Note: {offence.statute} is not in force in {offence.country} on {as_of}."
                )
        outside = not categories
        described = ", ".join(sorted(categories)) or "conduct outside Arts. 2-11"
        trail.say(
            f"Conduct considered: {described}"
            + (f" ({', '.join(sorted(tags))})" if tags else "")
            + "."
        )

        if requesting == requested:
            provisions, _ = self.coverage(requesting, categories, tags, as_of, trail)
            trail.cite("ETS 185 Explanatory Report para. 290")
            trail.fact(self.source_fact("ets185_explanatory_290"), "Explanatory Report para. 290")
            reason = (
                f"Requesting and requested country are both {requesting}: the trace loops back "
                "home, so domestic process applies; no mutual assistance, no dual criminality."
            )
            trail.say(reason)
            return self._dc_answer(
                as_of,
                requesting,
                requested,
                conduct_ids,
                measure,
                DualCriminality(False, None, reason),
                {requesting: tuple(provisions)},
                trail,
            )

        requesting_party = self.describe_status(requesting, ETS185, as_of, trail)
        requested_party = self.describe_status(requested, ETS185, as_of, trail)
        both = requesting_party and requested_party
        required, reason = self._required(measure, requested, both, outside, as_of, trail)

        own, own_ok = self.coverage(requesting, categories, tags, as_of, trail)
        theirs, their_ok = self.coverage(requested, categories, tags, as_of, trail)
        satisfied: bool | None
        if own_ok is False or their_ok is False:
            satisfied = False
        elif own_ok and their_ok:
            satisfied = True
        else:
            satisfied = None
        trail.say(self._satisfaction_line(requesting, requested, own_ok, their_ok))
        if satisfied is not None:
            trail.cite("ETS 185 Art. 25(5)")
        checks: tuple[PenaltyCheck, ...] = ()
        if measure == "extradition" and both:
            checks = tuple(
                self.penalty_check(
                    country, provisions, EXTRADITION_MIN_YEARS, EXTRADITION_RULE, as_of, trail
                )
                for country, provisions in ((requesting, own), (requested, theirs))
            )
            satisfied, summary = self._extradition_outcome(satisfied, checks)
            reason += " " + summary
        notes = self._reservation_notes(
            requesting, requested, measure, categories, both, as_of, trail
        )
        status = (
            (res.known(self, requested, as_of, trail, res.MEASURE_ARTICLES.get(measure, ())),)
            if both
            else ()
        )
        if not trail.verified:
            reason += " Built on unverified data: " + "; ".join(trail.unverified) + "."
        answer = self._dc_answer(
            as_of,
            requesting,
            requested,
            conduct_ids,
            measure,
            DualCriminality(required, satisfied, reason),
            {requesting: tuple(own), requested: tuple(theirs)},
            trail,
            checks,
        )
        return dataclasses.replace(answer, notes=tuple(notes), reservations_known=status)

    def _reservation_notes(
        self,
        requesting: str,
        requested: str,
        measure: str,
        categories: set[str],
        both: bool,
        as_of: date,
        trail: Trail,
    ) -> list[str]:
        """Notes on the two countries' reservations and declarations that bear on the
        question (reservations.yaml), each cited: offences they narrow, the authority
        designated for the measure, and for real-time collection the Art. 14(3) limits."""
        if not both:
            return []
        shown = res.notes(self, (requesting, requested), as_of, trail, categories)
        if measure == "realtime_collection":
            for reservation in res.in_effect(self, requested, as_of, res.REALTIME_EFFECTS):
                article = "21" if reservation.effect == "art21_interception_limited" else "14(3)"
                trail.cite(f"ETS 185 Art. {article}")
                trail.say(
                    f"{requested} limits real-time collection under Art. {article}: "
                    f"{reservation.text} ({reservation.label()})."
                )
        articles = {"extradition": ("24(7)",)}.get(measure, ("27(2)",))
        for item in res.authorities(self, requested, articles, as_of, trail):
            shown.append(
                f"{item.country} designated {item.authority} as {item.role} [{item.citation}]"
            )
        return shown

    @staticmethod
    def _extradition_outcome(
        conduct_ok: bool | None, checks: tuple[PenaltyCheck, ...]
    ) -> tuple[bool | None, str]:
        """Combine dual criminality of the conduct with the Art. 24(1)(a) penalty threshold."""
        details = " ".join(c.reason + "." for c in checks)
        unverified = [c.country for c in checks if c.met is not None and not c.verified]
        caveat = (
            f" The deciding penalty of {' and '.join(unverified)} is unverified."
            if unverified
            else ""
        )
        if conduct_ok is False:
            return False, f"The conduct is not criminal in both countries. {details}{caveat}"
        failed = [c for c in checks if c.met is False]
        if failed:
            names = ", ".join(f"{c.country} ({c.statute}: {c.penalty})" for c in failed)
            return False, (
                f"Penalty threshold not met: the maximum penalty in {names} is less than one "
                f"year, so Art. 24(1)(a) does not allow extradition. {details}{caveat}"
            )
        if conduct_ok and all(c.met for c in checks):
            return True, f"Penalty threshold met in both countries: {details}{caveat}"
        open_ = ", ".join(c.country for c in checks if c.met is None)
        return None, (f"Penalty threshold unknown for {open_ or 'the conduct'}: {details}{caveat}")

    def _required(
        self, measure: str, requested: str, both: bool, outside: bool, as_of: date, trail: Trail
    ) -> tuple[bool, str]:
        if measure == "preservation":
            if not both:
                return True, (
                    "The two countries are not both Parties to ETS 185 on this date, so "
                    "Art. 29(3) does not apply: preservation rests on the requested country's "
                    "law or a treaty, which may require dual criminality (assumed required)."
                )
            trail.cite("ETS 185 Art. 29(3)")
            reservation = self.reservation(requested, ETS185, "art29_4_dual_criminality", as_of)
            if reservation is not None:
                cited = trail.fact(reservation, reservation.label())
                trail.cite("ETS 185 Art. 29(4)")
                period = f"in effect from {reservation.valid_from}" + (
                    f" until {reservation.valid_until}" if reservation.valid_until else ""
                )
                if outside:
                    return True, (
                        f"Art. 29(3) waives dual criminality for preservation, but {requested} "
                        "made the Art. 29(4) reservation, which applies because the offence lies "
                        f"outside Arts. 2-11 ({reservation.label()}, {period}; {cited})."
                    )
                return False, (
                    f"Art. 29(3): no dual criminality for preservation; {requested}'s "
                    "Art. 29(4) reservation does not reach offences under Arts. 2-11 "
                    f"({reservation.label()}, {period}; {cited})."
                )
            return False, "Art. 29(3): dual criminality is not required for preservation."
        if measure == "traffic_disclosure":
            if both:
                trail.cite("ETS 185 Art. 30(2)")
                return False, (
                    "Art. 30(2): expedited disclosure of preserved traffic data, enough to "
                    "identify the next provider and the path, may be withheld only for a "
                    "political offence or essential interests, not for lack of dual "
                    "criminality. Wider disclosure goes by MLA (Art. 31), where it may be required."
                )
            return True, (
                "Not both Parties to ETS 185: disclosure of traffic data needs mutual legal "
                "assistance under the requested country's law, which may require dual criminality."
            )
        if measure == "extradition":
            if both:
                trail.cite("ETS 185 Art. 24(1)(a)")
                return True, (
                    "Art. 24(1)(a): extradition needs the offence punishable under the laws of "
                    "both Parties by deprivation of liberty for a maximum period of at least "
                    "one year."
                )
            return (
                True,
                "Extradition always requires the conduct to be an offence in both countries. "
                "The two are not both Parties to ETS 185, so Art. 24(1)(a) does not apply; the "
                "penalty threshold of the applicable treaty or law is not checked.",
            )
        if both:
            trail.cite("ETS 185 Art. 25(4)")
            trail.cite("ETS 185 Art. 25(5)")
            return True, (
                f"Arts. 25(4)-(5): the requested Party may make {measure.replace('_', ' ')} "
                "conditional on dual criminality; the condition is met when the conduct is an "
                "offence under its law, whatever the offence is called."
            )
        return True, (
            "Not both Parties to ETS 185: the measure needs mutual legal assistance under the "
            "requested country's law or a treaty, which may require dual criminality."
        )

    @staticmethod
    def _satisfaction_line(
        requesting: str, requested: str, own: bool | None, theirs: bool | None
    ) -> str:
        def word(country: str, ok: bool | None) -> str:
            if ok is True:
                return f"criminal in {country}"
            if ok is False:
                return f"not criminal in {country} according to the data"
            return f"not known for {country} (no matching offence in the data)"

        return f"The conduct is {word(requesting, own)}; {word(requested, theirs)}."

    @staticmethod
    def _dc_answer(
        as_of: date,
        requesting: str,
        requested: str,
        conduct: list[str],
        measure: str,
        dual: DualCriminality,
        provisions: dict[str, tuple[Provision, ...]],
        trail: Trail,
        checks: tuple[PenaltyCheck, ...] = (),
    ) -> DualCriminalityAnswer:
        return DualCriminalityAnswer(
            as_of=as_of,
            requesting=requesting,
            requested=requested,
            conduct=tuple(conduct),
            measure=measure,
            dual_criminality=dual,
            provisions=provisions,
            reasoning=tuple(trail.reasoning),
            citations=tuple(trail.citations),
            verified=trail.verified,
            unverified=tuple(trail.unverified),
            penalty_checks=checks,
        )

    # -- channels and legal bases -------------------------------------------------------

    def channels(
        self,
        requesting: str,
        requested: str,
        data: str,
        emergency: bool,
        as_of: date,
        provider_country: str | None = None,
        conduct: list[str] | None = None,
        purpose: str = "both",
    ) -> ChannelsAnswer:
        """The lawful channels and those ruled out with the reason, ordered for ``purpose``
        (preserve, obtain, both: see ``channels.order_key``). ``conduct`` (Art. 2-11 names or
        national offence ids) lets penalty thresholds be checked (Regulation (EU) 2023/1543
        Art. 5(4)); without it they are reported as not checked."""
        return rank_channels(
            self, requesting, requested, data, emergency, as_of, provider_country, conduct, purpose
        )

    def legal_basis(
        self,
        request_kind: str,
        requesting: str,
        requested: str,
        as_of: date,
        emergency: bool = False,
    ) -> LegalBasis | None:
        """The legal basis for a request of ``request_kind``, or None when there is none."""
        return legal_basis(self, request_kind, requesting, requested, as_of, emergency)


@cache
def get_engine(folder: Path | None = None) -> LegalEngine:
    """The engine over the packaged data (or ``folder``), loaded once per process."""
    return LegalEngine(load_dataset(folder))
