"""Scoring a trainee's requests against the answer key: five axes, every point explained with
the article it rests on. Plain typed Python; the service hands in what the trainee's node
recorded (``SentRequest``) and what the trainee concluded (``Conclusion``).

Axes (issue 17 point 4):
- timeliness: each preservation sent before the data died, with margin (Art. 29(1) "expeditious
  preservation"; the custodian's retention period ends the record);
- legal: the channel the law engine names, offence articles given so that Art. 29(4)
  reservations cannot bite and dual criminality is not in question (Art. 29(3)), a legal basis
  found rather than overridden;
- completeness: the elements of Art. 29(2) filled with what identifies the record (RFC 6302:
  address, port, time with zone), the kind of record and the custodian;
- handling: the handling code and TLP the case calls for, the customer not told
  (Arts. 27(8), 16(3));
- trail: a request to every custodian the path reaches, and the right conclusion at its end
  (Art. 30(1), Explanatory Report §290).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trailguard.exercise.domain.scenario import HopKey, Scenario

AXES: tuple[str, ...] = ("timeliness", "legal", "completeness", "handling", "trail")
AXIS_TITLES = {
    "timeliness": "Timeliness",
    "legal": "Legal correctness",
    "completeness": "Completeness",
    "handling": "Handling and confidentiality",
    "trail": "Trail followed to its end",
}
END_KINDS: tuple[str, ...] = ("subscriber", "dead_end", "refuse", "non_party")
TIME_TOLERANCE = timedelta(seconds=60)


@dataclass(frozen=True)
class SentRequest:
    """One request the trainee's node sent (or drafted and never sent: ``sent_at`` None)."""

    id: str
    kind: str
    reference: str
    recipient: str | None
    requested_party: str
    drafted_at: datetime
    sent_at: datetime | None
    body: dict[str, Any]
    legal_basis: bool
    overridden: bool
    # what the other side answered: (when, state), e.g. (t, "preserved"), for the timeline
    answers: tuple[tuple[datetime, str], ...] = ()


@dataclass(frozen=True)
class Conclusion:
    """What the trainee says the trail ended in."""

    end: str
    subscriber: str = ""
    country: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Point:
    axis: str
    hop: int | None
    label: str
    earned: float
    possible: float
    explanation: str
    article: str

    def to_json(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "hop": self.hop,
            "label": self.label,
            "earned": self.earned,
            "possible": self.possible,
            "explanation": self.explanation,
            "article": self.article,
        }


@dataclass(frozen=True)
class Score:
    points: tuple[Point, ...]
    axes: dict[str, float] = field(default_factory=dict)  # 0-100 each
    total: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "axes": dict(self.axes),
            "points": [point.to_json() for point in self.points],
        }

    def of(self, axis: str) -> list[Point]:
        return [point for point in self.points if point.axis == axis]


def match_request(hop: HopKey, requests: list[SentRequest]) -> SentRequest | None:
    """The trainee's request for this hop: the first one sent that names the hop's address
    (or, failing that, the first sent to the hop's node)."""
    sent = sorted(
        (r for r in requests if r.sent_at is not None), key=lambda r: (r.sent_at, r.reference)
    )
    for request in sent:
        if hop.ip in _addresses(request.body):
            return request
    for request in sent:
        if hop.node_id is not None and request.recipient == hop.node_id:
            return request
    return None


def score(scenario: Scenario, requests: list[SentRequest], conclusion: Conclusion | None) -> Score:
    points: list[Point] = []
    reached = _reached(scenario, requests)
    for hop in scenario.hops:
        request = match_request(hop, requests)
        if hop.expects_request:
            points.extend(_timeliness(hop, request))
            points.extend(_legal(scenario, hop, request))
            points.extend(_completeness(scenario, hop, request))
            points.extend(_handling(scenario, hop, request))
        else:
            points.extend(_outside_network(hop, request))
        points.append(_trail_hop(hop, request, reached))
    points.append(_trail_end(scenario, conclusion, _followed_to_end(scenario, requests, reached)))
    axes = {}
    for axis in AXES:
        mine = [p for p in points if p.axis == axis]
        possible = sum(p.possible for p in mine)
        axes[axis] = round(100.0 * sum(p.earned for p in mine) / possible, 1) if possible else 0.0
    total = round(sum(axes.values()) / len(AXES), 1)
    return Score(points=tuple(points), axes=axes, total=total)


def _reached(scenario: Scenario, requests: list[SentRequest]) -> set[int]:
    """Hops the trail reached: the first always; the next once the previous one was asked."""
    reached = {1}
    for hop in scenario.hops:
        asked = match_request(hop, requests) is not None
        if hop.index in reached and hop.outcome == "relay" and asked:
            reached.add(hop.index + 1)
    return reached


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{abs(hours):.1f} h"


def _timeliness(hop: HopKey, request: SentRequest | None) -> list[Point]:
    article = (
        f"ETS 185 Art. 29(1) expeditious preservation; {hop.provider} keeps {hop.data_kind} "
        f"records {hop.retention_days} days (deleted {_z(hop.dies_at)})"
    )
    label = f"preservation to {hop.country} before the {hop.data_kind} records die"
    if request is None or request.sent_at is None:
        return [Point("timeliness", hop.index, label, 0, 2, "never sent", article)]
    if request.sent_at <= hop.preserve_by:
        return [
            Point(
                "timeliness",
                hop.index,
                label,
                2,
                2,
                f"sent {_z(request.sent_at)}, {_hours(hop.dies_at - request.sent_at)} before "
                f"the records died (margin asked: "
                f"{_hours(hop.dies_at - hop.preserve_by)})",
                article,
            )
        ]
    if request.sent_at <= hop.dies_at:
        return [
            Point(
                "timeliness",
                hop.index,
                label,
                1,
                2,
                f"sent {_z(request.sent_at)}, only {_hours(hop.dies_at - request.sent_at)} "
                f"before the records died: inside the margin of "
                f"{_hours(hop.dies_at - hop.preserve_by)}",
                article,
            )
        ]
    return [
        Point(
            "timeliness",
            hop.index,
            label,
            0,
            2,
            f"sent {_z(request.sent_at)}, {_hours(request.sent_at - hop.dies_at)} after the "
            "records were deleted: nothing left to preserve",
            article,
        )
    ]


def _legal(scenario: Scenario, hop: HopKey, request: SentRequest | None) -> list[Point]:
    citation = "; ".join(hop.channel_citations) or hop.channel
    points = []
    if request is None:
        return [
            Point(
                "legal",
                hop.index,
                f"channel to {hop.country}",
                0,
                2,
                f"no request: the channel is {hop.channel_name}",
                citation,
            ),
            Point(
                "legal",
                hop.index,
                "offence articles (reservations, dual criminality)",
                0,
                1,
                "no request",
                "ETS 185 Art. 29(3)-(4)",
            ),
            Point(
                "legal",
                hop.index,
                "legal basis from the engine",
                0,
                1,
                "no request",
                hop.legal_basis,
            ),
        ]
    right_kind = request.kind == "preservation"
    right_recipient = request.recipient == hop.node_id
    also = (
        f" (the engine ranks {hop.fastest_channel} first: also lawful between these two, "
        "but not over this network)"
        if hop.fastest_channel != hop.channel
        else ""
    )
    if right_kind and right_recipient:
        points.append(
            Point(
                "legal",
                hop.index,
                f"channel to {hop.country}",
                2,
                2,
                f"a preservation request to {hop.node_id}: {hop.channel_name}{also}",
                citation,
            )
        )
    else:
        wrong = []
        if not right_kind:
            wrong.append(f"sent as {request.kind}, not as a preservation request")
        if not right_recipient:
            wrong.append(f"sent to {request.recipient}, not to {hop.node_id}")
        points.append(
            Point(
                "legal",
                hop.index,
                f"channel to {hop.country}",
                0,
                2,
                "; ".join(wrong) + f": the channel is {hop.channel_name}",
                citation,
            )
        )
    articles = request.body.get("offence_articles") or []
    notes = " ".join(hop.reservations) or "no reservation of the requested Party bears on it"
    if scenario.offence_article in articles:
        points.append(
            Point(
                "legal",
                hop.index,
                "offence articles (reservations, dual criminality)",
                1,
                1,
                f"Art. {scenario.offence_article} named: dual criminality is not required "
                f"(Art. 29(3)) and an Art. 29(4) reservation cannot be invoked. {notes}",
                "ETS 185 Art. 29(3)-(4)",
            )
        )
    else:
        points.append(
            Point(
                "legal",
                hop.index,
                "offence articles (reservations, dual criminality)",
                0,
                1,
                f"Art. {scenario.offence_article} ({scenario.conduct}) not named: a Party "
                f"with an Art. 29(4) reservation may ask for dual criminality. {notes}",
                "ETS 185 Art. 29(3)-(4)",
            )
        )
    if request.legal_basis and not request.overridden:
        points.append(
            Point(
                "legal",
                hop.index,
                "legal basis from the engine",
                1,
                1,
                "the engine's basis was kept",
                hop.legal_basis,
            )
        )
    else:
        points.append(
            Point(
                "legal",
                hop.index,
                "legal basis from the engine",
                0,
                1,
                "sent on an override instead of the engine's basis",
                hop.legal_basis,
            )
        )
    return points


def _outside_network(hop: HopKey, request: SentRequest | None) -> list[Point]:
    citation = "; ".join(hop.channel_citations) or hop.channel
    if request is None:
        return [
            Point(
                "legal",
                hop.index,
                f"no 24/7 preservation to non-Party {hop.country}",
                1,
                1,
                f"nothing sent over the 24/7 network; the channel is {hop.channel_name}. "
                f"{hop.dual_criminality_reason}".strip(),
                citation or "ETS 185 Art. 35 (24/7 network of Parties)",
            )
        ]
    return [
        Point(
            "legal",
            hop.index,
            f"no 24/7 preservation to non-Party {hop.country}",
            0,
            1,
            f"a {request.kind} request was sent although {hop.country} is not a Party; "
            f"the channel is {hop.channel_name}",
            citation or "ETS 185 Art. 35",
        )
    ]


def _completeness(scenario: Scenario, hop: HopKey, request: SentRequest | None) -> list[Point]:
    fields = dict(hop.required_fields)
    if request is None:
        return [
            Point("completeness", hop.index, name, 0, 1, "no request", article)
            for name, article in hop.required_fields
        ]
    endpoints = [d for d in request.body.get("data_to_preserve") or [] if isinstance(d, dict)]
    endpoint = next((d for d in endpoints if _same_ip(d.get("ip"), hop.ip)), None)
    checks: dict[str, tuple[bool, str]] = {}
    checks["data_to_preserve.ip"] = (
        endpoint is not None,
        f"{hop.ip} named" if endpoint is not None else f"{hop.ip} not among the data to preserve",
    )
    port = endpoint.get("port") if endpoint else None
    checks["data_to_preserve.port"] = (
        port == hop.port,
        f"port {port} given" if port == hop.port else f"port {port!r} instead of {hop.port}",
    )
    stamp = _instant(endpoint.get("timestamp")) if endpoint else None
    good_time = stamp is not None and abs(stamp - hop.at) <= TIME_TOLERANCE
    checks["data_to_preserve.timestamp"] = (
        good_time,
        f"time {_z(stamp)} within a minute of {_z(hop.at)}"
        if good_time
        else f"time {_z(stamp) if stamp else 'missing'} is not {_z(hop.at)} (zone mistaken?)",
    )
    kinds = request.body.get("data_kinds") or []
    checks["data_kinds"] = (
        hop.data_kind in kinds,
        f"{hop.data_kind} records named"
        if hop.data_kind in kinds
        else f"data kinds {kinds} do not name the {hop.data_kind} records",
    )
    custodian = str(request.body.get("custodian") or "")
    first_word = hop.provider.split()[0].lower()
    checks["custodian"] = (
        first_word in custodian.lower(),
        f"custodian {custodian!r}"
        if first_word in custodian.lower()
        else f"custodian {custodian!r} does not name {hop.provider}",
    )
    articles = request.body.get("offence_articles") or []
    checks["offence_articles"] = (
        bool(articles),
        f"Arts. {articles}" if articles else "no Convention article given",
    )
    if "emergency" in fields:
        flagged = bool(request.body.get("emergency"))
        checks["emergency"] = (
            flagged,
            "marked urgent" if flagged else "the emergency is not stated on the request",
        )
    return [
        Point(
            "completeness",
            hop.index,
            name,
            1 if checks[name][0] else 0,
            1,
            checks[name][1],
            article,
        )
        for name, article in hop.required_fields
    ]


def _handling(scenario: Scenario, hop: HopKey, request: SentRequest | None) -> list[Point]:
    reason = scenario.handling_reason
    if request is None:
        return [
            Point("handling", hop.index, "handling code", 0, 1, "no request", "SIENA H0-H3"),
            Point("handling", hop.index, "TLP", 0, 1, "no request", "FIRST TLP 2.0"),
            Point(
                "handling",
                hop.index,
                "customer not told",
                0,
                1,
                "no request",
                "ETS 185 Arts. 27(8), 16(3)",
            ),
        ]
    handling = request.body.get("handling") or {}
    code = handling.get("code", "H0")
    tlp = handling.get("tlp", "TLP:AMBER")
    quiet = (request.body.get("confidentiality") or {}).get("do_not_notify_customer", True)
    return [
        Point(
            "handling",
            hop.index,
            "handling code",
            1 if code == scenario.handling_code else 0,
            1,
            f"{code} given; the case calls for {scenario.handling_code} ({reason})",
            "Europol SIENA handling codes H0-H3",
        ),
        Point(
            "handling",
            hop.index,
            "TLP",
            1 if tlp == scenario.tlp else 0,
            1,
            f"{tlp} given; the case calls for {scenario.tlp}",
            "FIRST TLP 2.0",
        ),
        Point(
            "handling",
            hop.index,
            "customer not told",
            1 if quiet else 0,
            1,
            "the custodian is told not to notify the customer"
            if quiet
            else "the request lets the custodian tell the customer: the suspect may be warned",
            "ETS 185 Arts. 27(8), 16(3)",
        ),
    ]


def _trail_hop(hop: HopKey, request: SentRequest | None, reached: set[int]) -> Point:
    label = f"hop {hop.index}: {hop.provider}"
    article = "ETS 185 Art. 30(1); Explanatory Report §290 (the next State on the path)"
    if not hop.expects_request:
        ok = hop.index in reached
        return Point(
            "trail",
            hop.index,
            label,
            1 if ok else 0,
            1,
            "reached: the path leads out of the network here"
            if ok
            else "never reached: the request before it was not sent",
            article,
        )
    if request is not None:
        return Point("trail", hop.index, label, 1, 1, f"asked ({request.reference})", article)
    if hop.index in reached:
        return Point("trail", hop.index, label, 0, 1, "known but never asked", article)
    return Point("trail", hop.index, label, 0, 1, "never reached", article)


def _followed_to_end(scenario: Scenario, requests: list[SentRequest], reached: set[int]) -> bool:
    """The last custodian was reached and, when it is on the network, asked."""
    last = scenario.hops[-1]
    if last.index not in reached:
        return False
    return not last.expects_request or match_request(last, requests) is not None


def _trail_end(scenario: Scenario, conclusion: Conclusion | None, followed: bool) -> Point:
    article = {
        "subscriber": "ETS 185 Art. 29 then Art. 31 / Second Protocol Art. 7 for the subscriber",
        "dead_end": "ETS 185 Art. 30(1): the path ends at the provider",
        "refuse": "ETS 185 Art. 29(5); mutual assistance (Art. 27) remains",
        "non_party": "ETS 185 Art. 35 reaches Parties only; police-to-police or Interpol beyond",
    }.get(scenario.end, "")
    label = "conclusion at the end of the trail"
    if conclusion is None:
        return Point("trail", None, label, 0, 2, "no conclusion recorded", article)
    if not followed:
        return Point(
            "trail",
            None,
            label,
            0,
            2,
            f"concluded {conclusion.end} without asking the last custodian "
            f"({scenario.hops[-1].provider}): the end of the trail was not established",
            article,
        )
    if conclusion.end != scenario.end:
        return Point(
            "trail",
            None,
            label,
            0,
            2,
            f"concluded {conclusion.end}; the trail ends in {scenario.end}: {scenario.end_summary}",
            article,
        )
    if scenario.end == "subscriber":
        named = (scenario.subscriber or "").lower() in conclusion.subscriber.lower()
        return Point(
            "trail",
            None,
            label,
            2 if named else 1,
            2,
            f"subscriber {scenario.subscriber} named"
            if named
            else f"the end is right, but the subscriber is {scenario.subscriber}",
            article,
        )
    return Point("trail", None, label, 2, 2, scenario.end_summary, article)


def _addresses(body: dict[str, Any]) -> set[str]:
    found = set()
    for item in body.get("data_to_preserve") or []:
        if isinstance(item, dict) and item.get("ip"):
            found.add(_canon(item["ip"]))
    return found


def _canon(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return str(value)


def _same_ip(value: object, ip: str) -> bool:
    return value is not None and _canon(value) == _canon(ip)


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _z(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.isoformat().replace("+00:00", "Z")
