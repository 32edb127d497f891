from __future__ import annotations

import gzip

import pytest
from parser_testkit import FIXTURES, samples_dir

from trailguard.traffic.model import FormatError, RecordKind
from trailguard.traffic.parsers import (
    UnknownFormat,
    all_parsers,
    detect_format,
    get_parser,
    register,
)

NAMES = [
    "cisco-asa",
    "csv",
    "freeradius-detail",
    "isc-dhcpd-leases",
    "juniper-srx",
    "web-access",
    "zeek-conn",
]


def test_all_formats_registered_with_their_contract() -> None:
    parsers = all_parsers()
    names = [p.NAME for p in parsers]
    assert names == sorted(names)
    assert set(NAMES) <= set(names)  # later issues add more modules beside these
    for p in parsers:
        assert p.DESCRIPTION and "http" in p.SOURCE
        assert p.KINDS and all(isinstance(k, RecordKind) for k in p.KINDS)
        assert get_parser(p.NAME) is p


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownFormat) as info:
        get_parser("netflow-v5")
    message = str(info.value)
    assert "netflow-v5" in message
    for name in NAMES:
        assert name in message
    assert isinstance(info.value, FormatError)


def test_register_refuses_a_second_parser_of_the_same_name() -> None:
    class Impostor:
        NAME = "cisco-asa"

    with pytest.raises(ValueError, match="cisco-asa"):
        register(Impostor())  # type: ignore[arg-type]
    assert register(get_parser("cisco-asa")) is get_parser("cisco-asa")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("asa_nat.log", "cisco-asa"),
        ("srx_flow.log", "juniper-srx"),
        ("zeek_conn.log", "zeek-conn"),
        ("zeek_conn.json", "zeek-conn"),
        ("dhcpd.leases", "isc-dhcpd-leases"),
        ("radius.detail", "freeradius-detail"),
        ("access.log", "web-access"),
    ],
)
def test_detect_fixtures(name: str, expected: str, tmp_path) -> None:
    assert expected == detect_format(FIXTURES / name).NAME
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress((FIXTURES / name).read_bytes()))
    assert expected == detect_format(gz).NAME


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("elastic-integrations/test-asa.log", "cisco-asa"),
        ("elastic-integrations/test-flow.log", "juniper-srx"),
        ("elastic-integrations/test-access-basic.log", "web-access"),
        ("zeek/conn.log", "zeek-conn"),
        ("isc-dhcp-leases/debian7.leases", "isc-dhcpd-leases"),
        ("isc-dhcp-leases/pfsense.leases", "isc-dhcpd-leases"),
    ],
)
def test_detect_real_samples(path: str, expected: str) -> None:
    assert expected == detect_format(samples_dir() / path).NAME


def test_detect_refuses_what_it_does_not_know(tmp_path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("Dear colleague,\nplease find attached the quarterly report.\n")
    with pytest.raises(UnknownFormat, match="--format"):
        detect_format(f)
    mail = samples_dir() / "mail-parser" / "mail_test_1"
    with pytest.raises(UnknownFormat):
        detect_format(mail)
