"""The facts an answer is built from: input checks, who is bound by what on a given day,
treaties between two countries, national offences and their penalties.

:class:`LegalContext` is what the rules (``engine``, ``channels``, ``bases``,
``reservations``) read; :class:`~trailguard.law.engine.LegalEngine` adds the answers on top.
The rules import this module and ``trail`` at the top; neither imports a rule module, so the
engine can import the rules without a cycle.
"""

from __future__ import annotations

from datetime import date, datetime

from trailguard.core.errors import ValidationFailed
from trailguard.law.answers import (
    CONDUCTS,
    DATA_KINDS,
    MEASURES,
    REQUEST_KINDS,
    PenaltyCheck,
    PenaltyInfo,
    Provision,
)
from trailguard.law.loader import Dataset
from trailguard.law.schema import (
    Fact,
    Instrument,
    MaxPenalty,
    MlaTreaty,
    NationalOffence,
    Party,
    Reservation,
    describe_years,
    penalty_rank,
)
from trailguard.law.trail import EU_MEMBER_STATES, MLA_CONVENTIONS, Trail


class LegalContext:
    """The data set and the questions every rule asks of it (Parties, treaties, offences)."""

    def __init__(self, dataset: Dataset) -> None:
        self.data = dataset

    # -- input checks -------------------------------------------------------------------

    @property
    def horizon(self) -> date:
        return self.data.meta.horizon

    def country(self, value: str, what: str = "country") -> str:
        """Normalise and check an ISO 3166-1 alpha-2 code; name the bad value if refused."""
        code = (value or "").strip().upper()
        if code == "EU":
            raise ValidationFailed(
                f"{what}: 'EU' is not a country; name a Member State",
                [f"{what}: accepted EU Member States: {', '.join(EU_MEMBER_STATES)}"],
            )
        if code not in self.data.countries:
            known = ", ".join(sorted(self.data.countries))
            raise ValidationFailed(
                f"{what}: unknown country code {value!r}; use an ISO 3166-1 alpha-2 code",
                [f"{what}: {value!r} is not an ISO 3166-1 alpha-2 code; accepted: {known}"],
            )
        return code

    def check_date(self, as_of: date) -> date:
        if isinstance(as_of, datetime):
            as_of = as_of.date()
        if not isinstance(as_of, date):
            raise ValidationFailed(f"as_of: {as_of!r} is not a date", ["as_of: give YYYY-MM-DD"])
        meta = self.data.meta
        if as_of < meta.earliest:
            raise ValidationFailed(
                f"as_of: {as_of} is before {meta.earliest}, when the Convention on Cybercrime "
                "opened for signature; the engine has no law for earlier dates",
                [f"as_of: accepted dates are from {meta.earliest} on"],
            )
        return as_of

    def start_trail(self, as_of: date) -> Trail:
        """A new answer's trail. An answer for a day past the data's horizon is still given
        (a duty officer must not be left without one because the data was not refreshed), with
        the latest data, marked unverified and with a caution naming the day it was checked."""
        trail = Trail(self.data)
        meta = self.data.meta
        if as_of > meta.horizon:
            label = f"Legal data past its horizon ({meta.horizon}) on {as_of}"
            trail.say(
                f"Caution: the legal data (version {meta.data_version}) was checked on "
                f"{meta.checked} and is kept current up to {meta.horizon}; this answer for "
                f"{as_of} applies it unchanged, so later changes (new Parties, reservations, "
                "amendments) are not reflected. Refresh the data (see the law README)."
            )
            trail.unverified.append(label)
        return trail

    def _choice(self, value: str, accepted: tuple[str, ...], what: str) -> str:
        cleaned = (value or "").strip().lower()
        if cleaned not in accepted:
            raise ValidationFailed(
                f"{what}: unknown value {value!r}; accepted: {', '.join(accepted)}",
                [f"{what}: {value!r} is not one of {', '.join(accepted)}"],
            )
        return cleaned

    def measure(self, value: str) -> str:
        return self._choice(value, MEASURES, "measure")

    def data_kind(self, value: str) -> str:
        return self._choice(value, DATA_KINDS, "data")

    def request_kind(self, value: str) -> str:
        return self._choice(value, REQUEST_KINDS, "request_kind")

    def instrument(self, value: str) -> str:
        if value not in self.data.instruments:
            accepted = ", ".join(sorted(self.data.instruments))
            raise ValidationFailed(
                f"instrument: unknown instrument {value!r}; accepted: {accepted}",
                [f"instrument: {value!r} is not one of {accepted}"],
            )
        return value

    def conduct_ids(self, values: list[str], countries: tuple[str, ...]) -> list[str]:
        """Check conduct names: Art. 2-11 categories or national offence ids of ``countries``."""
        if not values:
            raise ValidationFailed(
                "conduct: give at least one conduct",
                [f"conduct: accepted: {', '.join(CONDUCTS)}, or a national offence id"],
            )
        checked: list[str] = []
        for raw in values:
            value = (raw or "").strip().lower()
            if value in CONDUCTS:
                checked.append(value)
                continue
            offence = self.data.offences.get(value)
            if offence is None:
                national = sorted(
                    o.id for o in self.data.offences.values() if o.country in countries
                )
                raise ValidationFailed(
                    f"conduct: unknown conduct {raw!r}; accepted: {', '.join(CONDUCTS)}, "
                    "or a national offence id",
                    [
                        f"conduct: {raw!r} is unknown; national offence ids for "
                        f"{'/'.join(countries)}: {', '.join(national) or 'none in the data'}"
                    ],
                )
            if offence.country not in countries:
                raise ValidationFailed(
                    f"conduct: {value!r} is an offence of {offence.country}, which is neither "
                    f"the requesting nor the requested country ({' / '.join(countries)})",
                    [f"conduct: {value!r} contradicts --from/--to"],
                )
            checked.append(value)
        return list(dict.fromkeys(checked))

    # -- instruments and Parties --------------------------------------------------------

    def party_entry(self, country: str, instrument_id: str, as_of: date) -> Party | None:
        """The Party entry if ``country`` is bound by the instrument on ``as_of``."""
        instrument = self.data.instruments[instrument_id]
        if instrument.in_force is None or as_of < instrument.in_force:
            return None
        party = self.data.parties.get(instrument_id, {}).get(country)
        if party is None or party.in_force is None or as_of < party.in_force:
            return None
        return party

    def is_party(self, country: str, instrument: str, as_of: date) -> bool:
        code = self.country(country)
        return (
            self.party_entry(code, self.instrument(instrument), self.check_date(as_of)) is not None
        )

    def parties(self, instrument_id: str, as_of: date) -> list[str]:
        """ISO codes of the States bound by the instrument on ``as_of``, sorted."""
        instrument_id = self.instrument(instrument_id)
        as_of = self.check_date(as_of)
        return sorted(
            code
            for code in self.data.parties.get(instrument_id, {})
            if self.party_entry(code, instrument_id, as_of) is not None
        )

    def describe_status(self, country: str, instrument_id: str, as_of: date, trail: Trail) -> bool:
        """Add a reasoning line about ``country``'s status under the instrument; True if bound."""
        instrument = self.data.instruments[instrument_id]
        party = self.data.parties.get(instrument_id, {}).get(country)
        name = self.data.countries.get(country, country)
        if instrument.in_force is None or as_of < instrument.in_force:
            trail.fact(instrument, f"{instrument.short} status")
            trail.say(
                f"{instrument.short} is not in force on {as_of}: {instrument.entry_into_force_rule}"
            )
            return False
        if party is not None and party.in_force is not None and as_of >= party.in_force:
            trail.fact(party, f"{instrument.short} Party {country}")
            trail.say(
                f"{country} ({name}) is a Party to {instrument.short} since {party.in_force}."
            )
            return True
        if party is not None and party.in_force is not None:
            trail.fact(party, f"{instrument.short} Party {country}")
            trail.say(
                f"{country} ({name}) is not yet bound by {instrument.short} on {as_of}: "
                f"it enters into force for {country} on {party.in_force}."
            )
            return False
        signatory = self.data.signatories.get(instrument_id, {}).get(country)
        if signatory is not None:
            trail.fact(signatory, f"{instrument.short} signatory {country}")
            trail.say(
                f"{country} ({name}) signed {instrument.short} on {signatory.signed} "
                "but is not a Party."
            )
            return False
        trail.say(f"{country} ({name}) is not a Party to {instrument.short} on {as_of}.")
        self.note_incomplete(instrument_id, as_of, trail)
        return False

    def note_incomplete(self, instrument_id: str, as_of: date, trail: Trail) -> None:
        """Say so when an answer rests on a State's absence from a Party list that is known to
        be incomplete on ``as_of`` (the depositary counted more Parties than the data lists)."""
        instrument = self.data.instruments[instrument_id]
        until = instrument.parties_complete_until
        if until is None or as_of <= until:
            return
        counts = [c for c in instrument.party_counts if c.as_of > until]
        label = f"{instrument.short} Party list after {until}"
        if counts:
            # The count nearest the question: the latest published on or before ``as_of``,
            # else the first one published after it.
            known = [c for c in counts if c.as_of <= as_of]
            latest = (
                max(known, key=lambda c: c.as_of) if known else min(counts, key=lambda c: c.as_of)
            )
            trail.fact(
                Fact(source=latest.source, as_of=latest.as_of, verified=False, note=latest.note),
                label,
            )
            found = self.deposited_count(instrument_id, latest.as_of)
            gap = (
                f"the depositary reported {latest.count} Parties on {latest.as_of}, the data "
                f"identifies {found}"
            )
        else:
            trail.fact(Fact(source=instrument.source, as_of=until, verified=False), label)
            gap = "later accessions were not checked"
        trail.say(
            f"Caution: the {instrument.short} Party list is complete only up to {until} ({gap}); "
            "a State missing from it may have become a Party since (unverified)."
        )

    def parties_caution(self, instrument_id: str, as_of: date) -> str | None:
        """A sentence saying the Party list may be incomplete on ``as_of``, or None."""
        as_of = self.check_date(as_of)
        trail = Trail(self.data)
        self.note_incomplete(self.instrument(instrument_id), as_of, trail)
        return trail.reasoning[-1] if trail.reasoning else None

    def consented_by(self, party: Party, instrument_id: str) -> date | None:
        """The day ``party`` consented to be bound, or the first day of the month its deposit
        must have fallen in when only the in-force date is known (``deposit_lag_months``)."""
        if party.deposited is not None:
            return party.deposited
        lag = self.data.instruments[instrument_id].deposit_lag_months
        if party.in_force is None or lag is None:
            return party.in_force
        months = party.in_force.year * 12 + party.in_force.month - 1 - (lag + 1)
        return date(months // 12, months % 12 + 1, 1)

    def deposited_count(self, instrument_id: str, day: date) -> int:
        """How many listed States had consented to be bound by ``day``."""
        return sum(
            1
            for party in self.data.parties.get(instrument_id, {}).values()
            if (self.consented_by(party, instrument_id) or date.max) <= day
        )

    def consent_note(self, country: str, instrument_id: str, as_of: date, trail: Trail) -> str:
        """How far ``country`` has gone towards being bound: consented, signed, or neither."""
        short = self.data.instruments[instrument_id].short
        party = self.data.parties.get(instrument_id, {}).get(country)
        if party is not None and (party.deposited is None or party.deposited <= as_of):
            trail.fact(party, f"{short} consent {country}")
            when = f" on {party.deposited}" if party.deposited else ""
            return f"{country} has consented to be bound{when}"
        signatory = self.data.signatories.get(instrument_id, {}).get(country)
        if signatory is not None and signatory.signed <= as_of:
            trail.fact(signatory, f"{short} signatory {country}")
            return f"{country} signed on {signatory.signed}"
        return f"{country} has not signed"

    def reservation(
        self, country: str, instrument_id: str, effect: str, as_of: date
    ) -> Reservation | None:
        for reservation in self.data.reservations:
            if (
                reservation.country == country
                and reservation.instrument == instrument_id
                and reservation.effect == effect
                and reservation.applies_on(as_of)
            ):
                return reservation
        return None

    def treaties_between(self, first: str, second: str, as_of: date) -> list[MlaTreaty]:
        return [t for t in self.data.treaties if t.binds(first, second, as_of)]

    def mla_conventions_between(
        self, first: str, second: str, as_of: date
    ) -> list[tuple[Instrument, Party, Party]]:
        """Multilateral mutual assistance conventions (ETS 30) binding both on ``as_of``, with
        each country's Party entry."""
        found: list[tuple[Instrument, Party, Party]] = []
        if first == second:
            return found
        for instrument_id in MLA_CONVENTIONS:
            if instrument_id not in self.data.instruments:
                continue
            mine = self.party_entry(first, instrument_id, as_of)
            theirs = self.party_entry(second, instrument_id, as_of)
            if mine is not None and theirs is not None:
                found.append((self.data.instruments[instrument_id], mine, theirs))
        return found

    def has_mla_treaty(self, first: str, second: str, as_of: date) -> bool:
        """A bilateral treaty or a multilateral MLA convention binds both (ETS 185 Art. 27(1))."""
        return bool(
            self.treaties_between(first, second, as_of)
            or self.mla_conventions_between(first, second, as_of)
        )

    # -- dual criminality ---------------------------------------------------------------

    def _offences(self, country: str, as_of: date) -> list[NationalOffence]:
        return [
            o for o in self.data.offences.values() if o.country == country and o.in_force_on(as_of)
        ]

    def coverage(
        self, country: str, categories: set[str], tags: set[str], as_of: date, trail: Trail
    ) -> tuple[list[Provision], bool | None]:
        """Provisions of ``country`` covering the conduct, and whether it is criminal there
        (True), shown not to be (False) or not known from the data (None)."""
        provisions: list[Provision] = []
        for offence in self._offences(country, as_of):
            hit = categories.intersection(offence.conduct) or (
                offence.other_conduct is not None and offence.other_conduct in tags
            )
            if hit:
                trail.fact(offence, f"{offence.statute} ({country})")
                provisions.append(
                    Provision(
                        offence.id,
                        country,
                        offence.statute,
                        offence.title,
                        tuple(offence.conduct),
                        offence.verified,
                        penalty_info(offence.penalty_on(as_of)),
                    )
                )
        if provisions:
            return provisions, True
        gaps = [
            g
            for g in self.data.gaps
            if g.country == country and g.conduct in categories and g.applies_on(as_of)
        ]
        if categories and not tags and {g.conduct for g in gaps} >= categories:
            for gap in gaps:
                trail.fact(gap, f"no offence for {gap.conduct} in {country}")
            return provisions, False
        return provisions, None

    def conduct_scope(self, conduct_ids: list[str]) -> tuple[set[str], set[str]]:
        """The Art. 2-11 categories and other_conduct tags that checked conduct names stand for."""
        categories: set[str] = set()
        tags: set[str] = set()
        for item in conduct_ids:
            if item in CONDUCTS:
                categories.add(item)
                continue
            offence = self.data.offences[item]
            categories.update(offence.conduct)
            if offence.other_conduct:
                tags.add(offence.other_conduct)
        return categories, tags

    def penalty_check(
        self,
        country: str,
        provisions: list[Provision],
        threshold: float,
        rule: str,
        as_of: date,
        trail: Trail,
    ) -> PenaltyCheck:
        """Does ``country`` punish the conduct (its ``provisions``) by deprivation of liberty for
        a maximum of at least ``threshold`` years on ``as_of``, as ``rule`` requires?

        One provision whose basic maximum reaches the threshold is enough. Below it everywhere
        is "not met" only if every provision's maximum is in the data; where only an aggravated
        form reaches it, or a maximum is missing, the answer is unknown (None)."""
        need = describe_years(threshold)
        if not provisions:
            reason = (
                f"{country}: no offence covering the conduct in the data, so no maximum penalty "
                f"to compare with the {need} of {rule}"
            )
            trail.say(reason + ".")
            return PenaltyCheck(country, rule, threshold, None, None, None, True, reason)
        known: list[tuple[NationalOffence, MaxPenalty]] = []
        missing: list[str] = []
        for provision in provisions:
            offence = self.data.offences[provision.id]
            penalty = offence.penalty_on(as_of)
            if penalty is not None:
                known.append((offence, penalty))
            elif not offence.penalties():
                missing.append(f"{offence.statute} (no maximum penalty in the data)")
            else:
                periods = ", ".join(
                    f"{p.in_force_from or '...'} to {p.in_force_until or '...'}"
                    for p in offence.penalties()
                )
                missing.append(
                    f"{offence.statute} (no maximum penalty recorded for {as_of}; recorded "
                    f"periods: {periods})"
                )

        def cite(offence: NationalOffence, penalty: MaxPenalty) -> tuple[str, str, bool]:
            trail.fact(penalty, f"maximum penalty {offence.statute} ({country})")
            details = [
                *([penalty.provision] if penalty.provision not in (None, offence.statute) else []),
                f"as of {penalty.as_of}",
                *([] if penalty.verified else ["unverified"]),
            ]
            return (
                offence.statute,
                f"{penalty_text(penalty)} ({', '.join(details)})",
                penalty.verified,
            )

        meets = [(o, p) for o, p in known if penalty_rank(p.years) >= threshold]
        if meets:
            offence, penalty = max(meets, key=lambda item: penalty_rank(item[1].years))
            statute, text, verified = cite(offence, penalty)
            reason = f"{country}: {statute} carries {text}, at least the {need} of {rule}"
            trail.say(reason + ".")
            return PenaltyCheck(country, rule, threshold, True, statute, text, verified, reason)
        aggravated = [(o, p) for o, p in known if p.top() >= threshold]
        if aggravated:
            offence, penalty = max(aggravated, key=lambda item: item[1].top())
            statute, text, verified = cite(offence, penalty)
            reason = (
                f"{country}: {statute} carries {text}; only its aggravated form reaches the "
                f"{need} of {rule}, so the threshold is met only if the aggravated form applies "
                "to the facts (not decided by the engine)"
            )
            trail.say(reason + ".")
            return PenaltyCheck(country, rule, threshold, None, statute, text, verified, reason)
        if missing:
            shown = "; ".join(missing)
            below = ""
            if known:
                offence, penalty = max(known, key=lambda item: penalty_rank(item[1].years))
                statute, text, _ = cite(offence, penalty)
                below = f"; {statute} carries {text}, below it"
            reason = (
                f"{country}: the threshold of {rule} ({need}) could not be checked: {shown}{below}"
            )
            trail.say(reason + ".")
            return PenaltyCheck(country, rule, threshold, None, None, None, True, reason)
        offence, penalty = max(known, key=lambda item: penalty_rank(item[1].years))
        statute, text, verified = cite(offence, penalty)
        others = len(known) - 1
        reason = f"{country}: {statute} carries {text}, less than the {need} of {rule}" + (
            f" (and so do the {others} other provisions covering the conduct)" if others else ""
        )
        trail.say(reason + ".")
        return PenaltyCheck(country, rule, threshold, False, statute, text, verified, reason)

    def source_fact(self, source_id: str) -> Fact:
        return Fact(source=source_id, as_of=self.data.sources[source_id].checked, verified=True)


def penalty_text(penalty: MaxPenalty) -> str:
    """'up to 2 years (aggravated form: up to 4 years)'."""
    text = f"up to {describe_years(penalty.years)}"
    if penalty.aggravated_years is not None:
        text += f" (aggravated form: up to {describe_years(penalty.aggravated_years)})"
    return text


def penalty_info(penalty: MaxPenalty | None) -> PenaltyInfo | None:
    if penalty is None:
        return None
    return PenaltyInfo(
        penalty.years,
        penalty.aggravated_years,
        penalty.provision,
        penalty.in_force_from,
        penalty.verified,
        penalty_text(penalty),
        penalty.in_force_until,
    )
