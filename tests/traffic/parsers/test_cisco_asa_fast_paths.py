"""The byte-level ASA reader agrees with the full grammar (the reference, line by line) on the
shapes it takes shortcuts for: one logging host for a whole block, several hosts, no host,
long host names, and bad lines among good ones; and the format check that looks at a file's
first lines first still refuses what it refused and accepts what it accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from parser_testkit import parse

from trailguard.traffic.model import FormatError
from trailguard.traffic.parsers import _common, cisco_asa

BUILT = (
    "{mon} {day:2d} 2026 08:{mi:02d}:{ss:02d} {host}%ASA-6-305011: Built dynamic {proto} "
    "translation from inside:100.64.{a}.{b}/{p} to outside:203.0.113.{c}/{q}"
)
TEARDOWN = (
    "Nov 17 2026 09:{mi:02d}:{ss:02d} {host}%ASA-6-305012: Teardown dynamic TCP translation from "
    "inside:100.64.{a}.{b}/{p} to outside:203.0.113.{c}/{q} duration 0:{mi:02d}:{ss:02d}"
)


def _lines(count: int, hosts: list[str]) -> list[str]:
    out = []
    for i in range(count):
        host = hosts[i % len(hosts)]
        fields = {
            "host": f"{host} " if host else "",
            "mi": i % 60,
            "ss": (i * 7) % 60,
            "a": i % 256,
            "b": (i * 3) % 256,
            "c": i % 250 + 1,
            "p": 1024 + i,
            "q": 2048 + i,
        }
        if i % 3 == 2:
            out.append(TEARDOWN.format(**fields))
        else:
            out.append(BUILT.format(mon="Nov", day=17, proto="UDP" if i % 2 else "TCP", **fields))
    return out


BAD = [
    # impossible date, port over 65535, an octet over 255, a leading zero; a protocol the
    # fast reader does not know (the full grammar takes it: a record, not a bad line)
    "Feb 30 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.0.1/1 to outside:203.0.113.1/2",
    "Nov 17 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.0.1/1 to outside:203.0.113.1/65536",
    "Nov 17 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.0.256/1 to outside:203.0.113.1/2",
    "Nov 17 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.0.01/1 to outside:203.0.113.1/2",
    "Nov 17 2026 08:00:00 cgnat-01 %ASA-6-305011: Built dynamic GRE translation from "
    "inside:100.64.0.1/1 to outside:203.0.113.1/2",
    "not an ASA line at all",
]


def _agree(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parse("cisco-asa", path, tz="UTC", batch_lines=5000)
    monkeypatch.setattr(cisco_asa, "USE_FAST_PATH", False)
    slow = parse("cisco-asa", path, tz="UTC", batch_lines=5000)
    monkeypatch.undo()
    assert fast.table.sort_by("source_line").equals(slow.table.sort_by("source_line"))
    assert [(b.line_no, b.reason) for b in fast.bad] == [(b.line_no, b.reason) for b in slow.bad]
    return None


@pytest.mark.parametrize(
    "hosts",
    [
        ["cgnat-01"],  # one host: the block's host column is built from one value
        ["cgnat-01", "cgnat-02"],  # same length, different bytes
        ["cgnat-01", "edge"],  # different lengths
        [""],  # no host at all
        ["a-very-long-logging-host-name.example.net"],  # longer than the shortcut compares
        ["cgnat-01", ""],
    ],
)
def test_fast_reader_agrees_with_full_grammar(
    tmp_path: Path, hosts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _lines(12000, hosts)
    for k, bad in enumerate(BAD):
        lines.insert(1000 + 1700 * k, bad)
    path = tmp_path / "asa.log"
    path.write_text("\n".join(lines) + "\n")
    _agree(path, monkeypatch)
    parsed = parse("cisco-asa", path, tz="UTC", batch_lines=5000)
    assert len(parsed.rows) == 12001
    assert [b.line_no for b in parsed.bad] == [1001 + 1700 * k for k in (0, 1, 2, 3, 5)]
    assert parsed.by_line(1001 + 1700 * 4)["protocol"] == "gre"
    devices = {r["device"] for r in parsed.rows if r["protocol"] != "gre"}
    assert devices == {h or None for h in hosts}


def test_one_host_differing_late_in_a_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same host for every line but one deep inside a block must not be taken as constant."""
    lines = _lines(4000, ["cgnat-01"])
    lines[3001] = lines[3001].replace("cgnat-01", "cgnat-0X")
    path = tmp_path / "asa.log"
    path.write_text("\n".join(lines) + "\n")
    _agree(path, monkeypatch)
    parsed = parse("cisco-asa", path, tz="UTC")
    assert parsed.by_line(3002)["device"] == "cgnat-0X"
    assert parsed.by_line(3001)["device"] == "cgnat-01"


def test_format_check_looks_past_the_first_lines(tmp_path: Path) -> None:
    head = _common.MARKER_HEAD_LINES
    # junk first, ASA lines only after the lines the quick look reads: still this format
    late = tmp_path / "late.log"
    late.write_text("\n".join(["junk"] * (head + 10) + _lines(50, ["cgnat-01"])) + "\n")
    parsed = parse("cisco-asa", late, tz="UTC")
    assert len(parsed.rows) == 50 and len(parsed.bad) == head + 10
    # no ASA line anywhere in a long file: refused as a whole
    none = tmp_path / "none.log"
    none.write_text("\n".join(["junk"] * (head + 500)) + "\n")
    with pytest.raises(FormatError, match="cisco-asa"):
        parse("cisco-asa", none, tz="UTC")
    # an invalid UTF-8 line among the first lines: the quick look steps aside, same answer
    mixed = tmp_path / "mixed.log"
    body = "\n".join(_lines(head + 100, ["cgnat-01"])).encode() + b"\n"
    mixed.write_bytes(b"caf\xe9 latin-1\n" + body)
    parsed = parse("cisco-asa", mixed, tz="UTC")
    assert len(parsed.rows) == head + 100
    assert parsed.bad_at(1).startswith("not valid UTF-8")
