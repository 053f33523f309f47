"""The run request: engine settings are checked by the engine's own config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.netadapt import NetAdaptConfig
from service.runs.spec import RunCreate


def spec(**overrides) -> RunCreate:
    return RunCreate(**{"model_id": "m" * 64, "budget": 0.5, **overrides})


@pytest.mark.parametrize(
    ("waypoints", "message"),
    [
        ([1.0], r"waypoint 1.0 is a ratio .* between the budget 0.5 and 1"),
        ([0.75, 0.5], r"waypoint 0.5 is a ratio .* lower the budget"),
        ([0.7, 0.7], r"given more than once"),
    ],
)
def test_bad_waypoints_are_refused_with_the_engine_message(waypoints, message):
    with pytest.raises(ValidationError, match=message):
        spec(engine={"waypoints": waypoints})


def test_waypoints_reach_the_engine_sorted_and_order_does_not_change_the_request():
    one, other = spec(engine={"waypoints": [0.6, 0.75]}), spec(engine={"waypoints": [0.75, 0.6]})
    assert one.engine.waypoints == [0.75, 0.6]
    assert one.fingerprint() == other.fingerprint() != spec().fingerprint()
    assert NetAdaptConfig(**one.engine_config_kwargs()).waypoints == (0.75, 0.6)
    # A stored request (JSON) validates back to the same one.
    assert RunCreate.model_validate(one.model_dump(mode="json")) == one


def test_absolute_waypoints_must_be_above_the_budget():
    with pytest.raises(ValidationError, match="above the absolute budget 100"):
        spec(budget=100, budget_kind="absolute", engine={"waypoints": [50]})
    assert spec(budget=100, budget_kind="absolute", engine={"waypoints": [150]}).engine.waypoints == [150]
