"""The reference model of issue 18: the periods a stream of records implies, and the answer to
a look-up, in plain Python (no NumPy, no Arrow, nothing shared with ``trailguard.traffic``).

The property tests hold every path of the store (cold and warm, single and batch, compiled and
NumPy stages, Spark) to this model, answer for answer.

The rules, as the issue states them:

* The records of one key (a NAT public address and port, a port block's public address and
  first port, an assigned address) are taken in order of start.
* A record belongs to the period before it when it starts within a second of the record before
  it (the records of one session: create and teardown, allocation and release, start and
  stop, and the interim records, which carry their period's start: an interim record confirms
  a period, it never opens a second one), or when it is an interim record of the same holder
  logged without its period's start (event ``seen``). An opening record (no end) starting
  after the period's logged end opens a new period. An interim record carrying a later start
  is a new allocation (its allocation record was lost).
* A period ends at its closing record (the latest end logged among its records), however many
  interim records lie between. Without one, it ends just before the next period on the key
  starts: "closed by re-allocation, release not logged". Without that either, it ends at its
  last record plus the kind's open-session horizon ("horizon"), and an answer resting on it
  says so.
* A look-up (address, port, instant, tolerance) names every period of a NAT-like key matching
  the address and port (a port block matches a port inside it) that meets
  [instant - tolerance, instant + tolerance]; when none does, every period of an assigned
  address equal to the looked-up one. Its distance is how far the instant lies outside
  [start, end]. A record's own end counts as logged even when the period's runs further.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SECOND = 1_000_000
NAT_LIKE = ("nat", "port_block")
ASSIGNED = ("radius", "dhcp")


@dataclass(frozen=True)
class Rec:
    """One normalised record (times in microseconds since 1970, UTC)."""

    kind: str
    event: str
    start: int
    end: int | None
    inside_ip: str | None = None
    inside_port: int | None = None
    public_ip: str | None = None
    public_port: int | None = None
    public_port_end: int | None = None
    subscriber: str | None = None


@dataclass
class Period:
    kind: str
    holder: str | None
    records: list[Rec] = field(default_factory=list)
    logged_end: int | None = None
    end: int = 0
    basis: str = "logged"

    @property
    def start(self) -> int:
        return min(r.start for r in self.records)

    @property
    def last_start(self) -> int:
        return max(r.start for r in self.records)

    @property
    def first(self) -> Rec:
        return self.records[0]


def key_of(rec: Rec) -> tuple[object, ...]:
    if rec.kind in ASSIGNED:
        return (rec.kind, rec.inside_ip)
    return (rec.kind, rec.public_ip, rec.public_port)


def holder_of(rec: Rec) -> str | None:
    return rec.subscriber if rec.kind in ASSIGNED else rec.inside_ip


def periods(records: list[Rec], horizon: dict[str, int]) -> list[Period]:
    """Every period the records imply, per key, in order of start."""
    keys: dict[tuple[object, ...], list[Rec]] = {}
    for rec in records:
        keys.setdefault(key_of(rec), []).append(rec)
    out: list[Period] = []
    for recs in keys.values():
        recs = sorted(recs, key=lambda r: r.start)  # stable: ties keep the stream's order
        mine: list[Period] = []
        previous: Rec | None = None
        for rec in recs:
            current = mine[-1] if mine else None
            joins = False
            if current is not None and previous is not None:
                close_in_time = rec.start - previous.start <= SECOND
                confirms = rec.event == "seen" and holder_of(rec) == holder_of(previous)
                joins = close_in_time or confirms
                after_release = (
                    rec.end is None
                    and current.logged_end is not None
                    and rec.start > current.logged_end
                )
                if after_release:
                    joins = False
            if joins and current is not None:
                current.records.append(rec)
            else:
                current = Period(rec.kind, holder_of(rec), [rec])
                mine.append(current)
            if rec.end is not None and (current.logged_end is None or rec.end > current.logged_end):
                current.logged_end = rec.end
            previous = rec
        for i, period in enumerate(mine):
            if period.logged_end is not None:
                period.end, period.basis = period.logged_end, "logged"
                continue
            cap = period.last_start + horizon[period.kind]
            if i + 1 < len(mine) and mine[i + 1].start - 1 < cap:
                period.end = max(mine[i + 1].start - 1, period.last_start)
                period.basis = "re-allocation"
            else:
                period.end, period.basis = cap, "horizon"
        out.extend(mine)
    return out


@dataclass(frozen=True)
class Answer:
    """One named candidate: who, the period, what its end rests on, how far from the
    instant (0 = the period covers it)."""

    holder: str | None  # the inside address of a NAT-like period, the subscriber of a lease
    start: int
    logged_end: int | None
    period_end: int
    basis: str
    distance: int

    def order(self) -> tuple[object, ...]:
        return (self.distance, self.logged_end is None, -self.start, self.holder or "")


def _covers(rec: Rec, period: Period, lo: int, hi: int) -> bool:
    # a record's own end, else its period's end
    end = rec.end if rec.end is not None else max(period.end, rec.start)
    return rec.start <= hi and end >= lo


def lookup(
    all_periods: list[Period], ip: str, port: int | None, at: int, tolerance: int
) -> list[Answer]:
    """The candidates a look-up names, best first."""
    lo, hi = at - tolerance, at + tolerance

    def port_ok(rec: Rec) -> bool:
        if port is None:
            return True
        if rec.kind == "port_block":
            return (rec.public_port or 0) <= port <= (rec.public_port_end or -1)
        return rec.public_port == port

    found: list[Answer] = []
    for stage in (NAT_LIKE, ASSIGNED):
        for period in all_periods:
            if period.kind not in stage:
                continue
            first = period.first
            address = first.public_ip if stage is NAT_LIKE else first.inside_ip
            if address != ip or (stage is NAT_LIKE and not port_ok(first)):
                continue
            hits = [r for r in period.records if _covers(r, period, lo, hi)]
            if not hits:
                continue
            start = min(r.start for r in hits)
            logged = [r.end for r in hits if r.end is not None]
            logged_end = max(logged) if logged else None
            cover = logged_end if logged_end is not None else period.end
            distance = max(0, start - at, at - cover)
            found.append(
                Answer(
                    first.inside_ip if stage is NAT_LIKE else first.subscriber,
                    start,
                    logged_end,
                    cover,
                    "logged" if logged_end is not None else period.basis,
                    distance,
                )
            )
        if found:
            break
    return sorted(found, key=Answer.order)
