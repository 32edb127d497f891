"""Shared machinery for the bulk parsers: reading plain or gzip files in line chunks,
vectorised field checks (addresses, ports, civil times, zones) and building record tables.

Everything here works on whole Arrow/NumPy columns; the only Python loops run over the
unique values of a column (address canonicalisation) or over lines already known to be bad.
"""

from __future__ import annotations

import bisect
import gzip
import ipaddress
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailguard.traffic.model import RECORD_SCHEMA, BadLine, FormatError, ParseOptions, RecordKind

READ_BLOCK = 32 * 1024 * 1024
# A gzip file up to this compressed size is checked end to end before the first batch is
# yielded, so a cut-short archive is refused before anything of it reaches the store. Larger
# archives are streamed: a FormatError may then come after some batches, and the caller must
# discard what it staged for that file (see parsers/__init__.py).
GZIP_PREVERIFY_LIMIT = 64 * 1024 * 1024
HEAD_BYTES = 64 * 1024

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTH_SET = pa.array(MONTHS)

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_STRICT_V4 = r"^" + _OCTET + r"(\." + _OCTET + r"){3}$"
_FIXED_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")

BoundaryFinder = Callable[[bytes | bytearray, int], int]


# ---------------------------------------------------------------------------------------------
# Reading


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open(path: Path) -> IO[bytes]:
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _gzip_errors() -> tuple[type[BaseException], ...]:
    return (EOFError, gzip.BadGzipFile, zlib.error, OSError)


def verify_gzip(path: Path) -> None:
    """Read a gzip file to its end, raising FormatError if it is cut short or corrupt."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(READ_BLOCK):
                pass
    except _gzip_errors() as exc:
        raise FormatError(f"{path}: the gzip stream is damaged or cut short ({exc})") from exc


def read_head(path: Path, max_lines: int = 20) -> list[str]:
    """The first lines of a plain or gzip file, decoded leniently (for detection)."""
    try:
        with _open(path) as fh:
            data = fh.read(HEAD_BYTES)
    except _gzip_errors() as exc:
        raise FormatError(f"{path}: cannot read the start of the file ({exc})") from exc
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(data) == HEAD_BYTES and lines:
        lines = lines[:-1]  # the last one may be cut
    return lines[:max_lines]


def check_text_encoding(path: Path, head: bytes) -> None:
    """Refuse UTF-16/32 and binary files up front: they would otherwise be all bad lines."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormatError(
            f"{path}: the file is UTF-16 (byte order mark found); convert it to UTF-8"
        )
    if b"\x00" in head[:4096]:
        raise FormatError(
            f"{path}: the file contains NUL bytes (UTF-16/32 or binary), not UTF-8 text;"
            " convert it to UTF-8"
        )


@dataclass
class LineChunk:
    """Lines ``first_line .. first_line + len(chunk) - 1`` of a file (1-based).

    ``lines`` (the text without line ends, invalid UTF-8 lines blanked) is built on first use,
    so a parser with a byte-level fast path over ``data``/``starts``/``ends`` never pays for it.
    """

    first_line: int
    raw: pa.Array  # string values still ending with their newline; invalid UTF-8 not blanked
    usable: np.ndarray  # bool: False where the line was not valid UTF-8 (already reported)
    bad: list[BadLine] = field(default_factory=list)
    # the chunk's bytes, for parsers with a byte-level fast path (a view of the reader's block)
    data: bytes | memoryview = b""
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _lines: pa.Array | None = None

    @property
    def lines(self) -> pa.Array:
        if self._lines is None:
            trimmed = pc.ascii_rtrim(self.raw, characters="\r\n")
            if not self.usable.all():
                trimmed = pc.if_else(pa.array(self.usable), trimmed, pa.scalar("", trimmed.type))
            self._lines = trimmed if trimmed.type == pa.string() else trimmed.cast(pa.string())
        return self._lines

    def texts(self, idx: np.ndarray) -> pa.Array:
        """``lines.take(idx)`` without building the text of the other lines."""
        if self._lines is not None:
            return self._lines.take(pa.array(idx, pa.int64()))
        picked = pc.ascii_rtrim(self.raw.take(pa.array(idx, pa.int64())), characters="\r\n")
        usable = self.usable[idx]
        if not usable.all():
            picked = pc.if_else(pa.array(usable), picked, pa.scalar("", picked.type))
        return picked if picked.type == pa.string() else picked.cast(pa.string())

    def __len__(self) -> int:
        return len(self.raw)


def default_boundary(buf: bytes | bytearray, limit: int) -> int:
    return limit


def blank_line_boundary(buf: bytes | bytearray, limit: int) -> int:
    """Cut before the blank line that ends the last complete block before ``limit``."""
    pos = buf.rfind(b"\n\n", 0, limit)
    return pos + 1 if pos >= 0 else limit


def _lines_from_bytes(
    data: bytes | memoryview, newlines: np.ndarray | None = None
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Split bytes into an Arrow string column of lines (each still ending with its newline; not
    validated), with each line's byte start and end (exclusive, without the newline/CR)."""
    if not data:
        empty = np.zeros(0, dtype=np.int64)
        return pa.array([], pa.string()), empty, empty
    view = np.frombuffer(data, dtype=np.uint8)
    if newlines is None:
        newlines = np.flatnonzero(view == 10)
    n = len(newlines) + (0 if view[-1] == 10 else 1)
    big = len(data) >= 2**31 - 1
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1 : len(newlines) + 1] = newlines + 1
    if n > len(newlines):
        offsets[-1] = len(data)
    starts = offsets[:-1]
    ends = offsets[1:].copy()
    ends[: len(newlines)] -= 1
    has_cr = ends > starts
    has_cr[has_cr] = view[ends[has_cr] - 1] == 13
    ends[has_cr] -= 1
    arr_type = pa.large_string() if big else pa.string()
    off_buf = pa.py_buffer(offsets if big else offsets.astype(np.int32))
    raw = pa.Array.from_buffers(arr_type, n, [None, off_buf, pa.py_buffer(data)])
    return raw, starts, ends


def _find_invalid_utf8(data: bytes | memoryview, starts: Sequence[int]) -> list[int]:
    """Indices of the lines (given their byte starts) that are not valid UTF-8."""
    data = bytes(data)
    bad: list[int] = []
    pos = 0

    while pos < len(data):
        try:
            data[pos:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            line = bisect.bisect_right(starts, at) - 1
            bad.append(line)
            nxt = data.find(b"\n", at)
            if nxt < 0:
                break
            pos = nxt + 1
    return bad


def iter_line_chunks(
    path: Path,
    options: ParseOptions,
    boundary: BoundaryFinder = default_boundary,
) -> Iterator[LineChunk]:
    """Yield the file's lines in chunks of at most ``options.batch_lines`` lines.

    ``boundary(buf, limit)`` may move a cut back (never forward) so that multi-line records are
    not split between chunks. Raises FormatError for an unreadable file (damaged gzip,
    UTF-16/binary content).
    """
    if options.batch_lines < 1:
        raise ValueError(f"batch_lines must be at least 1, not {options.batch_lines}")
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    gz = is_gzip(path)
    if gz and path.stat().st_size <= GZIP_PREVERIFY_LIMIT:
        verify_gzip(path)
    line_no = 1
    carry = b""
    first = True
    is_newline = np.zeros(0, dtype=bool)  # reused between blocks (no fresh pages per block)
    # a small file gets a buffer of its size (+1 to see its end), not a whole block; a gzip
    # file is taken to expand at most 16 times in its first block (only the block size
    # depends on it: a longer stream is read on in further blocks)
    on_disk = path.stat().st_size
    expect = min(READ_BLOCK, (on_disk * 16 + HEAD_BYTES) if gz else on_disk + 1)
    try:
        with _open(path) as fh:
            eof = False
            while not eof or carry:
                if not eof:
                    buf, size, eof = _read_block(fh, carry, expect)
                    expect = READ_BLOCK
                else:
                    buf, size = bytearray(carry), len(carry)
                if first and size:
                    check_text_encoding(path, bytes(buf[: min(size, 4096)]))
                    first = False
                if not size:
                    break
                if not eof:
                    cut = buf.rfind(b"\n", 0, size) + 1
                    if cut == 0:
                        carry = bytes(buf[:size])
                        continue
                else:
                    cut = size
                # limit the chunk to batch_lines lines
                view = np.frombuffer(buf, dtype=np.uint8, count=cut)
                if len(is_newline) < cut:
                    is_newline = np.empty(cut + cut // 8, dtype=bool)
                newlines = np.flatnonzero(np.equal(view, 10, out=is_newline[:cut]))
                n_lines = len(newlines) + (1 if cut and buf[cut - 1] != 10 else 0)
                if n_lines > options.batch_lines:
                    limit = int(newlines[options.batch_lines - 1]) + 1
                    moved = boundary(buf, limit)
                    cut = moved if 0 < moved <= limit else limit
                elif not eof:
                    moved = boundary(buf, cut)
                    if 0 < moved <= cut:
                        cut = moved
                # the chunk is a view of this block's buffer (not copied); the rest is carried
                chunk_bytes, carry = memoryview(buf)[:cut], bytes(buf[cut:size])
                chunk_newlines = newlines[: np.searchsorted(newlines, cut)]
                chunk = _make_chunk(chunk_bytes, line_no, chunk_newlines)
                line_no += len(chunk)
                yield chunk
                if eof and not carry:
                    break
    except FormatError:
        raise
    except _gzip_errors() as exc:
        raise FormatError(
            f"{path}: the file could not be read to its end ({exc}); a cut-short gzip is"
            " refused as a whole"
        ) from exc


def _read_block(fh: IO[bytes], carry: bytes, expect: int) -> tuple[bytearray, int, bool]:
    """A fresh buffer holding ``carry`` and then up to ``expect`` bytes read straight into it:
    (buffer, bytes used, end of file reached)."""
    buf = bytearray(len(carry) + expect)
    buf[: len(carry)] = carry
    size = len(carry)
    eof = False
    with memoryview(buf) as view:
        while size < len(buf):
            got = fh.readinto(view[size:])  # type: ignore[attr-defined]
            if not got:
                eof = True
                break
            size += got
    return buf, size, eof


def _make_chunk(
    data: bytes | memoryview, first_line: int, newlines: np.ndarray | None = None
) -> LineChunk:
    raw, line_starts, line_ends = _lines_from_bytes(data, newlines)
    n = len(raw)
    usable = np.ones(n, dtype=bool)
    bad: list[BadLine] = []
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:
        view = np.frombuffer(data, dtype=np.uint8)
        starts = [0, *(np.flatnonzero(view == 10) + 1).tolist()]
        as_binary = raw.view(pa.binary() if raw.type == pa.string() else pa.large_binary())
        for i in _find_invalid_utf8(data, starts):
            usable[i] = False
            text = (as_binary[i].as_py() or b"").rstrip(b"\r\n")
            bad.append(
                BadLine(
                    first_line + i,
                    "not valid UTF-8 (wrong encoding, e.g. latin-1?)",
                    text.decode("utf-8", errors="replace")[:200],
                )
            )
    return LineChunk(first_line, raw, usable, bad, data, line_starts, line_ends)


def all_text(path: Path) -> bytes:
    """The whole file as bytes (plain or gzip), with the same errors as iter_line_chunks."""
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        with _open(path) as fh:
            data = fh.read()
    except _gzip_errors() as exc:
        raise FormatError(f"{path}: the gzip stream is damaged or cut short ({exc})") from exc
    check_text_encoding(path, data[:4096])
    return data


# ---------------------------------------------------------------------------------------------
# Columns


def to_numpy_str_ints(arr: pa.Array, default: int = 0) -> np.ndarray:
    """Cast a column of digit strings (or nulls) to int64; nulls and non-digits become ``default``.
    Values over 18 digits are clamped so that range checks fail cleanly."""
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    arr = pc.if_else(pc.greater(pc.utf8_length(arr), 18), "999999999999999999", arr)
    ok = pc.match_substring_regex(arr, r"^-?[0-9]+$")
    cleaned = pc.if_else(pc.fill_null(ok, False), arr, str(default))
    return np.asarray(pc.cast(cleaned, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def valid_mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def nonempty(arr: pa.Array) -> np.ndarray:
    """True where the value is present and not empty."""
    res = pc.fill_null(pc.greater(pc.utf8_length(arr), 0), False)
    return np.asarray(res.to_numpy(zero_copy_only=False), dtype=bool)


def canonical_ips(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Canonical text of IPv4/IPv6 addresses, and a mask of values that are valid addresses.

    Invalid values come back as null. Plain dotted-quad IPv4 is checked by regex; everything else
    is canonicalised through ``ipaddress`` once per distinct value.
    """
    n = len(arr)
    if n == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=bool)
    strict = np.asarray(
        pc.fill_null(pc.match_substring_regex(arr, _STRICT_V4), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    present = valid_mask(arr)
    rest = present & ~strict
    if not rest.any():
        out = arr if arr.type == pa.string() else arr.cast(pa.string())
        return pc.if_else(pa.array(strict), out, pa.scalar(None, pa.string())), strict
    rest_vals = pc.filter(arr, pa.array(rest))
    uniques = pc.unique(rest_vals)
    canon: list[str | None] = []
    for value in uniques.to_pylist():
        canon.append(_canon_one(value))
    index = pc.index_in(arr, value_set=uniques)
    mapped = pc.take(pa.array(canon, pa.string()), index)
    out = pc.if_else(pa.array(strict), arr.cast(pa.string()), mapped)
    valid = strict | valid_mask(mapped)
    return out, valid


def _canon_one(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def check_ports(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mask of present port values outside 0..65535."""
    return present & ((values < 0) | (values > 65535))


_CUMDAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)


def month_numbers(names: pa.Array) -> np.ndarray:
    """English month abbreviations (``Jan`` to ``Dec``) as 1 to 12, and 0 for anything else
    (which ``civil_to_epoch_us`` then marks as an impossible date)."""
    index = pc.fill_null(pc.index_in(names, value_set=MONTH_SET), -1)
    return np.asarray(index.to_numpy(zero_copy_only=False)) + 1


def bsd_civil_us(
    f: dict[str, pa.Array], year: np.ndarray, micro: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The BSD syslog stamp fields ``mon``, ``day``, ``hh``, ``mi``, ``ss`` (and ``micro``) in
    ``year`` as naive microseconds since 1970 (no zone applied), with the mask of impossible
    dates and times."""
    return civil_to_epoch_us(
        year,
        month_numbers(f["mon"]),
        to_numpy_str_ints(f["day"]),
        to_numpy_str_ints(f["hh"]),
        to_numpy_str_ints(f["mi"]),
        to_numpy_str_ints(f["ss"]),
        micro,
    )


def civil_to_epoch_us(
    year: np.ndarray,
    month: np.ndarray,
    day: np.ndarray,
    hour: np.ndarray,
    minute: np.ndarray,
    second: np.ndarray,
    micro: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since 1970 (naive, as if UTC) and a mask of impossible dates/times."""
    year = year.astype(np.int64)
    month = month.astype(np.int64)
    day = day.astype(np.int64)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    m0 = np.clip(month - 1, 0, 11)
    dim = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)[m0]
    dim = dim + ((m0 == 1) & leap)
    bad = (
        ~month_ok
        | (day < 1)
        | (day > dim)
        | (year < 1970)
        | (year > 2200)
        | (hour < 0)
        | (hour > 23)
        | (minute < 0)
        | (minute > 59)
        | (second < 0)
        | (second > 59)
    )
    y = year - 1970
    # days before this year since 1970
    days = y * 365 + ((year - 1969) // 4) - ((year - 1901) // 100) + ((year - 1601) // 400)
    days = days + _CUMDAYS[m0] + ((m0 > 1) & leap) + (day - 1)
    secs = days * 86400 + hour.astype(np.int64) * 3600 + minute.astype(np.int64) * 60
    secs = secs + second.astype(np.int64)
    us = secs * 1_000_000
    if micro is not None:
        us = us + micro.astype(np.int64)
    return np.where(bad, 0, us), bad


def fraction_to_us(arr: pa.Array) -> np.ndarray:
    """'184' -> 184000 microseconds; null or empty -> 0 (digits beyond 6 are cut)."""
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    filled = pc.fill_null(arr, "")
    padded = pc.utf8_rpad(pc.utf8_slice_codeunits(filled, 0, 6), width=6, padding="0")
    return to_numpy_str_ints(padded)


def offset_seconds(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Per-row offsets like 'Z', '+01:00', '-0700' -> (seconds east of UTC, present mask,
    canonical '+HH:MM' / 'Z' text). Null or empty means no zone in the line."""
    filled = pc.fill_null(arr, "")
    present = nonempty(filled)
    parts = pc.extract_regex(filled, r"^(?P<sign>[+-])(?P<hh>\d\d):?(?P<mm>\d\d)$")
    sign = np.where(
        np.asarray(pc.fill_null(pc.equal(pc.struct_field(parts, "sign"), "-"), False)), -1, 1
    )
    hh = to_numpy_str_ints(pc.struct_field(parts, "hh"))
    mm = to_numpy_str_ints(pc.struct_field(parts, "mm"))
    secs = sign * (hh * 3600 + mm * 60)
    is_z = np.asarray(pc.fill_null(pc.equal(filled, "Z"), False), dtype=bool)
    secs = np.where(is_z, 0, secs)
    canon = pc.if_else(
        pa.array(is_z),
        "Z",
        pc.binary_join_element_wise(
            pc.struct_field(parts, "sign"),
            pc.struct_field(parts, "hh"),
            ":",
            pc.struct_field(parts, "mm"),
            "",
        ),
    )
    return secs, present, pc.if_else(pa.array(present), canon, pa.scalar(None, pa.string()))


def validate_tz(tz: str) -> str:
    """An IANA zone name or a fixed offset, canonical; ValueError with the bad value otherwise."""
    text = tz.strip()
    m = _FIXED_OFFSET.match(text)
    if m:
        sign, hh, mm = m.groups()
        if int(hh) > 23 or int(mm) > 59:
            raise FormatError(f"time zone offset {tz!r} is out of range")
        return f"{sign}{hh}:{mm}"
    if text.upper() in {"UTC", "Z", "GMT"}:
        return "UTC"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FormatError(
            f"unknown time zone {tz!r}: give an IANA name such as Europe/Amsterdam or an offset"
            " such as +01:00"
        ) from exc
    return text


def localize(naive_us: np.ndarray, tz: str, notes: list[str]) -> np.ndarray:
    """Interpret naive local microseconds in ``tz`` (validated) and return UTC microseconds.

    Times in a DST fold (repeated wall-clock times) take the earlier instant. Times in a DST gap
    (skipped wall-clock times, which a clock that missed the change still writes) are read with
    the offset in force before the change, as Python's ``zoneinfo`` reads them with ``fold=0``
    (PEP 495): 02:30 on a spring-forward night at UTC+1 is 01:30 UTC. So distinct log times stay
    distinct and in order, instead of collapsing onto the change. Both are counted in
    ``notes``."""
    m = _FIXED_OFFSET.match(tz)
    if m:
        sign, hh, mm = m.groups()
        off = (int(hh) * 3600 + int(mm) * 60) * (1 if sign == "+" else -1)
        return naive_us - off * 1_000_000
    if tz == "UTC":
        return naive_us
    offset = _constant_offset_us(naive_us, tz)
    if offset is not None:
        return naive_us - offset
    ts = pa.array(naive_us, pa.timestamp("us"))
    early = pc.assume_timezone(ts, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(ts, timezone=tz, ambiguous="latest", nonexistent="latest")
    e = np.asarray(early.cast(pa.int64()).to_numpy(zero_copy_only=False))
    la = np.asarray(late.cast(pa.int64()).to_numpy(zero_copy_only=False))
    changed = e != la
    folds = int(np.count_nonzero(changed))
    if folds:
        # in a gap, "earliest" is the last instant before the change, whose wall-clock time is
        # not the time asked for; its offset is the one in force before the change
        rows = np.flatnonzero(changed)
        wall = pc.local_timestamp(early.take(pa.array(rows)))
        wall_us = np.asarray(wall.cast(pa.int64()).to_numpy(zero_copy_only=False))
        gap = wall_us != naive_us[rows]
        if gap.any():
            e = e.copy()
            g = rows[gap]
            e[g] = naive_us[g] - (wall_us[gap] - e[g])
        skipped = int(np.count_nonzero(gap))
        notes.append(
            f"{folds} local times fall in a daylight-saving change of {tz}: the earlier instant"
            f" was taken for {folds - skipped} repeated times, and the {skipped} skipped times"
            " were read with the offset in force before the change"
        )
    return e


# a batch spanning at most this long is checked hour by hour for a change of offset
CONSTANT_OFFSET_SPAN_US = 31 * 24 * 3_600_000_000


def _constant_offset_us(naive_us: np.ndarray, tz: str) -> int | None:
    """The zone's UTC offset when it is the same for every time in the batch (no
    daylight-saving change between the earliest and the latest), else None.

    A log batch covers minutes to days, so its times usually share one offset: then one
    subtraction replaces the zone lookup per row. The offset is read at every hour from the
    earliest to the latest time (a zone changes its offset at most once within an hour) and
    at both ends, each both ways round (earliest and latest instant for a repeated time)."""
    if len(naive_us) == 0:
        return None
    lo, hi = int(naive_us.min()), int(naive_us.max())
    if hi - lo > CONSTANT_OFFSET_SPAN_US:
        return None
    probes = np.append(np.arange(lo, hi, 3_600_000_000, dtype=np.int64), hi)
    ts = pa.array(probes, pa.timestamp("us"))
    early = pc.assume_timezone(ts, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(ts, timezone=tz, ambiguous="latest", nonexistent="latest")
    offsets = probes - np.asarray(early.cast(pa.int64()).to_numpy(zero_copy_only=False))
    same = probes - np.asarray(late.cast(pa.int64()).to_numpy(zero_copy_only=False))
    if (offsets == offsets[0]).all() and (same == offsets[0]).all():
        return int(offsets[0])
    return None


def apply_skew(us: np.ndarray, skew: timedelta) -> np.ndarray:
    if not skew:
        return us
    return us - int(skew / timedelta(microseconds=1))


def ts_array(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(us.astype(np.int64), pa.int64(), mask=mask)
    return arr.cast(pa.timestamp("us", tz="UTC"))


# ---------------------------------------------------------------------------------------------
# Bad lines and tables


@dataclass
class Check:
    """Rows where ``mask`` is True are bad for ``reason`` (``values`` names the bad value)."""

    reason: str
    mask: np.ndarray
    values: pa.Array | np.ndarray | None = None


def collect_bad(
    checks: Sequence[Check],
    lines: pa.Array | LineChunk,
    first_line: int,
    row_lines: np.ndarray | None = None,
) -> tuple[np.ndarray, list[BadLine]]:
    """Combine checks (first matching reason wins) into a bad mask and BadLine reports.

    ``row_lines`` maps rows to their index in ``lines`` when rows are not lines (blocks)."""
    n = len(checks[0].mask) if checks else 0
    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    for check in checks:
        fresh = check.mask & ~bad
        if not fresh.any():
            continue
        idx = np.flatnonzero(fresh)
        if check.values is not None:
            values = (
                check.values.take(pa.array(idx)).to_pylist()
                if isinstance(check.values, pa.Array)
                else check.values[idx].tolist()
            )
            for i, v in zip(idx.tolist(), values, strict=True):
                reasons[i] = f"{check.reason}: {v!r}"
        else:
            for i in idx.tolist():
                reasons[i] = check.reason
        bad |= fresh
    if not reasons:
        return bad, []
    order = sorted(reasons)
    line_idx = np.asarray(order) if row_lines is None else row_lines[np.asarray(order)]
    if isinstance(lines, LineChunk):  # the text of these lines only
        texts = lines.texts(line_idx).to_pylist()
    else:
        texts = lines.take(pa.array(line_idx)).to_pylist()
    out = [
        BadLine(first_line + int(li), reasons[i], (t or "")[:200])
        for i, li, t in zip(order, line_idx.tolist(), texts, strict=True)
    ]
    return bad, out


def build_table(
    kind: RecordKind | pa.Array,
    n: int,
    source_file: str,
    source_line: np.ndarray,
    columns: dict[str, Any],
) -> pa.Table:
    """A RECORD_SCHEMA table; missing columns are null, numpy columns are converted."""
    arrays: list[pa.Array] = []
    for f in RECORD_SCHEMA:
        if f.name == "kind":
            if isinstance(kind, pa.Array):
                arrays.append(kind.cast(pa.string()))
            else:
                arrays.append(pa.repeat(pa.scalar(kind.value, pa.string()), n))
        elif f.name == "source_file":
            arrays.append(pa.repeat(pa.scalar(source_file, pa.string()), n))
        elif f.name == "source_line":
            arrays.append(pa.array(source_line.astype(np.int64), pa.int64()))
        elif f.name in columns and columns[f.name] is not None:
            value = columns[f.name]
            if isinstance(value, str):
                arrays.append(pa.repeat(pa.scalar(value, pa.string()), n))
            elif isinstance(value, np.ndarray):
                arrays.append(pa.array(value).cast(f.type))
            else:
                arrays.append(value.cast(f.type) if value.type != f.type else value)
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)


def empty_table() -> pa.Table:
    return RECORD_SCHEMA.empty_table()


def source_name(path: Path, options: ParseOptions) -> str:
    return options.source_name or str(path)


def masked_int(values: np.ndarray, present: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type_, mask=~present)


def take_rows(arr: pa.Array, keep: np.ndarray) -> pa.Array:
    return arr.filter(pa.array(keep))


def struct_fields(parts: pa.Array, names: Sequence[str]) -> dict[str, pa.Array]:
    """Struct fields of a regex extraction, with the rows that did not match set to null."""
    out = {}
    valid = pc.is_valid(parts)
    for name in names:
        col = pc.struct_field(parts, name)
        out[name] = pc.if_else(valid, col, pa.scalar(None, pa.string()))
    return out


def empty_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def wrong_format_error(name: str, path: Path, first_lines: int, hint: str = "") -> FormatError:
    return FormatError(
        f"{path} does not look like {name}: none of its first {first_lines} lines is a {name}"
        f" line{hint}. Name the right format or let it be detected."
    )


# ---------------------------------------------------------------------------------------------
# Time stamps shared by several formats

_ISO = (
    r"^(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ](?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d{1,9}))?\s*(?P<z>Z|z|UTC|[+-]\d\d:?\d\d)?$"
)


@dataclass
class Stamps:
    """Parsed time stamps: naive local microseconds, and the zone each line gave (if any)."""

    naive_us: np.ndarray
    impossible: np.ndarray  # present but not a real date/time (or not parseable)
    zone_given: np.ndarray
    offset_s: np.ndarray
    zone_text: pa.Array  # canonical '+01:00' / 'Z', null where none


def parse_iso(arr: pa.Array) -> Stamps:
    """ISO 8601 / RFC 3339 stamps, with optional fraction and zone."""
    filled = pc.fill_null(arr, "")
    parts = pc.extract_regex(filled, _ISO)
    matched = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
    f = struct_fields(parts, ["y", "mo", "d", "h", "mi", "s", "f", "z"])
    naive, impossible = civil_to_epoch_us(
        to_numpy_str_ints(f["y"]),
        to_numpy_str_ints(f["mo"]),
        to_numpy_str_ints(f["d"]),
        to_numpy_str_ints(f["h"]),
        to_numpy_str_ints(f["mi"]),
        to_numpy_str_ints(f["s"]),
        fraction_to_us(f["f"]),
    )
    z = pc.if_else(pc.is_in(f["z"], value_set=pa.array(["z", "UTC"])), "Z", f["z"])
    offs, given, text = offset_seconds(z)
    return Stamps(naive, impossible | ~matched, given & matched, offs, text)


def parse_epoch(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds with optional fraction -> (microseconds, bad mask)."""
    filled = pc.fill_null(arr, "")
    parts = pc.extract_regex(filled, r"^(?P<s>\d{1,11})(?:\.(?P<f>\d{1,9}))?$")
    ok = np.asarray(pc.is_valid(parts).to_numpy(zero_copy_only=False), dtype=bool)
    f = struct_fields(parts, ["s", "f"])
    us = to_numpy_str_ints(f["s"]) * 1_000_000 + fraction_to_us(f["f"])
    return np.where(ok, us, 0), ~ok


def resolve_times(
    stamps: Stamps,
    needed: np.ndarray,
    options: ParseOptions,
    notes: list[str],
    where: str,
    first_line_of: Callable[[int], int],
) -> tuple[np.ndarray, pa.Array]:
    """UTC microseconds and source_tz per row: the line's own zone where it has one, else
    ``options.tz`` (FormatError naming the first such line if none was given)."""
    need_tz = needed & ~stamps.zone_given & ~stamps.impossible
    utc = stamps.naive_us - stamps.offset_s * 1_000_000
    source_tz = stamps.zone_text
    if need_tz.any():
        if options.tz is None:
            row = int(np.flatnonzero(need_tz)[0])
            raise FormatError(
                f"{where}: line {first_line_of(row)} has a time stamp without a zone; pass --tz"
                " (ParseOptions.tz), e.g. --tz Europe/Amsterdam or --tz +01:00"
            )
        tz = validate_tz(options.tz)
        local = localize(stamps.naive_us, tz, notes)
        utc = np.where(need_tz, local, utc)
        source_tz = pc.if_else(pa.array(need_tz), pa.scalar(tz, pa.string()), source_tz)
        note = f"{int(need_tz.sum())} stamps without a zone read as local time in {tz}"
        notes.append(note)
    return apply_skew(utc, options.clock_skew), source_tz


PROTOCOL_NUMBERS = {
    "1": "icmp",
    "6": "tcp",
    "17": "udp",
    "47": "gre",
    "50": "esp",
    "58": "ipv6-icmp",
    "132": "sctp",
}


def protocol_names(ids: pa.Array) -> pa.Array:
    """IANA protocol numbers -> lower-case names (the number itself when not listed)."""
    keys = pa.array(list(PROTOCOL_NUMBERS))
    names = pa.array(list(PROTOCOL_NUMBERS.values()))
    idx = pc.index_in(ids, value_set=keys)
    return pc.coalesce(pc.take(names, idx), ids)


# ---------------------------------------------------------------------------------------------
# Multi-line records (blocks)


def block_ids(is_start: np.ndarray) -> np.ndarray:
    """For each line, the 1-based number of the block it belongs to (0 before the first)."""
    return np.cumsum(is_start.astype(np.int64))


def per_block(block: np.ndarray, mask: np.ndarray, n_blocks: int) -> np.ndarray:
    """For each block, the index of the last line in it where ``mask`` holds (-1 if none)."""
    out = np.full(n_blocks + 1, -1, dtype=np.int64)
    idx = np.flatnonzero(mask & (block > 0))
    out[block[idx]] = idx  # later lines overwrite earlier ones: the last one wins
    return out[1:]


def gather(values: pa.Array, line_idx: np.ndarray) -> pa.Array:
    """values[line_idx] with null where line_idx is -1."""
    return values.take(pa.array(np.maximum(line_idx, 0), pa.int64(), mask=line_idx < 0))


def string_boundary(marker: bytes) -> BoundaryFinder:
    """Cut chunks just before the last line starting with ``marker`` before the limit."""

    def find(buf: bytes | bytearray, limit: int) -> int:
        pos = buf.rfind(b"\n" + marker, 0, limit)
        return pos + 1 if pos >= 0 else limit

    return find


MARKER_HEAD_LINES = 1000


def refuse_if_no_marker(chunk: LineChunk, marker_regex: str, name: str, path: Path) -> None:
    """FormatError when the first chunk has content but not one record of the format."""
    head = min(len(chunk), MARKER_HEAD_LINES)
    if head < len(chunk) and chunk.usable[:head].all():
        # a file of the format shows its marker early: look at the first lines (all valid
        # UTF-8) before decoding and searching the whole chunk
        first = pc.ascii_rtrim(chunk.raw.slice(0, head), characters="\r\n")
        if pc.any(pc.match_substring_regex(first, marker_regex)).as_py():
            return
    lines = chunk.lines
    content = nonempty(pc.utf8_trim_whitespace(lines)) & chunk.usable
    comment = np.asarray(
        pc.fill_null(pc.starts_with(pc.utf8_ltrim_whitespace(lines), "#"), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    if not (content & ~comment).any():
        return
    found = pc.any(pc.match_substring_regex(lines, marker_regex)).as_py()
    if not found:
        raise wrong_format_error(name, path, len(lines))
