"""``traffic synth`` for the issue 6 formats: every file parses cleanly, ingests, and every
answer-key lookup names the expected subscriber (for port blocks: the holder of the block, and
the match says it rests on a block, not a session)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from trailguard.traffic.cli import app
from trailguard.traffic.model import ParseOptions
from trailguard.traffic.query import flows, lookup, lookup_many
from trailguard.traffic.store import TrafficStore, open_store
from trailguard.traffic.synth import SynthResult, write_synthetic
from trailguard.traffic.values import to_us

TOL = timedelta(seconds=2)


def _key(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ingest(tmp_path: Path, result: SynthResult) -> TrafficStore:
    store = open_store(tmp_path / "data")
    for fmt, path in result.inputs:
        report = store.ingest_file(
            path, provider="rio-litoral", format_name=fmt, options=ParseOptions(tz=result.tz)
        )
        assert report.refused is None, (path, report.refused)
        assert report.bad_line_count == 0, (path, report.bad_lines[:3])
        assert report.records_stored > 0, path
    return store


def _check_key(store: TrafficStore, key: list[dict[str, Any]]) -> None:
    ats = np.array([to_us(datetime.fromisoformat(k["at"])) for k in key], dtype=np.int64)
    best = lookup_many(
        store, [k["public_ip"] for k in key], [k["public_port"] for k in key], ats, TOL
    ).best_table()
    got = list(
        zip(
            best.column("inside_ip").to_pylist(),
            best.column("inside_port").to_pylist(),
            best.column("subscriber").to_pylist(),
            strict=True,
        )
    )
    want = [(k["inside_ip"], k["inside_port"], k["subscriber"]) for k in key]
    wrong = [(k, g) for k, g, w in zip(key, got, want, strict=True) if g != w]
    assert not wrong, f"{len(wrong)} of {len(key)} lookups wrong, first: {wrong[:2]}"
    # one by one too: the port-block matches say so, with the block and its records
    for k in key:
        answer = lookup(
            store, k["public_ip"], k["public_port"], datetime.fromisoformat(k["at"]), TOL
        )
        assert answer.best is not None and answer.best.subscriber == k["subscriber"], k
        assert len(answer.matches) == 1, (k, [m.to_json() for m in answer.matches])
        if k.get("kind") == "port_block":
            assert answer.best.kind == "port_block"
            assert list(answer.best.port_block or ()) == k["port_block"]
            assert answer.best.to_json()["port_block"] == k["port_block"]
        elif k.get("kind") == "nat":
            assert answer.best.kind == "nat" and answer.best.port_block is None
        sources = {r.source_file for r in answer.best.records}
        if "source" in k:
            assert k["source"] in sources, (k, sources)


def test_juniper_pba_synth_ingest_and_key(tmp_path: Path) -> None:
    result = write_synthetic("juniper-pba", tmp_path / "s", 3000, seed=3, days=2, lookups=60)
    assert result.lookups == 60 and result.subscribers >= 10
    text = result.files["juniper-pba"].read_text()
    for event in ("ALLOC", "ACTIVE", "RELEASE"):
        assert f"JSERVICES_NAT_PORT_BLOCK_{event}: 100." in text
    key = _key(result.answer_key)
    assert all(k["kind"] == "port_block" for k in key)
    for k in key:  # the asked port lies in the block, of the Juniper default size 128
        lo, hi = k["port_block"]
        assert lo <= k["public_port"] <= hi and hi - lo + 1 == 128
    store = _ingest(tmp_path, result)
    assert store.stats()["kinds"]["port_block"]["rows"] == result.records
    _check_key(store, key)


def test_cisco_xr_cgn_synth_has_blocks_and_sessions(tmp_path: Path) -> None:
    result = write_synthetic("cisco-xr-cgn", tmp_path / "s", 4000, seed=4, days=2, lookups=80)
    text = result.files["cisco-xr-cgn"].read_text()
    for event in ("[UserbasedA - ", "[UserbasedW - ", "[SessionbasedA ", "[SessionbasedW ",
                  "[SessionbasedAD ", "[SessionbasedWD "):  # fmt: skip
        assert event in text, event
    assert "][" in text  # messages of one second share a datagram
    key = _key(result.answer_key)
    kinds = {k["kind"] for k in key}
    assert kinds == {"port_block", "nat"}
    store = _ingest(tmp_path, result)
    kinds_stored = store.stats()["kinds"]
    assert kinds_stored["port_block"]["rows"] + kinds_stored["nat"]["rows"] == result.records
    _check_key(store, key)


def test_netflow_synth_v5_v9_ipfix_and_pcap(tmp_path: Path) -> None:
    from trailguard.traffic.parsers import netflow as nf

    result = write_synthetic("netflow", tmp_path / "s", 3000, seed=5, days=1, lookups=60)
    names = {p.name for _, p in result.inputs if _ == "netflow"}
    assert names == {"nat44-v9.bin", "nat-ipfix.pcap", "port-blocks.ipfix", "flows-v5.bin"}
    paths = {p.name: p for _, p in result.inputs}
    # the files are what their names say: v9 and IPFIX packets with templates, a pcap
    assert paths["nat44-v9.bin"].read_bytes()[:2] == b"\x00\x09"
    assert paths["port-blocks.ipfix"].read_bytes()[:2] == b"\x00\x0a"
    assert paths["flows-v5.bin"].read_bytes()[:2] == b"\x00\x05"
    assert nf.is_pcap(paths["nat-ipfix.pcap"].read_bytes())
    decoded = {
        name: [b for b in nf.PARSER.parse(paths[name], ParseOptions())]
        for name in ("nat44-v9.bin", "nat-ipfix.pcap", "port-blocks.ipfix")
    }
    events = {
        name: {s for b in batches for s in b.table.column("session_id").to_pylist()}
        for name, batches in decoded.items()
    }
    assert events["nat44-v9.bin"] == {"natEvent=1", "natEvent=2"}  # Cisco NEL create/delete
    assert events["nat-ipfix.pcap"] == {"natEvent=4", "natEvent=5"}  # NAT44 session
    assert events["port-blocks.ipfix"] == {"natEvent=16", "natEvent=17"}  # port blocks
    assert sum(b.table.num_rows for bs in decoded.values() for b in bs) == result.records
    key = _key(result.answer_key)
    assert {k["source"] for k in key} == {"nat44-v9.bin", "nat-ipfix.pcap", "port-blocks.ipfix"}
    store = _ingest(tmp_path, result)
    _check_key(store, key)
    # the v5 flows of the inside side are found by `flows`
    flow_key = _key(tmp_path / "s" / "flows_key.jsonl")
    assert len(flow_key) >= 10
    for k in flow_key:
        found = flows(
            store, k["ip"], datetime.fromisoformat(k["start"]), datetime.fromisoformat(k["end"])
        )
        assert any(
            r.kind == "flow" and r.public_port == k["src_port"] and r.source_file == "flows-v5.bin"
            for r in found
        ), k


def test_kea_leases_synth_v4_and_v6(tmp_path: Path) -> None:
    result = write_synthetic("kea-leases", tmp_path / "s", 400, seed=6, days=2, lookups=40)
    assert [p.name for _, p in result.inputs] == ["kea-leases4.csv", "kea-leases6.csv"]
    assert result.subscribers == 100 and result.records == 400
    key = _key(result.answer_key)
    versions = {":" in k["public_ip"] for k in key}
    assert versions == {True, False}  # both v4 and v6 addresses are asked about
    assert all(k["public_ip"].startswith(("100.", "2001:db8:1:")) for k in key)
    store = _ingest(tmp_path, result)
    assert store.stats()["kinds"]["dhcp"]["rows"] == 400
    _check_key(store, key)


def test_kea_as_the_assignment_log_of_a_nat_format(tmp_path: Path) -> None:
    result = write_synthetic(
        "juniper-pba", tmp_path / "s", 600, seed=7, assignment="kea-leases", lookups=20
    )
    assert [f for f, _ in result.inputs] == ["kea-leases", "juniper-pba"]
    _check_key(_ingest(tmp_path, result), _key(result.answer_key))


def test_same_seed_same_files(tmp_path: Path) -> None:
    for fmt in ("juniper-pba", "cisco-xr-cgn", "netflow", "kea-leases"):
        a = write_synthetic(fmt, tmp_path / fmt / "a", 500, seed=9)
        b = write_synthetic(fmt, tmp_path / fmt / "b", 500, seed=9)
        c = write_synthetic(fmt, tmp_path / fmt / "c", 500, seed=10)
        for (_, pa_), (_, pb), (_, pc_) in zip(a.inputs, b.inputs, c.inputs, strict=True):
            assert pa_.read_bytes() == pb.read_bytes() != pc_.read_bytes(), pa_
        assert a.answer_key.read_text() == b.answer_key.read_text()


def test_too_many_blocks_for_the_pool_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        write_synthetic(
            "juniper-pba", tmp_path, 200_000, seed=1, public_pool="203.0.113.8/30",
            public_ports=(1024, 1279),
        )  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 addresses"):
        write_synthetic("cisco-xr-cgn", tmp_path, 100, seed=1, public_pool="203.0.113.9/32")


runner = CliRunner()


@pytest.mark.parametrize("fmt", ["juniper-pba", "cisco-xr-cgn", "netflow", "kea-leases"])
def test_cli_synth_then_ingest_then_lookup(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    result = runner.invoke(
        app, ["synth", "--records", "400", "--format", fmt, "--out", str(out), "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "answer key" in result.output
    files = sorted(p for p in out.iterdir() if not p.name.endswith("_key.jsonl"))
    assert files
    data = tmp_path / "data"
    # every file written is recognised by the format detection (no --format given)
    ingested = runner.invoke(
        app,
        ["ingest", "--data-dir", str(data), "--provider", "rio", "--tz", "UTC", "--json",
         *[str(p) for p in files]],
    )  # fmt: skip
    assert ingested.exit_code == 0, ingested.output
    reports = json.loads(ingested.output)
    reports = reports if isinstance(reports, list) else reports.get("files", reports)
    assert fmt in json.dumps(reports)
    key = _key(out / "answer_key.jsonl")
    assert key
    for k in key[:5]:
        args = ["lookup", "--data-dir", str(data), "--ip", k["public_ip"], "--at", k["at"],
                "--json"]  # fmt: skip
        if k["public_port"] is not None:
            args += ["--port", str(k["public_port"])]
        looked = runner.invoke(app, args)
        assert looked.exit_code == 0, looked.output
        matches = json.loads(looked.output)["matches"]
        assert matches and matches[0]["subscriber"] == k["subscriber"]
        if k.get("kind") == "port_block":
            assert matches[0]["port_block"] == k["port_block"]


def test_cli_synth_unknown_format_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "--records", "10", "--format", "zeek-conn", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "no synthetic writer" in result.output and "juniper-pba" in result.output
