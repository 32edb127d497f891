"""The Received: chain read into hops (sender's side first), flags for what does not add up,
and the ``trace headers --json`` contract, on synthetic messages and the real samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from samples_kit import samples_dir
from trailguard.core.errors import ValidationFailed
from trailguard.investigations.domain import observations_from_hops
from trailguard.investigations.headers import parse_received
from trailguard.trace import read_message
from trailguard.trace.cli import app as trace_cli

runner = CliRunner()

# A message as it arrives at mx.example.org: the newest Received: line first.
CLEAN = b"""\
Received: from relay.example.net (relay.example.net [198.51.100.23])
\tby mx.example.org (Postfix) with ESMTPS id 4Zx1;
\tFri, 20 Nov 2026 09:14:09 +0100
Received: from laptop.example.com (unknown [2001:db8:200::77])
\tby relay.example.net (Postfix) with ESMTPSA id AB12 for <victim@example.org>;
\tFri, 20 Nov 2026 05:14:07 -0300
From: sender@example.com
To: victim@example.org
Subject: test

body
"""


def test_hops_run_from_the_sender_to_the_recipient_in_utc() -> None:
    hops = read_message(CLEAN)
    assert [hop.by_host for hop in hops] == ["relay.example.net", "mx.example.org"]
    first, second = hops
    assert first.from_host == "laptop.example.com"
    assert first.from_ip == "2001:db8:200::77"
    assert first.to_json()["at"] == "2026-11-20T08:14:07Z"
    assert first.zone == "-0300"
    assert first.delay_s is None
    assert first.for_addr == "victim@example.org"
    assert second.from_ip == "198.51.100.23"
    assert second.to_json()["at"] == "2026-11-20T08:14:09Z"
    assert second.delay_s == 2.0
    assert first.flags == [] and second.flags == []


def test_cli_contract_prints_hops_with_the_required_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(CLEAN)
    result = runner.invoke(trace_cli, ["headers", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["hops"]
    for hop in data["hops"]:
        assert {"from_host", "from_ip", "by_host", "at", "delay_s"} <= set(hop)
    assert [hop["from_ip"] for hop in data["hops"]] == ["2001:db8:200::77", "198.51.100.23"]
    assert [hop["delay_s"] for hop in data["hops"]] == [None, 2.0]


@pytest.mark.parametrize(
    "content",
    [b"just some words\nand another line\n", b"\x00\x01binary\x00", b""],
    ids=["prose", "binary", "empty"],
)
def test_a_file_that_is_not_a_message_exits_2_with_a_clear_message(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "not-mail.txt"
    path.write_bytes(content)
    result = runner.invoke(trace_cli, ["headers", str(path), "--json"])
    assert result.exit_code == 2
    assert "not an RFC 5322 message" in result.stderr
    with pytest.raises(ValidationFailed):
        read_message(content)


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(trace_cli, ["headers", str(tmp_path / "nope.eml"), "--json"])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_a_line_without_zone_is_flagged_not_converted() -> None:
    hop = parse_received("from a.example.com ([192.0.2.1]) by b.example.com; 20 Nov 2026 08:00:00")
    assert hop.at is None
    assert "time_without_zone" in hop.flags
    assert hop.local_time == "20 Nov 2026 08:00:00"


def test_minus_zero_zone_is_utc_with_the_local_zone_unknown() -> None:
    hop = parse_received("from a ([192.0.2.1]) by b; 20 Nov 2026 08:00:00 -0000")
    assert hop.to_json()["at"] == "2026-11-20T08:00:00Z"
    assert "zone_unknown" in hop.flags


def test_malformed_forged_and_backwards_lines_are_flagged_never_dropped() -> None:
    message = b"""\
Received: from mx.example.org ([192.0.2.10]) by inbox.example.org; Fri, 20 Nov 2026 09:00:00 +0000
Received: garbage that is no received line at all
Received: from [192.0.2.99] ([203.0.113.5]) by relay.example.net; Fri, 20 Nov 2026 10:00:00 +0000
Received: from host.example.com (host [10.1.2.3]) by mx.example.org; Fri, 20 Nov 2026 09:59:00 +0000
Received: from a.example.com ([192.0.2.1]) by b.example.com; not a date
Received: from c.example.com ([192.0.2.2]) by d.example.com
Subject: forged

x
"""
    hops = read_message(message)
    assert len(hops) == 6  # every line is a hop, none dropped
    no_date, bad_date, private, forged, garbage, last = hops
    assert "no_date" in no_date.flags
    assert "bad_date" in bad_date.flags and bad_date.at is None
    assert "private_from_ip" in private.flags
    assert "helo_mismatch" in forged.flags and forged.from_ip == "203.0.113.5"
    assert "unparseable" in garbage.flags and garbage.raw.startswith("garbage")
    assert "time_backwards" in last.flags
    assert last.delay_s is None  # its neighbour (the garbage line) has no time
    assert "chain_break" in forged.flags  # relay.example.net never received from mx.example.org


def test_time_backwards_between_neighbours_gives_a_negative_delay() -> None:
    message = b"""\
Received: from b.example.net ([198.51.100.2]) by c.example.org; Fri, 20 Nov 2026 08:00:00 +0000
Received: from a.example.com ([192.0.2.1]) by b.example.net; Fri, 20 Nov 2026 08:05:00 +0000
Subject: s

x
"""
    first, second = read_message(message)
    assert second.delay_s == -300.0
    assert "time_backwards" in second.flags and "time_backwards" not in first.flags


def test_real_samples_parse_every_line_with_flags() -> None:
    folder = samples_dir() / "mail-parser"
    # mail_test_6: exim then Postfix, Date (MSK) +0300, sender side first.
    hops = read_message((folder / "mail_test_6").read_bytes())
    assert [(hop.from_ip, hop.by_host) for hop in hops] == [
        ("172.22.22.61", "smtp11.ggg.com"),
        ("66.202.209.213", "mx34.test.it"),
    ]
    assert hops[0].to_json()["at"] == "2017-07-15T09:18:41Z"
    assert "private_from_ip" in hops[0].flags
    assert hops[1].delay_s == 0.0
    # mail_test_1: 6 Received lines, 2016 and 2018 dates mixed: time goes backwards.
    hops = read_message((folder / "mail_test_1").read_bytes())
    assert len(hops) == 6
    assert any("time_backwards" in hop.flags for hop in hops)
    assert hops[1].from_ip == "2a01:111:f400:7e49::205"
    assert "unparseable" in hops[-1].flags  # the qmail "invoked from network" note
    # mail_malformed_1: 'by  (Postfix)' with an empty host and 'from unknown (HELO )'.
    hops = read_message((folder / "mail_malformed_1").read_bytes())
    assert len(hops) == 4
    assert hops[0].by_host is None and "no_by_host" in hops[0].flags
    assert hops[2].from_ip == "185.137.84.106"


@pytest.mark.parametrize(
    ("received", "ip", "port"),
    [
        ("from relay.example ([203.0.113.7]:50123) by mx.example; ", "203.0.113.7", 50123),
        ("from relay.example ([IPv6:2001:db8::7]:443) by mx.example; ", "2001:db8::7", 443),
        ("from relay.example ([203.0.113.7]) by mx.example; ", "203.0.113.7", None),
        # not a port: too many digits or over 65535; the address is still read
        ("from relay.example ([203.0.113.7]:123456) by mx.example; ", "203.0.113.7", None),
        ("from relay.example ([203.0.113.7]:70000) by mx.example; ", "203.0.113.7", None),
    ],
)
def test_a_source_port_written_after_the_address_is_kept(
    received: str, ip: str, port: int | None
) -> None:
    hop = parse_received(received + "Fri, 20 Nov 2026 09:14:07 +0100", 0)
    assert (hop.from_ip, hop.from_port) == (ip, port)
    assert hop.to_json()["from_port"] == port


def test_the_port_goes_into_the_observation() -> None:
    message = (
        b"Received: from relay.example ([203.0.113.7]:50123) by mx.example;"
        b" Fri, 20 Nov 2026 09:14:07 +0100\r\nSubject: x\r\n\r\nbody\r\n"
    )
    [observation] = observations_from_hops(read_message(message), source_label="mail")
    assert (observation.ip, observation.port) == ("203.0.113.7", 50123)
