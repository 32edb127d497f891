"""Byte-level fast path for the usual shape of Cisco ASA 305011/305012 lines.

A CGNAT box writes these lines by the billion, always in the same shape::

    Oct 10 2018 12:34:56 host %ASA-6-305011: Built dynamic TCP translation from
        inside:100.64.0.1/1772 to outside:203.0.113.7/8256
    ... %ASA-6-305012: Teardown dynamic UDP translation from ... duration 0:00:30

Regex extraction with capture groups costs several microseconds a line, so this module reads
those lines straight from the bytes with NumPy: it finds the spaces once, addresses tokens by
their index, and parses digits and dotted quads column-wise. Any line that is not exactly in this
shape (IPv6, ``(user)``, fractions, ``<PRI>``, FTD/PIX, odd spacing) is left to the regex path in
``cisco_asa``, which handles the full grammar. This module only decides what it can read.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_MONTH_CODES = np.array(
    [
        (ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2])
        for m in [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ]
    ],
    dtype=np.int64,
)
_PROTO_NAMES = np.array(["tcp", "udp", "icmp"], dtype=object)
_TEMPLATE = b"%ASA-?-30501?:"


@dataclass
class FastNat:
    ok: np.ndarray  # per line: read by the fast path
    year: np.ndarray
    year_present: np.ndarray
    month: np.ndarray
    day: np.ndarray
    hh: np.ndarray
    mi: np.ndarray
    ss: np.ndarray
    teardown: np.ndarray
    duration_s: np.ndarray
    proto: np.ndarray  # index into _PROTO_NAMES
    in_port: np.ndarray
    out_port: np.ndarray
    # the following are for the ok rows only, in line order
    in_ip: pa.Array
    out_ip: pa.Array
    host: pa.Array


BLOCK_LINES = 16384  # a block's bytes stay in the CPU cache across the column passes
WORKERS = min(4, os.cpu_count() or 1)


def parse_fast(data: bytes, starts: np.ndarray, ends: np.ndarray) -> FastNat:
    """Read the lines (byte ranges [starts, ends) of ``data``) that have the usual shape."""
    view = memoryview(data)
    bounds = []
    for lo in range(0, len(starts), BLOCK_LINES):
        hi = min(lo + BLOCK_LINES, len(starts))
        base = int(starts[lo])
        top = int(ends[hi - 1])
        bounds.append((view[base:top], starts[lo:hi] - base, ends[lo:hi] - base))
    # NumPy releases the GIL inside its kernels: blocks run side by side on the cores
    if len(bounds) > 1 and WORKERS > 1:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            parts = list(pool.map(lambda b: _parse_block(*b), bounds))
    else:
        parts = [_parse_block(*b) for b in bounds]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _parse_block(b"", starts, ends)
    arrays = {}
    for name in FastNat.__dataclass_fields__:
        values = [getattr(p, name) for p in parts]
        if isinstance(values[0], pa.Array):
            arrays[name] = pa.concat_arrays(values)
        else:
            arrays[name] = np.concatenate(values)
    return FastNat(**arrays)


class _Bytes:
    """A block's bytes (zero-padded so that 8-byte reads past the end stay in bounds), readable
    one byte or one little-endian 8-byte word per position."""

    PAD = 24

    def __init__(self, data: bytes | memoryview) -> None:
        raw = np.frombuffer(data, dtype=np.uint8)
        self.size = len(raw)
        self.buf = np.zeros(self.size + self.PAD, dtype=np.uint8)
        self.buf[: self.size] = raw
        self.u64 = np.ndarray(
            shape=(self.size + self.PAD - 7,), dtype="<u8", buffer=self.buf.data, strides=(1,)
        )
        self.top = self.size + self.PAD - 8

    def at(self, pos: np.ndarray) -> np.ndarray:
        return self.buf[np.minimum(pos, self.top)].astype(np.int64)

    def word(self, pos: np.ndarray) -> np.ndarray:
        return self.u64[np.minimum(pos, self.top)]

    def digits(self, s: np.ndarray, e: np.ndarray, maxlen: int) -> tuple[np.ndarray, np.ndarray]:
        """Unsigned decimal in bytes [s, e) of at most ``maxlen`` (<= 8) digits, and validity."""
        length = e - s
        ok = (length >= 1) & (length <= maxlen)
        w = self.word(s)
        val = np.zeros(len(s), dtype=np.int64)
        for j in range(maxlen):
            inside = j < length
            d = ((w >> np.uint64(8 * j)) & np.uint64(255)).astype(np.int64) - 48
            ok &= ~inside | ((d >= 0) & (d <= 9))
            val = np.where(inside, val * 10 + d, val)
        return val, ok

    def matches(self, pos: np.ndarray, text: bytes, wildcard: int = ord("?")) -> np.ndarray:
        """True where the bytes at ``pos`` equal ``text`` (``?`` matches any byte)."""
        ok = np.ones(len(pos), dtype=bool)
        for off in range(0, len(text), 8):
            part = text[off : off + 8]
            want = 0
            mask = 0
            for j, ch in enumerate(part):
                if ch != wildcard:
                    want |= ch << (8 * j)
                    mask |= 0xFF << (8 * j)
            ok &= (self.word(pos + off) & np.uint64(mask)) == np.uint64(want)
        return ok

    def strings(self, s: np.ndarray, e: np.ndarray) -> pa.Array:
        """Gather the byte ranges [s, e) into an Arrow string array."""
        lengths = (e - s).astype(np.int64)
        offsets = np.zeros(len(s) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        if total:
            idx = np.repeat(s - offsets[:-1], lengths) + np.arange(total, dtype=np.int64)
            data = self.buf[idx].tobytes()
        else:
            data = b""
        return pa.Array.from_buffers(
            pa.large_string(), len(s), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        ).cast(pa.string())


def _strict_ipv4(bb: _Bytes, dots: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """True where bytes [s, e) are a dotted quad in canonical form (no leading zeros)."""
    if len(dots) == 0:
        return np.zeros(len(s), dtype=bool)
    i0 = np.searchsorted(dots, s)
    ok = (np.searchsorted(dots, e) - i0) == 3
    top = len(dots) - 1
    d = [dots[np.minimum(i0 + j, top)] for j in range(3)]
    for a, b in ((s, d[0]), (d[0] + 1, d[1]), (d[1] + 1, d[2]), (d[2] + 1, e)):
        value, digits_ok = bb.digits(a, b, 3)
        ok &= digits_ok & (value <= 255) & ~(((b - a) > 1) & (bb.at(a) == 48))
    return ok


def _endpoint(
    bb: _Bytes, marks: dict[int, np.ndarray], s: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``iface:a.b.c.d/port`` -> (ip start, ip end, port, ok)."""
    colons, slashes = marks[58], marks[47]
    if len(colons) == 0 or len(slashes) == 0:
        no = np.zeros(len(s), dtype=bool)
        return s, s, np.zeros(len(s), dtype=np.int64), no
    ci = np.searchsorted(colons, s)
    colon = colons[np.minimum(ci, len(colons) - 1)]
    si = np.searchsorted(slashes, e) - 1
    slash = slashes[np.maximum(si, 0)]
    ok = (ci < len(colons)) & (colon < e) & (si >= 0) & (slash >= s) & (slash > colon)
    ip_s = colon + 1
    ip_e = slash
    port, port_ok = bb.digits(slash + 1, e, 6)
    ok &= port_ok & _strict_ipv4(bb, marks[46], ip_s, ip_e)
    return ip_s, ip_e, port, ok


def _parse_block(data: bytes | memoryview, starts: np.ndarray, ends: np.ndarray) -> FastNat:
    n = len(starts)
    bb = _Bytes(data)
    # one pass over the bytes finds every space, colon, slash and dot
    buf = bb.buf
    found = np.flatnonzero((buf == 32) | (buf == 58) | (buf == 47) | (buf == 46))
    cls = buf[found]
    sp = found[cls == 32]
    zero = np.zeros(n, dtype=np.int64)
    if len(sp) == 0 or n == 0:
        no = np.zeros(n, dtype=bool)
        empty = pa.array([], pa.string())
        return FastNat(
            no,
            zero,
            no,
            zero,
            zero,
            zero,
            zero,
            zero,
            no,
            zero,
            zero,
            zero,
            zero,
            empty,
            empty,
            empty,
        )
    first = np.searchsorted(sp, starts)
    count = np.searchsorted(sp, ends) - first  # spaces inside the line
    last_sp = len(sp) - 1

    def tok(j: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        j = np.asarray(j)
        s = np.where(j == 0, starts, sp[np.minimum(np.maximum(first + j - 1, 0), last_sp)] + 1)
        e = np.where(count > j, sp[np.minimum(first + j, last_sp)], ends)
        return s, e

    ok = count >= 12
    # stamp: Mon DD [YYYY] HH:MM:SS[:]
    s0, e0 = tok(0)
    w0 = bb.word(s0)
    b0 = (w0 & np.uint64(255)).astype(np.int64)
    b1 = ((w0 >> np.uint64(8)) & np.uint64(255)).astype(np.int64)
    b2 = ((w0 >> np.uint64(16)) & np.uint64(255)).astype(np.int64)
    month = _month_of((b0 << 16) | (b1 << 8) | b2)
    ok &= (e0 - s0 == 3) & (month > 0)
    s1, e1 = tok(1)
    day, day_ok = bb.digits(s1, e1, 2)
    ok &= day_ok
    s2, e2 = tok(2)
    year_present = (e2 - s2) == 4
    year, year_ok = bb.digits(s2, e2, 4)
    ok &= ~year_present | year_ok
    t_idx = np.where(year_present, 3, 2)
    ts, te = tok(t_idx)
    tlen = te - ts
    ok &= (tlen == 8) | ((tlen == 9) & (bb.at(ts + 8) == 58))
    hh, mi, ss, hms_ok = _hms(bb.word(ts))
    ok &= hms_ok
    # the %ASA token is 1, 2 or 3 tokens after the time
    k = np.full(n, -1, dtype=np.int64)
    for off in (3, 2, 1):
        ks, _ = tok(t_idx + off)
        k = np.where(bb.at(ks) == 37, t_idx + off, k)
    ok &= k > 0
    ks, ke = tok(k)
    ok &= (ke - ks) == len(_TEMPLATE)
    ok &= bb.matches(ks, _TEMPLATE)
    level = bb.at(ks + 5)
    ok &= (level >= 48) & (level <= 57)
    which = bb.at(ks + 12)
    teardown = which == ord("2")
    ok &= (which == ord("1")) | teardown
    # host (a token between time and %ASA not ending with ':')
    has_host = k >= t_idx + 2
    hs, he = tok(t_idx + 1)
    has_host &= bb.at(he - 1) != 58
    # message words
    s_, _ = tok(k + 1)
    ok &= np.where(teardown, bb.matches(s_, b"Teardown "), bb.matches(s_, b"Built "))
    s_, _ = tok(k + 2)
    ok &= bb.matches(s_, b"dynamic ") | bb.matches(s_, b"static ")
    ps, _ = tok(k + 3)
    proto = np.full(n, -1, dtype=np.int64)
    for i, name in enumerate((b"TCP ", b"UDP ", b"ICMP ")):
        proto = np.where(bb.matches(ps, name), i, proto)
    ok &= proto >= 0
    s_, _ = tok(k + 4)
    ok &= bb.matches(s_, b"translation from ")
    s_, _ = tok(k + 7)
    ok &= bb.matches(s_ - 1, b" to ")
    ok &= np.where(teardown, count == k + 10, count == k + 8)
    s_, _ = tok(k + 9)
    ok &= ~teardown | bb.matches(s_ - 1, b" duration ")
    ds, de = tok(k + 10)
    # duration h+:mm:ss
    dlen = de - ds
    dh, okh = bb.digits(ds, de - 6, 6)
    dm, okm = bb.digits(de - 5, de - 3, 2)
    dsec, oks = bb.digits(de - 2, de, 2)
    dur_ok = (dlen >= 7) & okh & okm & oks & (bb.at(de - 6) == 58) & (bb.at(de - 3) == 58)
    ok &= ~teardown | dur_ok
    duration_s = np.where(teardown, dh * 3600 + dm * 60 + dsec, 0)
    # endpoints (only examined where the line is still a candidate)
    cand = np.flatnonzero(ok)
    in_s, in_e = _tok_sub(sp, first, count, starts, ends, cand, k[cand] + 6)
    out_s, out_e = _tok_sub(sp, first, count, starts, ends, cand, k[cand] + 8)
    marks = {ch: found[cls == ch] for ch in (58, 47, 46)}  # ':' '/' '.'
    ia, ib, in_port_c, in_ok = _endpoint(bb, marks, in_s, in_e)
    oa, ob, out_port_c, out_ok = _endpoint(bb, marks, out_s, out_e)
    sub_ok = in_ok & out_ok
    ok[cand[~sub_ok]] = False
    keep = cand[sub_ok]
    in_port = np.zeros(n, dtype=np.int64)
    out_port = np.zeros(n, dtype=np.int64)
    in_port[cand] = in_port_c
    out_port[cand] = out_port_c
    hs_k, he_k = hs[keep], he[keep]
    host = _same_or_strings(bb, hs_k, np.where(has_host[keep], he_k, hs_k))
    return FastNat(
        ok=ok,
        year=year,
        year_present=year_present,
        month=month,
        day=day,
        hh=hh,
        mi=mi,
        ss=ss,
        teardown=teardown,
        duration_s=duration_s,
        proto=np.clip(proto, 0, 2),
        in_port=in_port,
        out_port=out_port,
        in_ip=bb.strings(ia[sub_ok], ib[sub_ok]),
        out_ip=bb.strings(oa[sub_ok], ob[sub_ok]),
        host=host,
    )


def _same_or_strings(bb: _Bytes, s: np.ndarray, e: np.ndarray) -> pa.Array:
    """``bb.strings(s, e)``; when every range holds the same bytes (one logging host, the
    usual case) the array is built from one value without gathering bytes."""
    n = len(s)
    if n:
        length = e - s
        first_len = int(length[0])
        if first_len <= 24 and (length == first_len).all():
            same = np.ones(n, dtype=bool)
            for off in range(0, first_len, 8):
                width = min(8, first_len - off)
                mask = np.uint64((1 << (8 * width)) - 1)
                words = bb.word(s + off) & mask
                same &= words == words[0]
            if same.all():
                value = bytes(bb.buf[int(s[0]) : int(s[0]) + first_len]).decode("utf-8")
                return pa.repeat(pa.scalar(value, pa.string()), n)
    return bb.strings(s, e)


def _hms(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``HH:MM:SS`` from the first 8 bytes of each word: hours, minutes, seconds, validity."""
    b = [((w >> np.uint64(8 * j)) & np.uint64(255)).astype(np.int64) for j in range(8)]
    ok = (b[2] == 58) & (b[5] == 58)
    for j in (0, 1, 3, 4, 6, 7):
        ok &= (b[j] >= 48) & (b[j] <= 57)
    return (
        (b[0] - 48) * 10 + b[1] - 48,
        (b[3] - 48) * 10 + b[4] - 48,
        (b[6] - 48) * 10 + b[7] - 48,
        ok,
    )


def _tok_sub(
    sp: np.ndarray,
    first: np.ndarray,
    count: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    rows: np.ndarray,
    j: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    last_sp = len(sp) - 1
    f = first[rows]
    s = np.where(j == 0, starts[rows], sp[np.minimum(np.maximum(f + j - 1, 0), last_sp)] + 1)
    e = np.where(count[rows] > j, sp[np.minimum(f + j, last_sp)], ends[rows])
    return s, e


def _month_of(code: np.ndarray) -> np.ndarray:
    """1..12 for a three-letter month code, 0 when it is not one."""
    order = np.argsort(_MONTH_CODES)
    sorted_codes = _MONTH_CODES[order]
    pos = np.clip(np.searchsorted(sorted_codes, code), 0, 11)
    return np.where(sorted_codes[pos] == code, order[pos] + 1, 0)


PROTO_NAMES = _PROTO_NAMES
