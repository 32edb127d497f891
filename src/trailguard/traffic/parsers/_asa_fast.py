"""Compiled fast path for the usual shape of Cisco ASA 305011/305012 lines.

A CGNAT box writes these lines by the billion, always in the same shape::

    Oct 10 2018 12:34:56 host %ASA-6-305011: Built dynamic TCP translation from
        inside:100.64.0.1/1772 to outside:203.0.113.7/8256
    ... %ASA-6-305012: Teardown dynamic UDP translation from ... duration 0:00:30

A numba-compiled scanner reads each such line once, byte by byte, and produces most of the final
record: the stamp as naive local microseconds since 1970 (the zone is applied by the caller with
``_common.localize``, which handles daylight-saving changes), the duration, the protocol, the
ports, and the two addresses and the logging host as Arrow string buffers. It takes a line only
when the line is exactly in this shape *and* every value is valid (a real date and time,
canonical dotted quads, ports 0..65535, a duration whose minutes and seconds are 0..59); every
other line (IPv6, ``(user)``, fractions,
``<PRI>``, FTD/PIX, odd spacing, tabs, non-ASCII, impossible dates, out-of-range values) is left
to the regex path in ``cisco_asa``, which handles the full grammar and names what is wrong. This
module only decides what it can read, so the two paths give the same records.

The grammar taken here (single spaces between tokens, nothing after the last one)::

    Mon D[D] [YYYY] HH:MM:SS[:] [host [tag:]] %ASA-L-30501W: {Built|Teardown}
        {dynamic|static} {TCP|UDP|ICMP} translation from IFACE:A.B.C.D/PORT to
        IFACE:A.B.C.D/PORT [duration H+:MM:SS]

with ``Teardown ... duration`` exactly for 305012 and ``Built`` (no duration) for 305011; a host
and tag are tokens not starting with ``%``; with one token before ``%ASA`` it is the host unless
it ends with ``:`` (then it is a tag); with two, the first is the host and the second must end
with ``:``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

PROTO_NAMES = pa.array(["tcp", "udp", "icmp"], pa.string())
_CUMDAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
# the lines of a chunk are scanned in blocks on this many threads (the scanner releases the GIL)
WORKERS = min(2, os.cpu_count() or 1)
THREAD_MIN_LINES = 65536  # below this one thread does it all (no pool to start)
MAX_IP = 15  # len("255.255.255.255")


@dataclass
class FastNat:
    """The lines the fast path read, in line order (``rows`` are indices into the chunk)."""

    rows: np.ndarray  # int64
    naive_us: np.ndarray  # int64: the stamp, local time, as if UTC
    duration_s: np.ndarray  # int64: -1 for 305011 (built), else the teardown's duration
    proto: np.ndarray  # int8: index into PROTO_NAMES
    in_port: np.ndarray  # int32
    out_port: np.ndarray  # int32
    in_ip: pa.Array  # string
    out_ip: pa.Array  # string
    host: pa.Array  # string, null where the line names no host
    yearless: int  # how many of them had no year in their stamp (``default_year`` used)


# --------------------------------------------------------------------------------------------
# compiled scanner


@njit(cache=True, nogil=True)
def _digits(buf: np.ndarray, s: int, e: int, maxlen: int) -> int:
    """Value of the decimal digits in [s, e) (1..maxlen of them), or -1."""
    n = e - s
    if n < 1 or n > maxlen:
        return -1
    v = 0
    for i in range(s, e):
        d = int(buf[i]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@njit(cache=True, nogil=True)
def _ipv4(buf: np.ndarray, s: int, e: int) -> int:
    """A canonical dotted quad in [s, e) (no leading zeros, octets <= 255): 1, else 0."""
    if e - s < 7 or e - s > 15:
        return 0
    octets = 0
    i = s
    while True:
        j = i
        v = 0
        while j < e and j - i < 3:
            d = int(buf[j]) - 48
            if d < 0 or d > 9:
                break
            v = v * 10 + d
            j += 1
        width = j - i
        if width == 0 or v > 255 or (width > 1 and buf[i] == 48):
            return 0
        octets += 1
        if octets == 4:
            return 1 if j == e else 0
        if j >= e or buf[j] != 46:
            return 0
        i = j + 1


@njit(cache=True, nogil=True)
def _endpoint(buf: np.ndarray, s: int, e: int, out: np.ndarray, k: int) -> bool:
    """``IFACE:A.B.C.D/PORT`` in [s, e): address start, end and port into out[k..k+2]."""
    colon = -1
    for i in range(s, e):
        if buf[i] == 58:
            colon = i
            break
    if colon <= s:  # no colon, or an empty interface name
        return False
    slash = -1
    for i in range(e - 1, colon, -1):
        if buf[i] == 47:
            slash = i
            break
    if slash < 0 or not _ipv4(buf, colon + 1, slash):
        return False
    port = _digits(buf, slash + 1, e, 6)
    if port < 0 or port > 65535:
        return False
    out[k] = colon + 1
    out[k + 1] = slash
    out[k + 2] = port
    return True


@njit(cache=True, nogil=True)
def _word(buf: np.ndarray, s: int, e: int, text: bytes) -> bool:
    """True when [s, e) is exactly ``text``."""
    if e - s != len(text):
        return False
    for i in range(len(text)):  # noqa: SIM110 - a loop compiles; a generator does not
        if buf[s + i] != text[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def _month(buf: np.ndarray, s: int) -> int:
    code = (np.int64(buf[s]) << 16) | (np.int64(buf[s + 1]) << 8) | np.int64(buf[s + 2])
    names = b"JanFebMarAprMayJunJulAugSepOctNovDec"
    for m in range(12):
        want = (np.int64(names[3 * m]) << 16) | (np.int64(names[3 * m + 1]) << 8)
        if code == want | np.int64(names[3 * m + 2]):
            return m + 1
    return 0


@njit(cache=True, nogil=True)
def _scan_line(
    buf: np.ndarray,
    s: int,
    e: int,
    default_year: int,
    cumdays: np.ndarray,
    tok_s: np.ndarray,
    tok_e: np.ndarray,
    out: np.ndarray,
) -> int:
    """Read line [s, e): its stamp as naive local microseconds since 1970 (-1 when the line is
    not of the usual shape) and its other values into ``out``: 0 duration_s (-1 built),
    1 proto, 2 in ip start, 3 in ip end, 4 in port, 5 out ip start, 6 out ip end, 7 out port,
    8 host start, 9 host end, 10 year given (1/0)."""
    # split on single spaces; any other control or non-ASCII byte sends the line away
    nt = 0
    start = s
    for i in range(s, e):
        b = buf[i]
        if b == 32:
            if i == start or nt >= 23:  # an empty token (two spaces, leading space) or too many
                return -1
            tok_s[nt] = start
            tok_e[nt] = i
            nt += 1
            start = i + 1
        elif b < 32 or b > 126:
            return -1
    if start == e:  # empty line or a trailing space
        return -1
    tok_s[nt] = start
    tok_e[nt] = e
    nt += 1
    if nt < 12:  # Mon D HH:MM:SS %ASA-6-305011: Built dynamic TCP translation from A to B
        return -1
    # stamp: Mon D[D] [YYYY] HH:MM:SS[:]
    if tok_e[0] - tok_s[0] != 3:
        return -1
    month = _month(buf, tok_s[0])
    if month == 0:
        return -1
    day = _digits(buf, tok_s[1], tok_e[1], 2)
    if day < 0:
        return -1
    t = 2
    if tok_e[2] - tok_s[2] == 4:
        year = _digits(buf, tok_s[2], tok_e[2], 4)
        if year < 0:
            return -1
        out[10] = 1
        t = 3
    else:
        if default_year <= 0:
            return -1
        year = default_year
        out[10] = 0
    ts = tok_s[t]
    tlen = tok_e[t] - ts
    if not (tlen == 8 or (tlen == 9 and buf[ts + 8] == 58)):
        return -1
    if buf[ts + 2] != 58 or buf[ts + 5] != 58:
        return -1
    hh = _digits(buf, ts, ts + 2, 2)
    mi = _digits(buf, ts + 3, ts + 5, 2)
    ss = _digits(buf, ts + 6, ts + 8, 2)
    if hh < 0 or mi < 0 or ss < 0 or hh > 23 or mi > 59 or ss > 59:
        return -1
    # a real date (the same rule as _common.civil_to_epoch_us)
    if year < 1970 or year > 2200 or day < 1:
        return -1
    leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
    dim = 31
    if month == 2:
        dim = 29 if leap else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        dim = 30
    if day > dim:
        return -1
    # the %ASA token is 1, 2 or 3 tokens after the time
    k = -1
    for off in range(1, 4):
        if t + off < nt and buf[tok_s[t + off]] == 37:
            k = t + off
            break
    if k < 0:
        return -1
    out[8] = 0
    out[9] = 0
    if k == t + 2:  # one token: the host, or a tag when it ends with ':'
        if buf[tok_e[t + 1] - 1] != 58:
            out[8] = tok_s[t + 1]
            out[9] = tok_e[t + 1]
    elif k == t + 3:  # host and tag
        if buf[tok_e[t + 2] - 1] != 58:
            return -1
        out[8] = tok_s[t + 1]
        out[9] = tok_e[t + 1]
    ks = tok_s[k]
    if tok_e[k] - ks != 14:
        return -1
    tmpl = b"%ASA-?-30501?:"
    for i in range(14):
        if tmpl[i] != 63 and buf[ks + i] != tmpl[i]:
            return -1
    level = buf[ks + 5]
    if level < 48 or level > 57:
        return -1
    which = buf[ks + 12]
    if which == 49:
        teardown = False
        if nt != k + 9:
            return -1
        if not _word(buf, tok_s[k + 1], tok_e[k + 1], b"Built"):
            return -1
    elif which == 50:
        teardown = True
        if nt != k + 11:
            return -1
        if not _word(buf, tok_s[k + 1], tok_e[k + 1], b"Teardown"):
            return -1
    else:
        return -1
    if not (
        _word(buf, tok_s[k + 2], tok_e[k + 2], b"dynamic")
        or _word(buf, tok_s[k + 2], tok_e[k + 2], b"static")
    ):
        return -1
    if _word(buf, tok_s[k + 3], tok_e[k + 3], b"TCP"):
        out[1] = 0
    elif _word(buf, tok_s[k + 3], tok_e[k + 3], b"UDP"):
        out[1] = 1
    elif _word(buf, tok_s[k + 3], tok_e[k + 3], b"ICMP"):
        out[1] = 2
    else:
        return -1
    if not _word(buf, tok_s[k + 4], tok_e[k + 4], b"translation"):
        return -1
    if not _word(buf, tok_s[k + 5], tok_e[k + 5], b"from"):
        return -1
    if not _word(buf, tok_s[k + 7], tok_e[k + 7], b"to"):
        return -1
    if not _endpoint(buf, tok_s[k + 6], tok_e[k + 6], out, 2):
        return -1
    if not _endpoint(buf, tok_s[k + 8], tok_e[k + 8], out, 5):
        return -1
    if teardown:
        if not _word(buf, tok_s[k + 9], tok_e[k + 9], b"duration"):
            return -1
        ds = tok_s[k + 10]
        de = tok_e[k + 10]
        if de - ds < 7 or buf[de - 6] != 58 or buf[de - 3] != 58:
            return -1
        dh = _digits(buf, ds, de - 6, 5)  # at most 99999 hours: seconds fit 32 bits
        dm = _digits(buf, de - 5, de - 3, 2)
        dsec = _digits(buf, de - 2, de, 2)
        # minutes and seconds over 59 are no duration: the regex path reports the line
        if dh < 0 or dm < 0 or dsec < 0 or dm > 59 or dsec > 59:
            return -1
        out[0] = dh * 3600 + dm * 60 + dsec
    else:
        out[0] = -1
    days = (
        (year - 1970) * 365
        + (year - 1969) // 4
        - (year - 1901) // 100
        + (year - 1601) // 400
        + cumdays[month - 1]
        + (1 if (month > 2 and leap) else 0)
        + day
        - 1
    )
    return ((days * 86400) + hh * 3600 + mi * 60 + ss) * 1_000_000


@njit(cache=True, nogil=True)
def _scan(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    usable: np.ndarray,
    lo: int,
    hi: int,
    default_year: int,
    cumdays: np.ndarray,
    stamp: np.ndarray,
    cols: np.ndarray,
) -> None:
    """Scan lines lo..hi-1: ``stamp[i]`` (-1: not taken) and the line's values in ``cols[i]``."""
    tok_s = np.empty(24, dtype=np.int64)
    tok_e = np.empty(24, dtype=np.int64)
    for i in range(lo, hi):
        if usable[i]:
            stamp[i] = _scan_line(
                buf, starts[i], ends[i], default_year, cumdays, tok_s, tok_e, cols[i]
            )
        else:
            stamp[i] = -1


@njit(cache=True, nogil=True)
def _gather(
    buf: np.ndarray, stamp: np.ndarray, cols: np.ndarray
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, int, int,
]:  # fmt: skip
    """The taken lines' columns, and the addresses and hosts as Arrow string buffers
    (offsets, bytes). The host buffers are empty when every taken line names the same host
    (returned as the first row's range); ``host_valid`` is 0 where a line names none."""
    m = 0
    for i in range(len(stamp)):
        if stamp[i] >= 0:
            m += 1
    rows = np.empty(m, dtype=np.int64)
    naive = np.empty(m, dtype=np.int64)
    dur = np.empty(m, dtype=np.int64)
    proto = np.empty(m, dtype=np.int8)
    in_port = np.empty(m, dtype=np.int32)
    out_port = np.empty(m, dtype=np.int32)
    in_off = np.empty(m + 1, dtype=np.int32)
    out_off = np.empty(m + 1, dtype=np.int32)
    in_data = np.empty(m * MAX_IP, dtype=np.uint8)
    out_data = np.empty(m * MAX_IP, dtype=np.uint8)
    in_off[0] = 0
    out_off[0] = 0
    yearless = 0
    same = 1
    h0s = 0
    h0e = 0
    j = 0
    pi = 0
    po = 0
    for i in range(len(stamp)):
        if stamp[i] < 0:
            continue
        c = cols[i]
        rows[j] = i
        naive[j] = stamp[i]
        dur[j] = c[0]
        proto[j] = c[1]
        in_port[j] = c[4]
        out_port[j] = c[7]
        for p in range(c[2], c[3]):
            in_data[pi] = buf[p]
            pi += 1
        in_off[j + 1] = pi
        for p in range(c[5], c[6]):
            out_data[po] = buf[p]
            po += 1
        out_off[j + 1] = po
        if c[10] == 0:
            yearless += 1
        if j == 0:
            h0s = c[8]
            h0e = c[9]
        elif same:
            if c[9] - c[8] != h0e - h0s:
                same = 0
            else:
                for q in range(c[9] - c[8]):
                    if buf[c[8] + q] != buf[h0s + q]:
                        same = 0
                        break
        j += 1
    if same:
        host_off = np.zeros(1, dtype=np.int32)
        host_data = np.empty(0, dtype=np.uint8)
        host_valid = np.empty(0, dtype=np.uint8)
    else:
        total = 0
        for i in range(len(stamp)):
            if stamp[i] >= 0:
                total += cols[i][9] - cols[i][8]
        host_off = np.empty(m + 1, dtype=np.int32)
        host_data = np.empty(total, dtype=np.uint8)
        host_valid = np.empty(m, dtype=np.uint8)
        host_off[0] = 0
        ph = 0
        for r in range(m):
            c = cols[rows[r]]
            for p in range(c[8], c[9]):
                host_data[ph] = buf[p]
                ph += 1
            host_off[r + 1] = ph
            host_valid[r] = 1 if c[9] > c[8] else 0
    return (
        rows, naive, dur, proto, in_port, out_port, in_off, in_data[:pi], out_off,
        out_data[:po], host_off, host_data, host_valid, yearless, h0e - h0s,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Python side


def parse_fast(
    data: bytes | memoryview,
    starts: np.ndarray,
    ends: np.ndarray,
    usable: np.ndarray | None = None,
    default_year: int | None = None,
) -> tuple[FastNat, np.ndarray]:
    """Read the lines (byte ranges [starts, ends) of ``data``) that have the usual shape.

    Returns the records read and a per-line mask of the lines taken (the others are for the
    regex path). ``usable`` masks lines already known to be unusable (invalid UTF-8);
    ``default_year`` is the year for stamps without one (None: such lines are not taken)."""
    n = len(starts)
    buf = np.frombuffer(data, dtype=np.uint8) if len(data) else np.zeros(0, dtype=np.uint8)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    use = np.ones(n, dtype=np.bool_) if usable is None else np.ascontiguousarray(usable, np.bool_)
    stamp = np.empty(n, dtype=np.int64)
    # positions in the chunk fit 32 bits (a chunk is a read block of 32 MB and a line)
    cols = np.empty((n, 11), dtype=np.int32 if len(buf) < 2**31 - 1 else np.int64)
    year = int(default_year) if default_year is not None else 0
    if n >= THREAD_MIN_LINES and WORKERS > 1:
        step = -(-n // WORKERS)
        bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(
                pool.map(
                    lambda b: _scan(
                        buf, starts, ends, use, b[0], b[1], year, _CUMDAYS, stamp, cols
                    ),
                    bounds,
                )
            )
    else:
        _scan(buf, starts, ends, use, 0, n, year, _CUMDAYS, stamp, cols)
    (
        rows, naive, dur, proto, in_port, out_port, in_off, in_data, out_off, out_data,
        host_off, host_data, host_valid, yearless, host_len,
    ) = _gather(buf, stamp, cols)  # fmt: skip
    m = len(rows)
    if len(host_off) == 1:  # one host for every line (or none)
        if m and host_len:
            hs = int(cols[rows[0], 8])
            value = bytes(data[hs : hs + host_len]).decode("ascii")
            host = pa.repeat(pa.scalar(value, pa.string()), m)
        else:
            host = pa.nulls(m, pa.string())
    else:
        validity = pa.array(host_valid.view(np.bool_)).buffers()[1]
        host = pa.StringArray.from_buffers(
            m, pa.py_buffer(host_off), pa.py_buffer(host_data), validity
        )
    fast = FastNat(
        rows=rows,
        naive_us=naive,
        duration_s=dur,
        proto=proto,
        in_port=in_port,
        out_port=out_port,
        in_ip=pa.StringArray.from_buffers(m, pa.py_buffer(in_off), pa.py_buffer(in_data)),
        out_ip=pa.StringArray.from_buffers(m, pa.py_buffer(out_off), pa.py_buffer(out_data)),
        host=host,
        yearless=int(yearless),
    )
    return fast, stamp >= 0
