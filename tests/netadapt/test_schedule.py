import pytest

from service.netadapt import NetAdaptConfig, budget_cost, iteration_target, step_size


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
