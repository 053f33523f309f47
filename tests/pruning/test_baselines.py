"""Uniform width scaling and one-shot global L1: the simpler methods NetAdapt is compared with."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from service.pruning.baselines import (
    UnreachableTargetError,
    global_l1_keep,
    kept_counts,
    mean_normalised_l1,
    uniform_counts,
    uniform_width_keep,
)
from service.surgery import analyze, count_macs, prune


def _small_cnn() -> keras.Model:
    """Three prunable groups of different widths (conv_a 8, conv_b 16, fc 12), a batch
    norm and a residual-free head; the output layer is frozen."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_a")(inp)
    x = layers.ReLU(name="relu_a")(layers.BatchNormalization(name="bn_a")(x))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(12, activation="relu", name="fc")(x)
    out = layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inp, out)


def _residual_cnn() -> keras.Model:
    """conv_a and conv_b are coupled by an Add: one group of 8 channels."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 2))
    a = layers.Conv2D(8, 3, padding="same", name="conv_a")(inp)
    b = layers.Conv2D(8, 1, name="conv_b")(a)
    x = layers.Conv2D(24, 3, padding="same", name="conv_c")(layers.Add(name="add")([a, b]))
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    return keras.Model(inp, out)


class CountingMacs:
    """MACs of a channel configuration, counting how often it was asked."""

    def __init__(self, graph):
        self.graph = graph
        self.calls = 0

    def __call__(self, counts):
        self.calls += 1
        return float(count_macs(self.graph, counts))


def _zero_filter(model: keras.Model, layer: str, channel: int) -> None:
    weights = model.get_layer(layer).get_weights()
    weights[0][..., channel] = 0.0
    model.get_layer(layer).set_weights(weights)


def _pruned_macs(model: keras.Model, keep) -> int:
    return count_macs(analyze(prune(model, keep)))


@pytest.fixture(scope="module")
def small():
    model = _small_cnn()
    return model, analyze(model)


# -- uniform width --------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.8, 0.5, 0.3])
@pytest.mark.parametrize("step", [1, 4])
def test_uniform_meets_the_target_with_the_largest_width(small, fraction, step):
    model, graph = small
    cost = CountingMacs(graph)
    target = fraction * count_macs(graph)
    keep, width = uniform_width_keep(model, graph, target, cost, channel_step=step)
    counts = kept_counts(keep)
    assert counts == uniform_counts(graph, width, step)
    assert cost(counts) <= target
    assert _pruned_macs(model, keep) == cost(counts)  # the estimate is the real model's
    # Any visibly wider network misses the target.
    assert cost(uniform_counts(graph, width + 1e-4, step)) > target
    assert cost.calls < 40


@pytest.mark.parametrize("step", [1, 4])
def test_uniform_scales_every_group_by_the_same_factor(small, step):
    model, graph = small
    keep, width = uniform_width_keep(model, graph, 0.4 * count_macs(graph), CountingMacs(graph), step)
    for group in graph.prunable_groups:
        kept = len(keep[group.id])
        assert kept % step == 0 or kept == group.channels
        if kept > step:  # not clamped at the one-step floor
            assert abs(kept - group.channels * width) <= step / 2 + 1e-9


def test_uniform_keeps_each_groups_highest_l1_channels():
    model = _small_cnn()
    _zero_filter(model, "conv_b", 5)
    graph = analyze(model)
    keep, _ = uniform_width_keep(model, graph, 0.9 * count_macs(graph), CountingMacs(graph))
    assert len(keep["conv_b"]) < 16 and 5 not in keep["conv_b"]


def test_uniform_couples_merged_layers():
    model = _residual_cnn()
    graph = analyze(model)
    keep, width = uniform_width_keep(model, graph, 0.5 * count_macs(graph), CountingMacs(graph))
    assert set(keep) == {"conv_a", "conv_c"}  # conv_b lives in conv_a's group
    assert _pruned_macs(model, keep) <= 0.5 * count_macs(graph)
    assert 0 < width < 1


def test_uniform_target_above_the_baseline_keeps_everything(small):
    model, graph = small
    keep, width = uniform_width_keep(model, graph, count_macs(graph), CountingMacs(graph))
    assert width == 1.0
    assert kept_counts(keep) == graph.channel_config()


def test_uniform_unreachable_target_is_a_clear_error(small):
    model, graph = small
    floor = count_macs(graph, uniform_counts(graph, 0.0, 4))
    with pytest.raises(UnreachableTargetError, match="unreachable by uniform width scaling"):
        uniform_width_keep(model, graph, floor - 1, CountingMacs(graph), channel_step=4)
    with pytest.raises(ValueError, match="channel_step must be >= 1"):
        uniform_width_keep(model, graph, 1e3, CountingMacs(graph), channel_step=0)


# -- global L1 ------------------------------------------------------------------------------


def test_global_removes_a_zeroed_filter_first():
    model = _small_cnn()
    _zero_filter(model, "conv_b", 11)
    graph = analyze(model)
    # One channel less anywhere meets this target, so exactly one channel goes.
    keep = global_l1_keep(model, graph, count_macs(graph) - 1, CountingMacs(graph))
    assert keep["conv_b"] == [c for c in range(16) if c != 11]
    assert kept_counts(keep) == {**graph.channel_config(), "conv_b": 15}


@pytest.mark.parametrize("fraction", [0.9, 0.5, 0.2])
def test_global_meets_the_target_with_few_cost_calls(small, fraction):
    model, graph = small
    cost = CountingMacs(graph)
    target = fraction * count_macs(graph)
    keep = global_l1_keep(model, graph, target, cost)
    assert _pruned_macs(model, keep) <= target
    removable = sum(g.channels - 1 for g in graph.prunable_groups)
    assert cost.calls <= np.ceil(np.log2(removable)) + 2


def test_global_removes_no_more_than_needed(small):
    model, graph = small
    target = 0.5 * count_macs(graph)
    keep = global_l1_keep(model, graph, target, CountingMacs(graph))
    scores = mean_normalised_l1(model, graph)
    # Putting back the best removed channel (by the global ranking) misses the target.
    removed = [(scores[g][c], g) for g, kept in keep.items()
               for c in range(len(scores[g])) if c not in kept]
    _, group = max(removed)
    counts = kept_counts(keep)
    counts[group] += 1
    assert count_macs(graph, counts) > target


def test_global_ranking_ignores_a_layers_overall_scale():
    model = _small_cnn()
    graph = analyze(model)
    target = 0.5 * count_macs(graph)
    before = global_l1_keep(model, graph, target, CountingMacs(graph))
    weights = model.get_layer("conv_b").get_weights()
    model.get_layer("conv_b").set_weights([weights[0] * 100.0, weights[1]])
    assert global_l1_keep(model, graph, target, CountingMacs(graph)) == before


def test_global_respects_min_channels(small):
    model, graph = small
    floor = count_macs(graph, {g.id: 3 for g in graph.prunable_groups})
    keep = global_l1_keep(model, graph, floor, CountingMacs(graph), min_channels=3)
    assert all(len(kept) >= 3 for kept in keep.values())
    assert _pruned_macs(model, keep) <= floor


def test_global_unreachable_target_is_a_clear_error(small):
    model, graph = small
    floor = count_macs(graph, {g.id: 2 for g in graph.prunable_groups})
    with pytest.raises(UnreachableTargetError, match="unreachable by global L1 pruning"):
        global_l1_keep(model, graph, floor - 1, CountingMacs(graph), min_channels=2)
    with pytest.raises(ValueError, match="min_channels must be >= 1"):
        global_l1_keep(model, graph, floor, CountingMacs(graph), min_channels=0)
    with pytest.raises(ValueError, match="finite"):
        global_l1_keep(model, graph, float("nan"), CountingMacs(graph))


def test_global_target_above_the_baseline_keeps_everything(small):
    model, graph = small
    keep = global_l1_keep(model, graph, 2 * count_macs(graph), CountingMacs(graph))
    assert kept_counts(keep) == graph.channel_config()
