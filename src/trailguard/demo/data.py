"""The scenario's synthetic logs, written in the formats the real systems use.

Everything here is invented: documentation addresses (RFC 5737 / RFC 3849), the CGNAT range
100.64.0.0/10 for Rio Litoral's subscribers, made-up accounts. Each file mixes the records
the story needs with background traffic, so look-ups have something to search through.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from trailguard.core.zeek_conn import ZeekConnLog

# The facts of the story (SCENARIO.md).
LOGIN_AT = datetime(2026, 11, 20, 8, 14, 7, 250000, tzinfo=UTC)  # 03:14:07 -05:00 in New York
# The demo's nodes run on the scenario's clock from here: the US duty officer starts work two
# hours after the login (05:14 in New York), while every provider still holds its records.
SCENARIO_START = LOGIN_AT + timedelta(hours=2)
VPS_IP, VPS_PORT = "198.51.100.23", 41234
BANK_IP, BANK_PORT = "192.0.2.80", 443
ATTACKER_PUBLIC_IP, ATTACKER_PUBLIC_PORT = "203.0.113.77", 51512
SSH_START = LOGIN_AT - timedelta(minutes=12, seconds=3)
SSH_SECONDS = 1500.0
BLOCK_FIRST, BLOCK_LAST = 51200, 51711
INSIDE_IP = "100.64.12.7"
SUBSCRIBER = "rl-0045127@riolitoral.example"
BLOCK_ALLOC_AT = LOGIN_AT - timedelta(minutes=19, seconds=7)
BLOCK_RELEASE_AT = LOGIN_AT + timedelta(minutes=56)
RADIUS_START = LOGIN_AT - timedelta(minutes=44)
RADIUS_STOP = LOGIN_AT + timedelta(hours=2)


def bank_proxy_log(folder: Path) -> Path:
    """The bank's reverse-proxy log (CSV, local time with offset, client port kept as RFC 6302
    recommends): the administrator login from the VPS."""
    zone = ZoneInfo("America/New_York")
    rng = random.Random(7)
    lines = ["time,client_ip,client_port,server_ip,server_port,proto,user,path"]
    for minute in range(-30, 31, 3):
        at = (LOGIN_AT + timedelta(minutes=minute, seconds=rng.randint(0, 59))).astimezone(zone)
        client = f"192.0.2.{rng.randint(10, 60)}"
        lines.append(
            f"{at.isoformat()},{client},{rng.randint(20000, 60000)},{BANK_IP},{BANK_PORT},tcp,-,/"
        )
    login = LOGIN_AT.astimezone(zone)
    lines.append(
        f"{login.isoformat()},{VPS_IP},{VPS_PORT},{BANK_IP},{BANK_PORT},tcp,admin,/admin/login"
    )
    path = folder / "bank-proxy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BANK_COLUMN_MAP = {
    "kind": "=access",
    "start": "time",
    "public_ip": "client_ip",
    "public_port": "client_port",
    "dst_ip": "server_ip",
    "dst_port": "server_port",
    "protocol": "proto",
    "subscriber": "user",
}


def polderhost_conn_log(folder: Path) -> Path:
    """Polderhost's flow probe (Zeek conn.log, TSV): the VPS's connection to the bank and the
    SSH session that drove it, among other customers' traffic."""
    rng = random.Random(11)
    log = ZeekConnLog(rng)
    start = LOGIN_AT - timedelta(hours=1)
    for _ in range(400):
        at = start + timedelta(seconds=rng.uniform(0, 7200))
        host = f"198.51.100.{rng.randint(2, 250)}"
        if host == VPS_IP:
            continue
        remote = (
            f"192.0.2.{rng.randint(1, 254)}"
            if rng.random() < 0.6
            else f"203.0.113.{rng.randint(1, 254)}"
        )
        if remote == ATTACKER_PUBLIC_IP:
            continue
        if rng.random() < 0.5:
            log.add(
                at,
                remote,
                rng.randint(1024, 65535),
                host,
                rng.choice([22, 80, 443]),
                "tcp",
                "ssl",
                rng.uniform(0.1, 600),
            )
        else:
            log.add(
                at,
                host,
                rng.randint(1024, 65535),
                remote,
                rng.choice([53, 123, 443]),
                "udp",
                "dns",
                rng.uniform(0.01, 2),
            )
    log.add(
        SSH_START, ATTACKER_PUBLIC_IP, ATTACKER_PUBLIC_PORT, VPS_IP, 22, "tcp", "ssh", SSH_SECONDS
    )
    log.add(
        LOGIN_AT - timedelta(milliseconds=180),
        VPS_IP,
        VPS_PORT,
        BANK_IP,
        BANK_PORT,
        "tcp",
        "ssl",
        4.2,
    )
    path = folder / "polderhost-conn.log"
    path.write_text(log.text("2026-11-20-07-00-00", "2026-11-20-09-00-00"), encoding="utf-8")
    return path


def riolitoral_pba_log(folder: Path) -> Path:
    """Rio Litoral's CGNAT port-block log (Juniper JSERVICES_NAT_PORT_BLOCK_*, syslog in
    local time, no year, no zone: ingested with --tz America/Sao_Paulo --year 2026)."""
    zone = ZoneInfo("America/Sao_Paulo")
    rng = random.Random(13)
    entries: list[tuple[datetime, str]] = []

    def line(at: datetime, event: str, inside: str, public: str, first: int, last: int) -> None:
        local = at.astimezone(zone)
        stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
        entries.append(
            (
                at,
                f"{stamp} rl-cgn-1 (FPC Slot 5, PIC Slot 0) {{cgn-sset}}[FWNAT]: "
                f"JSERVICES_NAT_PORT_BLOCK_{event}: {inside} -> {public}:{first}-{last}"
                f" 0x{rng.getrandbits(32):08x}",
            )
        )

    for block in range(60):
        first = 1024 + block * 512
        if first == BLOCK_FIRST:
            continue
        inside = f"100.64.{rng.randint(0, 40)}.{rng.randint(2, 250)}"
        alloc = LOGIN_AT - timedelta(minutes=rng.randint(5, 90))
        line(alloc, "ALLOC", inside, ATTACKER_PUBLIC_IP, first, first + 511)
        line(
            alloc + timedelta(minutes=rng.randint(10, 120)),
            "RELEASE",
            inside,
            ATTACKER_PUBLIC_IP,
            first,
            first + 511,
        )
    line(BLOCK_ALLOC_AT, "ALLOC", INSIDE_IP, ATTACKER_PUBLIC_IP, BLOCK_FIRST, BLOCK_LAST)
    line(BLOCK_RELEASE_AT, "RELEASE", INSIDE_IP, ATTACKER_PUBLIC_IP, BLOCK_FIRST, BLOCK_LAST)
    entries.sort()
    path = folder / "riolitoral-pba.log"
    path.write_text("\n".join(text for _, text in entries) + "\n", encoding="utf-8")
    return path


def riolitoral_radius_detail(folder: Path) -> Path:
    """Rio Litoral's FreeRADIUS accounting detail file: which account held 100.64.12.7."""
    rng = random.Random(17)
    records: list[tuple[datetime, str]] = []

    def record(
        at: datetime,
        status: str,
        user: str,
        ip: str,
        session_id: str,
        session_time: int | None = None,
    ) -> None:
        lines = [
            f"{at:%a %b %d %H:%M:%S %Y}",
            f'\tAcct-Session-Id = "{session_id}"',
            f'\tUser-Name = "{user}"',
            f"\tAcct-Status-Type = {status}",
            f"\tFramed-IP-Address = {ip}",
            "\tNAS-IP-Address = 192.0.2.1",
        ]
        if session_time is not None:
            lines.append(f"\tAcct-Session-Time = {session_time}")
        lines += [
            f"\tEvent-Timestamp = {int(at.timestamp())}",
            f"\tTimestamp = {int(at.timestamp())}",
        ]
        records.append((at, "\n".join(lines)))

    for n in range(80):
        user = f"rl-{rng.randint(1000000, 9999999)}@riolitoral.example"
        ip = f"100.64.{rng.randint(0, 40)}.{rng.randint(2, 250)}"
        if ip == INSIDE_IP:
            continue
        start = LOGIN_AT - timedelta(minutes=rng.randint(30, 600))
        seconds = rng.randint(600, 40000)
        record(start, "Start", user, ip, f"5A{n:06X}")
        record(start + timedelta(seconds=seconds), "Stop", user, ip, f"5A{n:06X}", seconds)
    seconds = int((RADIUS_STOP - RADIUS_START).total_seconds())
    record(RADIUS_START, "Start", SUBSCRIBER, INSIDE_IP, "5AFFFF01")
    record(RADIUS_STOP, "Stop", SUBSCRIBER, INSIDE_IP, "5AFFFF01", seconds)
    records.sort()
    path = folder / "riolitoral-radius.detail"
    path.write_text("\n\n".join(text for _, text in records) + "\n", encoding="utf-8")
    return path
