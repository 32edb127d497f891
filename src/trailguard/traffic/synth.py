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

import ipaddress
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.synth_cgn import (
    KEA_V4_HEADER,
    KEA_V6_HEADER,
    inside6_addresses,
    kea_lines,
    write_cisco_xr,
    write_juniper_pba,
    write_netflow,
)
from trailguard.traffic.synth_world import (
    CHUNK_SESSIONS,
    DAY_US,
    MONTHS,
    WEEKDAYS,
    World,
    build_world,
    civil,
    concat,
    hms,
    ipv4s,
    iso_stamp,
    iso_us,
    nat_session_fields,
    open_out,
    pad2,
    pad2_hex,
    session_times,
    strs,
    subscriber_names,
    syslog_stamp,
    write_lines,
)

NAT_FORMATS = ("cisco-asa", "juniper-srx")
# CGN formats of issue 6: port blocks (and, for IOS XR and NetFlow/IPFIX, sessions too)
CGN_FORMATS = ("juniper-pba", "cisco-xr-cgn", "netflow")
ASSIGNMENT_FORMATS = ("freeradius-detail", "isc-dhcpd-leases", "kea-leases")
FORMATS = NAT_FORMATS + CGN_FORMATS + ASSIGNMENT_FORMATS


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


def _asa_lines(s: dict[str, np.ndarray], host: str, is_end: np.ndarray) -> pa.Array:
    """Built (or, where ``is_end``, Teardown) lines of the sessions in ``s``."""
    proto = pc.if_else(pa.array(s["tcp"]), "TCP", "UDP")
    end_mask = pa.array(is_end)
    stamp = syslog_stamp(np.where(is_end, s["end"], s["start"]))
    head = pc.if_else(
        end_mask,
        f" {host} %ASA-6-305012: Teardown dynamic ",
        f" {host} %ASA-6-305011: Built dynamic ",
    )
    tail = pc.if_else(end_mask, concat(" duration ", hms(s["duration_s"])), "")
    return concat(
        stamp, head, proto, " translation from inside:", ipv4s(s["inside_ip"]), "/",
        strs(s["inside_port"]), " to outside:", ipv4s(s["public_ip"]), "/",
        strs(s["public_port"]), tail, "\n",
    )  # fmt: skip


def _srx_lines(
    s: dict[str, np.ndarray], host: str, is_end: np.ndarray, session_ids: np.ndarray
) -> pa.Array:
    """RT_FLOW_SESSION_CREATE (or, where ``is_end``, _CLOSE) lines of the sessions in ``s``."""
    proto = pa.array(np.where(s["tcp"], "6", "17"))
    end_mask = pa.array(is_end)
    common = concat(
        ' source-address="', ipv4s(s["inside_ip"]), '" source-port="', strs(s["inside_port"]),
        '" destination-address="', ipv4s(s["dst_ip"]), '" destination-port="',
        strs(s["dst_port"]), '" service-name="None" nat-source-address="',
        ipv4s(s["public_ip"]), '" nat-source-port="', strs(s["public_port"]),
        '" nat-destination-address="', ipv4s(s["dst_ip"]), '" nat-destination-port="',
        strs(s["dst_port"]), '" src-nat-rule-type="source rule" src-nat-rule-name="cgnat"',
        ' protocol-id="', proto, '" policy-name="subscribers"',
        ' source-zone-name="trust" destination-zone-name="untrust" session-id-32="',
        strs(session_ids), '"',
    )  # fmt: skip
    volume = strs((s["duration_s"] * 1500) % 900_000 + 60)
    close_tail = concat(
        ' packets-from-client="3" bytes-from-client="', volume,
        '" packets-from-server="2" bytes-from-server="', volume, '" elapsed-time="',
        strs(s["duration_s"]), '"',
    )  # fmt: skip
    stamp = iso_stamp(np.where(is_end, s["end"], s["start"]))
    event = pc.if_else(
        end_mask,
        f' {host} RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@2636.1.1.1.2.40 reason="idle Timeout"',
        f" {host} RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.40",
    )
    return concat("<14>1 ", stamp, event, common, pc.if_else(end_mask, close_tail, ""), "]\n")


def _radius_records(w: World, day: int, nas: str) -> pa.Array:
    """Start and Stop accounting records for every subscriber's session on ``day``."""
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin = w.start_us + day * DAY_US + w.rng.integers(0, 30, size=w.subscribers) * 1_000_000
    stop = w.start_us + (day + 1) * DAY_US - w.rng.integers(1, 30, size=w.subscribers) * 1_000_000
    names = subscriber_names(subs)
    ip = ipv4s(w.inside_of[day])
    sid = concat(
        pc.utf8_lpad(strs(subs + 1), width=7, padding="0"), "-", strs(np.full(w.subscribers, day))
    )
    mac = concat(
        "02-00-5e-", pad2_hex((subs >> 16) & 255), "-", pad2_hex((subs >> 8) & 255), "-",
        pad2_hex(subs & 255),
    )  # fmt: skip

    def record(at: np.ndarray, status: str, extra: pa.Array | str) -> pa.Array:
        c = civil(at)
        header = concat(
            pa.array(WEEKDAYS).take(pa.array(c["weekday"])), " ",
            pa.array(MONTHS).take(pa.array(c["month0"])), " ", pad2(c["day"]), " ",
            pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]), " ", strs(c["year"]),
        )  # fmt: skip
        epoch = strs(at // 1_000_000)
        return concat(
            header, '\n\tAcct-Session-Id = "', sid, '"\n\tUser-Name = "', names,
            f'"\n\tAcct-Status-Type = {status}\n\tFramed-IP-Address = ', ip,
            '\n\tCalling-Station-Id = "', mac, f'"\n\tNAS-IP-Address = {nas}',
            "\n\tEvent-Timestamp = ", epoch, extra, "\n\tTimestamp = ", epoch, "\n\n",
        )  # fmt: skip

    session_time = (stop - begin) // 1_000_000
    starts = record(begin, "Start", "")
    stops = record(stop, "Stop", concat("\n\tAcct-Session-Time = ", strs(session_time)))
    return pa.concat_arrays([starts, stops])


def _dhcp_leases(w: World, day: int) -> pa.Array:
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin = w.start_us + day * DAY_US + w.rng.integers(0, 30, size=w.subscribers) * 1_000_000
    stop = w.start_us + (day + 1) * DAY_US - w.rng.integers(1, 30, size=w.subscribers) * 1_000_000

    def when(us: np.ndarray) -> pa.Array:
        c = civil(us)
        weekday = (c["weekday"] + 1) % 7  # dhcpd: 0 = Sunday
        return concat(
            strs(weekday), " ", strs(c["year"]), "/", pad2(c["month0"] + 1), "/",
            pad2(c["day"]), " ", pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]),
        )  # fmt: skip

    mac = concat(
        "02:00:5e:", pad2_hex((subs >> 16) & 255), ":", pad2_hex((subs >> 8) & 255), ":",
        pad2_hex(subs & 255),
    )  # fmt: skip
    return concat(
        "lease ", ipv4s(w.inside_of[day]), " {\n  starts ", when(begin), ";\n  ends ",
        when(stop), ";\n  cltt ", when(begin), ";\n  binding state active;\n",
        "  next binding state free;\n  hardware ethernet ", mac, ";\n  client-hostname \"",
        subscriber_names(subs), "\";\n}\n",
    )  # fmt: skip


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
    w = build_world(seed, start, days, subscribers, public_pool, inside)
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
    with open_out(assign_path, compress) as fh:
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
                block = kea_lines(w, d, v6=False)
                lines_total += subscribers if alone else 0
            else:
                block = _dhcp_leases(w, d)
                lines_total += subscribers if alone else 0
            write_lines(fh, block)
    inside6 = None
    if fmt == "kea-leases":
        inside6 = inside6_addresses(w)
        v6_path = out_dir / f"kea-leases6.csv{suffix}"
        inputs.append(("kea-leases", v6_path))
        with open_out(v6_path, compress) as fh:
            fh.write(KEA_V6_HEADER.encode())
            for d in range(days):
                write_lines(fh, kea_lines(w, d, v6=True, inside6=inside6[d]))
                lines_total += subscribers
    notes: list[str] = []
    if fmt in CGN_FORMATS:
        want_key = min(lookups, max(records // 2, 1)) if records else 0
        if fmt == "juniper-pba":
            more, key_rows, sessions_total, lines_total, notes = write_juniper_pba(
                w, out_dir, suffix, compress, records, want_key, host
            )
            inputs += list(more.items())
        elif fmt == "cisco-xr-cgn":
            more, key_rows, sessions_total, lines_total, notes = write_cisco_xr(
                w, out_dir, suffix, compress, records, want_key, host="198.51.100.1"
            )
            inputs += list(more.items())
        else:
            more, nf_inputs, key_rows, sessions_total, lines_total, notes = write_netflow(
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
        with open_out(nat_path, compress) as fh:
            for d in range(days):
                count = int(per_day[d])
                everyone = np.arange(count, dtype=np.int64)
                t = session_times(w, d, count, slot, everyone)
                # events (start and end of every session) in time order
                at = np.concatenate([t["start"], t["end"]])
                order = np.argsort(at, kind="stable")
                del at, t
                for lo in range(0, len(order), 2 * CHUNK_SESSIONS):
                    ev = order[lo : lo + 2 * CHUNK_SESSIONS]
                    is_end = ev >= count
                    idx = np.where(is_end, ev - count, ev)
                    fields = nat_session_fields(w, d, count, slot, idx)
                    if fmt == "cisco-asa":
                        lines = _asa_lines(fields, host, is_end)
                    else:
                        lines = _srx_lines(fields, host, is_end, sid + idx)
                    write_lines(fh, lines)
                    lines_total += len(lines)
                # key entries: evenly spread sessions, at a whole second in their middle
                pick = np.arange(0, count, key_every, dtype=np.int64)
                pick = pick[: max(0, want_key - len(key_rows))]
                if len(pick):
                    ks = nat_session_fields(w, d, count, slot, pick)
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
                "at": iso_us(noon),
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


def _key_row(s: dict[str, np.ndarray], i: int, at_us: int) -> dict[str, object]:
    return {
        "public_ip": str(ipaddress.ip_address(int(s["public_ip"][i]))),
        "public_port": int(s["public_port"][i]),
        "at": iso_us(at_us),
        "inside_ip": str(ipaddress.ip_address(int(s["inside_ip"][i]))),
        "inside_port": int(s["inside_port"][i]),
        "subscriber": f"sub-{int(s['subscriber'][i]) + 1:07d}",
        "protocol": "tcp" if bool(s["tcp"][i]) else "udp",
        "session_start": iso_us(int(s["start"][i])),
        "session_end": iso_us(int(s["end"][i])),
    }
