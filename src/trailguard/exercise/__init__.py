"""exercise capability: 24/7 staff train on generated cases, scored, apart from real work.

    from trailguard.exercise import generate, Difficulty
    scenario = generate(42, Difficulty.HARD, get_engine())   # same seed, same scenario
    scenario.hops[0].dies_at, scenario.hops[0].channel_citations   # the answer key

Map: ``domain/`` (plain typed Python: ``scenario`` generates the story, the counterparts and
the answer key from a seed with the law engine; ``scoring`` scores a trainee's requests on five
axes, each point with its article), ``orm`` + ``migrations/`` (``exercise_sessions``),
``service`` (sessions, conclusion, scoring, debrief), ``debrief_pdf``, ``play`` (the loopback
nodes with the exercise settings, their traffic stores, the simulated counterparts),
``selftest`` (careful against careless), ``cli`` (``trailguard exercise``), ``api``, ``web``.
"""

from trailguard.exercise.domain.scenario import Difficulty, HopKey, Scenario, generate
from trailguard.exercise.domain.scoring import AXES, Score

__all__ = ["AXES", "Difficulty", "HopKey", "Scenario", "Score", "generate"]
