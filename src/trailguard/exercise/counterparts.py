"""The counterparts' simulated people on the compressed clock: duty officers who acknowledge,
forward, look the request's address, time and port up in their own store (``look_up``: what
they find, not the answer key, decides what is preserved and who is named), preserve what they
found (a real hold), disclose the next hop (Art. 30) or refuse; and the trainee's shift
supervisor, who approves the trainee's drafts. Whether a country refuses, whether the records
are past their retention and where the path goes on are the scenario's (the story).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from trailguard.core.clock import isoformat_z
from trailguard.demo.cluster import DemoNode
from trailguard.exercise.cluster import DUTY, DUTY2, SUPERVISOR, ExerciseCluster
from trailguard.exercise.domain.scenario import HopKey
from trailguard.requests import disclosure_draft_from_preservation

log = logging.getLogger(__name__)

# --- the simulated counterparts ---------------------------------------------------------


@dataclass
class Counterparts:
    """The simulated duty officers of every counterpart node and the trainee's shift
    supervisor (who approves the trainee's drafts: four eyes). ``step()`` does what is due
    now; ``start()`` runs it in a thread every ``interval`` real seconds."""

    cluster: ExerciseCluster
    ack_after: timedelta = timedelta(minutes=20)  # simulated time
    answer_after: timedelta = timedelta(hours=2)
    interval: float = 0.5
    done: set[str] = field(default_factory=set)
    approved: set[str] = field(default_factory=set)
    forwarded: dict[str, str] = field(default_factory=dict)  # request id -> reference
    actions: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="exercise-sim")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except (httpx.HTTPError, RuntimeError) as exc:  # a node stopping; try again
                log.warning("exercise simulation: %s", exc)

    def step(self) -> list[str]:
        done_now: list[str] = []
        done_now += self._supervise()
        hops = list(self.cluster.scenario.hops)
        for position, hop in enumerate(hops):
            if hop.node_id is None:
                continue
            following = hops[position + 1] if position + 1 < len(hops) else None
            if hop.provider_node_id is None:
                done_now += self._answer(self.cluster.nodes[hop.node_id], hop, following)
            else:
                done_now += self._forward(hop, following)
                # the provider's liaison answers the point of contact; the point of contact
                # discloses the next hop (Art. 30), not the provider
                done_now += self._answer(self.cluster.nodes[hop.provider_node_id], hop, None)
        self.actions += done_now
        return done_now

    def _supervise(self) -> list[str]:
        """The supervisor approves each of the trainee's drafts (four eyes)."""
        member = self.cluster.trainee
        client = member.as_user(SUPERVISOR)
        lines = []
        for item in _ok(client.get("/api/requests", params={"direction": "outbound"})):
            if item["state"] != "draft" or item["id"] in self.approved:
                continue
            if item.get("created_by") == f"user:{SUPERVISOR}":
                continue
            answer = client.post(f"/api/requests/{item['id']}/approve")
            self.approved.add(item["id"])
            lines.append(f"supervisor approves {item['reference']}: HTTP {answer.status_code}")
        return lines

    def _answer(self, member: DemoNode, hop: HopKey, following: HopKey | None) -> list[str]:
        """The answering node's officer (the point of contact holding the provider's store, or
        the provider's own liaison on a forwarded copy): acknowledge, then decide."""
        duty = member.as_user(DUTY)
        now = member.node.clock.now()
        lines = []
        for item in _ok(duty.get("/api/requests", params={"direction": "inbound"})):
            if item["id"] in self.done or item["kind"] == "expedited_disclosure":
                continue
            received = datetime.fromisoformat(item["created_at"])
            if item["state"] == "received" and now >= received + self.ack_after:
                _ok(duty.post(f"/api/requests/{item['id']}/acknowledge"))
                lines.append(f"{member.spec.node_id} acknowledges {item['reference']}")
                item["state"] = "acknowledged"
            if item["state"] == "acknowledged" and now >= received + self.answer_after:
                lines += self._decide(member, hop, following, item)
                self.done.add(item["id"])
        return lines

    def _forward(self, hop: HopKey, following: HopKey | None) -> list[str]:
        """The point of contact of a hop whose provider has its own node: it acknowledges, then
        forwards a preservation request to the provider's node (the provider's answer on the
        copy comes back to the original and from there to the requesting node); it refuses
        another kind of request itself (the wrong channel), and discloses the next hop (Art.
        30) once the provider has preserved."""
        assert hop.node_id is not None and hop.provider_node_id is not None
        member = self.cluster.nodes[hop.node_id]
        duty = member.as_user(DUTY)
        now = member.node.clock.now()
        lines = []
        for item in _ok(duty.get("/api/requests", params={"direction": "inbound"})):
            request_id, reference = item["id"], item["reference"]
            if request_id in self.done or item["kind"] == "expedited_disclosure":
                continue
            if request_id in self.forwarded:
                if item["state"] == "preserved" and hop.outcome == "relay" and following:
                    lines.append(self._disclose(member, hop, following, item.get("body") or {}))
                if item["state"] not in ("received", "acknowledged", "in_execution"):
                    self.done.add(request_id)  # answered by the provider, through us
                continue
            received = datetime.fromisoformat(item["created_at"])
            if item["state"] == "received" and now >= received + self.ack_after:
                _ok(duty.post(f"/api/requests/{request_id}/acknowledge"))
                lines.append(f"{hop.node_id} acknowledges {reference}")
                item["state"] = "acknowledged"
            if item["state"] != "acknowledged":
                continue
            if item["kind"] != "preservation":
                if now >= received + self.answer_after:
                    lines += self._decide(member, hop, following, item)
                    self.done.add(request_id)
                continue
            answer = duty.post(
                f"/api/requests/{request_id}/forward", json={"recipient": hop.provider_node_id}
            )
            if answer.status_code == 403:  # the request's handling forbids passing it on
                _ok(
                    duty.post(
                        f"/api/requests/{request_id}/refuse",
                        json={
                            "ground": "requested_party_law",
                            "reasons": f"{hop.provider} executes preservations on its own "
                            "node and the request's handling forbids passing it on: send it "
                            "again permitting onward sharing to the provider.",
                        },
                    )
                )
                self.done.add(request_id)
                lines.append(f"{hop.node_id} cannot forward {reference}: {answer.text[:80]}")
                continue
            _ok(answer)
            self.forwarded[request_id] = reference
            lines.append(f"{hop.node_id} forwards {reference} to {hop.provider_node_id}")
        return lines

    def _decide(
        self, member: DemoNode, hop: HopKey, following: HopKey | None, item: dict[str, Any]
    ) -> list[str]:
        duty = member.as_user(DUTY)
        me = member.spec.node_id
        request_id, reference = item["id"], item["reference"]
        body = item.get("body") or {}
        if item["kind"] != "preservation":
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/refuse",
                    json={
                        "ground": "requested_party_law",
                        "reasons": f"A {item['kind']} request is not what the 24/7 point "
                        "of contact executes at once: ask for preservation (Art. 29) first; "
                        "the rest follows by mutual assistance (Art. 25(4)).",
                    },
                )
            )
            return [f"{me} refuses {reference}: {item['kind']} is the wrong channel"]
        if hop.outcome == "refuse":
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/refuse",
                    json={
                        "ground": hop.refusal_ground or "essential_interests",
                        "reasons": f"{hop.country} considers that executing the request "
                        f"would prejudice its essential interests ({hop.refusal_article}).",
                    },
                )
            )
            return [f"{member.spec.node_id} refuses {reference} ({hop.refusal_article})"]
        now = member.node.clock.now()
        _ok(duty.post(f"/api/requests/{request_id}/execute"))
        if now >= hop.dies_at:
            _ok(
                duty.post(
                    f"/api/requests/{request_id}/warn",
                    json={
                        "reasons": f"{hop.provider} deleted its {hop.data_kind} records of "
                        f"{hop.at.date().isoformat()} at the end of its {hop.retention_days}-day "
                        f"retention ({isoformat_z(hop.dies_at)}): nothing can be preserved.",
                    },
                )
            )
            return [f"{member.spec.node_id}: records of {reference} already deleted"]
        finding = look_up(duty, hop, body, reference)
        hold = line_hold = None
        if finding.found:
            assert finding.ip is not None and finding.at is not None
            start, end = finding.at - HOLD_MARGIN, finding.at + HOLD_MARGIN
            if finding.shared:
                hold = _hold(duty, reference, finding.ip, finding.port, start, end)
                if finding.inside_ip and finding.assigned_since:
                    # the line's RADIUS session began hours before the translation: its records
                    # are held on the inside address (a window that long on the public address
                    # and port would take in other subscribers' translations of that port)
                    line_hold = _hold(
                        duty,
                        reference,
                        finding.inside_ip,
                        None,
                        min(start, finding.assigned_since),
                        end,
                        kinds=["radius"],
                    )
            else:
                # a directly assigned address was the line's from its session's start: the
                # hold reaches back to it, so that the session's RADIUS records are in it
                since = min(start, finding.assigned_since or start)
                hold = _hold(duty, reference, finding.ip, None, since, end)
        summary = _summary(hop, finding, hold, line_hold)
        _ok(
            duty.post(
                f"/api/requests/{request_id}/preserve",
                json={
                    "preserved": summary,
                    "hold_id": hold["hold_id"] if hold else None,
                    "digest": hold["sha256"] if hold else None,
                    "partial": not finding.found,
                },
            )
        )
        lines = [f"{member.spec.node_id} preserves {reference}: {summary[:80]}"]
        if finding.found and hop.outcome == "relay" and following is not None:
            lines.append(self._disclose(member, hop, following, body))
        return lines

    def _disclose(
        self, member: DemoNode, hop: HopKey, following: HopKey, body: dict[str, Any]
    ) -> str:
        """Art. 30(1): the path to the next provider, drafted, approved (four eyes), sent."""
        now = member.node.clock.now()
        disclosure = disclosure_draft_from_preservation(
            body,
            date_issued=now.date(),
            confirmation_contact={
                "name": f"{hop.country} duty officer (simulated)",
                "phone": "+15555550199",
                "email": f"duty@{hop.node_id}.example",
            },
            provider=following.provider,
            provider_country=following.country,
            provider_prefix=following.prefix,
            path=[
                {
                    "source": {
                        "type": "ip_endpoint",
                        "ip": following.ip,
                        "port": following.port,
                        "timestamp": isoformat_z(following.at),
                        "protocol": "tcp",
                    },
                    "destination": {
                        "type": "ip_endpoint",
                        "ip": hop.ip,
                        "port": following.destination_port,
                        "timestamp": isoformat_z(following.at),
                        "protocol": "tcp",
                    },
                    "observed_by": f"{hop.provider}: flow probe (Zeek conn.log)",
                }
            ],
            traffic_data=[
                f"{isoformat_z(following.at)} {following.ip}:{following.port} -> "
                f"{hop.ip}:{following.destination_port} tcp (ssh), session open at "
                f"{isoformat_z(hop.at)}"
            ],
            came_from=f"{following.ip} port {following.port} at {isoformat_z(following.at)}",
        )
        duty, second = member.as_user(DUTY), member.as_user(DUTY2)
        recipient = self.cluster.scenario.trainee_node_id
        draft = _ok(duty.post("/api/requests", json={"body": disclosure, "recipient": recipient}))
        _ok(second.post(f"/api/requests/{draft['id']}/approve"))
        _ok(duty.post(f"/api/requests/{draft['id']}/send", json={}))
        return f"{hop.node_id} discloses the next hop ({following.country}) under Art. 30"


# The records around the request's instant that a preservation holds.
HOLD_MARGIN = timedelta(minutes=15)


def _hold(
    duty: httpx.Client,
    reference: str,
    ip: str,
    port: int | None,
    start: datetime,
    end: datetime,
    kinds: list[str] | None = None,
) -> dict[str, Any] | None:
    """A hold on the node's own traffic store (``/api/traffic/holds``); None if refused."""
    answer = duty.post(
        "/api/traffic/holds",
        json={
            "reference": reference,
            "ip": ip,
            "port": port,
            "start": isoformat_z(start),
            "end": isoformat_z(end),
            "kinds": kinds,
        },
    )
    return dict(answer.json()) if answer.status_code < 400 else None


# How far from the request's instant a record may be and still be the one asked for: RFC 6302
# asks for the time within a minute (scenario.required_fields says so to the trainee).
TIME_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class Finding:
    """What the duty officer found in the node's own traffic store for a request."""

    found: bool
    why: str = ""  # when nothing identifiable was found
    ip: str | None = None
    at: datetime | None = None
    port: int | None = None  # the request's source port (None: not given; 0 counts as none)
    shared: bool = False  # the address is one the CGN's translation log shares out
    subscriber: str | None = None  # the account the store names (the RADIUS sessions)
    inside_ip: str | None = None  # behind a CGN: the line's inside address at the instant
    records: int = 0  # records of the look-up that match
    # when the RADIUS session that had the address (inside or public) began: the hold of the
    # session's records reaches back to it
    assigned_since: datetime | None = None


def _endpoint_for(body: dict[str, Any], hop: HopKey) -> dict[str, Any] | None:
    """The request's first IP endpoint in the provider's own address range."""
    network = ipaddress.ip_network(hop.prefix)
    for item in body.get("data_to_preserve") or []:
        if not (isinstance(item, dict) and item.get("type") == "ip_endpoint"):
            continue
        try:
            ours = ipaddress.ip_address(str(item.get("ip"))) in network
        except ValueError:
            continue
        if ours:
            return dict(item)
    return None


def look_up(duty: httpx.Client, hop: HopKey, body: dict[str, Any], reference: str) -> Finding:
    """What a duty officer does with a preservation request: look the address, time and
    (when given) port up in the node's own traffic store through the traffic API. An address
    of the provider's CGN pool (the provider knows its own network: ``hop.cgn``) is looked up
    in the translation log (``/api/traffic/lookup``: public address and port at the instant ->
    inside address -> the RADIUS session that had it); any other in the flow records
    (``/api/traffic/flows``). What the request asks is compared with the store only."""
    endpoint = _endpoint_for(body, hop)
    if endpoint is None:
        return Finding(
            False, f"the request names no address of ours at that time (we hold {hop.prefix})"
        )
    try:
        at = datetime.fromisoformat(str(endpoint["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return Finding(False, "the request gives no usable time")
    if at.tzinfo is None:
        return Finding(False, "the request's time gives no zone")
    at = at.astimezone(UTC)
    ip = str(endpoint["ip"])
    raw_port = endpoint.get("port")
    port = raw_port if isinstance(raw_port, int) and raw_port > 0 else None
    stamp = isoformat_z(at)
    seen = Finding(False, ip=ip, at=at, port=port, shared=hop.cgn)
    if hop.cgn:
        query: dict[str, str | float] = {
            "ip": ip,
            "at": stamp,
            "tolerance_seconds": TIME_TOLERANCE.total_seconds(),
            "reference": reference,
        }
        if port is None:
            matches = _ok(duty.get("/api/traffic/lookup", params=query))["matches"]
            holders = {(m["inside_ip"], m["subscriber"]) for m in matches}
            if len(holders) > 1:
                return replace(
                    seen,
                    why=f"{ip} is a CGN address shared by {len(holders)} subscribers at "
                    f"{stamp}; without the right source port no single session can be found",
                )
        else:
            matches = _ok(duty.get("/api/traffic/lookup", params={**query, "port": port}))[
                "matches"
            ]
        if not matches:
            return replace(
                seen,
                why=f"no translation of {ip}"
                + (f" port {port}" if port is not None else "")
                + f" at {stamp} in our CGN log: check the source port, the time and its zone",
            )
        return replace(
            seen,
            found=True,
            subscriber=matches[0]["subscriber"],
            inside_ip=matches[0]["inside_ip"],
            assigned_since=_session_start(matches[0]),
            records=sum(len(m["records"]) for m in matches),
        )
    flows = _ok(
        duty.get(
            "/api/traffic/flows",
            params={
                "ip": ip,
                "start": isoformat_z(at - TIME_TOLERANCE),
                "end": isoformat_z(at + TIME_TOLERANCE),
                "kind": "flow",
            },
        )
    )["records"]
    from_there = [r for r in flows if r["public_ip"] == ip]
    if not from_there:
        return replace(seen, why=f"no connection of {ip} at {stamp}: check the time and its zone")
    found = replace(seen, found=True, records=len(from_there))
    if hop.assignment_format is None:
        # a hosting provider: the address is a server's; its customer is in the register
        return found
    # an access provider assigns its lines public addresses: its RADIUS accounting names the
    # account whose session had the address at the instant (a direct assignment, no NAT)
    matches = _ok(
        duty.get(
            "/api/traffic/lookup",
            params={
                "ip": ip,
                "at": stamp,
                "tolerance_seconds": TIME_TOLERANCE.total_seconds(),
                "reference": reference,
            },
        )
    )["matches"]
    accounts = sorted({str(m["subscriber"]) for m in matches if m["subscriber"]})
    if len(accounts) > 1:
        return replace(
            found,
            found=False,
            why=f"{ip} passed from one account to another within a minute of {stamp}: "
            "give the exact time",
        )
    if not accounts:
        return replace(found, why=f"no session of our RADIUS accounting had {ip} at {stamp}")
    return replace(
        found,
        subscriber=accounts[0],
        assigned_since=_session_start(matches[0]),
        records=found.records + sum(len(m["records"]) for m in matches),
    )


def _session_start(match: dict[str, Any]) -> datetime | None:
    """When the RADIUS session a look-up's match names began (its earliest record)."""
    starts = [
        datetime.fromisoformat(record["start"])
        for record in match["records"]
        if record["kind"] == "radius"
    ]
    return min(starts, default=None)


def _summary(
    hop: HopKey,
    finding: Finding,
    hold: dict[str, Any] | None,
    line_hold: dict[str, Any] | None = None,
) -> str:
    if not finding.found:
        return f"Nothing identifiable preserved: {finding.why}."
    if hold is None:
        held = "the records"
    elif finding.shared and line_hold is not None:
        held = (
            f"the CGN translation and the RADIUS accounting of the line: {hold['records']} "
            f"records (hold {hold['hold_id']}) and {line_hold['records']} records (hold "
            f"{line_hold['hold_id']})"
        )
    elif finding.shared:
        held = f"{hold['records']} records of the CGN translation (hold {hold['hold_id']})"
    elif finding.subscriber:
        held = (
            f"{hold['records']} records, the flow records and the RADIUS accounting of the "
            f"line (hold {hold['hold_id']})"
        )
    else:
        held = f"{hold['records']} flow records (hold {hold['hold_id']})"
    if hop.outcome == "subscriber":
        if finding.subscriber:  # an access provider: its RADIUS accounting names the account
            return (
                f"{held} preserved; our RADIUS accounting names the session's subscriber "
                f"{finding.subscriber}. Subscriber details follow on a mutual assistance "
                "request (Art. 31) or a Protocol Art. 7 order."
            )
        if hop.assignment_format is not None:
            return f"{held} preserved; {finding.why}: no subscriber can be named."
        # a hosting provider: the server at that address is a customer's (its register, not
        # a traffic record, says whose)
        return (
            f"{held} preserved; our customer register names the server's subscriber "
            f"{hop.subscriber}. Subscriber details follow on a mutual assistance request "
            "(Art. 31) or a Protocol Art. 7 order."
        )
    line = f" (line {finding.subscriber})" if finding.subscriber else ""
    if hop.outcome == "dead_end":
        return (
            f"{held} preserved; the connection came from our public Wi-Fi hotspot{line}: "
            "no subscriber."
        )
    return f"{held} preserved; the path continues abroad{line} (Art. 30 disclosure follows)."


def _ok(answer: httpx.Response) -> Any:
    if answer.status_code >= 400:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path}: HTTP "
            f"{answer.status_code} {answer.text[:300]}"
        )
    return answer.json()
