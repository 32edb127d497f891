"""The clocks that decide whether the trail survives.

Two kinds of period, kept apart on purpose:
- periods in *days* (Art. 29(7) "not less than sixty days", the EPOC's 10 days, the EPOC-PR's
  60 + 30 days, a provider's retention) run in calendar days in the zone of the office that
  runs them: the deadline is the same local wall-clock time N local days later, so across a
  daylight-saving change the elapsed time is N days plus or minus the shift;
- periods in *hours* (the EPOC's 8 hours in an emergency, the acknowledgement clock) are
  elapsed time, the same in every zone.
A local time that does not exist (spring-forward gap) moves forward by the gap; an ambiguous one
(fall-back) takes its first occurrence, the earlier and so the safer instant.

Sources: Convention Art. 29(7)
(https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md),
Art. 16(2) (domestic preservation "up to a maximum of ninety days", the default cap per period
here); Reg. (EU) 2023/1543 Art. 10 (10 days; 8 hours in an emergency:
https://gesetze.legal/eu/vo_eu_2023_1543/10) and Art. 11 (60 days, one 30-day extension,
kept after confirmation of a production request:
https://fantasticsearch.net/law/eu/en?article=1&id=X20lZpsB1anJoctM1I2V); Second Protocol
Art. 7(7) (30 days, unverified: https://pace.coe.int/en/files/29267/html).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from trailguard.core.errors import ValidationFailed
from trailguard.requests.domain.common import RequestKind
from trailguard.requests.domain.lifecycle import PRESERVED_STATES, RequestState

MIN_PRESERVATION_DAYS = 60  # Convention Art. 29(7)
DEFAULT_MAX_PERIOD_DAYS = 90  # Convention Art. 16(2) domestic maximum per period
EPOC_DAYS = 10  # Reg. 2023/1543 Art. 10(2)
EPOC_EMERGENCY_HOURS = 8  # Reg. 2023/1543 Art. 10(4)
EPOC_PR_DAYS = 60  # Reg. 2023/1543 Art. 11(1)
EPOC_PR_EXTENSION_DAYS = 30  # Reg. 2023/1543 Art. 11(1), Annex VI
PROTOCOL_ART7_DAYS = 30  # Second Protocol Art. 7(7) (unverified)
DEFAULT_REMINDER_LEADS = (timedelta(days=7), timedelta(days=1), timedelta(hours=1))


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def add_calendar_days(start: datetime, days: int, zone: str) -> datetime:
    """``start`` plus ``days`` calendar days in ``zone``, at the same local wall-clock time."""
    tz = ZoneInfo(zone)
    local = _utc(start, "start").astimezone(tz)
    wall = local.replace(tzinfo=None) + timedelta(days=days)
    candidate = wall.replace(tzinfo=tz, fold=0)
    # In a spring-forward gap, fold=0 applies the offset from before the change, which lands
    # the length of the gap later in local time; in a fall-back overlap it is the first one.
    return candidate.astimezone(UTC)


def add_elapsed(start: datetime, delta: timedelta) -> datetime:
    return _utc(start, "start") + delta


class DeadlineKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    PRESERVATION_EXPIRY = "preservation_expiry"
    EMERGENCY = "emergency"
    PRODUCTION = "production"
    RESPONSE = "response"
    RETENTION_DELETION = "retention_deletion"


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    due_at: datetime
    label: str
    citation: str
    met: bool = False

    def status(self, now: datetime, soon: timedelta = timedelta(days=1)) -> str:
        if self.met:
            return "met"
        now = _utc(now, "now")
        if now >= self.due_at:
            return "overdue"
        if self.due_at - now <= soon:
            return "due_soon"
        return "pending"


@dataclass(frozen=True)
class Reminder:
    deadline: Deadline
    remind_at: datetime
    lead: timedelta


def acknowledgement_due(sent_at: datetime, ack_minutes: int) -> datetime:
    if ack_minutes < 1:
        raise ValueError(f"acknowledgement minutes must be positive, not {ack_minutes}")
    return add_elapsed(sent_at, timedelta(minutes=ack_minutes))


def check_preservation_period(days: int, *, max_days: int = DEFAULT_MAX_PERIOD_DAYS) -> int:
    if days < MIN_PRESERVATION_DAYS:
        raise ValidationFailed(
            f"a preservation period of {days} days is shorter than the "
            f"{MIN_PRESERVATION_DAYS} days "
            "Convention Art. 29(7) requires",
            [f"period_days: {days} < {MIN_PRESERVATION_DAYS}"],
        )
    if days > max_days:
        raise ValidationFailed(
            f"a preservation period of {days} days exceeds the allowed {max_days} days per period",
            [f"period_days: {days} > {max_days}"],
        )
    return days


def check_extension(
    kind: RequestKind,
    extension_days: int,
    previous_extensions: Iterable[int],
    *,
    max_days: int = DEFAULT_MAX_PERIOD_DAYS,
) -> int:
    """Refuse an extension past the allowed period: the EPOC-PR allows one extension of 30 days
    (Reg. 2023/1543 Art. 11); an Art. 29 preservation is extended by a new period of at least
    60 and at most ``max_days`` days."""
    previous = list(previous_extensions)
    if kind is RequestKind.EPOC_PR:
        if previous:
            raise ValidationFailed(
                "an EPOC-PR may be extended only once, by 30 days (Reg. 2023/1543 Art. 11); "
                "it was already extended",
                ["extension: already extended"],
            )
        if extension_days != EPOC_PR_EXTENSION_DAYS:
            raise ValidationFailed(
                f"an EPOC-PR extension is {EPOC_PR_EXTENSION_DAYS} days (Reg. 2023/1543 Art. 11), "
                f"not {extension_days}",
                [f"extension_days: {extension_days} != {EPOC_PR_EXTENSION_DAYS}"],
            )
        return extension_days
    if kind is RequestKind.PRESERVATION:
        return check_preservation_period(extension_days, max_days=max_days)
    raise ValidationFailed(
        f"a {kind.value} request has no preservation period to extend", ["kind: not a preservation"]
    )


def preservation_expiry(
    preserved_at: datetime,
    zone: str,
    *,
    kind: RequestKind = RequestKind.PRESERVATION,
    period_days: int = MIN_PRESERVATION_DAYS,
    extensions: Iterable[int] = (),
    kept_pending_decision: bool = False,
) -> datetime | None:
    """When the preservation ends; None once it is kept pending the decision on a mutual
    assistance request (Art. 29(7)) or on a confirmed production request (Reg. Art. 11)."""
    if kept_pending_decision:
        return None
    base = EPOC_PR_DAYS if kind is RequestKind.EPOC_PR else period_days
    total = base + sum(extensions)
    return add_calendar_days(preserved_at, total, zone)


def check_can_expire(expiry: datetime | None, now: datetime) -> None:
    """A preservation cannot be marked expired before its period has run, nor while it is kept
    pending the decision on the MLA request."""
    if expiry is None:
        raise ValidationFailed(
            "the preservation is kept pending the decision on the mutual assistance request "
            "(Convention Art. 29(7)); it does not expire",
            ["state: kept pending the MLA decision"],
        )
    now = _utc(now, "now")
    if now < expiry:
        raise ValidationFailed(
            f"the preservation runs until {expiry.isoformat()}; it cannot be marked expired at "
            f"{now.isoformat()} (Convention Art. 29(7): not less than sixty days)",
            ["state: minimum period not over"],
        )


def epoc_due(received_at: datetime, zone: str, *, emergency: bool) -> datetime:
    if emergency:
        return add_elapsed(received_at, timedelta(hours=EPOC_EMERGENCY_HOURS))
    return add_calendar_days(received_at, EPOC_DAYS, zone)


def retention_deletion_at(observed_at: datetime, retention_days: int, zone: str) -> datetime:
    """The day a provider's retention deletes data observed at ``observed_at``."""
    if retention_days < 0:
        raise ValueError(f"retention days must not be negative, not {retention_days}")
    return add_calendar_days(observed_at, retention_days, zone)


@dataclass(frozen=True)
class ClockFacts:
    """What the clocks of one request depend on."""

    kind: RequestKind
    state: RequestState
    zone: str = "UTC"
    emergency: bool = False
    ack_minutes: int = 30
    sent_at: datetime | None = None
    received_at: datetime | None = None
    acknowledged_at: datetime | None = None
    preserved_at: datetime | None = None
    period_days: int = MIN_PRESERVATION_DAYS
    extensions: tuple[int, ...] = ()
    kept_pending_decision: bool = False
    observed_at: datetime | None = None
    retention_days: Mapping[str, int] = field(default_factory=dict)
    protocol_article: str | None = None


_DONE = frozenset(
    {
        RequestState.DISCLOSED,
        RequestState.REFUSED,
        RequestState.EXPIRED,
        RequestState.CLOSED,
    }
)


def deadlines_for(facts: ClockFacts) -> list[Deadline]:
    """Every clock of a request, met or not, earliest first."""
    out: list[Deadline] = []
    state = facts.state
    if facts.sent_at is not None:
        out.append(
            Deadline(
                DeadlineKind.ACKNOWLEDGEMENT,
                acknowledgement_due(facts.sent_at, facts.ack_minutes),
                "acknowledgement due",
                "24/7 point of contact, Convention Art. 35 (the node's acknowledgement time)",
                met=facts.acknowledged_at is not None or state in _DONE,
            )
        )
    start = facts.received_at or facts.sent_at
    done = state in _DONE
    if facts.kind is RequestKind.EPOC and start is not None:
        out.append(
            Deadline(
                DeadlineKind.EMERGENCY if facts.emergency else DeadlineKind.PRODUCTION,
                epoc_due(start, facts.zone, emergency=facts.emergency),
                "data due (8 hours, emergency)" if facts.emergency else "data due (10 days)",
                "Reg. (EU) 2023/1543 Art. 10",
                met=done,
            )
        )
    if facts.kind is RequestKind.SUBSCRIBER_INFO and facts.protocol_article == "7" and start:
        out.append(
            Deadline(
                DeadlineKind.RESPONSE,
                add_calendar_days(start, PROTOCOL_ART7_DAYS, facts.zone),
                "disclosure due (30 days)",
                "Second Protocol Art. 7(7) (unverified)",
                met=done,
            )
        )
    if facts.kind in {RequestKind.PRESERVATION, RequestKind.EPOC_PR}:
        preserved_from = facts.preserved_at
        if facts.kind is RequestKind.EPOC_PR and preserved_from is None:
            preserved_from = facts.received_at  # preserved on receipt (Art. 11(1))
        if preserved_from is not None:
            expiry = preservation_expiry(
                preserved_from,
                facts.zone,
                kind=facts.kind,
                period_days=facts.period_days,
                extensions=facts.extensions,
                kept_pending_decision=facts.kept_pending_decision,
            )
            if expiry is not None:
                out.append(
                    Deadline(
                        DeadlineKind.PRESERVATION_EXPIRY,
                        expiry,
                        "preservation expires",
                        "Reg. (EU) 2023/1543 Art. 11"
                        if facts.kind is RequestKind.EPOC_PR
                        else "Convention Art. 29(7)",
                        met=done,
                    )
                )
        if facts.observed_at is not None:
            preserved = state in PRESERVED_STATES or done
            for data_kind, days in sorted(facts.retention_days.items()):
                out.append(
                    Deadline(
                        DeadlineKind.RETENTION_DELETION,
                        retention_deletion_at(facts.observed_at, days, facts.zone),
                        f"{data_kind} records deleted by retention ({days} days) unless preserved",
                        "provider's declared retention",
                        met=preserved,
                    )
                )
    out.sort(key=lambda d: d.due_at)
    return out


def nearest_deadline(deadlines: Iterable[Deadline]) -> Deadline | None:
    """The earliest deadline not yet met (an overdue one counts: it sorts first)."""
    pending = [d for d in deadlines if not d.met]
    return min(pending, key=lambda d: d.due_at) if pending else None


def reminders_for(
    deadline: Deadline, leads: Iterable[timedelta] = DEFAULT_REMINDER_LEADS
) -> list[Reminder]:
    return sorted(
        (Reminder(deadline, deadline.due_at - lead, lead) for lead in leads),
        key=lambda r: r.remind_at,
    )


def due_reminders(
    deadlines: Iterable[Deadline],
    now: datetime,
    leads: Iterable[timedelta] = DEFAULT_REMINDER_LEADS,
) -> list[Reminder]:
    """For each deadline not yet met, the most urgent reminder whose time has come (a deadline
    only 30 minutes away gets its one-hour reminder, not also the week and day ones)."""
    now = _utc(now, "now")
    lead_list = list(leads)
    out: list[Reminder] = []
    for deadline in deadlines:
        if deadline.met:
            continue
        due = [r for r in reminders_for(deadline, lead_list) if r.remind_at <= now]
        if due:
            out.append(max(due, key=lambda r: r.remind_at))
    return out


def missed(deadlines: Iterable[Deadline], now: datetime) -> list[Deadline]:
    """Deadlines that passed unmet: flagged, never dropped."""
    now = _utc(now, "now")
    return [d for d in deadlines if not d.met and d.due_at <= now]
