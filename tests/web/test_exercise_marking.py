"""Issue 17, point 3: an exercise node marks everything it shows EXERCISE: every page (banner
in the layout, title), every answer (X-Trailguard-Network), every notice and mail subject,
the CLI; a real node's pages carry no such marking."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from helpers import TEST_PASSWORD, browser_login, make_node
from trailguard.accounts.domain import Role
from trailguard.app import create_app, iter_routes
from trailguard.bootstrap import initialise_node
from trailguard.core.config import ExerciseSettings, NodeRole
from trailguard.core.exercise_marking import (
    exercise_marking,
    mark_body,
    mark_subject,
)
from trailguard.core.mail import send_email
from trailguard.network import notify
from trailguard.network.notifications import recent_notifications
from trailguard.node import Node
from trailguard.registry import open_node

NETWORK = "exercise-seed-7-web"
MACHINE = ("/api/", "/exchange/v1/", "/static/", "/openapi.json", "/docs", "/redoc")
BANNER = 'class="exercise-banner"'
_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)


def _exercise_node(tmp_path: Path, node_id: str = "nl-poc") -> Node:
    data_dir = tmp_path / node_id
    url = f"sqlite:///{tmp_path / (node_id + '.db')}"
    initialise_node(
        data_dir,
        name="NL 24/7 point of contact (training)",
        country="NL",
        roles=[NodeRole.POC],
        node_id=node_id,
        base_url=f"http://{node_id}.test",
        admin_password=TEST_PASSWORD,
        database_url=url,
        exercise=ExerciseSettings(network=NETWORK, seed=7, clock_rate=1440),
    )
    return open_node(data_dir, database_url=url)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", path)


def _pages(node: Node) -> dict[str, tuple[int, str]]:
    """Every GET page route of the app (path parameters filled with an id that does not
    exist: the answer is then the layout's error page), fetched by a person holding every
    role: path -> (status, HTML)."""
    client = browser_login(node, list(Role))
    app = client.app
    seen: dict[str, tuple[int, str]] = {}
    for full_path, route in iter_routes(app):  # type: ignore[arg-type]
        if "GET" not in route.methods or full_path.startswith(MACHINE):
            continue
        answer = client.get(_concrete(full_path), headers={"Accept": "text/html"})
        if "text/html" in answer.headers.get("content-type", ""):
            seen[full_path] = (answer.status_code, answer.text)
    anonymous = TestClient(create_app(node))
    login = anonymous.get("/login")
    seen["/login (anonymous)"] = (login.status_code, login.text)
    return seen


def test_every_page_of_an_exercise_node_carries_the_banner(tmp_path: Path) -> None:
    node = _exercise_node(tmp_path)
    try:
        pages = _pages(node)
    finally:
        node.close()
    assert len(pages) >= 15, sorted(pages)  # the walk reached the capabilities' pages
    assert any(status == 200 for status, _ in pages.values())
    assert any(status == 404 for status, _ in pages.values())  # error pages too
    for path, (_status, html) in pages.items():
        assert html.count(BANNER) == 1, path
        assert 'role="region" aria-label="Exercise marking"' in html, path
        assert NETWORK in html, path
        title = _TITLE.search(html)
        assert title is not None and title.group(1).startswith("EXERCISE"), path


def test_no_page_of_a_real_node_carries_it(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'live.db'}")
    try:
        pages = _pages(node)
    finally:
        node.close()
    assert len(pages) >= 15
    for path, (_status, html) in pages.items():
        assert "exercise-banner" not in html and "exercise-tag" not in html, path
        title = _TITLE.search(html)
        assert title is not None and not title.group(1).startswith("EXERCISE"), path


def test_the_banner_style_is_in_the_stylesheet_not_inline() -> None:
    css = (
        Path(__file__).resolve().parents[2] / "src/trailguard/web/static/trailguard.css"
    ).read_text()
    rule = re.search(r"\.exercise-banner \{([^}]*)\}", css)
    assert rule is not None
    assert "background:#b42318" in rule.group(1) and "color:#fff" in rule.group(1)
    assert "flex-wrap:wrap" in rule.group(1)  # wraps at 390 px


def test_every_answer_names_the_network(tmp_path: Path) -> None:
    exercise = _exercise_node(tmp_path)
    live = make_node(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", node_id="us-poc")
    try:
        client = TestClient(create_app(exercise))
        for path in ("/api/directory/entries", "/login", "/static/trailguard.css", "/nope"):
            assert client.get(path).headers["X-Trailguard-Network"] == NETWORK, path
        api = browser_login(exercise, [Role.ADMIN])
        answer = api.get("/api/directory/entries")
        assert answer.status_code == 200
        assert answer.headers["X-Trailguard-Network"] == NETWORK
        assert [entry["network"] for entry in answer.json()] == [NETWORK]
        assert TestClient(create_app(live)).get("/login").headers["X-Trailguard-Network"] == (
            "live"
        )
    finally:
        exercise.close()
        live.close()


def test_notices_are_marked_on_an_exercise_node_only(tmp_path: Path) -> None:
    exercise = _exercise_node(tmp_path)
    live = make_node(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", node_id="us-poc")
    try:
        for node in (exercise, live):
            with node.db.session() as session:
                notify(session, node, audience="duty_officer", subject="ping overdue", body="b")
            with node.db.session() as session:
                subjects = [n.subject for n in recent_notifications(session)]
            expected = "EXERCISE: ping overdue" if node is exercise else "ping overdue"
            assert subjects == [expected]
        assert mark_subject(exercise.config, mark_subject(exercise.config, "x")) == "EXERCISE: x"
        assert mark_body(live.config, "body") == "body"
        assert mark_body(exercise.config, "body").startswith("EXERCISE - training only")
        assert exercise_marking(live.config) is None
    finally:
        exercise.close()
        live.close()


class _FakeSMTP:
    sent: ClassVar[list[EmailMessage]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send_message(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_mail_of_an_exercise_node_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtplib, "SMTP", _FakeSMTP)
    _FakeSMTP.sent = []
    node = _exercise_node(tmp_path)
    try:
        marking = exercise_marking(node.config)
    finally:
        node.close()
    common: dict[str, Any] = {
        "sender": "trailguard@nl-poc.invalid",
        "to": "duty@example.org",
        "subject": "OVERDUE: network.ping",
        "body": "Message 1 has not been acknowledged.",
    }
    send_email("smtp://mail.example.org", marking=marking, **common)
    send_email("smtp://mail.example.org", **common)  # a real node: unchanged
    marked, plain = _FakeSMTP.sent
    assert marked["Subject"] == "EXERCISE: OVERDUE: network.ping"
    assert marked.get_content().startswith(f"{marking}\n\n")
    assert plain["Subject"] == "OVERDUE: network.ping"
    assert "EXERCISE" not in plain.get_content()


def test_the_cli_says_exercise_when_it_opens_an_exercise_node(tmp_path: Path) -> None:
    from trailguard.cli import _ensure_registered, app

    _ensure_registered()
    node = _exercise_node(tmp_path)
    node.close()
    live = make_node(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", node_id="us-poc")
    live.close()
    runner = CliRunner(env={"COLUMNS": "200"})
    marked = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "nl-poc")])
    assert marked.exit_code == 0, marked.output
    assert f"EXERCISE - training only, not real work (network {NETWORK})" in marked.stderr
    plain = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "us-poc")])
    assert plain.exit_code == 0, plain.output
    assert "EXERCISE" not in plain.output + plain.stderr
