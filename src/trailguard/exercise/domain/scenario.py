"""Exercise scenarios generated from a seed: who holds which record of the attacker's path, how
long they keep it, what the law says about asking them, and the answer key a trainee is scored
against. Plain typed Python: the same seed and difficulty always give the same scenario.

Everything is synthetic: documentation addresses (RFC 5737), invented providers and accounts.
The legal facts (Parties, channels, citations, reservations) come from the law engine
(``trailguard.law``) as of the scenario's date; the elements of a complete request come from
the request types (``trailguard.requests.request_elements``).

Sources for the constants below:
- ETS 185 (Convention on Cybercrime) Arts. 2-8, the conduct each offence article covers:
  https://github.com/statengeneraal/laws-markdown/blob/master/verdrag/convention/on/cybercrime/BWBV0001839/README.md
- RFC 6302 (log the source port with the address and a UTC time stamp):
  https://www.rfc-editor.org/rfc/rfc6302
- RFC 5737 (IPv4 documentation ranges): https://www.rfc-editor.org/rfc/rfc5737
- RFC 6598 (100.64.0.0/10, the shared address space a carrier-grade NAT's subscribers get
  behind it): https://www.rfc-editor.org/rfc/rfc6598
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from trailguard.core.errors import ValidationFailed
from trailguard.law import LegalEngine

MAX_SEED = 2**63 - 1


class Difficulty(StrEnum):
    EASY = "easy"
    NORMAL = "normal"
    HARD = "hard"


def parse_difficulty(value: str) -> Difficulty:
    try:
        return Difficulty(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(d.value for d in Difficulty)
        raise ValidationFailed(
            f"unknown difficulty {value!r}; use one of: {allowed}", [f"difficulty: {value!r}"]
        ) from None


def check_seed(value: object) -> int:
    """A seed is a whole number from 0 to 2**63-1 (it names the exercise network)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(f"seed must be a whole number, not {value!r}", ["seed"])
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise ValidationFailed(f"seed must be a whole number, not {value!r}", ["seed"]) from None
    if not 0 <= seed <= MAX_SEED:
        raise ValidationFailed(f"seed must be between 0 and {MAX_SEED}, not {seed}", ["seed"])
    return seed


# Convention offence articles (ETS 185 Arts. 2-8) for the conduct a scenario uses.
CONDUCT_ARTICLES: dict[str, int] = {
    "illegal_access": 2,
    "illegal_interception": 3,
    "data_interference": 4,
    "system_interference": 5,
    "computer_forgery": 7,
    "computer_fraud": 8,
}
CONDUCT_STORY: dict[str, tuple[str, str]] = {
    "illegal_access": (
        "Illegal access to a company's administration interface",
        "an unknown person logged in to the administration interface of {victim}'s web server "
        "with a stolen password",
    ),
    "illegal_interception": (
        "Illegal interception of a company's mail traffic",
        "an unknown person diverted and read the mail traffic of {victim}",
    ),
    "data_interference": (
        "Data interference: a company's files encrypted for ransom",
        "an unknown person encrypted the file server of {victim} and left a ransom note",
    ),
    "system_interference": (
        "System interference: a denial of service steered from one control server",
        "an unknown person steered a denial of service against {victim} from a control server",
    ),
    "computer_forgery": (
        "Computer forgery: forged payment instructions",
        "an unknown person sent forged payment instructions in the name of {victim}",
    ),
    "computer_fraud": (
        "Computer fraud: a redirected payment",
        "an unknown person changed the bank details on an invoice of {victim}; a payment was "
        "redirected",
    ),
}
VICTIMS = (
    "Harbour Bank (synthetic)",
    "Alder Logistics (synthetic)",
    "Civic Water Board (synthetic)",
    "Meridian Clinic (synthetic)",
    "Lumen Insurance (synthetic)",
)

# Countries: the trainee's (a Party with a 24/7 point of contact) and the hops'.
ZONES: dict[str, str] = {
    "US": "America/New_York",
    "GB": "Europe/London",
    "JP": "Asia/Tokyo",
    "CA": "America/Toronto",
    "NL": "Europe/Amsterdam",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "BR": "America/Sao_Paulo",
    "AU": "Australia/Sydney",
    "CH": "Europe/Zurich",
    "NO": "Europe/Oslo",
    "ES": "Europe/Madrid",
    "IT": "Europe/Rome",
    "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest",
    "CL": "America/Santiago",
    "RU": "Europe/Moscow",
    "CN": "Asia/Shanghai",
    "VN": "Asia/Ho_Chi_Minh",
}
TRAINEE_COUNTRIES = ("US", "GB", "JP", "CA", "NL", "DE", "FR", "BR", "AU", "CH", "NO")
HOP_COUNTRIES = (
    "NL",
    "DE",
    "FR",
    "GB",
    "JP",
    "BR",
    "US",
    "CA",
    "AU",
    "ES",
    "IT",
    "PT",
    "CH",
    "NO",
    "RO",
    "CL",
)
NON_PARTY_COUNTRIES = ("RU", "CN", "VN")
PROVIDER_WORDS = (
    "Kestrel",
    "Basalt",
    "Juniper",
    "Heron",
    "Quarry",
    "Larch",
    "Tidewater",
    "Copperfield",
    "Lantern",
    "Marlin",
    "Pinecrest",
    "Saltmarsh",
)
PROVIDER_KINDS = (
    ("Hosting", "VPS hosting"),
    ("Telecom", "access provider"),
    ("Cloud", "cloud servers"),
    ("Net", "broadband access"),
)
# RFC 5737 documentation ranges cut in /26s: one per hop, the victim's server in 192.0.2.0/24.
PREFIXES = (
    "198.51.100.0/26",
    "203.0.113.0/26",
    "198.51.100.64/26",
    "203.0.113.64/26",
    "198.51.100.128/26",
    "203.0.113.128/26",
)
VICTIM_IP = "192.0.2.80"
# What a CGN access provider holds: the CGN's translation log (Cisco IOS XR CGN syslog,
# session-based logging with the destination) and its RADIUS accounting (FreeRADIUS detail
# files) naming the account each inside address was assigned to; the parsers cite the
# vendors' documentation (trailguard.traffic parsers cisco-xr-cgn, freeradius-detail).
CGN_LOG_FORMAT = "cisco-xr-cgn"
CGN_ASSIGNMENT_FORMAT = "freeradius-detail"
# An access provider without CGN assigns each subscriber's line a public address of its own
# (PPPoE/IPoE sessions authorised and accounted by RADIUS: RFC 2865 Framed-IP-Address, RFC 2866
# accounting): its RADIUS accounting names the account that had the address at the instant.
# A hosting provider's servers keep their addresses for the contract's life: what ties an
# address to a customer there is the provider's customer register (the server's order), not a
# traffic record any of the traffic parsers reads (a DHCP lease names a MAC and the hostname
# the server sends, not the customer), so a hosting hop's subscriber stays the register's.
ACCESS_KINDS = ("access provider", "broadband access")
ACCESS_ASSIGNMENT_FORMAT = "freeradius-detail"
HANDLINGS = (
    ("H1", "TLP:AMBER", "the victim does not want the data used in court before it agrees"),
    (
        "H2",
        "TLP:AMBER",
        "the victim's security team asks that nothing be "
        "shared beyond the authorities and providers concerned",
    ),
)
DAY = timedelta(days=1)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(_Frozen):
    """What a difficulty level changes."""

    hops: tuple[int, int]  # at least, at most (hops that hold a record of the path)
    report_delay_hours: tuple[int, int]  # between the offence and the trainee's first minute
    spare_days: tuple[int, int]  # retention left after the moment the hop becomes known
    margin_hours: int  # a preservation sent later than dies_at - margin loses half its point
    cgn: float
    emergency: float
    refusal: float
    non_party: float
    dead_end: float
    # a counterpart hop whose 24/7 point of contact forwards the preservation to the
    # provider's own node (drawn from its own random stream: the other draws stay the same)
    forward: float = 0.0


PROFILES: dict[Difficulty, Profile] = {
    Difficulty.EASY: Profile(
        hops=(1, 1),
        report_delay_hours=(6, 30),
        spare_days=(20, 40),
        margin_hours=48,
        cgn=0.0,
        emergency=0.0,
        refusal=0.0,
        non_party=0.0,
        dead_end=0.0,
    ),
    Difficulty.NORMAL: Profile(
        hops=(2, 2),
        report_delay_hours=(12, 60),
        spare_days=(4, 9),
        margin_hours=12,
        cgn=0.3,
        emergency=0.2,
        refusal=0.0,
        non_party=0.0,
        dead_end=0.25,
        forward=0.4,
    ),
    Difficulty.HARD: Profile(
        hops=(2, 3),
        report_delay_hours=(24, 96),
        spare_days=(1, 3),
        margin_hours=4,
        cgn=0.6,
        emergency=0.4,
        refusal=0.3,
        non_party=0.35,
        dead_end=0.2,
        forward=0.5,
    ),
}

HopOutcome = Literal["relay", "subscriber", "dead_end", "refuse", "non_party"]


class HopKey(_Frozen):
    """One custodian on the path, and what the trainee should do about it."""

    index: int  # 1 for the custodian the victim's evidence names
    country: str
    party: bool  # a Party to ETS 185 on the scenario's date
    node_id: str | None  # the simulated 24/7 point of contact (None: not on the network)
    provider: str
    provider_kind: str
    prefix: str
    ip: str
    port: int
    protocol: str
    destination_ip: str
    destination_port: int
    at: datetime  # UTC
    source_zone: str  # the zone the record giving this hop was written in
    data_kind: str  # flow (a flow probe) or nat (a CGN's translation log)
    log_format: str  # the parser name of the hop's record (trailguard.traffic parsers)
    retention_days: int
    dies_at: datetime  # the record is deleted at at + retention
    preserve_by: datetime  # dies_at - margin: the latest moment for full marks
    cgn: bool
    outcome: HopOutcome
    refusal_ground: str | None = None
    refusal_article: str | None = None
    channel: str  # the channel the answer key expects (law engine id)
    channel_name: str
    channel_citations: tuple[str, ...]
    fastest_channel: str  # the engine's first channel (may be an EU order among Member States)
    legal_basis: str  # the legal engine's legal basis for a preservation, or the reason none
    dual_criminality_required: bool
    dual_criminality_reason: str
    reservations: tuple[str, ...]  # reservations/declarations the engine names for the pair
    required_fields: tuple[tuple[str, str], ...]  # (field, article) of a complete request
    subscriber: str | None = None  # outcome 'subscriber'
    end_note: str = ""
    # an access provider's hop: the subscriber sessions' log (RADIUS accounting) that assigned
    # the address the connection came from, and the account it names (the subscriber for
    # outcome 'subscriber'; the line the attacker went through, or the hotspot, otherwise).
    # Behind a CGN that address is the inside address (RFC 6598) and port the CGN translated
    # to ip:port; without CGN it is ip itself (inside_ip None). A hosting hop has none of it.
    inside_ip: str | None = None
    inside_port: int | None = None
    assignment_format: str | None = None
    line_holder: str | None = None
    # the provider's own node when the point of contact (node_id) forwards the request to it
    # (Art. 29 executed by the custodian); None: the point of contact's node holds the store
    provider_node_id: str | None = None

    @property
    def store_node_id(self) -> str | None:
        """The node holding the provider's traffic store (and answering from it)."""
        return self.provider_node_id or self.node_id

    @property
    def expects_request(self) -> bool:
        """The trainee should send a preservation over the network to this hop."""
        return self.node_id is not None and self.channel == "preservation_24_7"


class Evidence(_Frozen):
    """What the victim handed over: one log in its own format and zone."""

    kind: Literal["web_access", "mail_headers", "flow"]
    title: str
    text: str
    zone: str


class Scenario(_Frozen):
    """A whole exercise: the story the trainee reads, and the answer key they never see
    until the debrief."""

    seed: int
    difficulty: Difficulty
    network: str  # the exercise network id (NodeConfig.exercise.network)
    as_of: date
    trainee_country: str
    trainee_node_id: str
    trainee_zone: str
    victim: str
    conduct: str
    offence_article: int
    offence: str
    facts: str
    emergency: bool
    handling_code: str
    tlp: str
    handling_reason: str
    starts_at: datetime  # the simulated moment the trainee's shift starts
    evidence: Evidence
    hops: tuple[HopKey, ...]
    end: HopOutcome
    end_summary: str
    subscriber: str | None

    def hop(self, index: int) -> HopKey:
        for hop in self.hops:
            if hop.index == index:
                return hop
        raise KeyError(index)

    @property
    def counterparts(self) -> list[HopKey]:
        """The hops with a simulated node (a Party's 24/7 point of contact)."""
        return [hop for hop in self.hops if hop.node_id is not None]


def network_id(seed: int, difficulty: Difficulty) -> str:
    digest = hashlib.sha256(f"{seed}:{difficulty.value}".encode()).hexdigest()[:6]
    return f"exercise-seed-{seed}-{difficulty.value}-{digest}"


def generate(seed: int, difficulty: Difficulty | str, engine: LegalEngine) -> Scenario:
    """The scenario of ``seed`` at ``difficulty``; deterministic (no clock, no global RNG)."""
    seed = check_seed(seed)
    level = difficulty if isinstance(difficulty, Difficulty) else parse_difficulty(difficulty)
    profile = PROFILES[level]
    rng = random.Random(f"trailguard-exercise:{seed}:{level.value}")

    as_of = date(2026, 11, 2) + timedelta(days=rng.randint(0, 20))
    trainee = rng.choice([c for c in TRAINEE_COUNTRIES if engine.is_party(c, "ets185", as_of)])
    conduct = rng.choice(sorted(CONDUCT_ARTICLES))
    victim = rng.choice(VICTIMS)
    offence, facts_template = CONDUCT_STORY[conduct]
    emergency = rng.random() < profile.emergency
    code, tlp, handling_reason = rng.choice(HANDLINGS)
    count = rng.randint(*profile.hops)

    offence_at = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC) + timedelta(
        seconds=rng.randint(0, 86_399), microseconds=rng.randrange(0, 1_000_000, 1000)
    )
    starts_at = offence_at + timedelta(hours=rng.randint(*profile.report_delay_hours))

    countries = [c for c in HOP_COUNTRIES if c != trainee]
    rng.shuffle(countries)
    chosen: list[str] = countries[:count]
    non_party_last = count > 1 and rng.random() < profile.non_party
    if non_party_last:
        chosen[-1] = rng.choice(NON_PARTY_COUNTRIES)
    last_outcome: HopOutcome
    if non_party_last:
        last_outcome = "non_party"
    elif rng.random() < profile.refusal:
        last_outcome = "refuse"
    elif rng.random() < profile.dead_end:
        last_outcome = "dead_end"
    else:
        last_outcome = "subscriber"

    words = list(PROVIDER_WORDS)
    rng.shuffle(words)
    hops: list[HopKey] = []
    at = offence_at
    destination_ip, destination_port = VICTIM_IP, rng.choice([443, 25, 8443])
    known_at = starts_at
    for position, country in enumerate(chosen, start=1):
        last = position == len(chosen)
        outcome: HopOutcome = last_outcome if last else "relay"
        party = engine.is_party(country, "ets185", as_of)
        suffix, kind_text = rng.choice(PROVIDER_KINDS)
        provider = f"{words[position - 1]} {suffix} ({country}, synthetic)"
        prefix = PREFIXES[position - 1]
        base = prefix.rsplit(".", 1)[0]
        first = int(prefix.rsplit(".", 1)[1].split("/")[0])
        ip = f"{base}.{first + rng.randint(2, 60)}"
        port = rng.randint(1024, 65535)
        access = kind_text in ACCESS_KINDS
        cgn = access and rng.random() < profile.cgn
        spare = rng.randint(*profile.spare_days)
        # the record lives until the moment the hop becomes known plus the spare days
        retention = max(1, math.ceil((known_at - at) / DAY) + spare)
        dies_at = at + timedelta(days=retention)
        margin = timedelta(hours=profile.margin_hours)
        channel, channel_name, citations, fastest, basis, dc_required, dc_reason, notes = _law(
            engine, trainee, country, conduct, as_of, emergency
        )
        refusal_ground = refusal_article = None
        end_note = ""
        subscriber = None
        if outcome == "refuse":
            refusal_ground = "essential_interests"
            refusal_article = "ETS 185 Art. 29(5)(b)"
            end_note = (
                f"{country} refuses the preservation (essential interests, Art. 29(5)(b)); the "
                "trail continues only through mutual assistance (Art. 27)."
            )
        elif outcome == "dead_end":
            end_note = (
                f"{provider} preserves its records: the connection came from its public Wi-Fi "
                "hotspot, with no subscriber behind it. The trail ends here (dead end)."
            )
        elif outcome == "subscriber":
            subscriber = f"acct-{rng.randint(10000, 99999)}@{words[position - 1].lower()}.example"
            end_note = (
                f"{provider} preserves the session records of subscriber {subscriber}; "
                "their disclosure follows by mutual assistance or a Protocol Art. 7 order."
            )
        elif outcome == "non_party":
            end_note = (
                f"{country} is not a Party to ETS 185: no 24/7 preservation channel. The "
                f"engine's channel is {channel_name}; the trail leaves the network here."
            )
        node_id = f"{country.lower()}-poc" if party and outcome != "non_party" else None
        line = (
            _access_line(seed, level, position, outcome, subscriber, words[position - 1])
            if access
            else None
        )
        hops.append(
            HopKey(
                index=position,
                country=country,
                party=party,
                node_id=node_id,
                provider=provider,
                provider_kind=kind_text,
                prefix=prefix,
                ip=ip,
                port=port,
                protocol="tcp",
                destination_ip=destination_ip,
                destination_port=destination_port,
                at=at,
                source_zone=trainee_zone(trainee) if position == 1 else _zone(chosen[position - 2]),
                data_kind="nat" if cgn else "flow",
                log_format=CGN_LOG_FORMAT if cgn else "zeek-conn",
                retention_days=retention,
                dies_at=dies_at,
                preserve_by=dies_at - margin,
                cgn=cgn,
                outcome=outcome,
                refusal_ground=refusal_ground,
                refusal_article=refusal_article,
                channel=channel,
                channel_name=channel_name,
                channel_citations=citations,
                fastest_channel=fastest,
                legal_basis=basis,
                dual_criminality_required=dc_required,
                dual_criminality_reason=dc_reason,
                reservations=notes,
                required_fields=required_fields(cgn, emergency),
                subscriber=subscriber,
                end_note=end_note,
                inside_ip=line.inside_ip if line and cgn else None,
                inside_port=line.inside_port if line and cgn else None,
                assignment_format=(
                    (CGN_ASSIGNMENT_FORMAT if cgn else ACCESS_ASSIGNMENT_FORMAT) if line else None
                ),
                line_holder=line.holder if line else None,
                provider_node_id=_provider_node(
                    seed, level, position, node_id, outcome, code, words[position - 1]
                ),
            )
        )
        # the attacker reached this hop from the next one, a little earlier
        destination_ip, destination_port = ip, rng.choice([22, 443, 3389])
        at = at - timedelta(minutes=rng.randint(2, 40), seconds=rng.randint(0, 59))
        # the next hop is known once this one has preserved and disclosed (about a day later)
        known_at = known_at + timedelta(hours=rng.randint(6, 30))

    end_hop = hops[-1]
    evidence = _evidence(rng, hops[0], trainee, victim)
    return Scenario(
        seed=seed,
        difficulty=level,
        network=network_id(seed, level),
        as_of=as_of,
        trainee_country=trainee,
        trainee_node_id=f"{trainee.lower()}-trainee",
        trainee_zone=trainee_zone(trainee),
        victim=victim,
        conduct=conduct,
        offence_article=CONDUCT_ARTICLES[conduct],
        offence=offence,
        facts=facts_template.format(victim=victim),
        emergency=emergency,
        handling_code=code,
        tlp=tlp,
        handling_reason=handling_reason,
        starts_at=starts_at,
        evidence=evidence,
        hops=tuple(hops),
        end=end_hop.outcome,
        end_summary=end_hop.end_note,
        subscriber=end_hop.subscriber,
    )


def _provider_node(
    seed: int,
    level: Difficulty,
    position: int,
    poc: str | None,
    outcome: HopOutcome,
    code: str,
    word: str,
) -> str | None:
    """The provider's own node when the hop's 24/7 point of contact forwards the request to
    it, else None. From its own random stream (the scenario's other draws are unchanged). Only
    a request the point of contact may pass on: not one it refuses itself (Art. 29(5)), and
    not under handling code H2, which forbids onward sharing unless the sender permits it."""
    if poc is None or outcome == "refuse" or code != "H1":
        return None
    rng = random.Random(f"trailguard-exercise:{seed}:{level.value}:forward:{position}")
    if rng.random() >= PROFILES[level].forward:
        return None
    return f"{poc.split('-')[0]}-{word.lower()}"


class _Line(NamedTuple):
    inside_ip: str
    inside_port: int
    holder: str


def _access_line(
    seed: int,
    level: Difficulty,
    position: int,
    outcome: HopOutcome,
    subscriber: str | None,
    word: str,
) -> _Line:
    """The subscriber line of an access provider's hop: the account its RADIUS sessions name,
    and, behind a CGN, its inside address and port (drawn for every access hop, used behind a
    CGN only). Drawn from a generator of its own (seed, level, hop) so that adding it left
    every other draw of the scenario as it was."""
    # (the generator's name predates lines without CGN: kept, so that CGN lines stay as drawn)
    rng = random.Random(f"trailguard-exercise:{seed}:{level.value}:cgn-line:{position}")
    inside_ip = f"100.64.{rng.randint(0, 63)}.{rng.randint(2, 254)}"
    inside_port = rng.randint(1024, 65535)
    number = rng.randint(10000, 99999)
    if outcome == "subscriber" and subscriber is not None:
        holder = subscriber
    elif outcome == "dead_end":
        holder = f"hotspot-{number}@{word.lower()}.example"
    else:
        holder = f"line-{number}@{word.lower()}.example"
    return _Line(inside_ip, inside_port, holder)


def _zone(country: str) -> str:
    return ZONES.get(country, "UTC")


def trainee_zone(country: str) -> str:
    return ZONES.get(country, "UTC")


def required_fields(cgn: bool, emergency: bool) -> tuple[tuple[str, str], ...]:
    """The checks of a complete preservation request beyond what the form refuses to miss."""
    fields: list[tuple[str, str]] = [
        ("data_to_preserve.ip", "ETS 185 Art. 29(2)(c): the data to preserve (the address)"),
        (
            "data_to_preserve.port",
            "ETS 185 Art. 29(2)(c), RFC 6302: the source port"
            + (" (a CGN address is shared: without the port no subscriber)" if cgn else ""),
        ),
        (
            "data_to_preserve.timestamp",
            "ETS 185 Art. 29(2)(c), RFC 6302: the time, within a minute, with its zone",
        ),
        ("data_kinds", "ETS 185 Art. 29(2)(c): the kind of record (retention clock)"),
        ("custodian", "ETS 185 Art. 29(2)(d): the custodian named"),
        ("offence_articles", "ETS 185 Art. 29(2)(b) with Arts. 2-11 (Art. 29(4) reservations)"),
    ]
    if emergency:
        fields.append(("emergency", "ETS 185 Art. 25(3): the urgency stated (expedited means)"))
    return tuple(fields)


def _law(
    engine: LegalEngine, trainee: str, country: str, conduct: str, as_of: date, emergency: bool
) -> tuple[str, str, tuple[str, ...], str, str, bool, str, tuple[str, ...]]:
    answer = engine.channels(
        trainee, country, "traffic", emergency, as_of, conduct=[conduct], purpose="preserve"
    )
    offered = {channel.id: channel for channel in answer.channels}
    fastest = answer.channels[0].id if answer.channels else "none"
    chosen = offered.get("preservation_24_7") or (answer.channels[0] if answer.channels else None)
    check = engine.check(trainee, country, [conduct], "preservation", as_of)
    basis = engine.legal_basis("preservation", trainee, country, as_of, emergency)
    basis_text = (
        f"{basis.instrument} Arts. {', '.join(basis.articles)}: {basis.summary}"
        if basis is not None
        else "no legal basis for a preservation request over the 24/7 network"
    )
    notes = tuple(note for note in check.notes if note.startswith(country))
    if chosen is None:
        return ("none", "none offered", (), fastest, basis_text, True, "", notes)
    return (
        chosen.id,
        chosen.name,
        tuple(chosen.citations),
        fastest,
        basis_text,
        check.dual_criminality.required,
        check.dual_criminality.reason,
        notes,
    )


def _evidence(rng: random.Random, first: HopKey, trainee: str, victim: str) -> Evidence:
    zone = trainee_zone(trainee)
    local = first.at.astimezone(ZoneInfo(zone))
    kind = rng.choice(["web_access", "mail_headers", "flow"])
    if kind == "web_access":
        stamp = local.strftime("%d/%b/%Y:%H:%M:%S %z")
        lines = []
        for n in range(3):
            other = f"192.0.2.{rng.randint(10, 60)}"
            at = (first.at - timedelta(minutes=5 - n)).astimezone(ZoneInfo(zone))
            lines.append(
                f"{other} {rng.randint(20000, 60000)} - - [{at.strftime('%d/%b/%Y:%H:%M:%S %z')}]"
                f' "GET / HTTP/1.1" 200 5120 "-" "Mozilla/5.0"'
            )
        lines.append(
            f'{first.ip} {first.port} - admin [{stamp}] "POST /admin/login HTTP/1.1" 302 0 '
            f'"-" "python-requests/2.31"'
        )
        return Evidence(
            kind="web_access",
            title=f"{victim}: web server access log (client address and port, local time)",
            text="\n".join(lines),
            zone=zone,
        )
    if kind == "mail_headers":
        stamp = local.strftime("%a, %d %b %Y %H:%M:%S %z")
        text = (
            f"Received: from mx1.victim.example (mx1.victim.example [{VICTIM_IP}])\n"
            f"\tby mail.victim.example with ESMTPS id 4Xk2; {stamp}\n"
            f"Received: from relay.example ([{first.ip}]:{first.port})\n"
            f"\tby mx1.victim.example with ESMTP id 9QeA; {stamp}\n"
            f"From: payments@victim-lookalike.example\nSubject: Updated bank details\n"
        )
        return Evidence(
            kind="mail_headers",
            title=f"{victim}: headers of the forged message (Received: chain, newest first)",
            text=text,
            zone=zone,
        )
    # the victim's network probe: one Zeek conn.log line (TSV, times in UTC seconds), the
    # header as Zeek writes it (https://docs.zeek.org/en/master/logs/conn.html)
    ts = first.at.timestamp()
    uid = "C" + "".join(rng.choice("abcdefghijkmnopqrstuvwxyz0123456789") for _ in range(17))
    text = "\n".join(
        [
            "#separator \\x09",
            "#set_separator\t,",
            "#empty_field\t(empty)",
            "#unset_field\t-",
            "#path\tconn",
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice"
            "\tduration\torig_bytes\tresp_bytes\tconn_state",
            "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount"
            "\tcount\tstring",
            f"{ts:.6f}\t{uid}\t{first.ip}\t{first.port}\t{first.destination_ip}"
            f"\t{first.destination_port}\ttcp\tssl\t4.200000\t{rng.randint(2000, 90000)}"
            f"\t{rng.randint(2000, 90000)}\tSF",
        ]
    )
    return Evidence(
        kind="flow",
        title=f"{victim}: network probe connection log (Zeek conn.log, times in UTC)",
        text=text,
        zone=zone,
    )
