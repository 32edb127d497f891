"""Scenario generation: the same seed gives the same scenario; the answer key agrees with the
law engine and with retention; difficulty changes what it should; bad input is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from trailguard.core.config import ExerciseSettings
from trailguard.core.errors import ValidationFailed
from trailguard.exercise import Difficulty, generate
from trailguard.exercise.domain.scenario import PROFILES, check_seed, parse_difficulty
from trailguard.law import get_engine
from trailguard.requests import request_elements

SEEDS = range(12)


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return get_engine()


@pytest.mark.parametrize("level", list(Difficulty))
def test_same_seed_same_scenario(engine, level: Difficulty) -> None:  # type: ignore[no-untyped-def]
    for seed in SEEDS:
        assert generate(seed, level, engine) == generate(seed, level, engine)
    distinct = {generate(seed, level, engine).model_dump_json() for seed in SEEDS}
    assert len(distinct) == len(SEEDS)


def test_scenario_round_trips_as_json(engine) -> None:  # type: ignore[no-untyped-def]
    from trailguard.exercise import Scenario

    scenario = generate(7, "hard", engine)
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario


@pytest.mark.parametrize("level", list(Difficulty))
def test_answer_key_agrees_with_the_law_engine(engine, level: Difficulty) -> None:  # type: ignore[no-untyped-def]
    for seed in SEEDS:
        scenario = generate(seed, level, engine)
        assert engine.is_party(scenario.trainee_country, "ets185", scenario.as_of)
        for hop in scenario.hops:
            assert hop.country != scenario.trainee_country
            assert hop.party == engine.is_party(hop.country, "ets185", scenario.as_of)
            answer = engine.channels(
                scenario.trainee_country,
                hop.country,
                "traffic",
                scenario.emergency,
                scenario.as_of,
                conduct=[scenario.conduct],
                purpose="preserve",
            )
            offered = {c.id: c for c in answer.channels}
            assert hop.channel in offered
            assert hop.channel_citations == tuple(offered[hop.channel].citations)
            assert hop.fastest_channel == answer.channels[0].id
            if hop.node_id is not None:
                # the network's preservation channel, citing Art. 29, where there is a node
                assert hop.channel == "preservation_24_7"
                assert any("Art. 29" in c for c in hop.channel_citations)
                basis = engine.legal_basis(
                    "preservation",
                    scenario.trainee_country,
                    hop.country,
                    scenario.as_of,
                    scenario.emergency,
                )
                assert basis is not None and basis.instrument in hop.legal_basis
            else:
                assert hop.outcome == "non_party" and not hop.party
                assert hop.channel != "preservation_24_7"
                assert not hop.expects_request


@pytest.mark.parametrize("level", list(Difficulty))
def test_answer_key_agrees_with_retention(engine, level: Difficulty) -> None:  # type: ignore[no-untyped-def]
    profile = PROFILES[level]
    for seed in SEEDS:
        scenario = generate(seed, level, engine)
        previous = None
        for hop in scenario.hops:
            assert hop.dies_at == hop.at + timedelta(days=hop.retention_days)
            assert hop.preserve_by == hop.dies_at - timedelta(hours=profile.margin_hours)
            # every hop can still be preserved when it becomes known
            assert hop.dies_at > scenario.starts_at + timedelta(days=profile.spare_days[0]) - (
                timedelta(hours=1)
            )
            if previous is not None:
                assert hop.at < previous.at  # the attacker came from there earlier
                assert hop.destination_ip == previous.ip  # it connected on to the next
            previous = hop
        assert scenario.hops[0].at < scenario.starts_at


def test_difficulty_changes_the_scenario(engine) -> None:  # type: ignore[no-untyped-def]
    easy = [generate(s, "easy", engine) for s in SEEDS]
    normal = [generate(s, "normal", engine) for s in SEEDS]
    hard = [generate(s, "hard", engine) for s in SEEDS]
    assert all(len(s.hops) == 1 for s in easy)
    assert all(len(s.hops) == 2 for s in normal)
    assert all(2 <= len(s.hops) <= 3 for s in hard)
    assert not any(h.cgn for s in easy for h in s.hops)
    assert not any(s.emergency for s in easy)
    left = {
        name: min((h.dies_at - s.starts_at) for s in group for h in s.hops[:1])
        for name, group in (("easy", easy), ("hard", hard))
    }
    assert left["hard"] < left["easy"]
    ends = {s.end for s in hard}
    assert "non_party" in ends or "refuse" in ends  # hard scenarios end badly now and then
    assert all(s.end == "subscriber" for s in easy)


def test_required_fields_name_the_request_types_elements(engine) -> None:  # type: ignore[no-untyped-def]
    elements = request_elements("preservation")
    scenario = generate(4, "hard", engine)
    for hop in scenario.hops:
        names = [name for name, _ in hop.required_fields]
        for name in names:
            assert name.split(".")[0] in elements or name in {
                "offence_articles",
                "data_kinds",
                "emergency",
            }
        assert ("emergency" in names) == scenario.emergency
        assert all("Art." in article or "RFC" in article for _, article in hop.required_fields)


def test_subscriber_or_end_named(engine) -> None:  # type: ignore[no-untyped-def]
    for seed in SEEDS:
        scenario = generate(seed, "normal", engine)
        assert scenario.end == scenario.hops[-1].outcome
        if scenario.end == "subscriber":
            assert scenario.subscriber and scenario.subscriber.endswith(".example")
        else:
            assert scenario.subscriber is None
        assert all(h.outcome == "relay" for h in scenario.hops[:-1])


def test_network_id_is_an_exercise_network(engine) -> None:  # type: ignore[no-untyped-def]
    for seed in (0, 5, 2**63 - 1):
        scenario = generate(seed, "hard", engine)
        settings = ExerciseSettings(network=scenario.network, seed=seed)
        assert settings.network.startswith("exercise-")


def test_evidence_names_the_first_hop_in_the_victims_zone(engine) -> None:  # type: ignore[no-untyped-def]
    kinds = set()
    for seed in SEEDS:
        scenario = generate(seed, "normal", engine)
        first = scenario.hops[0]
        assert first.ip in scenario.evidence.text
        assert str(first.port) in scenario.evidence.text
        assert scenario.evidence.zone == scenario.trainee_zone
        kinds.add(scenario.evidence.kind)
    assert kinds == {"web_access", "mail_headers", "flow"}


@pytest.mark.parametrize("bad", ["impossible", "", "EASY!", "1"])
def test_unknown_difficulty_is_refused(engine, bad: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed, match="unknown difficulty"):
        parse_difficulty(bad)
    with pytest.raises(ValidationFailed):
        generate(1, bad, engine)


@pytest.mark.parametrize("bad", [-1, 2**63, "abc", "1.5", None, True])
def test_bad_seed_is_refused(engine, bad: object) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed, match="seed"):
        check_seed(bad)
    with pytest.raises(ValidationFailed):
        generate(bad, "easy", engine)  # type: ignore[arg-type]


def test_seed_as_text_is_the_same_seed(engine) -> None:  # type: ignore[no-untyped-def]
    assert check_seed(" 42 ") == 42
    assert generate(42, "easy", engine) == generate(check_seed("42"), "easy", engine)
