"""Synthetic logs of the issue 6 formats: carrier-grade NAT port blocks and sessions (Juniper
PBA, Cisco IOS XR CGN), NetFlow v9 / IPFIX NAT events, and Kea leases, with their answer-key
rows. ``synth.write_synthetic`` calls these writers."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.synth_world import (
    DAY_US,
    KEY_MARGIN_S,
    MONTHS,
    World,
    civil,
    concat,
    draw,
    ipv4s,
    iso_us,
    open_out,
    pad2,
    pad2_hex,
    strs,
    subscriber_names,
    write_lines,
)

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
    w: World,
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
    duration_s = min_s + draw(w, day, field_no, idx, max_dur - min_s + 1)
    slack = np.maximum(window_s - duration_s - 1, 1)
    offset_s = draw(w, day, field_no + 1, idx, 1 << 30) % slack
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
    c = civil(us)
    months = pa.array(MONTHS).take(pa.array(c["month0"]))
    ms = (us // 1000) % 1000
    return concat(
        months, " ", pc.utf8_lpad(strs(c["day"]), width=2, padding=" "), " ", strs(c["year"]),
        " ", pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]), ".",
        pc.utf8_lpad(strs(ms), width=3, padding="0"),
    )  # fmt: skip


def _xr_stamp(us: np.ndarray) -> pa.Array:
    """``2026 Nov 16 08:14:07`` (IOS XR CGN syslog header)."""
    c = civil(us)
    months = pa.array(MONTHS).take(pa.array(c["month0"]))
    return concat(
        strs(c["year"]), " ", months, " ", pad2(c["day"]), " ",
        pad2(c["hh"]), ":", pad2(c["mi"]), ":", pad2(c["ss"]),
    )  # fmt: skip


def _block_fields(
    w: World, day: int, count: int, first_slot: int, idx: np.ndarray, block: int,
    public: np.ndarray, min_s: int = BLOCK_MIN_S, max_s: int = BLOCK_MAX_S,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Port-block allocations ``idx`` of ``day`` on the addresses ``public``."""
    per_addr = (w.port_high - w.port_low + 1) // block
    if per_addr < 1:
        raise ValueError(f"a block of {block} ports does not fit ports {w.port_low}..{w.port_high}")
    p = _periods(w, day, count, first_slot, idx, len(public) * per_addr, min_s, max_s, 11)
    subscriber = draw(w, day, 13, idx, w.subscribers)
    first = w.port_low + (p["slot"] % per_addr) * block
    p.update(
        public_ip=public[p["slot"] // per_addr],
        first_port=first,
        last_port=first + block - 1,
        subscriber=subscriber,
        inside_ip=w.inside_of[day, subscriber],
        port=first + draw(w, day, 14, idx, block),  # the port a key entry asks about
    )
    return p


def _block_key_row(b: dict[str, np.ndarray], j: int, at_us: int, source: str) -> dict[str, object]:
    return {
        "public_ip": str(ipaddress.ip_address(int(b["public_ip"][j]))),
        "public_port": int(b["port"][j]),
        "at": iso_us(at_us),
        "inside_ip": str(ipaddress.ip_address(int(b["inside_ip"][j]))),
        "inside_port": None,
        "subscriber": f"sub-{int(b['subscriber'][j]) + 1:07d}",
        "kind": "port_block",
        "port_block": [int(b["first_port"][j]), int(b["last_port"][j])],
        "session_start": iso_us(int(b["start"][j])),
        "session_end": iso_us(int(b["end"][j])),
        "source": source,
    }


def _key_instant(
    w: World, day: int, idx: np.ndarray, start: np.ndarray, dur_s: np.ndarray
) -> np.ndarray:
    """An instant at least KEY_MARGIN_S inside each period, at a whole millisecond."""
    span_ms = np.maximum((dur_s - 2 * KEY_MARGIN_S) * 1000, 1)
    return start + KEY_MARGIN_S * 1_000_000 + draw(w, day, 15, idx, 1 << 30) % span_ms * 1000


def write_juniper_pba(
    w: World, out: Path, suffix: str, compress: bool, records: int, want_key: int, host: str
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
    with open_out(path, compress) as fh:
        for d, count in enumerate(_per_day(allocs, w.days).tolist()):
            if not count:
                continue
            idx = np.arange(count, dtype=np.int64)
            b = _block_fields(w, d, count, slot, idx, JUNIPER_BLOCK, w.public)
            b["start"] = b["start"] + draw(w, d, 16, idx, 1000) * 1000  # sub-second stamps
            b["end"] = b["end"] + draw(w, d, 17, idx, 1000) * 1000
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
            lines = concat(
                _bsd_stamp_ms(at), f" {host} (FPC Slot 5, PIC Slot 0) {{cgn-sset}}[FWNAT]:",
                " JSERVICES_NAT_PORT_BLOCK_", pa.array(event), ": ",
                ipv4s(b["inside_ip"][which]), " -> ", ipv4s(b["public_ip"][which]), ":",
                strs(b["first_port"][which]), "-", strs(b["last_port"][which]), " ",
                hexes.take(pa.array(which)), "\n",
            )  # fmt: skip
            write_lines(fh, lines)
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
    return concat("[", event, " ", proto, " ", inside, " vrf-cgn - ", public, " ", inside_port,
                 " ", first, " ", last, " ", dst, " ", dport, "]")  # fmt: skip


def write_cisco_xr(
    w: World, out: Path, suffix: str, compress: bool, records: int, want_key: int, host: str
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
    with open_out(path, compress) as fh:
        for d in range(w.days):
            nb = int(_per_day(n_blocks, w.days)[d])
            ns = int(_per_day(n_sessions, w.days)[d])
            msgs: list[pa.Array] = []
            ats: list[np.ndarray] = []
            if nb:
                ib = np.arange(nb, dtype=np.int64)
                b = _block_fields(w, d, nb, slot_b, ib, XR_BLOCK, pool_blocks)
                for ev, t in (("UserbasedA", b["start"]), ("UserbasedW", b["end"])):
                    msgs.append(_xr_messages(pa.array(np.full(nb, ev)), "-", ipv4s(b["inside_ip"]),
                                             ipv4s(b["public_ip"]), "-", strs(b["first_port"]),
                                             strs(b["last_port"]), "-", "-"))  # fmt: skip
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
                sub = draw(w, d, 23, i_s, w.subscribers)
                inside = w.inside_of[d, sub]
                public = pool_sessions[s["slot"] // per_addr_s]
                pport = w.port_low + s["slot"] % per_addr_s
                iport = 1024 + draw(w, d, 24, i_s, 65536 - 1024)
                tcp = draw(w, d, 25, i_s, 10) < 7
                with_dst = draw(w, d, 26, i_s, 4) == 0  # destination logging on some
                dst = 0xC6336400 + 1 + draw(w, d, 27, i_s, 254)  # 198.51.100.0/24
                dport = np.where(tcp, 443, 53)
                for ev, t in (("SessionbasedA", s["start"]), ("SessionbasedW", s["end"])):
                    event = pc.if_else(pa.array(with_dst), ev + "D", ev)
                    msgs.append(_xr_messages(
                        event, pa.array(np.where(tcp, "6", "17")), ipv4s(inside), ipv4s(public),
                        strs(iport), strs(pport), "-",
                        pc.if_else(pa.array(with_dst), ipv4s(dst), "-"),
                        pc.if_else(pa.array(with_dst), strs(dport), "-"),
                    ))  # fmt: skip
                    ats.append(t)
                pick = _key_pick(ns, (want_key - want_key // 2) // w.days + 1, 0)
                for j, a in zip(pick.tolist(), _key_instant(w, d, pick, s["start"][pick],
                                s["duration_s"][pick]).tolist(), strict=True):  # fmt: skip
                    key_rows.append({
                        "public_ip": str(ipaddress.ip_address(int(public[j]))),
                        "public_port": int(pport[j]),
                        "at": iso_us(a),
                        "inside_ip": str(ipaddress.ip_address(int(inside[j]))),
                        "inside_port": int(iport[j]),
                        "subscriber": f"sub-{int(sub[j]) + 1:07d}",
                        "kind": "nat",
                        "protocol": "tcp" if tcp[j] else "udp",
                        "session_start": iso_us(int(s["start"][j])),
                        "session_end": iso_us(int(s["end"][j])),
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


def write_netflow(
    w: World, out: Path, records: int, want_key: int
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
            b["start"] = b["start"] + draw(w, d, 31, ib, 1000) * 1000
            b["end"] = b["end"] + draw(w, d, 32, ib, 1000) * 1000
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
            s["start"] = s["start"] + draw(w, d, 43, i_s, 1000) * 1000
            s["end"] = s["end"] + draw(w, d, 44, i_s, 1000) * 1000
            sub = draw(w, d, 45, i_s, w.subscribers)
            inside = w.inside_of[d, sub]
            public = pool_sessions[s["slot"] // per_addr_s]
            pport = w.port_low + s["slot"] % per_addr_s
            iport = 1024 + draw(w, d, 46, i_s, 65536 - 1024)
            tcp = draw(w, d, 47, i_s, 10) < 7
            dst = 0xC6336400 + 1 + draw(w, d, 48, i_s, 254)  # 198.51.100.0/24
            dport = np.where(tcp, 443, 53)
            octets = 200 + draw(w, d, 49, i_s, 900_000)
            in_v9 = draw(w, d, 50, i_s, 2) == 0  # the other sessions go out as IPFIX over UDP
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
                    "at": iso_us(a),
                    "inside_ip": str(ipaddress.ip_address(int(inside[j]))),
                    "inside_port": int(iport[j]),
                    "subscriber": f"sub-{int(sub[j]) + 1:07d}",
                    "kind": "nat",
                    "protocol": "tcp" if tcp[j] else "udp",
                    "session_start": iso_us(int(s["start"][j])),
                    "session_end": iso_us(int(s["end"][j])),
                    "source": names[target],
                })  # fmt: skip
                if target == "v9" and len(flow_key) < max(10, want_key // 10):
                    flow_key.append({
                        "ip": str(ipaddress.ip_address(int(inside[j]))),
                        "start": iso_us(int(s["start"][j]) - 1_000_000),
                        "end": iso_us(int(s["end"][j]) + 1_000_000),
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


def kea_lines(w: World, day: int, v6: bool, inside6: np.ndarray | None = None) -> pa.Array:
    """One lease per subscriber for ``day`` in Kea's memfile CSV (csv_lease_file4.h /
    csv_lease_file6.h column order); the hostname the CPE sent is the subscriber id."""
    subs = np.arange(w.subscribers, dtype=np.int64)
    begin_s = (w.start_us + day * DAY_US) // 1_000_000 + draw(w, day, 51 + v6, subs, 30)
    end_s = (w.start_us + (day + 1) * DAY_US) // 1_000_000 - 1 - draw(w, day, 53 + v6, subs, 30)
    valid = end_s - begin_s
    mac = concat(
        "02:00:5e:", pad2_hex((subs >> 16) & 255), ":", pad2_hex((subs >> 8) & 255), ":",
        pad2_hex(subs & 255),
    )  # fmt: skip
    names = subscriber_names(subs)
    if not v6:
        return concat(
            ipv4s(w.inside_of[day]), ",", mac, ",01:", mac, ",", strs(valid), ",", strs(end_s),
            ",1,0,0,", names, ",0,,0\n",
        )  # fmt: skip
    assert inside6 is not None
    addrs = pa.array([str(ipaddress.IPv6Address(int(a))) for a in inside6.tolist()])
    return concat(
        addrs, ",00:03:00:01:", mac, ",", strs(valid), ",", strs(end_s), ",1,",
        strs(valid // 2), ",0,", strs(subs + 1), ",128,0,0,", names, ",", mac, ",0,,1,2,0\n",
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


def inside6_addresses(w: World) -> np.ndarray:
    """(days, subscribers) IA_NA addresses in ``KEA_V6_PREFIX`` (as Python ints, object)."""
    net = ipaddress.IPv6Network(KEA_V6_PREFIX)
    rng = np.random.default_rng(w.seed + 6)
    out = np.empty((w.days, w.subscribers), dtype=object)
    for d in range(w.days):
        low = rng.choice(1 << 40, size=w.subscribers, replace=False) + 0x100
        out[d] = [int(net.network_address) + int(x) for x in low.tolist()]
    return out
