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
# CGN formats of issue 6: port blocks (and, for IOS XR and NetFlow/IPFIX, sessions too)
CGN_FORMATS = ("juniper-pba", "cisco-xr-cgn", "netflow")
ASSIGNMENT_FORMATS = ("freeradius-detail", "isc-dhcpd-leases", "kea-leases")
FORMATS = NAT_FORMATS + CGN_FORMATS + ASSIGNMENT_FORMATS
KEY_MARGIN_S = 5
CHUNK_SESSIONS = 1_000_000
DAY_US = 86_400 * 1_000_000
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class SynthResult:
    """What was written, and how to read it back."""

    files: dict[str, Path]  # format name -> file (the first, when a format has several)
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
    # every file to ingest, with its format (netflow writes four files, kea-leases two)
    inputs: list[tuple[str, Path]] = field(default_factory=list)


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

    ``fmt`` is a NAT format (``cisco-asa``, ``juniper-srx``: records = lines, two per session),
    a CGN format (``juniper-pba``: records = lines; ``cisco-xr-cgn``: records = messages, packed
    into datagrams; ``netflow``: records = NAT event records in v9, IPFIX and pcap files, plus
    NetFlow v5 flows), each written together with ``assignment`` (``freeradius-detail``,
    ``isc-dhcpd-leases`` or ``kea-leases``), or an assignment format alone (then the key's
    public side is the assigned address and its port is null; ``kea-leases`` alone writes v4
    and v6 lease files). For port blocks the key's port is a port of the block and its
    expected subscriber the holder of the block (``kind`` ``port_block``, ``port_block``
    [first, last]). Stamps are written in UTC (pass ``--tz UTC``); ``SynthResult.inputs`` lists
    every file with its format."""
    if fmt not in FORMATS:
        raise ValueError(f"no synthetic writer for {fmt!r}; known: {', '.join(FORMATS)}")
    if assignment not in ASSIGNMENT_FORMATS:
        raise ValueError(f"assignment must be one of {', '.join(ASSIGNMENT_FORMATS)}")
    if records < 0 or days < 1:
        raise ValueError("records must be >= 0 and days >= 1")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if not 0 <= public_ports[0] <= public_ports[1] <= 65535:
        raise ValueError(f"public_ports {public_ports} is not a port range within 0..65535")
    out_dir.mkdir(parents=True, exist_ok=True)
    if subscribers is None and fmt == "kea-leases":
        subscribers = max(1, min(200_000, records // (2 * days)))  # a v4 and a v6 lease a day
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
    assign_fmt = fmt if fmt in ASSIGNMENT_FORMATS else assignment
    inputs: list[tuple[str, Path]] = []
    # the assignment log: one RADIUS session (or DHCP lease) per subscriber and day
    assign_path = (
        out_dir
        / {
            "freeradius-detail": f"radius-detail{suffix}",
            "isc-dhcpd-leases": f"dhcpd.leases{suffix}",
            "kea-leases": f"kea-leases4.csv{suffix}",
        }[assign_fmt]
    )
    files[assign_fmt] = assign_path
    inputs.append((assign_fmt, assign_path))
    alone = fmt in ASSIGNMENT_FORMATS
    with _open_out(assign_path, compress) as fh:
        if assign_fmt == "isc-dhcpd-leases":
            fh.write(
                b"# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
            )
        elif assign_fmt == "kea-leases":
            fh.write(KEA_V4_HEADER.encode())
        for d in range(days):
            if assign_fmt == "freeradius-detail":
                block = _radius_records(w, d, nas="192.0.2.1")
                lines_total += 2 * subscribers if alone else 0
            elif assign_fmt == "kea-leases":
                block = _kea_lines(w, d, v6=False)
                lines_total += subscribers if alone else 0
            else:
                block = _dhcp_leases(w, d)
                lines_total += subscribers if alone else 0
            _write_lines(fh, block)
    inside6 = None
    if fmt == "kea-leases":
        inside6 = _inside6(w)
        v6_path = out_dir / f"kea-leases6.csv{suffix}"
        inputs.append(("kea-leases", v6_path))
        with _open_out(v6_path, compress) as fh:
            fh.write(KEA_V6_HEADER.encode())
            for d in range(days):
                _write_lines(fh, _kea_lines(w, d, v6=True, inside6=inside6[d]))
                lines_total += subscribers
    notes: list[str] = []
    if fmt in CGN_FORMATS:
        want_key = min(lookups, max(records // 2, 1)) if records else 0
        if fmt == "juniper-pba":
            more, key_rows, sessions_total, lines_total, notes = _write_juniper_pba(
                w, out_dir, suffix, compress, records, want_key, host
            )
            inputs += list(more.items())
        elif fmt == "cisco-xr-cgn":
            more, key_rows, sessions_total, lines_total, notes = _write_cisco_xr(
                w, out_dir, suffix, compress, records, want_key, host="198.51.100.1"
            )
            inputs += list(more.items())
        else:
            more, nf_inputs, key_rows, sessions_total, lines_total, notes = _write_netflow(
                w, out_dir, records, want_key
            )
            inputs += nf_inputs
            notes.append("NetFlow/IPFIX files are binary and written uncompressed")
        files.update(more)
    elif is_nat:
        nat_path = out_dir / (f"asa.log{suffix}" if fmt == "cisco-asa" else f"srx.log{suffix}")
        files[fmt] = nat_path
        inputs.append((fmt, nat_path))
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
        for n, p in enumerate(sorted(picks.tolist())):
            d, sub = divmod(int(p), subscribers)
            noon = w.start_us + d * DAY_US + DAY_US // 2
            addr = int(w.inside_of[d, sub])
            if inside6 is not None and n % 2:  # kea-leases: every other entry asks about v6
                addr = int(inside6[d, sub])
            key_rows.append({
                "public_ip": str(ipaddress.ip_address(addr)),
                "public_port": None,
                "at": _iso(noon),
                "inside_ip": str(ipaddress.ip_address(addr)),
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
        inputs=inputs,
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


# --------------------------------------------------------------------------------------------
# Issue 6 formats: carrier-grade NAT port blocks and sessions, NetFlow/IPFIX, Kea leases.
#
# Port blocks are laid out like sessions: per (public address, block) slot in disjoint windows of
# a day, so a block is held by one subscriber at a time and every key instant (at least
# ``KEY_MARGIN_S`` inside its allocation) has one answer. The key's expected subscriber is the
# one whose inside address holds the block; its port is any port of the block.

JUNIPER_BLOCK = 128  # Juniper secured-port-block-allocation block-size default (see below)
JUNIPER_INTERIM_S = 1800  # interim-logging-interval: 0..86400 s, sent for blocks still active
XR_BLOCK = 256  # IOS XR bulk-port-alloc size used here
FLOW_BLOCK = 256  # RFC 8158 port block size used here
BLOCK_MIN_S = 60
BLOCK_MAX_S = 3_590  # below two interim intervals: at most one ACTIVE line per allocation
_PRIMES = (7919, 7927, 7933, 7937)


def _stride(slots: int) -> int:
    return next(p for p in _PRIMES if slots % p)


def _periods(
    w: _World,
    day: int,
    count: int,
    first_slot: int,
    idx: np.ndarray,
    slots: int,
    min_s: int,
    max_s: int,
    field_no: int,
) -> dict[str, np.ndarray]:
    """Slot, start and end (us) of periods ``idx`` (of ``count``) on ``day`` in disjoint windows
    per slot; durations ``min_s``..``max_s`` seconds (shorter when windows are short)."""
    usable_us = DAY_US - 2 * 60 * 1_000_000
    per_slot = max(1, -(-count // slots))
    window_s = usable_us // per_slot // 1_000_000
    if window_s < min_s + 2:
        raise ValueError(
            f"{count} periods of at least {min_s} s do not fit {slots} slots in a day; write"
            " fewer records or give a bigger public pool"
        )
    slot = (first_slot + idx * _stride(slots)) % slots
    seq = (first_slot + idx) // slots % per_slot
    day_start = w.start_us + day * DAY_US + 60 * 1_000_000
    max_dur = max(min_s, min(window_s - 2, max_s))
    duration_s = min_s + _draw(w, day, field_no, idx, max_dur - min_s + 1)
    slack = np.maximum(window_s - duration_s - 1, 1)
    offset_s = _draw(w, day, field_no + 1, idx, 1 << 30) % slack
    start = day_start + (seq * window_s + offset_s) * 1_000_000
    return {"slot": slot, "start": start, "end": start + duration_s * 1_000_000,
            "duration_s": duration_s}  # fmt: skip


def _per_day(total: int, days: int) -> np.ndarray:
    per_day = np.full(days, total // days, dtype=np.int64)
    per_day[: total % days] += 1
    return per_day


def _key_pick(count: int, want: int, taken: int) -> np.ndarray:
    every = max(1, count // max(want, 1))
    return np.arange(0, count, every, dtype=np.int64)[: max(0, want - taken)]


def _bsd_stamp_ms(us: np.ndarray) -> pa.Array:
    """``Nov 16 2026 08:14:07.123`` (Junos ``time-format year millisecond``)."""
    c = _civil(us)
    months = pa.array(_MONTHS).take(pa.array(c["month0"]))
    ms = (us // 1000) % 1000
    return _join(
        months, " ", pc.utf8_lpad(_str(c["day"]), width=2, padding=" "), " ", _str(c["year"]),
        " ", _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]), ".",
        pc.utf8_lpad(_str(ms), width=3, padding="0"),
    )  # fmt: skip


def _xr_stamp(us: np.ndarray) -> pa.Array:
    """``2026 Nov 16 08:14:07`` (IOS XR CGN syslog header)."""
    c = _civil(us)
    months = pa.array(_MONTHS).take(pa.array(c["month0"]))
    return _join(
        _str(c["year"]), " ", months, " ", _pad2(c["day"]), " ",
        _pad2(c["hh"]), ":", _pad2(c["mi"]), ":", _pad2(c["ss"]),
    )  # fmt: skip


def _block_fields(
    w: _World, day: int, count: int, first_slot: int, idx: np.ndarray, block: int,
    public: np.ndarray, min_s: int = BLOCK_MIN_S, max_s: int = BLOCK_MAX_S,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Port-block allocations ``idx`` of ``day`` on the addresses ``public``."""
    per_addr = (w.port_high - w.port_low + 1) // block
    if per_addr < 1:
        raise ValueError(f"a block of {block} ports does not fit ports {w.port_low}..{w.port_high}")
    p = _periods(w, day, count, first_slot, idx, len(public) * per_addr, min_s, max_s, 11)
    subscriber = _draw(w, day, 13, idx, w.subscribers)
    first = w.port_low + (p["slot"] % per_addr) * block
    p.update(
        public_ip=public[p["slot"] // per_addr],
        first_port=first,
        last_port=first + block - 1,
        subscriber=subscriber,
        inside_ip=w.inside_of[day, subscriber],
        port=first + _draw(w, day, 14, idx, block),  # the port a key entry asks about
    )
    return p


def _block_key_row(b: dict[str, np.ndarray], j: int, at_us: int, source: str) -> dict[str, object]:
    return {
        "public_ip": str(ipaddress.ip_address(int(b["public_ip"][j]))),
        "public_port": int(b["port"][j]),
        "at": _iso(at_us),
        "inside_ip": str(ipaddress.ip_address(int(b["inside_ip"][j]))),
        "inside_port": None,
        "subscriber": f"sub-{int(b['subscriber'][j]) + 1:07d}",
        "kind": "port_block",
        "port_block": [int(b["first_port"][j]), int(b["last_port"][j])],
        "session_start": _iso(int(b["start"][j])),
        "session_end": _iso(int(b["end"][j])),
        "source": source,
    }


def _key_instant(
    w: _World, day: int, idx: np.ndarray, start: np.ndarray, dur_s: np.ndarray
) -> np.ndarray:
    """An instant at least KEY_MARGIN_S inside each period, at a whole millisecond."""
    span_ms = np.maximum((dur_s - 2 * KEY_MARGIN_S) * 1000, 1)
    return start + KEY_MARGIN_S * 1_000_000 + _draw(w, day, 15, idx, 1 << 30) % span_ms * 1000


def _write_juniper_pba(
    w: _World, out: Path, suffix: str, compress: bool, records: int, want_key: int, host: str
) -> tuple[dict[str, Path], list[dict[str, object]], int, int, list[str]]:
    """Juniper MS-MPC secured port block allocation log: ALLOC when a block is handed to a
    subscriber, ACTIVE every ``JUNIPER_INTERIM_S`` while it is held (interim logging), RELEASE
    when it is freed. Juniper, "Secured Port Block Allocation Interim Logging":
    https://www.juniper.net/documentation/us/en/software/junos/interfaces-adaptive-services/topics/topic-map/secured-port-block-allocation-interim-logging.html
    (block-size default 128: https://www.juniper.net/documentation/en_US/junos13.2/topics/reference/configuration-statement/secured-port-block-allocation-edit-services.html)."""
    durations = np.arange(BLOCK_MIN_S, BLOCK_MAX_S + 1)
    per_alloc = 2 + float(np.mean((durations - 1) // JUNIPER_INTERIM_S))
    allocs = max(1, round(records / per_alloc)) if records else 0
    path = out / f"juniper-pba.log{suffix}"
    key_rows: list[dict[str, object]] = []
    lines_total = 0
    slot = 0
    with _open_out(path, compress) as fh:
        for d, count in enumerate(_per_day(allocs, w.days).tolist()):
            if not count:
                continue
            idx = np.arange(count, dtype=np.int64)
            b = _block_fields(w, d, count, slot, idx, JUNIPER_BLOCK, w.public)
            b["start"] = b["start"] + _draw(w, d, 16, idx, 1000) * 1000  # sub-second stamps
            b["end"] = b["end"] + _draw(w, d, 17, idx, 1000) * 1000
            n_active = (b["duration_s"] - 1) // JUNIPER_INTERIM_S
            per = 2 + n_active
            which = np.repeat(idx, per)
            k = np.arange(len(which)) - np.repeat(np.cumsum(per) - per, per)  # 0 .. per-1
            last = k == per[which] - 1
            at = np.where(
                k == 0, b["start"][which],
                np.where(last, b["end"][which],
                         b["start"][which] // 1_000_000 * 1_000_000 + k * JUNIPER_INTERIM_S
                         * 1_000_000),
            )  # fmt: skip
            event = np.where(k == 0, "ALLOC", np.where(last, "RELEASE", "ACTIVE"))
            order = np.lexsort((k, which, at))
            which, at, event = which[order], at[order], event[order]
            hexes = pa.array([format(int(s) // 1_000_000, "#x") for s in b["start"].tolist()])
            lines = _join(
                _bsd_stamp_ms(at), f" {host} (FPC Slot 5, PIC Slot 0) {{cgn-sset}}[FWNAT]:",
                " JSERVICES_NAT_PORT_BLOCK_", pa.array(event), ": ",
                _ipv4(b["inside_ip"][which]), " -> ", _ipv4(b["public_ip"][which]), ":",
                _str(b["first_port"][which]), "-", _str(b["last_port"][which]), " ",
                hexes.take(pa.array(which)), "\n",
            )  # fmt: skip
            _write_lines(fh, lines)
            lines_total += len(lines)
            pick = _key_pick(count, want_key // w.days + 1, 0)
            ats = _key_instant(w, d, pick, b["start"][pick], b["duration_s"][pick])
            for j, a in zip(pick.tolist(), ats.tolist(), strict=True):
                key_rows.append(_block_key_row(b, j, a, path.name))
            slot += count
    key_rows = _thin(key_rows, want_key)
    notes = [
        f"{allocs} port blocks of {JUNIPER_BLOCK} ports; interim ACTIVE logs every"
        f" {JUNIPER_INTERIM_S} s while a block is held; {lines_total} lines"
    ]
    return {"juniper-pba": path}, key_rows, allocs, lines_total, notes


def _xr_messages(
    event: pa.Array, proto: pa.Array | str, inside: pa.Array, public: pa.Array,
    inside_port: pa.Array | str, first: pa.Array, last: pa.Array | str,
    dst: pa.Array | str, dport: pa.Array | str,
) -> pa.Array:  # fmt: skip
    """``[Event L4 OriginalSourceIP InsideVRF OriginalSourceIPv6 TranslatedSourceIP OriginalPort
    TranslatedFirstSourcePort TranslatedLastSourcePort DestinationIP DestinationPort]``."""
    return _join("[", event, " ", proto, " ", inside, " vrf-cgn - ", public, " ", inside_port,
                 " ", first, " ", last, " ", dst, " ", dport, "]")  # fmt: skip


def _write_cisco_xr(
    w: _World, out: Path, suffix: str, compress: bool, records: int, want_key: int, host: str
) -> tuple[dict[str, Path], list[dict[str, object]], int, int, list[str]]:
    """IOS XR CGN syslog: the first half of the pool does bulk port allocation (UserbasedA when
    a block is assigned, UserbasedW when it is withdrawn), the second half logs every
    translation (SessionbasedA/W; AD/WD with the destination). Messages with the same stamp
    share a datagram, as the CGN packs them. Cisco IOS XR CGN Configuration Guide, External
    Logging, Syslog Message Format:
    https://www.cisco.com/c/en/us/td/docs/routers/asr9000/software/24xx/cgnat/configuration/guide/b-cgnat-cg-asr9k-24xx/external-logging.html"""
    if len(w.public) < 2:
        raise ValueError("cisco-xr-cgn needs a public pool of at least 2 addresses")
    half = len(w.public) // 2
    pool_blocks, pool_sessions = w.public[:half], w.public[half:]
    pairs = records // 2
    n_blocks, n_sessions = pairs // 2, pairs - pairs // 2
    path = out / f"cisco-xr-cgn.log{suffix}"
    key_rows: list[dict[str, object]] = []
    lines_total = messages_total = 0
    slot_b = slot_s = 0
    per_addr_s = w.port_high - w.port_low + 1
    with _open_out(path, compress) as fh:
        for d in range(w.days):
            nb = int(_per_day(n_blocks, w.days)[d])
            ns = int(_per_day(n_sessions, w.days)[d])
            msgs: list[pa.Array] = []
            ats: list[np.ndarray] = []
            if nb:
                ib = np.arange(nb, dtype=np.int64)
                b = _block_fields(w, d, nb, slot_b, ib, XR_BLOCK, pool_blocks)
                for ev, t in (("UserbasedA", b["start"]), ("UserbasedW", b["end"])):
                    msgs.append(_xr_messages(pa.array(np.full(nb, ev)), "-", _ipv4(b["inside_ip"]),
                                             _ipv4(b["public_ip"]), "-", _str(b["first_port"]),
                                             _str(b["last_port"]), "-", "-"))  # fmt: skip
                    ats.append(t)
                pick = _key_pick(nb, (want_key // 2) // w.days + 1, 0)
                for j, a in zip(pick.tolist(), _key_instant(w, d, pick, b["start"][pick],
                                b["duration_s"][pick]).tolist(), strict=True):  # fmt: skip
                    key_rows.append(_block_key_row(b, j, a, path.name))
                slot_b += nb
            if ns:
                i_s = np.arange(ns, dtype=np.int64)
                s = _periods(w, d, ns, slot_s, i_s, len(pool_sessions) * per_addr_s,
                             2 * KEY_MARGIN_S + 2, 900, 21)  # fmt: skip
                sub = _draw(w, d, 23, i_s, w.subscribers)
                inside = w.inside_of[d, sub]
                public = pool_sessions[s["slot"] // per_addr_s]
                pport = w.port_low + s["slot"] % per_addr_s
                iport = 1024 + _draw(w, d, 24, i_s, 65536 - 1024)
                tcp = _draw(w, d, 25, i_s, 10) < 7
                with_dst = _draw(w, d, 26, i_s, 4) == 0  # destination logging on some
                dst = 0xC6336400 + 1 + _draw(w, d, 27, i_s, 254)  # 198.51.100.0/24
                dport = np.where(tcp, 443, 53)
                for ev, t in (("SessionbasedA", s["start"]), ("SessionbasedW", s["end"])):
                    event = pc.if_else(pa.array(with_dst), ev + "D", ev)
                    msgs.append(_xr_messages(
                        event, pa.array(np.where(tcp, "6", "17")), _ipv4(inside), _ipv4(public),
                        _str(iport), _str(pport), "-",
                        pc.if_else(pa.array(with_dst), _ipv4(dst), "-"),
                        pc.if_else(pa.array(with_dst), _str(dport), "-"),
                    ))  # fmt: skip
                    ats.append(t)
                pick = _key_pick(ns, (want_key - want_key // 2) // w.days + 1, 0)
                for j, a in zip(pick.tolist(), _key_instant(w, d, pick, s["start"][pick],
                                s["duration_s"][pick]).tolist(), strict=True):  # fmt: skip
                    key_rows.append({
                        "public_ip": str(ipaddress.ip_address(int(public[j]))),
                        "public_port": int(pport[j]),
                        "at": _iso(a),
                        "inside_ip": str(ipaddress.ip_address(int(inside[j]))),
                        "inside_port": int(iport[j]),
                        "subscriber": f"sub-{int(sub[j]) + 1:07d}",
                        "kind": "nat",
                        "protocol": "tcp" if tcp[j] else "udp",
                        "session_start": _iso(int(s["start"][j])),
                        "session_end": _iso(int(s["end"][j])),
                        "source": path.name,
                    })  # fmt: skip
                slot_s += ns
            if not msgs:
                continue
            all_msgs = pa.concat_arrays(msgs)
            at = np.concatenate(ats)
            order = np.argsort(at, kind="stable")
            at = at[order]
            text = all_msgs.take(pa.array(order)).to_pylist()
            secs = (at // 1_000_000).tolist()
            stamps = _xr_stamp(at).to_pylist()
            # one datagram per stamp (second), at most 8 messages each
            out_lines = []
            i = 0
            while i < len(text):
                j = i + 1
                while j < len(text) and j - i < 8 and secs[j] == secs[i]:
                    j += 1
                out_lines.append(f"<134>1 {stamps[i]} {host} - - NAT44 - {''.join(text[i:j])}\n")
                i = j
            fh.write("".join(out_lines).encode())
            lines_total += len(out_lines)
            messages_total += len(text)
    key_rows = _thin(key_rows, want_key)
    notes = [
        f"{n_blocks} port blocks of {XR_BLOCK} ports (UserbasedA/W) on"
        f" {len(pool_blocks)} addresses and {n_sessions} sessions (SessionbasedA/W) on"
        f" {len(pool_sessions)}; {messages_total} messages in {lines_total} datagrams (lines)"
    ]
    return {"cisco-xr-cgn": path}, key_rows, n_blocks + n_sessions, messages_total, notes


def _thin(rows: list[dict[str, object]], want: int) -> list[dict[str, object]]:
    """At most ``want`` rows, evenly spread, in time order."""
    rows = sorted(rows, key=lambda r: (str(r["at"]), str(r["public_ip"]), str(r["public_port"])))
    if len(rows) <= want:
        return rows
    step = len(rows) / want
    return [rows[int(i * step)] for i in range(want)]


V9_NEL_TEMPLATE = 260
IPFIX_SESSION_TEMPLATE = 256
IPFIX_BLOCK_TEMPLATE = 257
TEMPLATE_REFRESH = 20  # packets between template re-sends over UDP (RFC 7011 section 8.4)
EXPORTER = "192.0.2.1"


def _packets(
    events: list[tuple[int, dict[int, object]]], per_packet: int
) -> list[tuple[int, list[dict[int, object]]]]:
    """Time-ordered events cut into packets: (export time in ms, rows)."""
    out = []
    for i in range(0, len(events), per_packet):
        chunk = events[i : i + per_packet]
        out.append((max(t for t, _ in chunk) // 1000 + 1, [r for _, r in chunk]))
    return out


def _write_netflow(
    w: _World, out: Path, records: int, want_key: int
) -> tuple[dict[str, Path], list[tuple[str, Path]], list[dict[str, object]], int, int, list[str]]:
    """NetFlow/IPFIX export files of a CGN that logs with RFC 8158 information elements:

    * ``nat44-v9.bin``: NetFlow v9 (RFC 3954) packets of NAT44 translations as Cisco NAT Event
      Logging writes them (natEvent 1 create / 2 delete, postNATSourceIPv4Address 225,
      postNAPTSourceTransportPort 227), templates first and re-sent every 20 packets;
    * ``nat-ipfix.pcap``: IPFIX (RFC 7011) messages over UDP to port 4739, captured as pcap,
      of NAT44 sessions (natEvent 4 create / 5 delete), templates re-sent every 20 messages;
    * ``port-blocks.ipfix``: an IPFIX file (RFC 5655) of port block allocations and
      de-allocations (natEvent 16/17, portRangeStart/End 361/362) on the first half of the pool;
    * ``flows-v5.bin``: NetFlow v5 records of the v9 sessions seen on the inside (pre-NAT),
      listed in ``flows_key.jsonl`` (look them up with ``traffic flows``).

    RFC 8158 https://www.rfc-editor.org/rfc/rfc8158 ; RFC 3954
    https://www.rfc-editor.org/rfc/rfc3954 ; RFC 7011 https://www.rfc-editor.org/rfc/rfc7011 ;
    RFC 5655 https://www.rfc-editor.org/rfc/rfc5655 ."""
    # the parsers register on import and compile numba scanners
    from trailguard.traffic.parsers import netflow as nf

    if len(w.public) < 2:
        raise ValueError("netflow needs a public pool of at least 2 addresses")
    half = len(w.public) // 2
    pool_blocks, pool_sessions = w.public[:half], w.public[half:]
    pairs = records // 2
    n_blocks, n_sessions = pairs // 3, pairs - pairs // 3
    per_addr_s = w.port_high - w.port_low + 1
    names = {"v9": "nat44-v9.bin", "pcap": "nat-ipfix.pcap", "blocks": "port-blocks.ipfix",
             "v5": "flows-v5.bin"}  # fmt: skip
    ev: dict[str, list[tuple[int, dict[int, object]]]] = {"v9": [], "pcap": [], "blocks": []}
    v5_flows: list[dict[str, object]] = []
    key_rows: list[dict[str, object]] = []
    flow_key: list[dict[str, object]] = []
    slot_b = slot_s = 0
    for d in range(w.days):
        nb = int(_per_day(n_blocks, w.days)[d])
        ns = int(_per_day(n_sessions, w.days)[d])
        if nb:
            ib = np.arange(nb, dtype=np.int64)
            b = _block_fields(w, d, nb, slot_b, ib, FLOW_BLOCK, pool_blocks)
            b["start"] = b["start"] + _draw(w, d, 31, ib, 1000) * 1000
            b["end"] = b["end"] + _draw(w, d, 32, ib, 1000) * 1000
            for j in range(nb):
                row = {nf.IE_SRC_V4: int(b["inside_ip"][j]),
                       nf.IE_POST_SRC_V4: int(b["public_ip"][j]),
                       nf.IE_PORT_START: int(b["first_port"][j]),
                       nf.IE_PORT_END: int(b["last_port"][j])}  # fmt: skip
                ev["blocks"].append((int(b["start"][j]), {**row, nf.IE_OBS_MS: int(b["start"][j])
                                     // 1000, nf.IE_NAT_EVENT: nf.BLOCK_ALLOC}))  # fmt: skip
                ev["blocks"].append((int(b["end"][j]), {**row, nf.IE_OBS_MS: int(b["end"][j])
                                     // 1000, nf.IE_NAT_EVENT: nf.BLOCK_DEALLOC}))  # fmt: skip
            pick = _key_pick(nb, (want_key // 3) // w.days + 1, 0)
            for j, a in zip(pick.tolist(), _key_instant(w, d, pick, b["start"][pick],
                            b["duration_s"][pick]).tolist(), strict=True):  # fmt: skip
                key_rows.append(_block_key_row(b, j, a, names["blocks"]))
            slot_b += nb
        if ns:
            i_s = np.arange(ns, dtype=np.int64)
            s = _periods(w, d, ns, slot_s, i_s, len(pool_sessions) * per_addr_s,
                         2 * KEY_MARGIN_S + 2, 900, 41)  # fmt: skip
            s["start"] = s["start"] + _draw(w, d, 43, i_s, 1000) * 1000
            s["end"] = s["end"] + _draw(w, d, 44, i_s, 1000) * 1000
            sub = _draw(w, d, 45, i_s, w.subscribers)
            inside = w.inside_of[d, sub]
            public = pool_sessions[s["slot"] // per_addr_s]
            pport = w.port_low + s["slot"] % per_addr_s
            iport = 1024 + _draw(w, d, 46, i_s, 65536 - 1024)
            tcp = _draw(w, d, 47, i_s, 10) < 7
            dst = 0xC6336400 + 1 + _draw(w, d, 48, i_s, 254)  # 198.51.100.0/24
            dport = np.where(tcp, 443, 53)
            octets = 200 + _draw(w, d, 49, i_s, 900_000)
            in_v9 = _draw(w, d, 50, i_s, 2) == 0  # the other sessions go out as IPFIX over UDP
            for j in range(ns):
                target = "v9" if in_v9[j] else "pcap"
                create, delete = (1, 2) if target == "v9" else (4, 5)
                row = {nf.IE_SRC_V4: int(inside[j]), nf.IE_POST_SRC_V4: int(public[j]),
                       nf.IE_PROTO: 6 if tcp[j] else 17, nf.IE_SRC_PORT: int(iport[j]),
                       nf.IE_POST_SRC_PORT: int(pport[j]), nf.IE_DST_V4: int(dst[j]),
                       nf.IE_DST_PORT: int(dport[j])}  # fmt: skip
                t0, t1 = int(s["start"][j]), int(s["end"][j])
                ev[target].append((t0, {**row, nf.IE_OBS_MS: t0 // 1000,
                                        nf.IE_NAT_EVENT: create}))  # fmt: skip
                ev[target].append((t1, {**row, nf.IE_OBS_MS: t1 // 1000,
                                        nf.IE_NAT_EVENT: delete}))  # fmt: skip
                if target == "v9":
                    v5_flows.append({
                        "src": str(ipaddress.IPv4Address(int(inside[j]))),
                        "dst": str(ipaddress.IPv4Address(int(dst[j]))),
                        "sport": int(iport[j]), "dport": int(dport[j]),
                        "proto": 6 if tcp[j] else 17, "start_us": t0, "end_us": t1,
                        "packets": int(octets[j]) // 800 + 1, "bytes": int(octets[j]),
                    })  # fmt: skip
            pick = _key_pick(ns, (want_key - want_key // 3) // w.days + 1, 0)
            for j, a in zip(pick.tolist(), _key_instant(w, d, pick, s["start"][pick],
                            s["duration_s"][pick]).tolist(), strict=True):  # fmt: skip
                target = "v9" if in_v9[j] else "pcap"
                key_rows.append({
                    "public_ip": str(ipaddress.ip_address(int(public[j]))),
                    "public_port": int(pport[j]),
                    "at": _iso(a),
                    "inside_ip": str(ipaddress.ip_address(int(inside[j]))),
                    "inside_port": int(iport[j]),
                    "subscriber": f"sub-{int(sub[j]) + 1:07d}",
                    "kind": "nat",
                    "protocol": "tcp" if tcp[j] else "udp",
                    "session_start": _iso(int(s["start"][j])),
                    "session_end": _iso(int(s["end"][j])),
                    "source": names[target],
                })  # fmt: skip
                if target == "v9" and len(flow_key) < max(10, want_key // 10):
                    flow_key.append({
                        "ip": str(ipaddress.ip_address(int(inside[j]))),
                        "start": _iso(int(s["start"][j]) - 1_000_000),
                        "end": _iso(int(s["end"][j]) + 1_000_000),
                        "src_port": int(iport[j]),
                        "dst_ip": str(ipaddress.ip_address(int(dst[j]))),
                        "dst_port": int(dport[j]),
                        "source": names["v5"],
                    })  # fmt: skip
            slot_s += ns
    for events in ev.values():
        events.sort(key=lambda e: e[0])
    v5_flows.sort(key=lambda f: int(str(f["end_us"])))
    paths = {k: out / v for k, v in names.items()}
    session_fields = nf.NAT44_TEMPLATE
    block_fields = nf.PORT_BLOCK_TEMPLATE
    boot_ms = w.start_us // 1000 - 3_600_000  # the exporter booted an hour before the run
    # NetFlow v9, Cisco NAT Event Logging style
    chunks = []
    for n, (export_ms, rows) in enumerate(_packets(ev["v9"], 40)):
        sets = [nf.data_set(V9_NEL_TEMPLATE, session_fields, rows)]
        count = len(rows)
        if n % TEMPLATE_REFRESH == 0:
            sets.insert(0, nf.template_set(V9_NEL_TEMPLATE, session_fields, v9=True))
            count += 1
        chunks.append(nf.v9_packet(sets, export_ms // 1000, export_ms - boot_ms, count,
                                   sequence=n, source_id=1))  # fmt: skip
    paths["v9"].write_bytes(b"".join(chunks))
    # IPFIX over UDP, captured
    datagrams = []
    sent = 0
    for n, (export_ms, rows) in enumerate(_packets(ev["pcap"], 40)):
        sets = [nf.data_set(IPFIX_SESSION_TEMPLATE, session_fields, rows)]
        if n % TEMPLATE_REFRESH == 0:
            sets.insert(0, nf.template_set(IPFIX_SESSION_TEMPLATE, session_fields, v9=False))
        datagrams.append((EXPORTER, nf.ipfix_message(sets, export_ms // 1000, sent, domain=2)))
        sent += len(rows)
    nf.write_pcap(paths["pcap"], datagrams, start_us=w.start_us)
    # an IPFIX file: the template once, at the start (RFC 5655)
    chunks = []
    sent = 0
    for n, (export_ms, rows) in enumerate(_packets(ev["blocks"], 50)):
        sets = [nf.data_set(IPFIX_BLOCK_TEMPLATE, block_fields, rows)]
        if n == 0:
            sets.insert(0, nf.template_set(IPFIX_BLOCK_TEMPLATE, block_fields, v9=False))
        chunks.append(nf.ipfix_message(sets, export_ms // 1000, sent, domain=3))
        sent += len(rows)
    paths["blocks"].write_bytes(b"".join(chunks))
    # NetFlow v5 of the inside side, 30 flows per packet
    chunks = []
    for i in range(0, len(v5_flows), 30):
        part = v5_flows[i : i + 30]
        export_us = max(int(str(f["end_us"])) for f in part) // 1000 * 1000 + 1000
        chunks.append(nf.v5_packet(part, export_us, uptime_ms=int(export_us // 1000 - boot_ms)))
    paths["v5"].write_bytes(b"".join(chunks))
    flows_key = out / "flows_key.jsonl"
    with flows_key.open("w", encoding="utf-8") as fh:
        for entry in flow_key:
            fh.write(json.dumps(entry) + "\n")
    inputs = [("netflow", paths[k]) for k in ("v9", "pcap", "blocks", "v5")]
    nat_records = len(ev["v9"]) + len(ev["pcap"]) + len(ev["blocks"])
    notes = [
        f"{n_sessions} NAT44 sessions ({len(ev['v9']) // 2} in NetFlow v9, {len(ev['pcap']) // 2}"
        f" in IPFIX over UDP in a pcap) and {n_blocks} port blocks of {FLOW_BLOCK} ports (IPFIX"
        f" file): {nat_records} NAT event records; {len(v5_flows)} NetFlow v5 flows of the inside"
        f" side, {len(flow_key)} of them in {flows_key.name}"
    ]
    return ({"netflow": paths["v9"]}, inputs, _thin(key_rows, want_key), n_sessions + n_blocks,
            nat_records, notes)  # fmt: skip


def _kea_lines(w: _World, day: int, v6: bool, inside6: np.ndarray | None = None) -> pa.Array:
    """One lease per subscriber for ``day`` in Kea's memfile CSV (csv_lease_file4.h /
    csv_lease_file6.h column order); the hostname the CPE sent is the subscriber id."""
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin_s = (w.start_us + day * DAY_US) // 1_000_000 + _draw(w, day, 51 + v6, subs, 30)
    end_s = (w.start_us + (day + 1) * DAY_US) // 1_000_000 - 1 - _draw(w, day, 53 + v6, subs, 30)
    valid = end_s - begin_s
    mac = _join(
        "02:00:5e:", _pad2_hex((subs >> 16) & 255), ":", _pad2_hex((subs >> 8) & 255), ":",
        _pad2_hex(subs & 255),
    )  # fmt: skip
    names = _subscriber_names(subs)
    if not v6:
        return _join(
            _ipv4(w.inside_of[day]), ",", mac, ",01:", mac, ",", _str(valid), ",", _str(end_s),
            ",1,0,0,", names, ",0,,0\n",
        )  # fmt: skip
    assert inside6 is not None
    addrs = pa.array([str(ipaddress.IPv6Address(int(a))) for a in inside6.tolist()])
    return _join(
        addrs, ",00:03:00:01:", mac, ",", _str(valid), ",", _str(end_s), ",1,",
        _str(valid // 2), ",0,", _str(subs + 1), ",128,0,0,", names, ",", mac, ",0,,1,2,0\n",
    )  # fmt: skip


KEA_V4_HEADER = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,"
    "user_context,pool_id\n"
)
KEA_V6_HEADER = (
    "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
    "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id\n"
)
KEA_V6_PREFIX = "2001:db8:1::/64"


def _inside6(w: _World) -> np.ndarray:
    """(days, subscribers) IA_NA addresses in ``KEA_V6_PREFIX`` (as Python ints, object)."""
    net = ipaddress.IPv6Network(KEA_V6_PREFIX)
    rng = np.random.default_rng(w.seed + 6)
    out = np.empty((w.days, w.subscribers), dtype=object)
    for d in range(w.days):
        low = rng.choice(1 << 40, size=w.subscribers, replace=False) + 0x100
        out[d] = [int(net.network_address) + int(x) for x in low.tolist()]
    return out
