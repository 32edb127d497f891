"""The compiled ASA scanner (``_asa_fast``) against the full grammar (the regex path), field for
field, on generated lines: the usual shape with every variation it takes (host or not, tag,
year or not, 9-character time, three protocols, static/dynamic, port and octet extremes) and
subtly bad or unusual shapes it must leave to the regex path (leading zeros, 256, port 65536,
a 4-digit day, a missing or extra duration, tabs, double and trailing spaces, non-UTF-8 and
non-ASCII bytes, impossible dates, fractions, ``<PRI>``, FTD, ``(user)``, durations with
minutes or seconds over 59), with CRLF line ends,
files without a final newline and lines cut at the reader's block ends."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_testkit import parse

from trailguard.traffic.model import FormatError
from trailguard.traffic.parsers import _asa_fast, _common, cisco_asa

MONTHS = _common.MONTHS


def _good(rng: random.Random) -> str:
    """A line of the usual shape, with one of the variations the scanner takes."""
    mon = rng.choice(MONTHS)
    day = rng.randint(1, 28)
    day_text = str(day) if rng.random() < 0.5 else f"{day:2d}".replace(" ", "")
    year = rng.choice(["2026 ", "2024 ", "1970 ", "2200 ", ""])
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    clock += ":" if rng.random() < 0.2 else ""
    prefix = rng.choice(["cgnat-01 ", "edge.example.net ", "", "asa: ", "fw-2 CiscoASA[99]: "])
    which = rng.choice([1, 2])
    proto = rng.choice(["TCP", "UDP", "ICMP"])
    kind = rng.choice(["dynamic", "static"])

    def ip(first: str) -> str:
        return ".".join([first, *(str(rng.choice([0, 1, 9, 10, 99, 100, 255])) for _ in range(3))])

    def port() -> int:
        return rng.choice([0, 1, 80, 1024, 65535, rng.randint(0, 65535)])

    inside = f"{rng.choice(['inside', 'in', 'x'])}:{ip('100')}/{port()}"
    outside = f"{rng.choice(['outside', 'o'])}:{ip('203')}/{port()}"
    verb = "Built" if which == 1 else "Teardown"
    line = (
        f"{mon} {day_text} {year}{clock} {prefix}%ASA-{rng.randint(0, 7)}-30501{which}: "
        f"{verb} {kind} {proto} translation from {inside} to {outside}"
    )
    if which == 2:
        line += f" duration {rng.choice(['0', '1', '23', '99999'])}:{rng.randint(0, 59):02d}:"
        line += f"{rng.randint(0, 59):02d}"
    return line


# (old, new) edits that make a good line unusual or bad; the first occurrence is replaced
MUTATIONS: list[tuple[str, str]] = [
    ("inside:100.", "inside:0100."),  # leading zero
    (".255/", ".256/"),
    ("/65535", "/65536"),
    ("/65535", "/0065535"),
    ("/0", "/1234567"),
    (" 2026 ", " 02026 "),
    ("Nov ", "Nov 0017 "),  # a 4-digit day where the year would be
    (" duration ", " duraton "),
    (" duration ", " duration 1"),  # 99999 hours -> 199999: more than the scanner reads
    ("Built", "Teardown"),  # 305011 with the teardown word
    (" static ", "  static "),  # two spaces
    (" TCP ", "\tTCP "),
    (" TCP ", " tcp "),  # the regex path takes any protocol word
    (" UDP ", " GRE "),
    ("cgnat-01", "cgnät-01"),  # non-ASCII host (valid UTF-8)
    ("cgnat-01", "cgnat\x0701"),  # a control byte
    ("%ASA-", "%FTD-"),
    ("%ASA-", "<166>%ASA-"),
    ("inside:", ":"),  # empty interface name
    ("inside:", "inside:x:"),
    ("inside:100.", "inside:[100."),
    (" to ", " (alice) to "),
    (" to ", " (  ) to "),
    ("Feb ", "Feb 30 "),
    ("Jan ", "Jam "),
    (":00:", ":60:"),
    (" 23:", " 24:"),
    ("%ASA-6-", "%ASA-x-"),
    ("-305011:", "-305013:"),
    ("-305012:", "-305012"),
    ("translation", "Translation"),
]


# durations whose minutes or seconds are over 59 (bad lines on both paths), and edge values
BAD_DURATIONS = ["9:99:99", "0:60:00", "0:00:60", "1:59:60", "99999:99:00", "23:61:59"]
EDGE_DURATIONS = ["0:59:59", "99999:59:59", "0:00:00"]


def _with_duration(line: str, rng: random.Random) -> str:
    """The line with another duration value (a teardown only)."""
    if " duration " not in line:
        return line
    head = line.rsplit(" duration ", 1)[0]
    pool = BAD_DURATIONS if rng.random() < 0.7 else EDGE_DURATIONS
    return f"{head} duration {rng.choice(pool)}"


def _mutate(line: str, rng: random.Random) -> str:
    choice = rng.randrange(len(MUTATIONS) + 9)
    if choice == len(MUTATIONS) + 8:
        return _with_duration(line, rng)
    if choice < len(MUTATIONS):
        old, new = MUTATIONS[choice]
        if old in line:
            return line.replace(old, new, 1)
        return line
    if choice == len(MUTATIONS):
        return line + " "  # trailing space
    if choice == len(MUTATIONS) + 1:
        if " duration " in line:
            return line.rsplit(" duration ", 1)[0]
        return line + " duration 0:00:01"
    if choice == len(MUTATIONS) + 2:
        return line.replace(":", ".", 1)[: len(line) // 2]  # cut short
    if choice == len(MUTATIONS) + 3:
        return line.replace(" ", "  ", 1)  # "Nov  7" style
    if choice == len(MUTATIONS) + 4:
        return "  " if rng.random() < 0.5 else ""  # blank lines
    if choice == len(MUTATIONS) + 5:
        return line.replace("%ASA-6-30501", "%ASA-6-10201", 1)  # another message id (skipped)
    if choice == len(MUTATIONS) + 6:
        # a fraction on the clock
        return line.replace(":", "#", 2).replace(" ", ".123 ", 3).replace("#", ":")
    return "not an ASA line"


def _file_bytes(seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    for i in range(count):
        line = _good(rng)
        if i and rng.random() < 0.5:  # the first line shows the format (else it is refused)
            line = _mutate(line, rng)
        data = line.encode("utf-8")
        if rng.random() < 0.03:
            data = data.replace(b"cgnat", b"cg\xe9nat", 1) + b"\xff"  # not UTF-8
        end = b"\r\n" if rng.random() < 0.2 else b"\n"
        out += data
        if i < count - 1 or rng.random() < 0.5:  # the last line may lack its newline
            out += end
    return bytes(out)


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> tuple:
    fast = parse("cisco-asa", path, **options)
    monkeypatch.setattr(cisco_asa, "USE_FAST_PATH", False)
    try:
        slow = parse("cisco-asa", path, **options)
    finally:
        monkeypatch.setattr(cisco_asa, "USE_FAST_PATH", True)
    return fast, slow


def _assert_same(fast: object, slow: object, notes: bool = True) -> None:
    assert fast.table.sort_by("source_line").equals(slow.table.sort_by("source_line"))
    assert [(b.line_no, b.reason, b.text) for b in fast.bad] == [
        (b.line_no, b.reason, b.text) for b in slow.bad
    ]
    assert fast.lines_read == slow.lines_read and fast.skipped == slow.skipped
    if notes:
        assert sorted(set(fast.notes)) == sorted(set(slow.notes))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 400),
    batch=st.integers(1, 50),
    block=st.sampled_from([64, 333, 4096, 32 * 1024 * 1024]),
    tz=st.sampled_from(["UTC", "+05:30", "-08:00"]),
)
def test_compiled_scanner_agrees_with_full_grammar(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    count: int,
    batch: int,
    block: int,
    tz: str,
) -> None:
    path = tmp_path_factory.mktemp("asa") / "asa.log"
    path.write_bytes(_file_bytes(seed, count))
    # small read blocks cut lines at the reader's block ends (they are carried over)
    monkeypatch.setattr(_common, "READ_BLOCK", block)
    fast, slow = _both(path, monkeypatch, tz=tz, year=2025, batch_lines=batch)
    _assert_same(fast, slow)
    assert fast.lines_read == path.read_bytes().count(b"\n") + (
        0 if path.read_bytes().endswith(b"\n") else 1
    )


def test_scanner_takes_the_usual_shapes_and_leaves_the_rest() -> None:
    """The scanner itself: every good line is taken (so the comparison above exercises it),
    every mutated line that the full grammar reads differently or not at all is left."""
    rng = random.Random(7)
    good = [_good(rng) for _ in range(3000)]
    data = ("\n".join(good) + "\n").encode()
    _raw, starts, ends = _common._lines_from_bytes(data)
    fast, taken = _asa_fast.parse_fast(data, starts, ends, None, 2025)
    assert taken.all() and len(fast.rows) == len(good)
    # without a year for yearless stamps, exactly those are left
    fast, taken = _asa_fast.parse_fast(data, starts, ends, None, None)
    has_year = np.array([line.split(" ")[2].isdigit() for line in good])
    assert (taken == has_year).all() and fast.yearless == 0
    bad_shapes = [
        line.replace(old, new, 1)
        for line in good[:400]
        for old, new in MUTATIONS
        # not a protocol word the full grammar takes, nor an edit that lands in a duration
        # (where 24 hours and a 60th minute are valid)
        if old in line
        and (old, new) != (" UDP ", " GRE ")
        and line.find(old) < line.find(" duration ") % (len(line) + 1)
    ]
    # a teardown's duration with minutes or seconds over 59
    bad_shapes += [
        f"{line.rsplit(' duration ', 1)[0]} duration {duration}"
        for line in good[:400]
        if " duration " in line
        for duration in BAD_DURATIONS
    ]
    data = ("\n".join(bad_shapes) + "\n").encode()
    _raw, starts, ends = _common._lines_from_bytes(data)
    _, taken = _asa_fast.parse_fast(data, starts, ends, None, 2025)
    assert len(bad_shapes) > 1000 and not taken.any()


def test_values_of_a_known_line() -> None:
    """Fields read from one line, checked against values worked out by hand."""
    line = (
        b"Feb 29 2024 23:59:58: fw-1 asa: %ASA-6-305012: Teardown static ICMP translation "
        b"from in:100.64.255.0/65535 to out:203.0.113.9/0 duration 27:03:04\r\n"
    )
    _raw, starts, ends = _common._lines_from_bytes(line)
    fast, taken = _asa_fast.parse_fast(line, starts, ends, None, None)
    assert taken.tolist() == [True]
    # 2024-02-29 23:59:58 is 1709251198 s after 1970-01-01
    assert fast.naive_us.tolist() == [1_709_251_198_000_000]
    assert fast.duration_s.tolist() == [27 * 3600 + 3 * 60 + 4]
    assert _asa_fast.PROTO_NAMES[int(fast.proto[0])].as_py() == "icmp"
    assert fast.in_ip.to_pylist() == ["100.64.255.0"]
    assert fast.out_ip.to_pylist() == ["203.0.113.9"]
    assert (fast.in_port.tolist(), fast.out_port.tolist()) == ([65535], [0])
    assert fast.host.to_pylist() == ["fw-1"]


HOSTS = ["cgnat-01 ", "cgnat-02 ", "", "a-long-host.example.net "]


def test_several_hosts_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host column: one value for all, different values, lines without a host (null)."""
    base = (
        "Nov 17 2026 08:00:{ss:02d} {host}%ASA-6-305011: Built dynamic TCP translation from "
        "inside:100.64.0.{a}/{p} to outside:203.0.113.7/{q}"
    )
    lines = [
        base.format(
            ss=i % 60,
            host=HOSTS[i % 4 if i > 250 else 0],
            a=i % 256,
            p=1000 + i,
            q=2000 + i,
        )
        for i in range(500)
    ]
    path = tmp_path / "asa.log"
    path.write_text("\n".join(lines) + "\n")
    fast, slow = _both(path, monkeypatch, tz="UTC")
    _assert_same(fast, slow)
    devices = [fast.by_line(i + 1)["device"] for i in range(500)]
    assert devices[:251] == ["cgnat-01"] * 251
    assert devices[251:255] == ["a-long-host.example.net", "cgnat-01", "cgnat-02", None]


def test_daylight_saving_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local stamps in an IANA zone across both changes of 2026 (Europe/Amsterdam: 29 March
    02:00 -> 03:00, 25 October 03:00 -> 02:00) give the same instants on both paths."""
    template = (
        "{mon} {day} 2026 {hh:02d}:{mi:02d}:00 cgnat-01 %ASA-6-305011: Built dynamic UDP "
        "translation from inside:100.64.0.1/{p} to outside:203.0.113.1/{p}"
    )
    lines = [
        template.format(mon=mon, day=day, hh=hh, mi=mi, p=1000 + 60 * hh + mi)
        for mon, day in (("Mar", 29), ("Oct", 25))
        for hh in range(0, 5)
        for mi in (0, 30, 59)
    ]
    path = tmp_path / "asa.log"
    path.write_text("\n".join(lines) + "\n")
    fast, slow = _both(path, monkeypatch, tz="Europe/Amsterdam")
    _assert_same(fast, slow)
    # 25 October 02:30 happens twice: the earlier instant (still summer time, UTC+2) is taken
    row = fast.by_line(1 + 15 + 2 * 3 + 1)
    assert row["start"].isoformat() == "2026-10-25T00:30:00+00:00"
    # 29 March 02:30 does not exist: ``localize`` reads it with the offset before the change
    # (UTC+1), as zoneinfo does with fold=0, so it stays after 01:59 and before 03:00
    gap = fast.by_line(1 + 2 * 3 + 1)["start"].isoformat()
    assert gap == "2026-03-29T01:30:00+00:00"


def test_yearless_stamps_need_a_year(tmp_path: Path) -> None:
    path = tmp_path / "asa.log"
    path.write_text(
        "Nov 17 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
        "inside:100.64.0.1/1 to outside:203.0.113.1/2\n"
    )
    with pytest.raises(FormatError, match="line 1 has a syslog stamp without a year"):
        parse("cisco-asa", path, tz="UTC")
    parsed = parse("cisco-asa", path, tz="UTC", year=2025)
    assert parsed.rows[0]["start"].isoformat() == "2025-11-17T08:00:00+00:00"
    assert "stamps without a year read as 2025 (given)" in parsed.notes


_TEARDOWN = (
    "Nov 20 2026 08:00:0{n} cgnat-01 %ASA-6-305012: Teardown dynamic TCP translation from "
    "inside:{inside}/4000{n} to outside:{public}/5000{n} duration {duration}"
)


@pytest.mark.parametrize("fast_path", [True, False])
def test_invalid_durations_are_bad_lines_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_path: bool
) -> None:
    """Cisco writes the teardown's duration as hours:minutes:seconds (305012, "duration time");
    minutes or seconds over 59 are no time at all: the line is bad, with its number, whichever
    path reads it (IPv4 lines go through the compiled scanner, IPv6 only through the regex)."""
    monkeypatch.setattr(cisco_asa, "USE_FAST_PATH", fast_path)
    durations = ["0:59:59", "9:99:99", "0:60:00", "0:00:60", "99999:59:59", "1:59:99"]
    lines = []
    for inside, public in (("100.64.0.7", "203.0.113.7"), ("2001:db8::7", "2001:db8:1::7")):
        for n, duration in enumerate(durations):
            lines.append(_TEARDOWN.format(n=n, inside=inside, public=public, duration=duration))
    path = tmp_path / "asa.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse("cisco-asa", path, tz="UTC")
    good = {1, 5, 7, 11}
    assert sorted(r["source_line"] for r in parsed.rows) == sorted(good)
    assert [b.line_no for b in parsed.bad] == [i for i in range(1, 13) if i not in good]
    for bad in parsed.bad:
        assert "invalid duration" in bad.reason and "59" in bad.reason
    assert parsed.by_line(5)["end"] - parsed.by_line(5)["start"] == timedelta(
        hours=99999, minutes=59, seconds=59
    )
