"""Packages: the CLI contracts, BagIt and CASE/UCO conformance, custody, and every bad input
of issue 14 refused with the item, file or event named."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest
from evidence_kit import TRACE_TEMPLATE, app, flat, flip_byte, package, runner, verify_json
from sqlalchemy import select

from helpers import make_node
from trailguard.accounts.domain import Principal, Role
from trailguard.audit.orm import AuditEntryRow
from trailguard.core.clock import FixedClock
from trailguard.core.errors import PermissionDenied, ValidationFailed
from trailguard.evidence import domain
from trailguard.evidence.bag import CASE_FILE, PayloadMode
from trailguard.evidence.caseuco import Connection, trace_objects
from trailguard.evidence.domain import LegalBasis, hash_file
from trailguard.evidence.orm import EvidenceCustodyRow, EvidenceItemRow
from trailguard.evidence.service import (
    PackageResult,
    create_package,
    custody_events,
    export_public_keys,
    investigation_traces,
    verify_item_chain,
    verify_package,
)
from trailguard.investigations.domain import ObservationIn, SourceKind, parse_instant
from trailguard.investigations.service import add_observations, create_investigation
from trailguard.network.directory import DirectoryEntry, EntryKind
from trailguard.network.directory_service import save_entry
from trailguard.node import Node
from trailguard.trace import service as trace_service
from trailguard.trace.domain.case_uco import case_bundle

START = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)


def _public_key(node: Node, path: Path) -> Path:
    path.write_text(json.dumps(export_public_keys(node)), encoding="utf-8")
    return path


def test_cli_package_and_verify_contract(nl: Node, files: list[Path], tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    result = runner.invoke(
        app,
        [
            "evidence",
            "package",
            "--data-dir",
            str(nl.paths.data_dir),
            "--reference",
            "NL-PR-2026-0042",
            "--basis",
            "preservation: NL-PR-2026-0042",
            "--out",
            str(bag),
            *map(str, files),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(bag)
    key = _public_key(nl, tmp_path / "nl.pub")
    code, answer = verify_json(bag, "--public-key", str(key))
    assert code == 0, answer
    assert answer["ok"] is True and answer["problems"] == []
    assert sorted(item["file_name"] for item in answer["items"]) == [
        "bank_log_extract.log",
        "polderhost-flows.csv",
    ]
    # the digests are those of the original files (independent reference: hashlib)
    expected = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert {item["sha256"] for item in answer["items"]} == expected
    human = runner.invoke(
        app, ["evidence", "verify", str(bag), "--data-dir", str(nl.paths.data_dir)]
    )
    assert human.exit_code == 0, human.output
    assert "verified" in flat(human.stdout)


def test_bad_basis_is_refused_by_the_cli(nl: Node, files: list[Path], tmp_path: Path) -> None:
    for basis, needle in (
        ("because", "KIND: reference"),
        ("hunch: 1", "unknown legal basis kind"),
        ("art32b: chat with the victim", "consent"),
    ):
        result = runner.invoke(
            app,
            [
                "evidence",
                "package",
                "--data-dir",
                str(nl.paths.data_dir),
                "--reference",
                "R",
                "--basis",
                basis,
                "--out",
                str(tmp_path / "never"),
                str(files[0]),
            ],
        )
        assert result.exit_code == 2, result.output
        assert needle in flat(result.output)
        assert not (tmp_path / "never").exists()
    with nl.db.session() as session:
        assert session.scalars(select(EvidenceItemRow)).all() == []


def test_art32b_basis_carries_the_consent_record() -> None:
    basis = LegalBasis.parse("art32b: interview 2026-11-20", consent_record="signed form F-17")
    assert basis.to_json()["consent_record"] == "signed form F-17"
    with pytest.raises(ValidationFailed):
        LegalBasis.parse("mla: US-MLA-1", consent_record="not for MLA")


def _with_connections(node: Node, files: list[Path], out: Path) -> PackageResult:
    """A package that also describes the trace's network connections (IPv4 and IPv6)."""
    return create_package(
        node,
        out=out,
        reference="NL-PR-2026-0042",
        basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
        user="alice",
        files=files,
        connections=[
            Connection("203.0.113.77", 51512, "198.51.100.23", 22, START),
            Connection("2001:db8:200::7", None, "2001:db8:100::23", 443, START),
        ],
        trace_bundles=[_trace_bundle()],
    )


def _trace_bundle() -> dict:
    """A trace's CASE/UCO export as the trace capability makes it (its own exporter, on a
    two-hop graph): the connections, the provider operating an address, the subscriber."""
    graph = {
        "trace": {"id": "trace-1", "label": "bank intrusion"},
        "nodes": [
            {"id": "victim", "type": "victim", "label": "bank proxy"},
            {"id": "endpoint:198.51.100.23", "type": "endpoint", "ip": "198.51.100.23", "port": 22},
            {"id": "endpoint:203.0.113.77", "type": "endpoint", "ip": "203.0.113.77",
             "port": 51512},
            {"id": "provider:nl-polderhost", "type": "provider", "node_id": "nl-polderhost",
             "organisation": "Polderhost", "country": "NL"},
            {"id": "subscriber", "type": "subscriber", "identified_by": "Rio Litoral"},
        ],
        "edges": [
            {"type": "connection", "from": "victim", "to": "endpoint:198.51.100.23",
             "hop": 1, "confidence": "exact"},
            {"type": "connection", "from": "endpoint:203.0.113.77",
             "to": "endpoint:198.51.100.23", "at": "2026-11-20T08:10:00Z", "protocol": "tcp",
             "hop": 2, "confidence": "exact"},
            {"type": "operated_by", "from": "endpoint:198.51.100.23",
             "to": "provider:nl-polderhost"},
            {"type": "session", "from": "subscriber", "to": "endpoint:203.0.113.77"},
        ],
    }  # fmt: skip
    return case_bundle(
        graph, {"id": "case-1", "reference": "US-2026-NJ", "title": "Harbor Mutual Bank"}
    )


def test_bag_conforms_to_bagit_and_case(nl: Node, files: list[Path], tmp_path: Path) -> None:
    result = _with_connections(nl, files, tmp_path / "bag")
    bag = bagit.Bag(str(result.path))
    bag.validate()  # the bagit library's own full check (RFC 8493)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert bag.info["External-Identifier"] == "NL-PR-2026-0042"
    case_validate = Path(sys.executable).with_name("case_validate")
    answer = subprocess.run(
        [str(case_validate), str(result.path / "case-uco.jsonld")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "Conforms: True" in answer.stdout
    document = json.loads((result.path / "case-uco.jsonld").read_text())
    kinds = {node["@type"] for node in document["@graph"]}
    assert {
        "case-investigation:Investigation",
        "case-investigation:Authorization",
        "case-investigation:InvestigativeAction",
        "case-investigation:ProvenanceRecord",
        "uco-observable:File",
        "uco-identity:Organization",
        "uco-role:Role",
        "uco-tool:Tool",
        "uco-observable:NetworkConnection",
        "uco-observable:IPv4Address",
        "uco-observable:IPv6Address",
    } <= kinds
    hashes = [
        facet["uco-observable:hash"]
        for node in document["@graph"]
        if node["@type"] == "uco-observable:File"
        for facet in node["uco-core:hasFacet"]
        if facet["@type"] == "uco-observable:ContentDataFacet"
    ]
    sha256 = {h["uco-types:hashValue"]["@value"].lower() for hs in hashes for h in hs}
    assert {hashlib.sha256(f.read_bytes()).hexdigest() for f in files} <= sha256
    # the trace's network connections and their relationships, in the package's investigation
    trace_ids = {o["@id"] for o in trace_objects(_trace_bundle())}
    graph_ids = {node["@id"] for node in document["@graph"]}
    assert trace_ids <= graph_ids
    [investigation] = [
        n for n in document["@graph"] if n["@type"] == "case-investigation:Investigation"
    ]
    assert trace_ids <= {ref["@id"] for ref in investigation["uco-core:object"]}
    merged = [n for n in document["@graph"] if n["@id"] in trace_ids]
    kinds_of_relationship = {
        n["uco-core:kindOfRelationship"] for n in merged if n["@type"] == "uco-core:Relationship"
    }
    assert kinds_of_relationship == {"Operated_By", "Used_Address"}
    connections = [n for n in merged if n["@type"] == "uco-observable:NetworkConnection"]
    assert len(connections) == 2
    ports = {c["uco-core:hasFacet"][0].get("uco-observable:sourcePort") for c in connections}
    assert 51512 in ports


def test_trace_export_with_other_prefixes_is_refused() -> None:
    bundle = _trace_bundle()
    bundle["@context"] = {**bundle["@context"], "uco-core": "https://example.org/other/"}
    with pytest.raises(ValueError, match="prefix uco-core"):
        trace_objects(bundle)


def test_case_terms_exist_in_the_ontology(nl: Node, files: list[Path], tmp_path: Path) -> None:
    """case_validate does not flag unknown properties; check each term against CASE 1.5.0."""
    import case_utils.ontology
    import rdflib

    result = _with_connections(nl, files, tmp_path / "bag")
    ontology_dir = Path(case_utils.ontology.__file__).parent
    graph = rdflib.Graph()
    graph.parse(ontology_dir / "case-1.5.0.ttl")
    known = {str(s) for s in graph.subjects()}
    document = json.loads((result.path / "case-uco.jsonld").read_text())
    context = document["@context"]

    def expand(term: str) -> str:
        prefix, _, local = term.partition(":")
        return context[prefix] + local

    used: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "@type" and isinstance(inner, str) and not inner.startswith("xsd:"):
                    used.add(expand(inner))
                elif not key.startswith("@"):
                    used.add(expand(key))
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(document["@graph"])
    assert sorted(used - known) == []


def test_legacy_hashes_are_extras(tmp_path: Path, files: list[Path]) -> None:
    digests = hash_file(files[0], legacy=True)
    data = files[0].read_bytes()
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.sha1 == hashlib.sha1(data).hexdigest()
    assert digests.sha512 == hashlib.sha512(data).hexdigest()
    assert hash_file(files[0]).md5 is None


def test_custody_chain_signed_audited_and_checked(
    nl: Node, files: list[Path], tmp_path: Path
) -> None:
    result = package(nl, files, tmp_path / "bag")
    with nl.db.session() as session:
        for item_id in result.item_ids:
            events = custody_events(session, item_id)
            assert [e.action.value for e in events] == ["acquired", "sealed", "packaged"]
            assert {e.user for e in events} == {"alice"}
            assert events[0].local_time.endswith("+01:00")  # Amsterdam in November
            assert verify_item_chain(session, nl, item_id) is None
        actions = session.scalars(select(AuditEntryRow.action)).all()
        assert actions.count("evidence.custody.packaged") == 2
        assert "evidence.package.created" in actions
        # an event altered in the database is named
        row = session.scalars(
            select(EvidenceCustodyRow).where(
                EvidenceCustodyRow.item_id == result.item_ids[0], EvidenceCustodyRow.seq == 2
            )
        ).one()
        event = json.loads(row.event)
        event["user"] = "mallory"
        row.event = json.dumps(event)
        session.flush()
        problem = verify_item_chain(session, nl, result.item_ids[0])
        assert problem is not None and "custody event 2 (sealed) was altered" in problem
        session.rollback()


def test_packaging_streams(nl: Node, tmp_path: Path) -> None:
    # the pipeline holds BUFFERS chunks of CHUNK bytes; the file is three times that
    pipeline = domain.BUFFERS * domain.CHUNK
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        for i in range(3 * pipeline >> 20):
            handle.write(bytes([i % 256]) * (1 << 20))
    tracemalloc.start()
    try:
        result = package(nl, [big], tmp_path / "bag")
        report = verify_package(result.path, node=nl)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems
    assert peak < pipeline + (4 << 20), f"peak {peak} bytes for a {3 * pipeline} byte file"


def test_hash_stream_copies_to_every_sink_in_order() -> None:
    # several chunks, the last one short: every sink gets the same bytes, the digests match
    data = bytes(range(256)) * ((domain.CHUNK * 3 + 12345) // 256)
    sinks = [io.BytesIO(), io.BytesIO()]
    digests = domain.hash_stream(io.BytesIO(data), sink=sinks[0], sinks=sinks[1:])
    assert all(sink.getvalue() == data for sink in sinks)
    assert digests.size == len(data)
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.sha512 == hashlib.sha512(data).hexdigest()


def test_copies_around_the_page_cache_are_exact_and_never_overwrite(tmp_path: Path) -> None:
    # two full chunks and an unaligned tail (written the ordinary way), to two new files
    data = bytes(range(251)) * ((2 * domain.CHUNK + 4097) // 251)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    targets = [tmp_path / "store.bin", tmp_path / "bag.bin"]
    with (
        source.open("rb", buffering=0) as reader,
        domain.open_for_copy(targets[0]) as store,
        domain.open_for_copy(targets[1]) as bag,
    ):
        digests = domain.hash_stream(reader, sink=store, sinks=[bag], durable=True)
    assert [t.read_bytes() == data for t in targets] == [True, True]
    assert digests.sha512 == hashlib.sha512(data).hexdigest()
    with pytest.raises(FileExistsError):
        domain.open_for_copy(targets[0])
    assert targets[0].read_bytes() == data


def test_hash_stream_raises_a_failed_write() -> None:
    class Full(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        domain.hash_stream(io.BytesIO(b"x" * 5000), sinks=[Full()])


def _stored(nl: Node, item_id: str) -> Path:
    with nl.db.session() as session:
        row = session.get(EvidenceItemRow, item_id)
        assert row is not None
        return nl.paths.data_dir / "evidence" / row.stored_path


def test_new_files_are_read_once_into_store_and_bag(
    nl: Node, files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = domain.hash_stream

    def counting(source, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(Path(source.name).name)
        return real(source, **kwargs)

    monkeypatch.setattr("trailguard.evidence.service.hash_stream", counting)
    monkeypatch.setattr("trailguard.evidence.bag.hash_stream", counting)
    result = package(nl, files, tmp_path / "bag")
    # one pass per source file (store and bag written from it), none over the payload again
    assert sorted(reads) == sorted(f.name for f in files)
    for item_id in result.item_ids:
        in_bag = next((result.path / "data" / item_id).iterdir())
        store = _stored(nl, item_id)
        assert in_bag.read_bytes() == store.read_bytes()
        assert in_bag.stat().st_ino != store.stat().st_ino  # an independent copy
    bagit.Bag(str(result.path)).validate()
    assert verify_package(result.path, node=nl).ok


def test_linked_payload_is_the_store_copy_and_a_change_is_caught(
    nl: Node, files: list[Path], tmp_path: Path
) -> None:
    result = create_package(
        nl,
        out=tmp_path / "bag",
        reference="NL-PR-2026-0042",
        basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
        user="alice",
        files=files,
        payload=PayloadMode.LINK,
    )
    bagit.Bag(str(result.path)).validate()
    assert verify_package(result.path, node=nl).ok
    first = result.item_ids[0]
    in_bag = next((result.path / "data" / first).iterdir())
    assert in_bag.stat().st_ino == _stored(nl, first).stat().st_ino  # no second write
    # the policy's price: a change made in place in the bag changes the store's copy too; it
    # is caught when the item is packaged again (re-hashed), and nothing is written
    flip_byte(in_bag, 0)
    again = tmp_path / "again"
    with pytest.raises(ValidationFailed, match=f"item {first}.*no longer matches"):
        create_package(
            nl,
            out=again,
            reference="NL-PR-2026-0042",
            basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
            user="alice",
            item_ids=[first],
            payload=PayloadMode.LINK,
        )
    assert not again.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".again")] == []


def test_stored_item_copied_into_a_second_package(
    nl: Node, files: list[Path], tmp_path: Path
) -> None:
    first = package(nl, files, tmp_path / "bag")
    second = create_package(
        nl,
        out=tmp_path / "second",
        reference="NL-PR-2026-0042",
        basis=LegalBasis.parse("preservation: NL-PR-2026-0042"),
        user="alice",
        item_ids=first.item_ids,
    )
    bagit.Bag(str(second.path)).validate()
    assert verify_package(second.path, node=nl).ok


# --- bad input ---------------------------------------------------------------------------


@pytest.fixture
def bag_and_key(nl: Node, files: list[Path], tmp_path: Path) -> tuple[Path, Path, list[str]]:
    result = package(nl, files, tmp_path / "bag")
    return result.path, _public_key(nl, tmp_path / "nl.pub"), result.item_ids


def _refused(bag: Path, key: Path) -> list[str]:
    code, answer = verify_json(bag, "--public-key", str(key))
    assert code == 1, answer
    assert answer["ok"] is False
    return answer["problems"]


def _payload(bag: Path, item_id: str) -> Path:
    return next((bag / "data" / item_id).iterdir())


def test_changed_payload_byte(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, key, items = bag_and_key
    target = _payload(bag, items[1])
    flip_byte(target, 5)
    problems = _refused(bag, key)
    assert problems[0].startswith(f"data/{items[1]}/{target.name}: sha256 digest does not match")
    _, answer = verify_json(bag, "--public-key", str(key))
    bad = [item for item in answer["items"] if not item["ok"]]
    assert [item["item_id"] for item in bad] == [items[1]]


@pytest.mark.parametrize(
    "name", ["manifest-sha256.txt", "case-uco.jsonld", "bag-info.txt", "tagmanifest-sha512.txt"]
)
def test_changed_manifest_or_tag_file(bag_and_key: tuple[Path, Path, list[str]], name: str) -> None:
    bag, key, _ = bag_and_key
    flip_byte(bag / name, 40)
    problems = _refused(bag, key)
    assert any(problem.startswith(name) for problem in problems), problems


def test_changed_signature(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, key, _ = bag_and_key
    raw = json.loads((bag / "signature.json").read_text())
    signature = bytearray(base64.b64decode(raw["signature"]))
    signature[3] ^= 0x10
    raw["signature"] = base64.b64encode(bytes(signature)).decode()
    (bag / "signature.json").write_text(json.dumps(raw))
    problems = _refused(bag, key)
    assert problems == [
        f"signature.json: signature does not verify (bad signature by nl-poc key {raw['key_id']})"
    ]


def test_missing_and_extra_files(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, key, items = bag_and_key
    gone = _payload(bag, items[0])
    saved = gone.read_bytes()
    gone.unlink()
    problems = _refused(bag, key)
    assert (
        problems[0]
        == f"data/{items[0]}/{gone.name}: missing (listed in the manifest, not in the bag)"
    )
    gone.write_bytes(saved)
    (bag / "data" / "planted.txt").write_text("x")
    problems = _refused(bag, key)
    assert problems[0] == "data/planted.txt: extra file (in the bag, not in the manifest)"
    (bag / "data" / "planted.txt").unlink()
    (bag / "notes.txt").write_text("x")
    assert _refused(bag, key) == ["notes.txt: extra file (not covered by the tag manifest)"]
    (bag / "notes.txt").unlink()
    code, _ = verify_json(bag, "--public-key", str(key))
    assert code == 0


def _edit_custody(bag: Path, edit: object) -> None:
    path = bag / "custody-log.json"
    raw = json.loads(path.read_text())
    edit(raw["items"][0]["events"])  # type: ignore[operator]
    path.write_text(json.dumps(raw))


def test_custody_event_removed(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, key, items = bag_and_key
    _edit_custody(bag, lambda events: events.pop(1))
    problems = _refused(bag, key)
    assert "custody-log.json: sha256 digest does not match the manifest (changed)" in problems
    assert (
        f"item {items[0]}: custody event 3 (packaged) is at position 2: an event was removed "
        "or the events were reordered"
    ) in problems


def test_custody_events_reordered(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, key, items = bag_and_key
    _edit_custody(bag, lambda events: events.reverse())
    problems = _refused(bag, key)
    assert any(
        p.startswith(f"item {items[0]}: custody event 3 (packaged) is at position 1")
        for p in problems
    ), problems


def test_unknown_signing_key(
    bag_and_key: tuple[Path, Path, list[str]], tmp_path: Path, database_url_factory: object
) -> None:
    bag, _, _ = bag_and_key
    stranger = make_node(
        tmp_path,
        database_url_factory(),  # type: ignore[operator]
        node_id="xx-poc",
        country="BR",
        clock=FixedClock(START),
    )
    try:
        other_key = _public_key(stranger, tmp_path / "xx.pub")
        problems = _refused(bag, other_key)
        assert problems[0] == (
            "signature.json: signature does not verify (node nl-poc is not known to the public "
            "key file xx.pub)"
        )
        # a node whose directory does not list nl-poc refuses it too
        report = verify_package(bag, node=stranger)
        assert not report.ok
        assert "node nl-poc is not known to the directory of xx-poc" in report.problems[0]
    finally:
        stranger.close()


def test_without_any_key_nothing_verifies(bag_and_key: tuple[Path, Path, list[str]]) -> None:
    bag, _, _ = bag_and_key
    result = runner.invoke(app, ["evidence", "verify", str(bag)])
    assert result.exit_code == 1
    assert "give --public-key FILE or --data-dir DIR" in flat(result.stdout)


def test_a_copy_verifies_anywhere(
    bag_and_key: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    bag, key, _ = bag_and_key
    copy = tmp_path / "elsewhere" / "bag"
    shutil.copytree(bag, copy)
    code, answer = verify_json(copy, "--public-key", str(key))
    assert code == 0 and answer["ok"]


def test_event_cli_destroys_and_closes_the_chain(
    nl: Node, files: list[Path], tmp_path: Path
) -> None:
    result = package(nl, files, tmp_path / "bag")
    item = result.item_ids[0]
    data_dir = str(nl.paths.data_dir)
    bad = runner.invoke(app, ["evidence", "event", "--data-dir", data_dir, item, "lost"])
    assert bad.exit_code == 2 and "action must be one of" in flat(bad.output)
    done = runner.invoke(
        app, ["evidence", "event", "--data-dir", data_dir, item, "destroyed", "--note", "order 7"]
    )
    assert done.exit_code == 0, done.output
    chain = runner.invoke(app, ["evidence", "custody", "--data-dir", data_dir, item, "--json"])
    answer = json.loads(chain.stdout)
    assert answer["ok"] is True
    assert [e["action"] for e in answer["events"]][-1] == "destroyed"
    again = runner.invoke(app, ["evidence", "event", "--data-dir", data_dir, item, "opened"])
    assert again.exit_code == 2 and "destroyed" in flat(again.output)


def test_package_of_an_investigation_carries_its_traces_connections(
    tmp_path: Path, database_url: str, files: list[Path]
) -> None:
    """From the trace capability's face: the investigation's trace, two hops (the second a
    network connection found by the answer of the first), into the package's CASE/UCO."""
    node = make_node(
        tmp_path,
        database_url,
        node_id="us-poc",
        country="US",
        timezone="America/New_York",
        clock=FixedClock(START),
    )
    try:
        with node.db.session() as session:
            for entry in (
                DirectoryEntry("nl-polderhost", EntryKind.PROVIDER, "NL", "Polderhost B.V.",
                               prefixes=("198.51.100.0/24",)),
                DirectoryEntry("nl-poc", EntryKind.POC, "NL", "Netherlands 24/7 point of contact"),
            ):  # fmt: skip
                save_entry(session, node, entry, actor="system:test", source="test")
        iris = Principal(1, "iris", "Iris", frozenset({Role.INVESTIGATOR}))
        case = create_investigation(
            node,
            iris,
            {"reference": "US-2026-NJ", "title": "Harbor bank", "conduct": ["illegal_access"]},
        )
        instant, zone = parse_instant("2026-11-20T03:14:07.250-05:00")
        [observation] = add_observations(
            node,
            iris,
            case.id,
            [
                ObservationIn(
                    kind=SourceKind.LOG_LINE,
                    ip="198.51.100.23",
                    port=41234,
                    at=instant,
                    source_zone=zone,
                    tolerance_s=2.0,
                    protocol="tcp",
                    source_label="bank proxy log line 2",
                )
            ],
            how="test",
        )
        started = trace_service.start_trace(
            node, iris, case.id, observation.id, template=TRACE_TEMPLATE
        )
        trace_service.record_answer(
            node,
            iris,
            started.id,
            started.hops[0]["id"],
            "next_hop",
            {"ip": "203.0.113.77", "port": 51512, "at": "2026-11-20T08:10:00Z", "protocol": "tcp"},
            key="NL phone call",
        )
        bundles = investigation_traces(node, iris, "US-2026-NJ")
        assert len(bundles) == 1
        assert investigation_traces(node, iris, "no such investigation") == []
        outsider = Principal(2, "olga", "Olga", frozenset({Role.INVESTIGATOR}))
        with pytest.raises(PermissionDenied):
            investigation_traces(node, outsider, case.id)
        result = create_package(
            node,
            out=tmp_path / "bag",
            reference="US-2026-NJ",
            basis=LegalBasis.parse("court-order: US-2026-NJ-ORDER-1"),
            user="iris",
            files=files,
            investigation="US-2026-NJ",
            trace_bundles=bundles,
        )
    finally:
        node.close()
    document = json.loads((result.path / "case-uco.jsonld").read_text())
    connections = [
        n for n in document["@graph"] if n["@type"] == "uco-observable:NetworkConnection"
    ]
    facets = [c["uco-core:hasFacet"][0] for c in connections]
    assert any(f.get("uco-observable:sourcePort") == 51512 for f in facets)
    kinds = {n.get("uco-core:kindOfRelationship") for n in document["@graph"]}
    assert "Operated_By" in kinds
    answer = subprocess.run(
        [str(Path(sys.executable).with_name("case_validate")), str(result.path / CASE_FILE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert answer.returncode == 0 and "Conforms: True" in answer.stdout, answer.stdout[-2000:]
