"""Scoring against the answer key: a complete, timely trainee scores full marks, and each kind
of mistake costs points on its own axis, explained with an article."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from trailguard.exercise import AXES, Scenario, generate
from trailguard.exercise.domain.scoring import Conclusion, SentRequest, score
from trailguard.exercise.selftest import correct_conclusion, preservation_body
from trailguard.law import get_engine


def _scenario(seed: int = 3, level: str = "normal") -> Scenario:
    return generate(seed, level, get_engine())


def _requests(scenario: Scenario, **changes: Any) -> list[SentRequest]:
    """The careful trainee's requests, as the node would record them."""
    found = []
    for hop in scenario.hops:
        if not hop.expects_request:
            continue
        at = scenario.starts_at + timedelta(minutes=30 * hop.index)
        body = preservation_body(scenario, hop, issued=at)
        found.append(
            SentRequest(
                id=f"r{hop.index}",
                kind="preservation",
                reference=body["reference"],
                recipient=hop.node_id,
                requested_party=hop.country,
                drafted_at=at,
                sent_at=at + timedelta(minutes=5),
                body=body,
                legal_basis=True,
                overridden=False,
            )
        )
    return found


def _right(scenario: Scenario) -> Conclusion:
    return Conclusion(**correct_conclusion(scenario))


def _full(scenario: Scenario) -> dict[str, float]:
    return score(scenario, _requests(scenario), _right(scenario)).axes


@pytest.mark.parametrize(("seed", "level"), [(3, "normal"), (1, "easy"), (5, "hard"), (0, "hard")])
def test_careful_work_scores_full_marks(seed: int, level: str) -> None:
    scenario = _scenario(seed, level)
    result = score(scenario, _requests(scenario), _right(scenario))
    assert result.axes == dict.fromkeys(AXES, 100.0)
    assert result.total == 100.0
    assert all(p.article for p in result.points)


def _with(scenario: Scenario, index: int, **body_changes: Any) -> list[SentRequest]:
    requests = _requests(scenario)
    request = requests[index]
    body = {**request.body, **body_changes}
    requests[index] = replace(request, body=body)
    return requests


def _lost(scenario: Scenario, requests: list[SentRequest], conclusion: Conclusion | None = None):  # type: ignore[no-untyped-def]
    result = score(scenario, requests, conclusion or _right(scenario))
    full = _full(scenario)
    return {axis for axis in AXES if result.axes[axis] < full[axis]}, result


def test_late_preservation_loses_timeliness_only() -> None:
    scenario = _scenario()
    hop = scenario.hops[0]
    requests = _requests(scenario)
    # inside the margin: half the point
    requests[0] = replace(requests[0], sent_at=hop.preserve_by + timedelta(minutes=1))
    lost, result = _lost(scenario, requests)
    assert lost == {"timeliness"}
    point = next(p for p in result.of("timeliness") if p.hop == 1)
    assert (point.earned, point.possible) == (1, 2)
    assert "Art. 29(1)" in point.article and "inside the margin" in point.explanation
    # after the records died: nothing
    requests[0] = replace(requests[0], sent_at=hop.dies_at + timedelta(seconds=1))
    lost, result = _lost(scenario, requests)
    assert lost == {"timeliness"}
    point = next(p for p in result.of("timeliness") if p.hop == 1)
    assert point.earned == 0 and "after the records were deleted" in point.explanation


def test_wrong_channel_loses_legal_correctness() -> None:
    scenario = _scenario()
    requests = _requests(scenario)
    requests[0] = replace(requests[0], kind="mla")
    lost, result = _lost(scenario, requests)
    assert lost == {"legal"}
    point = next(p for p in result.of("legal") if p.label.startswith("channel"))
    assert point.earned == 0 and "Art. 29" in point.article
    # the right kind to the wrong node is the wrong channel too
    requests = _requests(scenario)
    requests[0] = replace(requests[0], recipient="zz-poc")
    assert _lost(scenario, requests)[0] == {"legal"}


def test_offence_articles_missing_lose_legal_and_completeness() -> None:
    scenario = _scenario()
    lost, result = _lost(scenario, _with(scenario, 0, offence_articles=[]))
    assert lost == {"legal", "completeness"}
    point = next(p for p in result.of("legal") if "reservations" in p.label)
    assert point.earned == 0 and point.article == "ETS 185 Art. 29(3)-(4)"


def test_override_instead_of_legal_basis_loses_legal() -> None:
    scenario = _scenario()
    requests = _requests(scenario)
    requests[0] = replace(requests[0], overridden=True)
    assert _lost(scenario, requests)[0] == {"legal"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"port": 0}, "data_to_preserve.port"),
        ({"timestamp": "wrong zone"}, "data_to_preserve.timestamp"),
        ({"ip": "192.0.2.1"}, "data_to_preserve.ip"),
    ],
)
def test_incomplete_endpoint_loses_completeness(change: dict[str, Any], field: str) -> None:
    scenario = _scenario()
    hop = scenario.hops[0]
    requests = _requests(scenario)
    body = requests[0].body
    endpoint = {**body["data_to_preserve"][0], **change}
    if field == "data_to_preserve.timestamp":
        # the time five hours off: a zone mistaken
        endpoint["timestamp"] = (hop.at + timedelta(hours=5)).isoformat()
    requests[0] = replace(requests[0], body={**body, "data_to_preserve": [endpoint]})
    lost, result = _lost(scenario, requests)
    assert "completeness" in lost
    point = next(p for p in result.of("completeness") if p.hop == 1 and p.label == field)
    assert point.earned == 0 and point.article.startswith("ETS 185 Art. 29(2)")


def test_missing_kind_and_custodian_lose_completeness_only() -> None:
    scenario = _scenario()
    lost, result = _lost(scenario, _with(scenario, 0, data_kinds=[], custodian="someone"))
    assert lost == {"completeness"}
    labels = {p.label for p in result.of("completeness") if p.earned == 0}
    assert labels == {"data_kinds", "custodian"}


def test_emergency_not_stated_loses_completeness() -> None:
    scenario = next(
        s for s in (generate(seed, "hard", get_engine()) for seed in range(40)) if s.emergency
    )
    lost, result = _lost(scenario, _with(scenario, 0, emergency=False))
    assert lost == {"completeness"}
    assert any(p.label == "emergency" and p.earned == 0 for p in result.points)


def test_handling_mistakes_lose_handling_only() -> None:
    scenario = _scenario()
    wrong = {"code": "H0" if scenario.handling_code != "H0" else "H3", "tlp": "TLP:CLEAR"}
    lost, result = _lost(scenario, _with(scenario, 0, handling=wrong))
    assert lost == {"handling"}
    lost, result = _lost(
        scenario, _with(scenario, 0, confidentiality={"do_not_notify_customer": False})
    )
    assert lost == {"handling"}
    point = next(p for p in result.of("handling") if p.label == "customer not told")
    assert point.earned == 0 and "27(8)" in point.article


def test_trail_not_followed_loses_the_trail() -> None:
    scenario = _scenario()  # two hops
    assert len(scenario.hops) == 2 and scenario.hops[1].expects_request
    requests = _requests(scenario)[:1]
    lost, result = _lost(scenario, requests)
    assert "trail" in lost
    point = next(p for p in result.of("trail") if p.hop == 2)
    assert point.earned == 0 and point.explanation == "known but never asked"
    assert "Art. 30(1)" in point.article


def test_wrong_conclusion_loses_the_trail_only() -> None:
    scenario = _scenario()
    wrong = Conclusion(
        end="dead_end" if scenario.end != "dead_end" else "subscriber", subscriber="x"
    )
    lost, _ = _lost(scenario, _requests(scenario), wrong)
    assert lost == {"trail"}
    unconcluded = score(scenario, _requests(scenario), None)
    assert unconcluded.axes["trail"] < 100.0
    assert {a for a in AXES if unconcluded.axes[a] < 100.0} == {"trail"}
    end = next(p for p in unconcluded.of("trail") if p.hop is None)
    assert end.explanation == "no conclusion recorded"


def test_subscriber_misnamed_costs_half_the_end_point() -> None:
    scenario = next(s for s in (_scenario(seed) for seed in range(20)) if s.end == "subscriber")
    result = score(scenario, _requests(scenario), Conclusion(end="subscriber", subscriber="nobody"))
    end = next(p for p in result.of("trail") if p.hop is None)
    assert (end.earned, end.possible) == (1, 2)


def test_nothing_sent_scores_nothing_on_the_hops() -> None:
    scenario = _scenario()
    result = score(scenario, [], None)
    for axis in ("timeliness", "legal", "completeness", "handling", "trail"):
        assert result.axes[axis] == 0.0, axis
    assert result.total == 0.0


def test_non_party_hop_is_not_asked_over_the_network() -> None:
    scenario = next(
        s
        for s in (generate(seed, "hard", get_engine()) for seed in range(40))
        if s.end == "non_party"
    )
    last = scenario.hops[-1]
    requests = _requests(scenario)
    assert _lost(scenario, requests)[0] == set()
    wrong = replace(
        requests[0],
        id="x",
        reference="X-1",
        recipient="xx-poc",
        body={
            **requests[0].body,
            "data_to_preserve": [{**requests[0].body["data_to_preserve"][0], "ip": last.ip}],
        },
    )
    lost, result = _lost(scenario, [*requests, wrong])
    assert "legal" in lost
    point = next(p for p in result.of("legal") if p.hop == last.index)
    assert point.earned == 0 and last.country in point.explanation


def test_right_conclusion_without_following_the_trail_scores_nothing() -> None:
    scenario = _scenario()
    result = score(scenario, _requests(scenario)[:1], _right(scenario))
    end = next(p for p in result.of("trail") if p.hop is None)
    assert end.earned == 0 and "without asking the last custodian" in end.explanation


def test_member_states_preservation_names_the_eu_order_too() -> None:
    scenario = next(
        s
        for s in (_scenario(seed) for seed in range(40))
        if any(h.fastest_channel == "eu_epoc_pr" for h in s.hops)
    )
    result = score(scenario, _requests(scenario), _right(scenario))
    assert result.total == 100.0
    hop = next(h for h in scenario.hops if h.fastest_channel == "eu_epoc_pr")
    point = next(p for p in result.of("legal") if p.hop == hop.index and "channel" in p.label)
    assert "eu_epoc_pr" in point.explanation and point.earned == point.possible
