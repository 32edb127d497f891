"""``trailguard traffic`` on a bare directory and on a node's data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trailguard.traffic.cli import app, parse_duration

runner = CliRunner()

LINES = [
    "Nov 20 2026 08:00:00 fw1 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.12.7/40001 to outside:203.0.113.77/51512",
    "Nov 20 2026 08:00:01 fw1 %ASA-6-302013: Built outbound TCP connection 1 for x",
    "Nov 20 2026 08:00:30 fw1 %ASA-6-305012: Teardown dynamic TCP translation from "
    "inside:100.64.12.7/40001 to outside:203.0.113.77/51512 duration 0:00:30",
    "Nov 20 2026 08:00:31 fw1 %ASA-6-305011: Built dynamic TCP translation from "
    "inside:100.64.12.8/40002 to outside:203.0.113.77/99999",
]


def write_log(tmp_path: Path) -> Path:
    path = tmp_path / "asa.log"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def ingest(data: Path, *args: str, provider: str = "rio") -> tuple[int, str]:
    """``traffic ingest`` into ``data`` (UTC logs); ``args``: options, then the files."""
    return run("ingest", "--data-dir", str(data), "--provider", provider, "--tz", "UTC", *args)


def lookup(data: Path, ip: str, port: str, at: str, *args: str) -> tuple[int, str]:
    return run("lookup", "--data-dir", str(data), "--ip", ip, "--port", port, "--at", at, *args)


def test_ingest_lookup_stats_on_bare_dir(tmp_path: Path) -> None:
    data = tmp_path / "provider-data"
    code, out = ingest(data, str(write_log(tmp_path)))
    assert code == 0, out
    assert "4 lines read, 2 records stored" in out
    assert "1 bad lines" in out and "line 4:" in out
    assert (data / "traffic" / "manifest.json").exists()
    code, out = lookup(data, "203.0.113.77", "51512", "2026-11-20T08:00:10Z", "--json")
    assert code == 0, out
    body = json.loads(out)
    assert set(body) == {"query", "matches", "ambiguous", "ambiguity"}
    match = body["matches"][0]
    assert match["inside_ip"] == "100.64.12.7" and match["inside_port"] == 40001
    assert match["public_ip"] == "203.0.113.77" and match["public_port"] == 51512
    assert match["start"] == "2026-11-20T08:00:00Z" and match["end"] == "2026-11-20T08:00:30Z"
    assert match["subscriber"] is None
    assert sorted(r["source_line"] for r in match["records"]) == [1, 3]
    assert all(r["source_file"] == "asa.log" for r in match["records"])
    code, out = lookup(data, "203.0.113.77", "51512", "2026-11-20T08:00:10Z")
    assert code == 0 and "100.64.12.7" in out and "asa.log:3" in out
    code, out = run("stats", "--data-dir", str(data), "--json")
    assert code == 0 and json.loads(out)["records"] == 2
    sha = json.loads((data / "traffic" / "manifest.json").read_text())["sources"]
    (digest,) = sha
    code, out = run("source-line", "--data-dir", str(data), "--sha256", digest, "--line", "3")
    assert code == 0 and out.strip() == LINES[2]
    code, out = run(
        "query",
        "--data-dir",
        str(data),
        "--json",
        "select event, count(*) as n from records group by event order by event",
    )
    assert code == 0 and json.loads(out) == [
        {"event": "create", "n": 1},
        {"event": "teardown", "n": 1},
    ]


def test_refused_file_exits_non_zero_and_stores_nothing(tmp_path: Path) -> None:
    data = tmp_path / "d"
    bad = tmp_path / "bad.log"
    bad.write_text("hello\nworld\n", encoding="utf-8")
    code, out = ingest(data, "--format", "cisco-asa", str(bad))
    assert code == 1 and "refused" in out and "nothing stored" in out
    code, out = run("stats", "--data-dir", str(data), "--json")
    assert json.loads(out)["records"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "203.0.113.77", "--port", "51512", "--at", "2026-11-20T08:00:10"], "no zone"),
        (["--ip", "203.0.113.77", "--port", "51512", "--at", "yesterday"], "not ISO 8601"),
        (["--ip", "203.0.113.77", "--port", "70000", "--at", "2026-11-20T08:00:10Z"], "65535"),
        (["--ip", "not-an-ip", "--port", "1", "--at", "2026-11-20T08:00:10Z"], "not-an-ip"),
        (["--ip", "203.0.113.77", "--at", "2026-11-20T08:00:10Z", "--tolerance", "soon"], "soon"),
    ],
)
def test_lookup_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["lookup", "--data-dir", str(tmp_path), *args])
    assert result.exit_code != 0
    assert message in (result.output + str(result.stderr if result.stderr_bytes else ""))


def test_holds_flows_and_purge_on_bare_dir(tmp_path: Path) -> None:
    data = tmp_path / "d"
    ingest(data, str(write_log(tmp_path)))
    code, out = run(
        "hold",
        "place",
        "--data-dir",
        str(data),
        "--reference",
        "NL-PR-1",
        "--ip",
        "203.0.113.77",
        "--port",
        "51512",
        "--start",
        "2026-11-20T07:59:00Z",
        "--end",
        "2026-11-20T08:01:00Z",
        "--json",
    )
    assert code == 0, out
    hold = json.loads(out)
    assert hold["records"] == 2 and len(hold["sha256"]) == 64
    code, out = run("hold", "list", "--data-dir", str(data), "--json")
    assert [h["hold_id"] for h in json.loads(out)] == [hold["hold_id"]]
    code, out = run(
        "flows",
        "--data-dir",
        str(data),
        "--ip",
        "100.64.12.7",
        "--start",
        "2026-11-20T07:00:00Z",
        "--end",
        "2026-11-20T09:00:00Z",
        "--json",
    )
    assert code == 0 and len(json.loads(out)) == 2
    code, out = run("purge", "--data-dir", str(data), "--now", "2027-12-01T00:00:00Z", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["records_kept_for_holds"] == 2 and report["records_deleted"] == 0
    code, out = run(
        "hold",
        "release",
        "--data-dir",
        str(data),
        "--hold-id",
        hold["hold_id"],
        "--reason",
        "preservation ended",
    )
    assert code == 0, out
    code, out = run("purge", "--data-dir", str(data), "--now", "2027-12-01T00:00:00Z", "--json")
    assert json.loads(out)["records_deleted"] == 2
    code, out = run("hold", "release", "--data-dir", str(data), "--hold-id", "hold-nope")
    assert code == 2 and "not a hold id" in out


def test_node_data_dir_uses_users_and_audit(tmp_path: Path) -> None:
    from helpers import add_user, make_node
    from trailguard.accounts.domain import Role

    node = make_node(
        tmp_path, f"sqlite:///{tmp_path / 'nl.db'}", node_id="nl-polderhost", roles=["provider"]
    )
    liaison = add_user(node, [Role.PROVIDER_LIAISON])
    investigator = add_user(node, [Role.INVESTIGATOR])
    data_dir = node.paths.data_dir
    node.close()
    import os

    os.environ["TRAILGUARD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nl.db'}"
    try:
        code, out = ingest(data_dir, str(write_log(tmp_path)), provider="polderhost")
        assert code == 0, out
        assert (data_dir / "traffic" / "manifest.json").exists()
        args = [
            "hold",
            "place",
            "--data-dir",
            str(data_dir),
            "--reference",
            "NL-PR-7",
            "--ip",
            "203.0.113.77",
            "--start",
            "2026-11-20T07:00:00Z",
            "--end",
            "2026-11-20T09:00:00Z",
        ]
        code, out = run(*args, "--user", investigator)
        assert code == 2 and "provider_liaison or admin" in out
        code, out = run(*args)
        assert code != 0 and "--user" in out
        code, out = run(*args, "--user", liaison)
        assert code == 0, out
    finally:
        del os.environ["TRAILGUARD_DATABASE_URL"]


def test_parse_duration() -> None:
    from datetime import timedelta

    import typer

    assert parse_duration("2s") == timedelta(seconds=2)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    assert parse_duration("-1.5s") == timedelta(seconds=-1.5)
    assert parse_duration("3h") == timedelta(hours=3)
    assert parse_duration("90") == timedelta(seconds=90)
    with pytest.raises(typer.BadParameter, match="2 parsecs"):
        parse_duration("2 parsecs")


def test_formats_and_synth_then_ingest_and_answer_key(tmp_path: Path) -> None:
    pytest.importorskip("trailguard.traffic.synth")
    code, out = run("formats", "--json")
    assert code == 0
    names = {f["name"] for f in json.loads(out)}
    assert "cisco-asa" in names
    code, out = run(
        "synth",
        "--records",
        "2000",
        "--format",
        "cisco-asa",
        "--out",
        str(tmp_path / "logs"),
        "--seed",
        "3",
    )
    assert code == 0, out
    assert "answer key" in out
    logs = sorted(p for p in (tmp_path / "logs").iterdir() if p.name != "answer_key.jsonl")
    code, out = ingest(tmp_path / "d", *[str(p) for p in logs])
    assert code == 0, out
    entry = json.loads((tmp_path / "logs" / "answer_key.jsonl").read_text().splitlines()[0])
    code, out = lookup(
        tmp_path / "d", entry["public_ip"], str(entry["public_port"]), entry["at"], "--json"
    )
    assert code == 0, out
    assert json.loads(out)["matches"][0]["subscriber"] == entry["subscriber"]


def test_synth_lists_every_file_it_wrote(tmp_path: Path) -> None:
    """NetFlow synth writes several files (v9, IPFIX in pcap, an IPFIX file, v5 flows) beside
    the assignment log: the command names each one with its format."""
    out_dir = tmp_path / "nf"
    code, out = run(
        "synth", "--records", "400", "--format", "netflow", "--out", str(out_dir), "--seed", "2"
    )
    assert code == 0, out
    written = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".bin", ".pcap", ".ipfix"))
    assert len(written) >= 3
    for name in written:
        assert name in out
    code, out = run("synth", "--records", "10", "--format", "no-such", "--out", str(out_dir))
    assert code != 0 and "no synthetic writer" in out
