"""The logs a scenario's counterpart providers hold, written from the scenario as the providers'
systems write them and read back by the traffic capability's parsers (the files are ingested
into each counterpart node's traffic store; the simulated duty officers then look requests up
there, as a real one would).

- A hop without carrier-grade NAT: its flow probe's Zeek conn.log (TSV, UTC seconds), as Zeek
  writes it: https://docs.zeek.org/en/master/logs/conn.html
- An access provider without CGN also holds its RADIUS accounting (FreeRADIUS ``detail``, as
  below) with the public address in Framed-IP-Address (RFC 2865 §5.8:
  https://www.rfc-editor.org/rfc/rfc2865#section-5.8): the account whose session had the
  hop's address at the instant, the account that had the same address before it (dynamic
  addresses are handed out again), and the neighbouring lines of the pool. A hosting provider
  holds flow records only: its customer register, not a traffic record, ties a server's
  address to a customer (``scenario.ACCESS_KINDS``).
- A CGN hop (an access provider whose subscribers share public addresses): the CGN's
  translation log, Cisco IOS XR CGN syslog with session-based logging and the destination
  (SessionbasedAD when a translation is created, SessionbasedWD when it is deleted), stamped
  in the provider's local time without a zone, as IOS XR writes it ("Cisco IOS XR Carrier Grade
  NAT Configuration Guide", External Logging, Syslog Message Format:
  https://www.cisco.com/c/en/us/td/docs/routers/asr9000/software/24xx/cgnat/configuration/guide/b-cgnat-cg-asr9k-24xx/external-logging.html);
  and its RADIUS accounting, FreeRADIUS ``detail`` files (rlm_detail(5):
  https://manpages.ubuntu.com/manpages/jammy/man5/rlm_detail.5.html; RFC 2866 for the
  Acct-* attributes: https://www.rfc-editor.org/rfc/rfc2866), the accounting server on UTC.
  The subscriber's inside address (RFC 6598 shared address space,
  https://www.rfc-editor.org/rfc/rfc6598) is translated to the hop's public address and port;
  other subscribers share the same public address on other ports at the same moment, one of
  them on the same port earlier or later, and the attacker's inside address belonged to
  another account before the session that matters: without the port, or at the wrong time,
  no single subscriber can be named.

Everything is drawn from generators seeded by the scenario's seed and the hop: the same seed
writes the same files. Addresses outside RFC 6598 are RFC 5737 documentation addresses, MAC
addresses are from the documentation block 00-00-5E-00-53-00/24 (RFC 7042 §2.1.2:
https://www.rfc-editor.org/rfc/rfc7042#section-2.1.2).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from trailguard.core.zeek_conn import ZeekConnLog
from trailguard.exercise.domain.scenario import HopKey, trainee_zone

# The number of other subscribers whose translations on the hop's public address are open at
# the attacker's instant (a shared address is shared by many at once).
SHARING_AT_THE_INSTANT = 6
# The accounting log was copied this long after the instant: nothing in it is later.
COPIED_AFTER = timedelta(hours=13)


@dataclass(frozen=True)
class ProviderLog:
    """One file of a provider: its name, the parser that reads it, and the zone its stamps
    are in when the format does not say (``ParseOptions.tz``)."""

    name: str
    format: str
    text: str
    tz: str | None = None
    kind: str = "flow"  # the kind of record it holds (traffic RecordKind), for its retention


def provider_logs(hop: HopKey, previous: HopKey | None, seed: int) -> list[ProviderLog]:
    """The files the hop's provider holds. A CGN hop holds its translation log and RADIUS
    accounting, and, when the path goes on through it, the flow probe that saw the session in
    from the hop before it (which the Art. 30 disclosure rests on)."""
    assert hop.node_id is not None
    name = hop.node_id
    if not hop.cgn:
        logs = [ProviderLog(f"{name}-conn.log", hop.log_format, zeek_conn_log(hop, previous, seed))]
        if hop.assignment_format is not None:
            logs.append(
                ProviderLog(
                    f"{name}-radius.detail",
                    hop.assignment_format,
                    radius_detail(hop, seed),
                    kind="radius",
                )
            )
        return logs
    zone = trainee_zone(hop.country)
    assert hop.assignment_format is not None
    logs = [
        ProviderLog(
            f"{name}-cgn.log", hop.log_format, cgn_translation_log(hop, seed, zone), zone, "nat"
        ),
        ProviderLog(
            f"{name}-radius.detail",
            hop.assignment_format,
            radius_detail(hop, seed),
            kind="radius",
        ),
    ]
    if previous is not None:
        logs.append(
            ProviderLog(f"{name}-conn.log", "zeek-conn", zeek_conn_log(hop, previous, seed))
        )
    return logs


def zeek_conn_log(hop: HopKey, previous: HopKey | None, seed: int) -> str:
    """The hop's flow probe (Zeek conn.log, TSV): background traffic in its prefix, the
    connection out to where the attacker went, and (when the path goes on) the session in
    from the hop before it."""
    rng = random.Random(f"{seed}:{hop.index}:conn")
    log = ZeekConnLog(rng)
    base, first = _prefix(hop)
    for _ in range(60):
        at = hop.at + timedelta(seconds=rng.uniform(-3600, 3600))
        host = f"{base}.{first + rng.randint(2, 60)}"
        if host == hop.ip:
            continue
        log.add(
            at,
            host,
            rng.randint(1024, 65535),
            f"192.0.2.{rng.randint(100, 250)}",
            rng.choice([53, 123, 443]),
            "tcp",
            "ssl",
            rng.uniform(0.01, 30),
        )
    log.add(
        hop.at - timedelta(milliseconds=150),
        hop.ip,
        hop.port,
        hop.destination_ip,
        hop.destination_port,
        "tcp",
        "ssl",
        4.2,
    )
    if previous is not None:
        lasting = (hop.at - previous.at).total_seconds() + 900
        log.add(
            previous.at,
            previous.ip,
            previous.port,
            hop.ip,
            previous.destination_port,
            "tcp",
            "ssh",
            lasting,
        )
    return log.text(f"{hop.at:%Y-%m-%d-%H-%M-%S}", "-")


# --- carrier-grade NAT: the translation log and the RADIUS accounting ----------------------


@dataclass(frozen=True)
class _Translation:
    inside_ip: str
    inside_port: int
    public_ip: str
    public_port: int
    destination_ip: str
    destination_port: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Session:
    """A RADIUS accounting session: the account ``user`` had ``inside_ip`` (the framed
    address: behind a CGN an inside address, without one a public address) from ``start`` to
    ``end`` (None: still connected when the log was copied)."""

    user: str
    inside_ip: str
    session_id: str
    mac: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class _CgnWorld:
    translations: tuple[_Translation, ...]
    sessions: tuple[_Session, ...]


def _prefix(hop: HopKey) -> tuple[str, int]:
    base, last = hop.prefix.rsplit(".", 1)
    return base, int(last.split("/")[0])


def _second(at: datetime) -> datetime:
    """The whole second a syslog stamp without fractions shows."""
    return at.replace(microsecond=0)


def cgn_world(hop: HopKey, seed: int) -> _CgnWorld:
    """The translations and subscriber sessions behind a CGN hop (the two logs are written
    from the same draw, so that they agree)."""
    assert hop.cgn and hop.inside_ip and hop.inside_port and hop.line_holder
    rng = random.Random(f"{seed}:{hop.index}:cgn")
    base, first = _prefix(hop)
    domain = hop.line_holder.rsplit("@", 1)[1]
    used_inside = {hop.inside_ip}
    used_ports = {hop.port}

    def inside() -> str:
        while True:
            address = f"100.64.{rng.randint(0, 63)}.{rng.randint(2, 254)}"
            if address not in used_inside:
                used_inside.add(address)
                return address

    def free_port() -> int:
        while True:
            port = rng.randint(1024, 65535)
            if port not in used_ports:
                used_ports.add(port)
                return port

    def remote() -> tuple[str, int]:
        return f"192.0.2.{rng.randint(100, 250)}", rng.choice([53, 123, 443, 993])

    def mac(n: int) -> str:
        return f"00-00-5e-00-53-{n:02x}"

    translations: list[_Translation] = []
    sessions: list[_Session] = []
    at = hop.at
    # the attacker's translation: created as the connection left, deleted a little after it
    start = _second(at - timedelta(milliseconds=150))
    translations.append(
        _Translation(
            hop.inside_ip,
            hop.inside_port,
            hop.ip,
            hop.port,
            hop.destination_ip,
            hop.destination_port,
            start,
            _second(at) + timedelta(seconds=rng.randint(8, 90)),
        )
    )
    # the line's accounting session covers it; the address belonged to another account before
    line_start = at - timedelta(hours=rng.randint(3, 40), minutes=rng.randint(0, 59))
    sessions.append(
        _Session(
            hop.line_holder,
            hop.inside_ip,
            f"{rng.getrandbits(32):08X}",
            mac(0),
            line_start,
            None,
        )
    )
    before_end = line_start - timedelta(minutes=rng.randint(10, 120))
    sessions.append(
        _Session(
            f"acct-{rng.randint(10000, 99999)}@{domain}",
            hop.inside_ip,
            f"{rng.getrandbits(32):08X}",
            mac(1),
            before_end - timedelta(hours=rng.randint(2, 30)),
            before_end,
        )
    )
    # other subscribers on the same public address at the same moment, on other ports
    others: list[str] = []
    for n in range(SHARING_AT_THE_INSTANT + rng.randint(0, 4)):
        address = inside()
        others.append(address)
        destination, destination_port = remote()
        opened = _second(at - timedelta(seconds=rng.randint(2, 600)))
        translations.append(
            _Translation(
                address,
                rng.randint(1024, 65535),
                hop.ip,
                free_port(),
                destination,
                destination_port,
                opened,
                _second(at) + timedelta(seconds=rng.randint(2, 900)),
            )
        )
        online = at - timedelta(hours=rng.randint(1, 48), minutes=rng.randint(0, 59))
        offline = (
            at + timedelta(hours=rng.randint(1, 12), minutes=rng.randint(0, 59))
            if rng.random() < 0.5
            else None
        )
        sessions.append(
            _Session(
                f"acct-{rng.randint(10000, 99999)}@{domain}",
                address,
                f"{rng.getrandbits(32):08X}",
                mac(n + 2),
                online,
                offline,
            )
        )
    # the same public port, given to another of them half an hour away (ports are reused)
    reuse_at = at + rng.choice([-1, 1]) * timedelta(minutes=rng.randint(20, 45))
    destination, destination_port = remote()
    translations.append(
        _Translation(
            rng.choice(others),
            rng.randint(1024, 65535),
            hop.ip,
            hop.port,
            destination,
            destination_port,
            _second(reuse_at),
            _second(reuse_at) + timedelta(seconds=rng.randint(5, 120)),
        )
    )
    # everyday traffic of these subscribers over the hour around it, on the whole pool
    pool = [f"{base}.{first + host}" for host in range(2, 61)]
    for _ in range(80):
        opened = _second(at + timedelta(seconds=rng.uniform(-3600, 3600)))
        public = rng.choice(pool)
        port = rng.randint(1024, 65535)
        if public == hop.ip and port in used_ports:
            continue
        destination, destination_port = remote()
        translations.append(
            _Translation(
                rng.choice(others),
                rng.randint(1024, 65535),
                public,
                port,
                destination,
                destination_port,
                opened,
                opened + timedelta(seconds=rng.randint(1, 300)),
            )
        )
    return _CgnWorld(tuple(translations), tuple(sessions))


def cgn_translation_log(hop: HopKey, seed: int, zone: str) -> str:
    """IOS XR CGN syslog: one SessionbasedAD per translation created, one SessionbasedWD per
    translation deleted, messages of the same second packed in one datagram (at most 8), the
    stamp in ``zone`` without a zone."""
    world = cgn_world(hop, seed)
    base, first = _prefix(hop)
    host = f"{base}.{first + 1}"  # the CGN's own address in the pool's prefix
    events: list[tuple[datetime, int, str]] = []
    for n, t in enumerate(world.translations):
        for event, when in (("SessionbasedAD", t.start), ("SessionbasedWD", t.end)):
            message = (
                f"[{event} 6 {t.inside_ip} vrf-cgn - {t.public_ip} {t.inside_port}"
                f" {t.public_port} - {t.destination_ip} {t.destination_port}]"
            )
            events.append((when, n, message))
    events.sort()
    tz = ZoneInfo(zone)
    lines: list[str] = []
    i = 0
    while i < len(events):
        j = i + 1
        while j < len(events) and j - i < 8 and events[j][0] == events[i][0]:
            j += 1
        local = events[i][0].astimezone(tz)
        messages = "".join(message for _, _, message in events[i:j])
        lines.append(f"<134>1 {local:%Y %b %d %H:%M:%S} {host} - - NAT44 - {messages}")
        i = j
    return "\n".join(lines) + "\n"


def access_sessions(hop: HopKey, seed: int) -> tuple[_Session, ...]:
    """The RADIUS sessions of an access provider without CGN: each line gets a public address
    of the hop's prefix for its session. The line (``hop.line_holder``) has ``hop.ip`` over the
    instant; another account had it before, until shortly before the line connected; the
    other lines of the pool have the other addresses, some of them since before the instant,
    some connecting after it."""
    assert not hop.cgn and hop.line_holder is not None
    rng = random.Random(f"{seed}:{hop.index}:access")
    base, first = _prefix(hop)
    domain = hop.line_holder.rsplit("@", 1)[1]

    def mac(n: int) -> str:
        return f"00-00-5e-00-53-{n:02x}"

    def account() -> str:
        return f"acct-{rng.randint(10000, 99999)}@{domain}"

    at = hop.at
    line_start = at - timedelta(hours=rng.randint(3, 40), minutes=rng.randint(0, 59))
    line_end = (
        at + timedelta(hours=rng.randint(1, 10), minutes=rng.randint(0, 59))
        if rng.random() < 0.5
        else None
    )
    before_end = line_start - timedelta(minutes=rng.randint(10, 120))
    sessions = [
        _Session(
            hop.line_holder, hop.ip, f"{rng.getrandbits(32):08X}", mac(0), line_start, line_end
        ),
        _Session(
            account(),
            hop.ip,
            f"{rng.getrandbits(32):08X}",
            mac(1),
            before_end - timedelta(hours=rng.randint(2, 30)),
            before_end,
        ),
    ]
    pool = [f"{base}.{first + host}" for host in range(2, 61) if f"{base}.{first + host}" != hop.ip]
    for n, address in enumerate(rng.sample(pool, 8 + rng.randint(0, 6))):
        online = at + timedelta(hours=rng.randint(-48, 6), minutes=rng.randint(0, 59))
        ends = online + timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))
        # still connected when the log was copied: no Stop yet
        offline = None if rng.random() < 0.5 or ends > at + COPIED_AFTER else ends
        sessions.append(
            _Session(account(), address, f"{rng.getrandbits(32):08X}", mac(n + 2), online, offline)
        )
    return tuple(sessions)


def radius_detail(hop: HopKey, seed: int) -> str:
    """FreeRADIUS accounting detail: a Start for every session, an Interim-Update every six
    hours while it lasts, a Stop when it ended; the header in the server's (UTC) local time
    as ctime writes it, Event-Timestamp and Timestamp in UTC. Behind a CGN the sessions give
    inside addresses (``cgn_world``), without one public addresses (``access_sessions``)."""
    sessions = cgn_world(hop, seed).sessions if hop.cgn else access_sessions(hop, seed)
    base, first = _prefix(hop)
    nas = f"{base}.{first + 1}"
    records: list[tuple[datetime, str]] = []
    copied = hop.at + COPIED_AFTER  # nothing after the moment the log was copied
    for session in sessions:
        events: list[tuple[str, datetime]] = [("Start", session.start)]
        tick = session.start + timedelta(hours=6)
        last = session.end or copied
        while tick < last:
            events.append(("Interim-Update", tick))
            tick += timedelta(hours=6)
        if session.end is not None:
            events.append(("Stop", session.end))
        for status, instant in events:
            when = _second(instant)
            lasted = math.floor((when - _second(session.start)).total_seconds())
            lines = [
                f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}",
                f'\tAcct-Session-Id = "{session.session_id}"',
                f'\tUser-Name = "{session.user}"',
                f"\tAcct-Status-Type = {status}",
                f"\tFramed-IP-Address = {session.inside_ip}",
                f'\tCalling-Station-Id = "{session.mac}"',
                f"\tNAS-IP-Address = {nas}",
            ]
            if status != "Start":
                lines.append(f"\tAcct-Session-Time = {lasted}")
            lines += [
                "\tAcct-Delay-Time = 0",
                f'\tEvent-Timestamp = "{when:%b} {when.day:2d} {when:%Y %H:%M:%S} UTC"',
                f"\tTimestamp = {int(when.timestamp())}",
            ]
            records.append((when, "\n".join(lines) + "\n\n"))
    records.sort(key=lambda r: r[0])
    return "".join(text for _, text in records)
