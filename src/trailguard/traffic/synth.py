"""Synthetic provider traffic data for tests and benchmarks: a CGNAT provider's NAT log plus the
address-assignment log that ties inside addresses to subscriber accounts, and an answer key.

The world is built so that every lookup in the key has exactly one answer:

* each subscriber holds one inside address per day (a RADIUS session or a DHCP lease covering
  the day, minus a minute at each end), re-shuffled every day;
* NAT sessions are laid out per (public address, public port) slot in disjoint time windows
  inside a day, so no two sessions ever share a public address and port at the same time;
* a key entry names an instant at least ``KEY_MARGIN_S`` seconds inside its NAT session, so a
  lookup tolerance below that margin still finds one session.

Everything is generated with NumPy and formatted with Arrow string kernels, one day (and
``CHUNK_SESSIONS`` sessions) at a time, so tens of millions of lines take minutes, not hours.
Addresses come from documentation and shared ranges only (RFC 5737, RFC 6598); subscribers are
synthetic (``sub-0000001``).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NAT_FORMATS = ("cisco-asa", "juniper-srx")
ASSIGNMENT_FORMATS = ("freeradius-detail", "isc-dhcpd-leases")
KEY_MARGIN_S = 5
CHUNK_SESSIONS = 1_000_000
DAY_US = 86_400 * 1_000_000
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class SynthResult:
    """What was written, and how to read it back."""

    files: dict[str, Path]  # format name -> file
    answer_key: Path
    records: int  # lines (records) in the main log
    sessions: int  # NAT sessions (cisco-asa / juniper-srx) or assignments
    lookups: int  # entries in the answer key
    subscribers: int
    start: datetime
    end: datetime
    tz: str = "UTC"  # the zone the logs' stamps are written in (pass as --tz)
    year: int = 0
    notes: list[str] = field(default_factory=list)


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ipv4(ints: np.ndarray) -> pa.Array:
    ints = ints.astype(np.int64)
    return _join(
        _str(ints >> 24),
        ".",
        _str((ints >> 16) & 255),
        ".",
        _str((ints >> 8) & 255),
        ".",
        _str(ints & 255),
    )


def _pad2(values: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(_str(values), width=2, padding="0")


def _civil(us: np.ndarray) -> dict[str, np.ndarray]:
    secs = us // 1_000_000
    days = secs // 86_400
    rem = secs - days * 86_400
    dt = days.astype("datetime64[D]")
    year = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    month0 = dt.astype("datetime64[M]").astype(np.int64) % 12
    day = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (Mon = 0)
    return {
        "year": year,
        "month0": month0,
        "day": day,
        "hh": rem // 3600,
        "mi": (rem // 60) % 60,
        "ss": rem % 60,
        "weekday": weekday,
    }


def _syslog_stamp(us: np.ndarray) -> pa.Array:
    """``Nov 17 2026 08:14:07`` (ASA with ``logging timestamp`` and a year)."""
    c = _civil(us)
    months = pa.array(_MONTHS).take(pa.array(c["month0"]))
    return _join(
        months, " ", _pad2(c["day"]), " ", _str(c["year"]), " ",
        _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]),
    )  # fmt: skip


def _iso_stamp(us: np.ndarray) -> pa.Array:
    """``2026-11-17T08:14:07.123Z``."""
    c = _civil(us)
    ms = (us // 1000) % 1000
    return _join(
        _str(c["year"]), "-", _pad2(c["month0"] + 1), "-", _pad2(c["day"]), "T",
        _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]), ".",
        pc.utf8_lpad(_str(ms), width=3, padding="0"), "Z",
    )  # fmt: skip


def _hms(seconds: np.ndarray) -> pa.Array:
    return _join(_str(seconds // 3600), ":", _pad2((seconds // 60) % 60), ":", _pad2(seconds % 60))


def _write_lines(fh: IO[bytes], lines: pa.Array) -> None:
    """Write a string array whose values each end with a newline, as one buffer."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset :]
    first, last = int(offsets[0]), int(offsets[len(lines)])
    data = lines.buffers()[2]
    if data is not None and last > first:
        fh.write(memoryview(data)[first:last])


def _open_out(path: Path, compress: bool) -> IO[bytes]:
    if compress:
        return gzip.open(path, "wb", compresslevel=1)  # type: ignore[return-value]
    return path.open("wb")


@dataclass
class _World:
    rng: np.random.Generator
    start_us: int
    days: int
    subscribers: int
    public: np.ndarray  # public addresses as ints
    inside_base: int
    inside_size: int
    inside_of: np.ndarray  # (days, subscribers) -> inside address int
    seed: int
    port_low: int = 1024
    port_high: int = 65535

    @property
    def ports(self) -> int:
        return self.port_high - self.port_low + 1


def _world(
    seed: int, start: datetime, days: int, subscribers: int, public_pool: str, inside: str
) -> _World:
    rng = np.random.default_rng(seed)
    pool = ipaddress.ip_network(public_pool)
    inner = ipaddress.ip_network(inside)
    if pool.version != 4 or inner.version != 4:
        raise ValueError("the synthetic CGNAT world uses IPv4 pools")
    hosts = np.arange(int(pool.network_address), int(pool.broadcast_address) + 1, dtype=np.int64)
    if pool.num_addresses > 2:
        hosts = hosts[1:-1]  # skip network and broadcast addresses
    inside_size = inner.num_addresses - 2
    if subscribers > inside_size:
        raise ValueError(f"{subscribers} subscribers do not fit in {inside}")
    inside_of = np.empty((days, subscribers), dtype=np.int64)
    for d in range(days):
        inside_of[d] = (
            int(inner.network_address)
            + 1
            + rng.choice(inside_size, size=subscribers, replace=False)
        )
    start_us = int(start.astimezone(UTC).timestamp() * 1_000_000)
    return _World(rng, start_us, days, subscribers, hosts, int(inner.network_address),
                  inside_size, inside_of, seed)  # fmt: skip


def _subscriber_names(idx: np.ndarray) -> pa.Array:
    return _join("sub-", pc.utf8_lpad(_str(idx + 1), width=7, padding="0"))


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64: a counter-based random number per index (reproducible in any order)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _draw(w: _World, day: int, field_no: int, idx: np.ndarray, n: int) -> np.ndarray:
    """Uniform integers in [0, n) for sessions ``idx`` of ``day`` (field ``field_no``)."""
    salt = np.uint64((w.seed * 1_000_003 + day * 7_919 + field_no * 104_729) & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        r = _mix(idx.astype(np.uint64) ^ (salt << np.uint64(32)))
    return (r % np.uint64(n)).astype(np.int64)


def _session_times(
    w: _World, day: int, count: int, first_slot: int, idx: np.ndarray
) -> dict[str, np.ndarray]:
    """Slot, start and end of sessions ``idx`` (of ``count``) on ``day``, laid out in disjoint
    windows per (public address, port) slot."""
    ports = w.ports
    slots = len(w.public) * ports
    usable_us = DAY_US - 2 * 60 * 1_000_000  # keep a minute clear at both ends of the day
    per_slot = max(1, -(-count // slots))
    window_s = usable_us // per_slot // 1_000_000
    slot = (first_slot + idx * 7919) % slots  # spread over addresses and ports
    seq = (first_slot + idx) // slots % per_slot
    day_start = w.start_us + day * DAY_US + 60 * 1_000_000
    low = 2 * KEY_MARGIN_S + 2
    max_dur = max(low, min(window_s - 2, 900))
    duration_s = low + _draw(w, day, 1, idx, max_dur - low + 1)
    slack = np.maximum(window_s - duration_s - 1, 1)
    offset_s = _draw(w, day, 2, idx, 1 << 30) % slack
    start = day_start + seq * window_s * 1_000_000 + offset_s * 1_000_000
    return {
        "slot": slot,
        "start": start,
        "end": start + duration_s * 1_000_000,
        "duration_s": duration_s,
    }


def _session_fields(
    w: _World, day: int, count: int, first_slot: int, idx: np.ndarray
) -> dict[str, np.ndarray]:
    s = _session_times(w, day, count, first_slot, idx)
    ports = w.ports
    subscriber = _draw(w, day, 3, idx, w.subscribers)
    s.update(
        public_ip=w.public[s["slot"] // ports],
        public_port=w.port_low + s["slot"] % ports,
        inside_ip=w.inside_of[day, subscriber],
        inside_port=1024 + _draw(w, day, 4, idx, 65536 - 1024),
        subscriber=subscriber,
        tcp=_draw(w, day, 5, idx, 10) < 7,
        dst_ip=0xC6336400 + 1 + _draw(w, day, 6, idx, 254),  # 198.51.100.0/24
        dst_port=np.where(_draw(w, day, 7, idx, 10) < 8, 443, 53),
    )
    return s


def _asa_lines(s: dict[str, np.ndarray], host: str, is_end: np.ndarray) -> pa.Array:
    """Built (or, where ``is_end``, Teardown) lines of the sessions in ``s``."""
    proto = pc.if_else(pa.array(s["tcp"]), "TCP", "UDP")
    end_mask = pa.array(is_end)
    stamp = _syslog_stamp(np.where(is_end, s["end"], s["start"]))
    head = pc.if_else(
        end_mask,
        f" {host} %ASA-6-305012: Teardown dynamic ",
        f" {host} %ASA-6-305011: Built dynamic ",
    )
    tail = pc.if_else(end_mask, _join(" duration ", _hms(s["duration_s"])), "")
    return _join(
        stamp, head, proto, " translation from inside:", _ipv4(s["inside_ip"]), "/",
        _str(s["inside_port"]), " to outside:", _ipv4(s["public_ip"]), "/",
        _str(s["public_port"]), tail, "\n",
    )  # fmt: skip


def _srx_lines(
    s: dict[str, np.ndarray], host: str, is_end: np.ndarray, session_ids: np.ndarray
) -> pa.Array:
    """RT_FLOW_SESSION_CREATE (or, where ``is_end``, _CLOSE) lines of the sessions in ``s``."""
    proto = pa.array(np.where(s["tcp"], "6", "17"))
    end_mask = pa.array(is_end)
    common = _join(
        ' source-address="', _ipv4(s["inside_ip"]), '" source-port="', _str(s["inside_port"]),
        '" destination-address="', _ipv4(s["dst_ip"]), '" destination-port="',
        _str(s["dst_port"]), '" service-name="None" nat-source-address="',
        _ipv4(s["public_ip"]), '" nat-source-port="', _str(s["public_port"]),
        '" nat-destination-address="', _ipv4(s["dst_ip"]), '" nat-destination-port="',
        _str(s["dst_port"]), '" src-nat-rule-type="source rule" src-nat-rule-name="cgnat"',
        ' protocol-id="', proto, '" policy-name="subscribers"',
        ' source-zone-name="trust" destination-zone-name="untrust" session-id-32="',
        _str(session_ids), '"',
    )  # fmt: skip
    volume = _str((s["duration_s"] * 1500) % 900_000 + 60)
    close_tail = _join(
        ' packets-from-client="3" bytes-from-client="', volume,
        '" packets-from-server="2" bytes-from-server="', volume, '" elapsed-time="',
        _str(s["duration_s"]), '"',
    )  # fmt: skip
    stamp = _iso_stamp(np.where(is_end, s["end"], s["start"]))
    event = pc.if_else(
        end_mask,
        f' {host} RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.40 reason="idle Timeout"',
        f" {host} RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40",
    )
    return _join("<14>1 ", stamp, event, common, pc.if_else(end_mask, close_tail, ""), "]\n")


def _radius_records(w: _World, day: int, nas: str) -> pa.Array:
    """Start and Stop accounting records for every subscriber's session on ``day``."""
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin = w.start_us + day * DAY_US + w.rng.integers(0, 30, size=w.subscribers) * 1_000_000
    stop = w.start_us + (day + 1) * DAY_US - w.rng.integers(1, 30, size=w.subscribers) * 1_000_000
    names = _subscriber_names(subs)
    ip = _ipv4(w.inside_of[day])
    sid = _join(
        pc.utf8_lpad(_str(subs + 1), width=7, padding="0"), "-", _str(np.full(w.subscribers, day))
    )
    mac = _join(
        "02-00-5e-", _pad2_hex((subs >> 16) & 255), "-", _pad2_hex((subs >> 8) & 255), "-",
        _pad2_hex(subs & 255),
    )  # fmt: skip

    def record(at: np.ndarray, status: str, extra: pa.Array | str) -> pa.Array:
        c = _civil(at)
        header = _join(
            pa.array(_WEEKDAYS).take(pa.array(c["weekday"])), " ",
            pa.array(_MONTHS).take(pa.array(c["month0"])), " ", _pad2(c["day"]), " ",
            _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]), " ", _str(c["year"]),
        )  # fmt: skip
        epoch = _str(at // 1_000_000)
        return _join(
            header, '\n\tAcct-Session-Id = "', sid, '"\n\tUser-Name = "', names,
            f'"\n\tAcct-Status-Type = {status}\n\tFramed-IP-Address = ', ip,
            '\n\tCalling-Station-Id = "', mac, f'"\n\tNAS-IP-Address = {nas}',
            "\n\tEvent-Timestamp = ", epoch, extra, "\n\tTimestamp = ", epoch, "\n\n",
        )  # fmt: skip

    session_time = (stop - begin) // 1_000_000
    starts = record(begin, "Start", "")
    stops = record(stop, "Stop", _join("\n\tAcct-Session-Time = ", _str(session_time)))
    return pa.concat_arrays([starts, stops])


def _dhcp_leases(w: _World, day: int) -> pa.Array:
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin = w.start_us + day * DAY_US + w.rng.integers(0, 30, size=w.subscribers) * 1_000_000
    stop = w.start_us + (day + 1) * DAY_US - w.rng.integers(1, 30, size=w.subscribers) * 1_000_000

    def when(us: np.ndarray) -> pa.Array:
        c = _civil(us)
        weekday = (c["weekday"] + 1) % 7  # dhcpd: 0 = Sunday
        return _join(
            _str(weekday), " ", _str(c["year"]), "/", _pad2(c["month0"] + 1), "/",
            _pad2(c["day"]), " ", _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]),
        )  # fmt: skip

    mac = _join(
        "02:00:5e:", _pad2_hex((subs >> 16) & 255), ":", _pad2_hex((subs >> 8) & 255), ":",
        _pad2_hex(subs & 255),
    )  # fmt: skip
    return _join(
        "lease ", _ipv4(w.inside_of[day]), " {\n  starts ", when(begin), ";\n  ends ",
        when(stop), ";\n  cltt ", when(begin), ";\n  binding state active;\n",
        "  next binding state free;\n  hardware ethernet ", mac, ";\n  client-hostname \"",
        _subscriber_names(subs), "\";\n}\n",
    )  # fmt: skip


def _pad2_hex(values: np.ndarray) -> pa.Array:
    hexdigits = pa.array([f"{i:02x}" for i in range(256)])
    return hexdigits.take(pa.array(values.astype(np.int64)))


def write_synthetic(
    fmt: str,
    out_dir: Path,
    records: int,
    seed: int,
    *,
    public_pool: str = "203.0.113.0/24",
    inside: str = "100.64.0.0/10",
    subscribers: int | None = None,
    start: datetime = datetime(2026, 11, 16, tzinfo=UTC),
    days: int = 1,
    assignment: str = "freeradius-detail",
    lookups: int = 1000,
    public_ports: tuple[int, int] = (1024, 65535),
    compress: bool = False,
    host: str = "cgnat-01",
) -> SynthResult:
    """Write ``records`` lines of ``fmt`` into ``out_dir`` plus the assignment log and an answer
    key (``answer_key.jsonl``: public_ip, public_port, at, inside_ip, inside_port, subscriber).

    ``fmt`` is a NAT format (``cisco-asa``, ``juniper-srx``: records = lines, two per session)
    written together with ``assignment`` (``freeradius-detail`` or ``isc-dhcpd-leases``), or an
    assignment format alone (then the key's public side is the assigned address and its port
    is null). Stamps are written in UTC (pass ``--tz UTC``)."""
    if fmt not in NAT_FORMATS + ASSIGNMENT_FORMATS:
        known = ", ".join(NAT_FORMATS + ASSIGNMENT_FORMATS)
        raise ValueError(f"no synthetic writer for {fmt!r}; known: {known}")
    if assignment not in ASSIGNMENT_FORMATS:
        raise ValueError(f"assignment must be one of {', '.join(ASSIGNMENT_FORMATS)}")
    if records < 0 or days < 1:
        raise ValueError("records must be >= 0 and days >= 1")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if not 0 <= public_ports[0] <= public_ports[1] <= 65535:
        raise ValueError(f"public_ports {public_ports} is not a port range within 0..65535")
    out_dir.mkdir(parents=True, exist_ok=True)
    if subscribers is None:
        subscribers = max(10, min(200_000, records // 250 or 10))
    w = _world(seed, start, days, subscribers, public_pool, inside)
    w.port_low, w.port_high = public_ports
    suffix = ".gz" if compress else ""
    files: dict[str, Path] = {}
    key_rows: list[dict[str, object]] = []
    sessions_total = 0
    lines_total = 0
    is_nat = fmt in NAT_FORMATS
    assign_fmt = assignment if is_nat else fmt
    # the assignment log: one RADIUS session (or DHCP lease) per subscriber and day
    assign_path = out_dir / (
        f"radius-detail{suffix}" if assign_fmt == "freeradius-detail" else f"dhcpd.leases{suffix}"
    )
    files[assign_fmt] = assign_path
    with _open_out(assign_path, compress) as fh:
        if assign_fmt == "isc-dhcpd-leases":
            fh.write(
                b"# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
            )
        for d in range(days):
            if assign_fmt == "freeradius-detail":
                block = _radius_records(w, d, nas="192.0.2.1")
                lines_total += 0 if is_nat else 2 * subscribers
            else:
                block = _dhcp_leases(w, d)
                lines_total += 0 if is_nat else subscribers
            _write_lines(fh, block)
    if is_nat:
        nat_path = out_dir / (f"asa.log{suffix}" if fmt == "cisco-asa" else f"srx.log{suffix}")
        files[fmt] = nat_path
        sessions_total = records // 2
        per_day = np.full(days, sessions_total // days, dtype=np.int64)
        per_day[: sessions_total % days] += 1
        want_key = min(lookups, sessions_total)
        key_every = max(1, sessions_total // max(want_key, 1))
        slot = 0
        sid = 1
        with _open_out(nat_path, compress) as fh:
            for d in range(days):
                count = int(per_day[d])
                everyone = np.arange(count, dtype=np.int64)
                t = _session_times(w, d, count, slot, everyone)
                # events (start and end of every session) in time order
                at = np.concatenate([t["start"], t["end"]])
                order = np.argsort(at, kind="stable")
                del at, t
                for lo in range(0, len(order), 2 * CHUNK_SESSIONS):
                    ev = order[lo : lo + 2 * CHUNK_SESSIONS]
                    is_end = ev >= count
                    idx = np.where(is_end, ev - count, ev)
                    fields = _session_fields(w, d, count, slot, idx)
                    if fmt == "cisco-asa":
                        lines = _asa_lines(fields, host, is_end)
                    else:
                        lines = _srx_lines(fields, host, is_end, sid + idx)
                    _write_lines(fh, lines)
                    lines_total += len(lines)
                # key entries: evenly spread sessions, at a whole second in their middle
                pick = np.arange(0, count, key_every, dtype=np.int64)
                pick = pick[: max(0, want_key - len(key_rows))]
                if len(pick):
                    ks = _session_fields(w, d, count, slot, pick)
                    for j in range(len(pick)):
                        mid = int(ks["start"][j] + (ks["duration_s"][j] // 2) * 1_000_000)
                        key_rows.append(_key_row(ks, j, mid))
                slot += count
                sid += count
        if records % 2:
            notes = [f"{records} is odd: {lines_total} lines written (two per session)"]
        else:
            notes = []
    else:
        sessions_total = subscribers * days
        want_key = min(lookups, sessions_total)
        rng = np.random.default_rng(seed + 1)
        picks = rng.choice(sessions_total, size=want_key, replace=False)
        for p in sorted(picks.tolist()):
            d, sub = divmod(int(p), subscribers)
            noon = w.start_us + d * DAY_US + DAY_US // 2
            key_rows.append({
                "public_ip": str(ipaddress.ip_address(int(w.inside_of[d, sub]))),
                "public_port": None,
                "at": _iso(noon),
                "inside_ip": str(ipaddress.ip_address(int(w.inside_of[d, sub]))),
                "inside_port": None,
                "subscriber": f"sub-{sub + 1:07d}",
            })  # fmt: skip
        notes = ["assignment log only: the key's public side is the assigned address"]
    key_path = out_dir / "answer_key.jsonl"
    with key_path.open("w", encoding="utf-8") as fh_key:
        for row in key_rows:
            fh_key.write(json.dumps(row) + "\n")
    end = start + timedelta(days=days)
    return SynthResult(
        files=files,
        answer_key=key_path,
        records=lines_total,
        sessions=sessions_total,
        lookups=len(key_rows),
        subscribers=subscribers,
        start=start,
        end=end,
        tz="UTC",
        year=start.astimezone(UTC).year,
        notes=notes,
    )


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")


def _key_row(s: dict[str, np.ndarray], i: int, at_us: int) -> dict[str, object]:
    return {
        "public_ip": str(ipaddress.ip_address(int(s["public_ip"][i]))),
        "public_port": int(s["public_port"][i]),
        "at": _iso(at_us),
        "inside_ip": str(ipaddress.ip_address(int(s["inside_ip"][i]))),
        "inside_port": int(s["inside_port"][i]),
        "subscriber": f"sub-{int(s['subscriber'][i]) + 1:07d}",
        "protocol": "tcp" if bool(s["tcp"][i]) else "udp",
        "session_start": _iso(int(s["start"][i])),
        "session_end": _iso(int(s["end"][i])),
    }
