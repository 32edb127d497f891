from __future__ import annotations

import pytest
from parser_testkit import FIXTURES, parse, utc

from trailguard.traffic.model import FormatError

MAP = {
    "kind": "=nat",
    "start": "time",
    "end": "end_time",
    "inside_ip": "src",
    "inside_port": "sport",
    "public_ip": "xlate_ip",
    "public_port": "xlate_port",
    "protocol": "proto",
    "subscriber": "account",
}


def test_mapped_csv() -> None:
    p = parse("csv", FIXTURES / "nat.csv", column_map=MAP)
    assert p.bad == [] and len(p.rows) == 3
    first = p.by_line(2)
    assert first["kind"] == "nat" and first["protocol"] == "tcp"
    assert first["start"] == utc(2026, 11, 17, 8, 14, 7)
    assert first["end"] == utc(2026, 11, 17, 8, 16, 7)
    epoch = p.by_line(3)
    assert epoch["start"] == utc(2026, 11, 17, 8, 14, 8, 500000) and epoch["end"] is None
    assert epoch["subscriber"] == "ben, jr@example.net"
    v6 = p.by_line(4)
    assert v6["start"] == utc(2026, 11, 17, 8, 14, 7) and v6["source_tz"] == "+01:00"
    assert v6["inside_ip"] == "2001:db8:10::7"


def test_mapping_errors_name_the_problem() -> None:
    with pytest.raises(FormatError, match="column mapping"):
        parse("csv", FIXTURES / "nat.csv")
    with pytest.raises(FormatError, match="nonexistent"):
        parse("csv", FIXTURES / "nat.csv", column_map={**MAP, "subscriber": "nonexistent"})
    with pytest.raises(FormatError, match="banana"):
        parse("csv", FIXTURES / "nat.csv", column_map={**MAP, "kind": "=banana"})
    with pytest.raises(FormatError, match="colour"):
        parse("csv", FIXTURES / "nat.csv", column_map={**MAP, "colour": "src"})


def test_row_errors(tmp_path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(
        "time,src,sport,xlate_ip,xlate_port\n"
        "2026-11-17T08:00:00Z,100.64.0.1,70000,203.0.113.1,1\n"
        "2026-11-17T08:00:00Z,100.64.0.1\n"
        "2026-11-17T08:00:00,100.64.0.1,1,203.0.113.1,1\n"
    )
    small = {k: v for k, v in MAP.items() if k not in ("end", "protocol", "subscriber")}
    with pytest.raises(FormatError, match="line 4"):
        parse("csv", f, column_map=small)
    p = parse("csv", f, column_map=small, tz="UTC")
    assert "70000" in p.bad_at(2) and "columns" in p.bad_at(3)
    assert p.by_line(4)["source_tz"] == "UTC"
