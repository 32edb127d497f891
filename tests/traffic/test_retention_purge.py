"""Retention that really ends (issue 11, point 9): a purge removes every raw line past retention
from the archived originals, except the lines a hold covers.

The reference is the file itself: each test writes its log line by line, knows which line gives
which record on which day, and states which lines must be gone and which must stay; the store's
answers (``read_source_line``, ``traffic source-line``) are checked against that, and a generic
count re-derives "record lines past retention and not held" from an independent parse of the
file and the hold's sealed records.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from trailguard.core.errors import NotFound
from trailguard.traffic.cli import app
from trailguard.traffic.holds import (
    HoldCriteria,
    hold_records,
    place_hold,
    release_hold,
    verify_hold,
)
from trailguard.traffic.layout import LinePurged, save_config, sha256_file
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.parsers import get_parser
from trailguard.traffic.retention import purge
from trailguard.traffic.store import TrafficStore, open_store

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # Nov 18 and 19 past a 1-day retention, 20 not


def _nat(day: int, clock: str, inside: str, public: str, port: int, duration: str = "") -> str:
    verb, which = ("Teardown", 2) if duration else ("Built", 1)
    line = (
        f"Nov {day} 2026 {clock} fw1 %ASA-6-30501{which}: {verb} dynamic TCP translation from "
        f"inside:{inside}/{port} to outside:{public}/{port + 1000}"
    )
    return line + (f" duration {duration}" if duration else "")


# line -> (text, what it is); the hold covers 203.0.113.1 on Nov 18 and 19
ASA_LINES = [
    _nat(18, "10:00:30", "100.64.0.1", "203.0.113.1", 4001, "0:00:30"),  # 1 held
    _nat(18, "10:01:00", "100.64.0.2", "203.0.113.2", 4002),  # 2 expired
    "Nov 18 2026 10:01:01 fw1 %ASA-6-302013: Built outbound TCP connection 9 for x",  # 3 skip
    "garbage that is no syslog line at all",  # 4 bad, after an expired record line
    _nat(18, "10:02:00", "100.64.0.2", "203.0.113.2", 4002, "9:99:99"),  # 5 bad duration
    _nat(19, "11:00:00", "100.64.0.3", "203.0.113.3", 4003),  # 6 expired
    _nat(19, "11:00:05", "100.64.0.1", "203.0.113.1", 4004),  # 7 held
    "",  # 8 blank, after a held (but expired) record line
    _nat(20, "09:00:00", "100.64.0.4", "203.0.113.4", 4005),  # 9 within retention
    "not an ASA line either",  # 10 bad, after a line within retention
    _nat(20, "09:05:00", "100.64.0.4", "203.0.113.4", 4005, "0:05:00"),  # 11 within retention
]
HELD = {1, 7}
LIVE = {9, 10, 11}
PURGED = {2, 3, 4, 5, 6, 8}


def _store(root: Path) -> TrafficStore:
    store = open_store(root)
    config = store.config
    config.retention_days["nat"] = 1
    save_config(store.root, config)
    return TrafficStore(store.root)


def _ingest(store: TrafficStore, path: Path, lines: list[str], **options: object) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = store.ingest_file(path, provider="rio", options=ParseOptions(**options))  # type: ignore[arg-type]
    assert report.refused is None and report.records_stored, report
    return report.sha256


def _hold(store: TrafficStore) -> str:
    criteria = HoldCriteria(
        ip="203.0.113.1",
        start=datetime(2026, 11, 18, tzinfo=UTC),
        end=datetime(2026, 11, 19, 23, 59, 59, tzinfo=UTC),
        kinds=("nat",),
        include_assignments=False,
    )
    return place_hold(store, "NL-PR-2026-0042", criteria, "user:liaison", NOW).hold_id


def _readable(store: TrafficStore, sha: str, line: int) -> str | None:
    """The line's text, or None when the store says it was purged."""
    try:
        return store.read_source_line(sha, line)
    except LinePurged:
        return None


def _unheld_lines_past_retention(
    store: TrafficStore, path: Path, sha: str, hold_id: str, now: datetime
) -> list[int]:
    """Record lines of ``path`` all of whose records are past retention and not held, that the
    store still shows: from an independent parse of the file and the hold's sealed records."""
    parsed = get_parser("cisco-asa").parse(path, ParseOptions(tz="UTC"))
    days: dict[int, list[datetime]] = {}
    for batch in parsed:
        for row in batch.table.select(["source_line", "start"]).to_pylist():
            days.setdefault(row["source_line"], []).append(row["start"])
    limit = timedelta(days=1 + store.config.retention_days["nat"])
    held = set(hold_records(store, hold_id).column("source_line").to_pylist())
    return [
        line
        for line, starts in days.items()
        if all(datetime(s.year, s.month, s.day, tzinfo=UTC) + limit <= now for s in starts)
        and line not in held
        and _readable(store, sha, line) is not None
    ]


def test_purge_with_a_hold_leaves_no_unheld_line_past_retention(tmp_path: Path) -> None:
    store = _store(tmp_path / "traffic")
    log = tmp_path / "asa.log"
    sha = _ingest(store, log, ASA_LINES, tz="UTC")
    hold_id = _hold(store)
    hold_digest = sha256_file(store.root / "holds" / hold_id / "records.parquet")
    before = _unheld_lines_past_retention(store, log, sha, hold_id, NOW)
    assert before == [2, 6]  # the records past retention, still shown before the purge

    report = purge(store, NOW)

    assert _unheld_lines_past_retention(store, log, sha, hold_id, NOW) == []
    shown = {n for n in range(1, len(ASA_LINES) + 1) if _readable(store, sha, n) is not None}
    assert shown == HELD | LIVE
    for n in HELD | LIVE:  # byte for byte the original line
        assert store.read_source_line(sha, n) == ASA_LINES[n - 1]
    with pytest.raises(LinePurged, match=r"line 2 of asa.log .* was purged on 2026-11-21"):
        store.read_source_line(sha, 2)
    with pytest.raises(NotFound, match="has no line 12"):
        store.read_source_line(sha, 12)
    # the hold is untouched: same sealed file, digest still verifying
    assert verify_hold(store, hold_id)
    assert sha256_file(store.root / "holds" / hold_id / "records.parquet") == hold_digest
    # counted: 6 lines emptied, 2 kept for the hold only (lines 1 and 7), one original rewritten
    assert (report.source_lines_purged, report.source_lines_kept_for_holds) == (6, 2)
    assert report.sources_rewritten == 1 and report.records_kept_for_holds == 2
    # the archive on disk no longer holds the purged text; its new digest is recorded
    source = store.manifest().sources[sha]
    assert source.purged_lines == [[2, 6], [8, 8]]
    path = store.root / source.stored_as
    assert [f.name for f in (store.root / "sources").iterdir()] == [path.name]
    with pa.CompressedInputStream(pa.OSFile(str(path)), "zstd") as raw:
        text = raw.read()
    assert b"203.0.113.2" not in text and b"garbage" not in text and b"9:99:99" not in text
    assert text.count(b"\n") == len(ASA_LINES)
    assert store.verify_source(sha)


def test_a_second_purge_and_a_release_end_the_rest(tmp_path: Path) -> None:
    store = _store(tmp_path / "traffic")
    sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
    hold_id = _hold(store)
    purge(store, NOW)
    again = purge(store, NOW)  # nothing new past retention: no line counted twice
    assert again.source_lines_purged == 0 and again.sources_rewritten == 0
    assert {n for n in range(1, 12) if _readable(store, sha, n) is not None} == HELD | LIVE
    # Nov 20 passes its retention: only the held lines stay
    later = purge(store, NOW + timedelta(days=1))
    assert later.source_lines_purged == 3
    assert {n for n in range(1, 12) if _readable(store, sha, n) is not None} == HELD
    # the hold is released: the next purge takes the rest, and the original goes whole
    release_hold(store, hold_id, "user:liaison", NOW + timedelta(days=2), "case closed")
    last = purge(store, NOW + timedelta(days=2))
    assert last.sources_deleted == 1 and last.source_lines_purged == 2
    assert list((store.root / "sources").iterdir()) == []
    for n in range(1, 12):
        with pytest.raises(LinePurged, match="was purged"):
            store.read_source_line(sha, n)
    # the file can be ingested again (it is a new ingest, readable in full)
    store.ingest_file(tmp_path / "asa.log", provider="rio", options=ParseOptions(tz="UTC"))
    assert store.read_source_line(sha, 2) == ASA_LINES[1]


def test_purge_without_a_hold_rewrites_a_file_spanning_retention(tmp_path: Path) -> None:
    """A file whose records span several days keeps only its lines within retention, hold or
    no hold (before: the whole original stayed as long as one of its records did)."""
    store = _store(tmp_path / "traffic")
    sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
    report = purge(store, NOW)
    assert {n for n in range(1, 12) if _readable(store, sha, n) is not None} == LIVE
    assert report.source_lines_purged == 8 and report.source_lines_kept_for_holds == 0


def test_dry_run_counts_lines_and_changes_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path / "traffic")
    sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
    _hold(store)
    manifest = (store.root / "manifest.json").read_bytes()
    report = purge(store, NOW, dry_run=True)
    assert (report.source_lines_purged, report.source_lines_kept_for_holds) == (6, 2)
    assert (store.root / "manifest.json").read_bytes() == manifest
    assert store.read_source_line(sha, 2) == ASA_LINES[1]


def test_gzip_original_is_rewritten_and_verifies(tmp_path: Path) -> None:
    store = _store(tmp_path / "traffic")
    path = tmp_path / "asa.log.gz"
    path.write_bytes(gzip.compress(("\r\n".join(ASA_LINES) + "\r\n").encode()))
    report = store.ingest_file(path, provider="rio", options=ParseOptions(tz="UTC"))
    sha = report.sha256
    assert store.manifest().sources[sha].stored_as.endswith(".gz")
    _hold(store)
    purge(store, NOW)
    assert store.manifest().sources[sha].stored_as.endswith(".zst")
    assert {n for n in range(1, 12) if _readable(store, sha, n) is not None} == HELD | LIVE
    assert store.read_source_line(sha, 7) == ASA_LINES[6]
    assert store.verify_source(sha)


LEASES = """\
# dhcpd.leases(5), written by a synthetic test
lease 192.0.2.50 {
  starts 3 2026/11/18 08:00:00;
  ends 3 2026/11/18 20:00:00;
  hardware ethernet 02:00:5e:10:00:01;
  client-hostname "laptop-ana";
}
lease 192.0.2.51 {
  starts 3 2026/11/18 09:00:00;
  ends 3 2026/11/18 21:00:00;
  hardware ethernet 02:00:5e:10:00:02;
  client-hostname "laptop-ben";
}
lease 192.0.2.52 {
  starts 5 2026/11/20 09:00:00;
  ends 5 2026/11/20 21:00:00;
  hardware ethernet 02:00:5e:10:00:03;
}
"""


def test_block_format_keeps_a_held_record_whole(tmp_path: Path) -> None:
    """A lease is written over several lines: the held one keeps all of them."""
    store = open_store(tmp_path / "traffic")
    config = store.config
    config.retention_days["dhcp"] = 1
    save_config(store.root, config)
    store = TrafficStore(store.root)
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES, encoding="utf-8")
    sha = store.ingest_file(path, provider="rio", format_name="isc-dhcpd-leases").sha256
    criteria = HoldCriteria(
        ip="192.0.2.50",
        start=datetime(2026, 11, 18, tzinfo=UTC),
        end=datetime(2026, 11, 18, 23, tzinfo=UTC),
        kinds=("dhcp",),
    )
    place_hold(store, "NL-PR-7", criteria, "user:x", NOW)
    purge(store, NOW)
    lines = LEASES.splitlines()
    shown = {n for n in range(1, len(lines) + 1) if _readable(store, sha, n) is not None}
    assert shown == set(range(2, 8)) | set(range(14, 19))
    assert store.read_source_line(sha, 5) == lines[4]


def test_source_line_command_says_purged(tmp_path: Path) -> None:
    root = tmp_path / "traffic"
    store = _store(root)
    sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
    _hold(store)
    purge(store, NOW)
    runner = CliRunner()
    held = runner.invoke(
        app, ["source-line", "--data-dir", str(root), "--sha256", sha, "--line", "7"]
    )
    assert held.exit_code == 0 and held.output.strip() == ASA_LINES[6]
    gone = runner.invoke(
        app, ["source-line", "--data-dir", str(root), "--sha256", sha, "--line", "2"]
    )
    assert gone.exit_code != 0
    said = " ".join(gone.output.split())  # the console wraps long lines
    assert "line 2 of asa.log" in said and "was purged on 2026-11-21" in said
    assert "203.0.113.2" not in gone.output


CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime, UTC
    from pathlib import Path
    from trailguard.traffic.store import TrafficStore
    from trailguard.traffic.retention import purge
    purge(TrafficStore(Path(sys.argv[1])), datetime(2026, 11, 21, 12, tzinfo=UTC))
""")


@pytest.mark.parametrize("point", ["purge:staged", "purge:moved", "purge:published"])
def test_sigkill_mid_purge_leaves_old_or_new_originals(tmp_path: Path, point: str) -> None:
    store = _store(tmp_path / "traffic")
    root = store.root
    sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
    hold_id = _hold(store)
    marker = tmp_path / "marker"
    env = dict(
        os.environ,
        TRAILGUARD_TRAFFIC_CRASH_AT=point,
        TRAILGUARD_TRAFFIC_CRASH_MARKER=str(marker),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"child ended before {point}: {child.communicate()[1].decode()}")
            if time.monotonic() > deadline:
                pytest.fail(f"child never reached {point}")
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    after = TrafficStore(root)  # recovery runs here
    source = after.manifest().sources[sha]
    assert sorted(p.name for p in (root / "sources").iterdir()) == [Path(source.stored_as).name]
    assert list((root / "staging").iterdir()) == []
    shown = {n for n in range(1, 12) if _readable(after, sha, n) is not None}
    if point != "purge:published":  # killed before the manifest named the new files
        assert shown == set(range(1, 12)) and after.verify_source(sha)  # the old state
    else:
        assert shown == HELD | LIVE and after.verify_source(sha)  # the new state
    for n in HELD:
        assert after.read_source_line(sha, n) == ASA_LINES[n - 1]
    assert verify_hold(after, hold_id)


def test_purge_through_the_node_is_audited_with_counts(tmp_path: Path, database_url: str) -> None:
    """The node's purge takes its time from the node's clock and writes the counts, raw lines
    included, to the audit chain."""
    import json

    from helpers import make_node
    from trailguard.audit.service import iter_entries
    from trailguard.core.clock import FixedClock
    from trailguard.traffic import service

    node = make_node(tmp_path / "node", database_url, roles=["provider"], clock=FixedClock(NOW))
    try:
        store = service.store_for(node)
        config = store.config
        config.retention_days["nat"] = 1
        save_config(store.root, config)
        store.config = config
        sha = _ingest(store, tmp_path / "asa.log", ASA_LINES, tz="UTC")
        _hold(store)
        report = service.purge(node, "system:test")
        assert report.now == NOW.isoformat()
        with node.db.session() as session:
            entry = [e for e in iter_entries(session) if e.action == "traffic.purge"][-1]
        details = json.loads(entry.details)
        assert details["source_lines_purged"] == 6
        assert details["source_lines_kept_for_holds"] == 2
        assert details["sources_rewritten"] == 1 and details["records_kept_for_holds"] == 2
        assert details["records_deleted"] == 2
        assert {n for n in range(1, 12) if _readable(store, sha, n) is not None} == HELD | LIVE
    finally:
        node.close()
