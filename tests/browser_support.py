"""Browser tests: Playwright's Python package driving Debian's chromium, headless.

The app runs under uvicorn on a free loopback port in a background thread. Outside CI a
missing /usr/bin/chromium skips these tests; in CI (CI=true) it fails them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from trailguard.node import Node

CHROMIUM = os.environ.get("TRAILGUARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, node: Node) -> None:
        from trailguard.app import create_app

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(node), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshots() -> Path:
    folder = Path(os.environ.get("TRAILGUARD_SCREENSHOTS", "/tmp/trailguard-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- accessibility and layout checks --------------------------------------------------------

AXE_VERSION = "4.10.3"  # pinned; fetched from the npm registry with `npm pack`, tests only
WIDTHS = (1280, 390)


def _axe_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trailguard-tests"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js at AXE_VERSION, fetched once with `npm pack` into a cache folder
    (never served by the node: the tests evaluate it inside the page)."""
    import shutil
    import subprocess
    import tarfile

    cached = _axe_cache() / f"axe-core-{AXE_VERSION}.min.js"
    if not cached.exists():
        npm = shutil.which("npm")
        problem = None
        if npm is None:
            problem = "npm is missing (apt-get install npm) to fetch axe-core"
        else:
            work = _axe_cache() / "pack"
            work.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(work)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            tarball = work / f"axe-core-{AXE_VERSION}.tgz"
            if done.returncode != 0 or not tarball.exists():
                problem = f"npm pack axe-core@{AXE_VERSION} failed: {done.stderr[-300:]}"
            else:
                with tarfile.open(tarball) as archive:
                    member = archive.extractfile("package/axe.min.js")
                    assert member is not None
                    cached.write_bytes(member.read())
        if problem:
            if IN_CI:
                pytest.fail(problem)
            pytest.skip(problem)
    return cached.read_text(encoding="utf-8")


def serious_axe_violations(page: Any, axe_source: str) -> list[str]:
    """Run axe-core in the page; the serious and critical violations, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


def check_page(page: Any, name: str, screenshots: Path, axe_source: str | None) -> None:
    """At 1280 and 390 px: no horizontal overflow (scrollWidth within the viewport) and a
    full-page screenshot; axe-core at 1280 px finds no serious or critical violation."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)
        assert scroll_width <= width, f"{name} overflows at {width} px: {scroll_width} px wide"
    page.set_viewport_size({"width": 1280, "height": 900})
    if axe_source is not None:
        problems = serious_axe_violations(page, axe_source)
        assert not problems, f"{name}: {problems}"
