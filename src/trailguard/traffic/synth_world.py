"""The synthetic world the writers of ``synth.py`` and ``synth_cgn.py`` share: subscribers with
one inside address per day, NAT sessions laid out in disjoint windows per public address and
port (seeded, reproducible draws), and the Arrow string helpers that format stamps and
addresses a day at a time."""

from __future__ import annotations

import gzip
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KEY_MARGIN_S = 5
CHUNK_SESSIONS = 1_000_000
DAY_US = 86_400 * 1_000_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def strs(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def concat(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def ipv4s(ints: np.ndarray) -> pa.Array:
    ints = ints.astype(np.int64)
    return concat(
        strs(ints >> 24),
        ".",
        strs((ints >> 16) & 255),
        ".",
        strs((ints >> 8) & 255),
        ".",
        strs(ints & 255),
    )


def pad2(values: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(strs(values), width=2, padding="0")


def civil(us: np.ndarray) -> dict[str, np.ndarray]:
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


def syslog_stamp(us: np.ndarray) -> pa.Array:
    """``Nov 17 2026 08:14:07`` (ASA with ``logging timestamp`` and a year)."""
    c = civil(us)
    months = pa.array(MONTHS).take(pa.array(c["month0"]))
    return concat(
        months, " ", pad2(c["day"]), " ", strs(c["year"]), " ",
        pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]),
    )  # fmt: skip


def iso_stamp(us: np.ndarray) -> pa.Array:
    """``2026-11-17T08:14:07.123Z``."""
    c = civil(us)
    ms = (us // 1000) % 1000
    return concat(
        strs(c["year"]), "-", pad2(c["month0"] + 1), "-", pad2(c["day"]), "T",
        pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]), ".",
        pc.utf8_lpad(strs(ms), width=3, padding="0"), "Z",
    )  # fmt: skip


def hms(seconds: np.ndarray) -> pa.Array:
    return concat(strs(seconds // 3600), ":", pad2((seconds // 60) % 60), ":", pad2(seconds % 60))


def write_lines(fh: IO[bytes], lines: pa.Array) -> None:
    """Write a string array whose values each end with a newline, as one buffer."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset :]
    first, last = int(offsets[0]), int(offsets[len(lines)])
    data = lines.buffers()[2]
    if data is not None and last > first:
        fh.write(memoryview(data)[first:last])


def open_out(path: Path, compress: bool) -> IO[bytes]:
    if compress:
        return gzip.open(path, "wb", compresslevel=1)  # type: ignore[return-value]
    return path.open("wb")


@dataclass
class World:
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


def build_world(
    seed: int, start: datetime, days: int, subscribers: int, public_pool: str, inside: str
) -> World:
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
    return World(rng, start_us, days, subscribers, hosts, int(inner.network_address),
                  inside_size, inside_of, seed)  # fmt: skip


def subscriber_names(idx: np.ndarray) -> pa.Array:
    return concat("sub-", pc.utf8_lpad(strs(idx + 1), width=7, padding="0"))


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64: a counter-based random number per index (reproducible in any order)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def draw(w: World, day: int, field_no: int, idx: np.ndarray, n: int) -> np.ndarray:
    """Uniform integers in [0, n) for sessions ``idx`` of ``day`` (field ``field_no``)."""
    salt = np.uint64((w.seed * 1_000_003 + day * 7_919 + field_no * 104_729) & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        r = _mix(idx.astype(np.uint64) ^ (salt << np.uint64(32)))
    return (r % np.uint64(n)).astype(np.int64)


def session_times(
    w: World, day: int, count: int, first_slot: int, idx: np.ndarray
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
    duration_s = low + draw(w, day, 1, idx, max_dur - low + 1)
    slack = np.maximum(window_s - duration_s - 1, 1)
    offset_s = draw(w, day, 2, idx, 1 << 30) % slack
    start = day_start + seq * window_s * 1_000_000 + offset_s * 1_000_000
    return {
        "slot": slot,
        "start": start,
        "end": start + duration_s * 1_000_000,
        "duration_s": duration_s,
    }


def nat_session_fields(
    w: World, day: int, count: int, first_slot: int, idx: np.ndarray
) -> dict[str, np.ndarray]:
    s = session_times(w, day, count, first_slot, idx)
    ports = w.ports
    subscriber = draw(w, day, 3, idx, w.subscribers)
    s.update(
        public_ip=w.public[s["slot"] // ports],
        public_port=w.port_low + s["slot"] % ports,
        inside_ip=w.inside_of[day, subscriber],
        inside_port=1024 + draw(w, day, 4, idx, 65536 - 1024),
        subscriber=subscriber,
        tcp=draw(w, day, 5, idx, 10) < 7,
        dst_ip=0xC6336400 + 1 + draw(w, day, 6, idx, 254),  # 198.51.100.0/24
        dst_port=np.where(draw(w, day, 7, idx, 10) < 8, 443, 53),
    )
    return s


def pad2_hex(values: np.ndarray) -> pa.Array:
    hexdigits = pa.array([f"{i:02x}" for i in range(256)])
    return hexdigits.take(pa.array(values.astype(np.int64)))


def iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat().replace("+00:00", "Z")
