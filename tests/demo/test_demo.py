"""The main job: `trailguard demo --check` runs Operation Nightjar on loopback and holds."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from trailguard.demo.runner import run_demo


def test_demo_check_holds(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    ok = run_demo(check=True, data_dir=tmp_path / "demo", console=console)
    text = console.export_text()
    assert ok, text
    assert "FAILED" not in text
    assert "acknowledged receipt" in text
    assert "a third country" in text  # Art. 30: the path leads to Brazil
    assert "account rl-0045127@riolitoral.example" in text  # CGNAT + RADIUS resolved
    assert "no longer expires" in text  # Art. 29(7) after the MLA request
    assert "verified signed receipts" in text
    assert "receives the signed hit" in text  # Art. 33 live watch
    assert "records 'received' and 'verified'" in text  # evidence packages reach US
    assert "a copy with one byte changed fails" in text
    assert "audit chain intact" in text


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "something").write_text("x")
    console = Console(record=True, width=200)
    assert not run_demo(check=True, data_dir=tmp_path / "demo", console=console)
    assert "not empty" in console.export_text()
