import pytest

from service.netadapt import (
    NetAdaptConfig,
    budget_cost,
    iteration_target,
    step_size,
    waypoint_costs,
)


def test_step_size_decays_from_a_fraction_of_the_baseline():
    cfg = NetAdaptConfig(budget=0.5, init_reduction_ratio=0.1, decay=0.5)
    assert step_size(0, 200.0, cfg) == pytest.approx(20.0)
    assert step_size(1, 200.0, cfg) == pytest.approx(10.0)
    assert step_size(3, 200.0, cfg) == pytest.approx(2.5)


def test_step_size_rejects_negative_iteration():
    with pytest.raises(ValueError):
        step_size(-1, 10.0, NetAdaptConfig(budget=0.5))


def test_budget_cost_ratio_and_absolute():
    assert budget_cost(200.0, NetAdaptConfig(budget=0.25)) == 50.0
    assert budget_cost(200.0, NetAdaptConfig(budget=70.0, budget_kind="absolute")) == 70.0


def test_iteration_target_is_clamped_to_the_budget():
    assert iteration_target(100.0, 10.0, 50.0) == 90.0
    assert iteration_target(55.0, 10.0, 50.0) == 50.0


def test_waypoint_costs_ratio_and_absolute():
    assert waypoint_costs(200.0, NetAdaptConfig(budget=0.25, waypoints=[0.5, 0.75])) == (150.0, 100.0)
    absolute = NetAdaptConfig(budget=70.0, budget_kind="absolute", waypoints=[100, 150])
    assert waypoint_costs(200.0, absolute) == (150.0, 100.0)
    assert waypoint_costs(200.0, NetAdaptConfig(budget=0.5)) == ()


WAYPOINTS = (75.0, 60.0)


def test_iteration_target_clamps_to_the_next_waypoint_below():
    assert iteration_target(100.0, 10.0, 50.0, WAYPOINTS) == 90.0
    assert iteration_target(80.0, 10.0, 50.0, WAYPOINTS) == 75.0
    # Halving the step keeps the target on the waypoint until current - step is above it.
    assert iteration_target(80.0, 5.0, 50.0, WAYPOINTS) == 75.0
    assert iteration_target(80.0, 2.5, 50.0, WAYPOINTS) == 77.5


def test_iteration_target_passes_a_reached_waypoint_to_the_next():
    # At (or under) a waypoint it no longer holds the run back; the next one below does.
    assert iteration_target(75.0, 30.0, 50.0, WAYPOINTS) == 60.0
    assert iteration_target(72.0, 30.0, 50.0, WAYPOINTS) == 60.0
    assert iteration_target(59.0, 30.0, 50.0, WAYPOINTS) == 50.0  # the budget stays the floor
    assert iteration_target(61.0, 30.0, 50.0, (60.0, 75.0)) == 60.0  # any order
