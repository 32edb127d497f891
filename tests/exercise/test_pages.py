"""The exercise pages and API on the trainee's node: briefing, conclusion (form and JSON),
debrief and its PDF, the trainer's list; role checks, unknown sessions, bad input, and a real
node that has no exercise."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from exercise_kit import Played, played, principal
from fastapi.testclient import TestClient

from helpers import browser_login, make_node
from trailguard.accounts import Role
from trailguard.app import create_app
from trailguard.exercise.play import SUPERVISOR, TRAINEE, TRAINER
from trailguard.exercise.selftest import preservation_body
from trailguard.exercise.service import open_case, open_session, trainee_requests
from trailguard.requests import approve_request, draft_request, send_request


@pytest.fixture(scope="module")
def game(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    with played(tmp_path_factory.mktemp("exercise-pages")) as game:
        yield game


def _login(game: Played, username: str) -> TestClient:
    client = TestClient(create_app(game.node))
    answer = client.post(
        "/login",
        data={"username": username, "password": game.password(username)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def _bearer(game: Played, username: str) -> TestClient:
    client = TestClient(create_app(game.node))
    answer = client.post(
        "/api/session", json={"username": username, "password": game.password(username)}
    )
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_briefing_shows_the_story_not_the_key(game: Played) -> None:
    client = _login(game, TRAINEE)
    page = client.get(f"/exercise/sessions/{game.running}")
    assert page.status_code == 200
    first = game.scenario.hops[0]
    assert first.ip in page.text and game.scenario.victim in page.text
    assert "EXERCISE" in page.text
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', client.get("/").text, re.S)
    assert nav is not None and 'href="/exercise"' in nav.group(1)  # the way in, on a training node
    # the answer key stays hidden: later hops, retention and the end are not on the briefing
    assert game.scenario.hops[1].ip not in page.text
    assert game.scenario.end_summary not in page.text
    assert 'action="/exercise/sessions/' in page.text
    listing = client.get("/exercise")
    assert listing.status_code == 200 and game.running[:8] in listing.text
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert f"/exercise/sessions/{game.running}" in dashboard.text


def test_debrief_page_and_pdf(game: Played) -> None:
    client = _login(game, TRAINEE)
    page = client.get(f"/exercise/sessions/{game.scored}/debrief")
    assert page.status_code == 200
    for title in ("Timeliness", "Legal correctness", "Completeness", "Handling", "Trail"):
        assert title in page.text
    assert "ETS 185 Art. 29" in page.text and "100.0" in page.text
    assert game.scenario.hops[1].ip in page.text  # the key, shown at the debrief
    pdf = client.get(f"/exercise/sessions/{game.scored}/debrief.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"trailguard" in pdf.content.lower()


def test_debrief_of_an_unscored_session_is_refused(game: Played) -> None:
    client = _login(game, TRAINEE)
    assert client.get(f"/exercise/sessions/{game.running}/debrief").status_code == 409


def test_trainer_page_needs_the_trainer(game: Played) -> None:
    trainee = _login(game, TRAINEE)
    assert trainee.get("/exercise/trainer").status_code == 403
    trainer = _login(game, TRAINER)
    page = trainer.get("/exercise/trainer")
    assert page.status_code == 200
    assert "100.0" in page.text and TRAINEE in page.text
    assert f"/exercise/sessions/{game.scored}/debrief" in page.text


def test_unknown_sessions_answer_404(game: Played) -> None:
    client = _login(game, TRAINEE)
    for session_id in ("00000000-0000-4000-8000-000000000000", "not-a-session"):
        assert client.get(f"/exercise/sessions/{session_id}").status_code == 404
    api = _bearer(game, TRAINEE)
    answer = api.get("/api/exercise/sessions/00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 404


def test_api_lists_and_refuses_bad_conclusions(game: Played) -> None:
    api = _bearer(game, TRAINEE)
    listed = api.get("/api/exercise/sessions").json()
    assert {item["id"] for item in listed} >= {game.scored, game.running}
    scored = next(item for item in listed if item["id"] == game.scored)
    assert scored["total"] == 100.0 and scored["axes"]["trail"] == 100.0
    running = next(item for item in listed if item["id"] == game.running)
    assert "answer_key" not in api.get(f"/api/exercise/sessions/{game.running}").json()
    assert running["total"] is None
    bad = api.post(f"/api/exercise/sessions/{game.running}/conclude", json={"end": "moon"})
    assert bad.status_code == 422 and "end must be one of" in bad.text
    no_name = api.post(
        f"/api/exercise/sessions/{game.running}/conclude", json={"end": "subscriber"}
    )
    assert no_name.status_code == 422
    # nothing half-written: still running
    assert api.get(f"/api/exercise/sessions/{game.running}").json()["state"] == "running"
    debrief = api.get(f"/api/exercise/sessions/{game.scored}/debrief").json()
    assert debrief["answer_key"]["seed"] == game.scenario.seed
    assert debrief["timeline"] and debrief["score"]["total"] == 100.0


def test_conclude_by_form_then_debrief(game: Played) -> None:
    client = _login(game, TRAINEE)
    page = client.get(f"/exercise/sessions/{game.running}")
    token = _csrf(page.text)
    refused = client.post(
        f"/exercise/sessions/{game.running}/conclude",
        data={"csrf_token": token, "end": ""},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and "end must be one of" in refused.text
    answer = client.post(
        f"/exercise/sessions/{game.running}/conclude",
        data={"csrf_token": token, "end": "dead_end", "country": "JP"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].endswith(f"/exercise/sessions/{game.running}/debrief")
    debrief = client.get(answer.headers["location"])
    assert debrief.status_code == 200
    # the requests of the earlier session do not count for this one: nothing was sent in it
    assert "concluded dead_end" in debrief.text and "never sent" in debrief.text
    api = _bearer(game, TRAINEE)
    scores = {item["id"]: item["total"] for item in api.get("/api/exercise/sessions").json()}
    assert scores[game.scored] == 100.0 and scores[game.running] < 20.0
    again = client.post(
        f"/exercise/sessions/{game.running}/conclude",
        data={"csrf_token": token, "end": "subscriber", "subscriber": "x"},
        follow_redirects=False,
    )
    assert again.status_code == 422 and "concluded already" in again.text


def test_briefing_links_to_the_sessions_investigation(tmp_path: Path) -> None:
    with played(tmp_path / "exercise") as fresh:
        node = fresh.node
        session_id = open_session(node, fresh.scenario, trainee=TRAINEE, actor="system:test")
        case_id = open_case(node, fresh.scenario, trainee=TRAINEE, session_id=session_id)
        client = _login(fresh, TRAINEE)
        page = client.get(f"/exercise/sessions/{session_id}").text
        assert f'<a href="/investigations/{case_id}" id="exercise-case">' in page
        # a session opened without an investigation points at the list to open one
        page = client.get(f"/exercise/sessions/{fresh.running}").text
        assert 'id="exercise-case"' not in page and 'href="/investigations">' in page
        # the trainer is not on the trainee's case: no link into it
        trainer = _login(fresh, TRAINER).get(f"/exercise/sessions/{session_id}")
        assert trainer.status_code == 200 and 'id="exercise-case"' not in trainer.text


def test_the_requests_the_trainee_sent_count_whoever_drafted_them(tmp_path: Path) -> None:
    """The trace drafts the next hop's request when an Art. 30 disclosure arrives (in no
    person's name): sent by the trainee, it is theirs; sent by another, it is not."""
    with played(tmp_path / "exercise") as fresh:
        node, scenario = fresh.node, fresh.scenario
        since = fresh.clock.now()
        trainee, supervisor = principal(node, TRAINEE), principal(node, SUPERVISOR)
        first = scenario.hops[0]
        assert first.node_id is not None
        sent_ids = []
        for sender in (trainee, supervisor):
            body = preservation_body(scenario, first, issued=since)
            body["reference"] += f"-{sender.username}"
            view = draft_request(node, supervisor, body, recipient=first.node_id)
            approve_request(node, trainee, view.id)
            send_request(node, sender, view.id)
            sent_ids.append(view.id)
        unsent = preservation_body(scenario, first, issued=since)
        unsent["reference"] += "-unsent"  # its own reference: the hop's own request is live
        drafted = draft_request(node, supervisor, unsent, recipient=None)
        theirs = [r.id for r in trainee_requests(node, TRAINEE, since=since)]
        assert theirs == [sent_ids[0]], (theirs, sent_ids, drafted.id)


def test_real_node_has_no_exercise(tmp_path: Path) -> None:
    node = make_node(tmp_path, f"sqlite:///{tmp_path / 'real.db'}")
    try:
        client = browser_login(node, [Role.ADMIN])
        assert client.get("/exercise").status_code == 404
        assert client.get("/exercise/trainer").status_code == 404
        assert 'href="/exercise"' not in client.get("/").text  # no Exercise in the navigation
    finally:
        node.close()
