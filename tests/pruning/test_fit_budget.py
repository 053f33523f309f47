"""Fit-to-budget: never returns a model whose measured cost exceeds the budget, or fails
naming the smallest cost it measured. Stub measures (the pure algorithm), exact MACs on
zoo models, and models made by the simple methods (uniform width, global L1)."""

from __future__ import annotations

import hashlib

import keras
import numpy as np
import pytest
from keras import layers

from service.pruning.baselines import global_l1_keep, uniform_width_keep
from service.pruning.fit_budget import (
    BudgetUnreachableError,
    fit_to_budget,
    next_count,
    removal_order,
)
from service.pruning.fit_measures import analytic_measure
from service.pruning.offline_run import RunInputError
from service.surgery import analyze, count_macs, count_params, prune
from service.zoo import registry


def _small_cnn() -> keras.Model:
    """Prunable groups conv_a (16), conv_b (24, coupled with conv_c by an Add), fc (12)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    a = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv_a")(inp)
    a = layers.ReLU(name="relu_a")(layers.BatchNormalization(name="bn_a")(a))
    b = layers.Conv2D(24, 3, padding="same", activation="relu", name="conv_b")(a)
    c = layers.Conv2D(24, 1, name="conv_c")(b)
    x = layers.Add(name="add")([b, c])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(12, activation="relu", name="fc")(x)
    out = layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inp, out)


def _channels(model: keras.Model) -> dict[str, int]:
    return analyze(model).channel_config()


class ConfigMeasure:
    """A stub device: a cost from the model's channel counts alone (read off the model
    itself, as a device would see it), with every call recorded."""

    def __init__(self, cost_of_counts):
        self.cost_of_counts = cost_of_counts
        self.calls: list[tuple[dict[str, int], float]] = []

    def __call__(self, model: keras.Model) -> float:
        counts = _channels(model)
        cost = float(self.cost_of_counts(counts))
        self.calls.append((counts, cost))
        return cost


def _jitter(counts: dict[str, int]) -> float:
    """A deterministic factor in [0.8, 1.25) per configuration: cutting a channel step may
    make the "measured" cost go up, as host latency on a noisy machine does."""
    digest = hashlib.sha256(repr(sorted(counts.items())).encode()).digest()
    return 0.8 + 0.45 * digest[0] / 256


def test_next_count_stays_on_multiples_of_the_step_and_above_one_step():
    assert next_count(64, 8) == 56
    assert next_count(100, 8) == 96  # an off-grid count goes down to the grid
    assert next_count(16, 8) == 8
    assert next_count(8, 8) is None and next_count(12, 8) == 8 and next_count(7, 8) is None
    assert next_count(2, 1) == 1 and next_count(1, 1) is None


def test_removal_order_is_the_reverse_of_the_keep_order():
    from service.netadapt.saliency import choose_kept_channels

    scores = [0.5, float("nan"), 0.2, 0.5, 0.9, 0.2]
    order = removal_order(scores)
    assert order[0] == 1  # NaN goes first
    for keep in range(1, len(scores) + 1):
        assert sorted(order[len(scores) - keep :]) == list(choose_kept_channels(scores, keep))


@pytest.mark.parametrize("fraction", [0.9, 0.6, 0.35])
def test_a_non_monotone_measure_still_ends_at_or_under_the_budget(fraction):
    model = _small_cnn()
    graph = analyze(model)
    base_macs = count_macs(graph)

    def cost(counts):
        return 1000.0 * count_macs(graph, counts) / base_macs * _jitter(counts)

    measure = ConfigMeasure(cost)
    baseline = cost(graph.channel_config())
    budget = fraction * baseline
    result = fit_to_budget(model, budget, measure, channel_step=2)

    assert measure(result.model) <= budget  # re-measured: the model returned fits
    assert result.cost == measure(result.model)
    assert result.channels == _channels(result.model)
    # The record is the measurements, in order; only the last one is within the budget.
    costs = [s.cost for s in result.steps]
    assert costs == [c for _, c in measure.calls[: len(costs)]]
    assert all(c > budget for c in costs[:-1]) and costs[-1] <= budget
    # The measure is not monotone along the way (else this test would not test that).
    if fraction == 0.35:
        assert any(later > earlier for earlier, later in zip(costs, costs[1:]))
    for step in result.steps[1:]:
        assert step.channels % 2 == 0 and step.channels >= 2
        assert step.channels_before - step.channels <= 2
        assert len(step.removed) == step.channels_before - step.channels


def test_a_measure_unlike_macs_is_followed_not_the_macs():
    """Cost only from conv_a's width (say, a device where that layer dominates): the fit
    keeps cutting until conv_a is cut far enough, whatever MACs say."""
    model = _small_cnn()
    measure = ConfigMeasure(lambda counts: 10.0 + counts["conv_a"])
    result = fit_to_budget(model, 18.0, measure, channel_step=4)
    assert measure(result.model) <= 18.0
    assert result.channels["conv_a"] == 8


def test_a_model_already_within_the_budget_comes_back_unchanged():
    model = _small_cnn()
    measure = ConfigMeasure(lambda counts: 5.0)
    result = fit_to_budget(model, 5.0, measure)
    assert result.model is model and len(result.steps) == 1 and len(measure.calls) == 1


def test_the_given_baseline_cost_is_not_measured_again():
    model = _small_cnn()
    measure = ConfigMeasure(lambda counts: float(sum(counts.values())))
    result = fit_to_budget(model, 40.0, measure, channel_step=4, baseline_cost=52.0)
    assert result.baseline_cost == 52.0 and len(measure.calls) == len(result.steps) - 1


def test_the_least_salient_group_loses_the_step_and_its_weakest_channels():
    model = _small_cnn()
    # conv_a's channels 3..6 are all but dead: the cheapest step anywhere.
    weights = model.get_layer("conv_a").get_weights()
    weights[0][..., 3:7] *= 1e-3
    model.get_layer("conv_a").set_weights(weights)
    measure = ConfigMeasure(lambda counts: float(sum(counts.values())))
    result = fit_to_budget(model, 51.0, measure, channel_step=4)  # 52 channels: one step
    assert [(s.group, s.removed) for s in result.steps[1:]] == [("conv_a", [3, 4, 5, 6])]
    assert result.keep["conv_a"] == [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    # The pruned model is exactly the input with those channels gone.
    expected = prune(model, {"conv_a": result.keep["conv_a"]})
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), expected.predict(x, verbose=0), rtol=1e-5)


def test_an_unreachable_budget_names_the_smallest_cost_measured():
    model = _small_cnn()
    # A floor the model cannot go under, and a non-monotone path towards it.
    measure = ConfigMeasure(lambda counts: (100.0 + sum(counts.values())) * _jitter(counts))
    seen: list[float] = []
    with pytest.raises(BudgetUnreachableError) as caught:
        fit_to_budget(model, 50.0, measure, channel_step=4, metric="ms",
                      on_step=lambda step: seen.append(step.cost))
    error = caught.value
    assert isinstance(error, RunInputError)  # the CLI and the run worker print it as one line
    assert error.smallest_cost == min(seen) > 50.0
    assert f"smallest cost measured was {min(seen):.4g} ms" in str(error) and "budget 50 ms" in str(error)
    # It gave up only when every group was down to one step.
    last_counts = measure.calls[-1][0]
    assert all(n == 4 for n in last_counts.values())


def test_bad_arguments_say_what_to_change():
    model = _small_cnn()
    measure = ConfigMeasure(lambda counts: 1.0)
    with pytest.raises(RunInputError, match="l1"):
        fit_to_budget(model, 0.5, measure, saliency="apoz")
    with pytest.raises(RunInputError, match="channel_step"):
        fit_to_budget(model, 0.5, measure, channel_step=0)
    with pytest.raises(RunInputError, match="positive"):
        fit_to_budget(model, float("nan"), measure)


# -- exact MACs on zoo models ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "fraction", "step"),
    [
        ("digits_cnn", {}, 0.5, 8),
        ("mobilenet_v1", {"input_shape": (32, 32, 3), "alpha": 0.25}, 0.85, 8),
        ("resnet20", {}, 0.8, 8),
    ],
)
def test_analytic_macs_fit_zoo_models(name, kwargs, fraction, step):
    model = registry.build(name, **kwargs)
    measure = analytic_measure("macs")
    baseline = measure(model)
    budget = fraction * baseline
    result = fit_to_budget(model, budget, measure, channel_step=step, metric="macs")
    assert count_macs(analyze(result.model)) == result.cost <= budget
    assert all(s.cost > budget for s in result.steps[:-1])
    assert result.record()["measurements"] == len(result.steps)


@pytest.mark.parametrize("method", ["uniform", "global_l1"])
def test_models_of_the_simple_methods_are_fitted_to_a_budget_they_missed(method):
    """Aimed at 60% by a cost that is not the budget's (parameters), measured in MACs: the
    fit takes them from where they landed to 50% of the MACs."""
    model = registry.build("vgg", input_shape=(16, 16, 3), widths=(16, 16, 32, 32), dense_units=32)
    graph = analyze(model)

    def params(counts):
        return float(count_params(graph, counts))

    target = 0.6 * params(graph.channel_config())
    if method == "uniform":
        keep, _ = uniform_width_keep(model, graph, target, params, channel_step=8)
    else:
        keep = global_l1_keep(model, graph, target, params)
    aimed = prune(model, keep, graph=graph)
    measure = analytic_measure("macs")
    budget = 0.5 * measure(model)
    result = fit_to_budget(aimed, budget, measure, channel_step=8, metric="macs")
    assert measure(result.model) == result.cost <= budget
