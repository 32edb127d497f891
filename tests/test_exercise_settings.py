from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from trailguard.core.clock import ScaledClock
from trailguard.core.config import ExerciseSettings, NodeConfig


def test_exercise_settings():
    c = NodeConfig(node_id="us-poc", name="x", country="US", roles=["poc"])
    assert not c.is_exercise and c.network_name == "live"
    c = NodeConfig(
        node_id="us-poc",
        name="x",
        country="US",
        roles=["poc"],
        exercise={"network": "exercise-seed-1"},
    )
    assert c.is_exercise and c.network_name == "exercise-seed-1"
    with pytest.raises(ValidationError):
        ExerciseSettings(network="live")


def test_scaled_clock_runs_faster():
    import time

    c = ScaledClock(datetime(2026, 1, 1, tzinfo=UTC), 3600)
    a = c.now()
    time.sleep(0.01)
    b = c.now()
    assert (b - a).total_seconds() >= 30
    with pytest.raises(ValueError):
        ScaledClock(datetime(2026, 1, 1, tzinfo=UTC), 0)
