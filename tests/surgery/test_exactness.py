"""Every zoo model and seven keras.applications models prune exactly."""

from __future__ import annotations

import numpy as np
import pytest

from service.surgery import analyze, count_params, prune

from .conftest import ALL_MODELS, keep_sets
from .exactness import max_output_difference, random_keep

TOL = 1e-4

EXACTNESS_CASES = [
    pytest.param(key, fraction, seed, id=f"{key}-{fraction}-{seed}")
    for key in ALL_MODELS
    for fraction, seed in keep_sets(key)
]


@pytest.mark.parametrize("any_model,fraction,seed", EXACTNESS_CASES, indirect=["any_model"])
def test_pruned_output_equals_zeroed_original(any_model, fraction, seed):
    graph = analyze(any_model)
    assert graph.prunable_groups
    keep = random_keep(graph, fraction, seed)
    assert max_output_difference(any_model, keep, seed=seed, graph=graph) <= TOL


def test_pruning_changes_the_model_it_claims_to(any_model):
    """Guards the exactness test against a vacuous pass: the model's output depends on its
    input well beyond the tolerance, and the pruned model is really smaller and really
    computes something different from the unpruned one."""
    graph = analyze(any_model)
    keep = random_keep(graph, 0.5, 7)
    pruned = prune(any_model, keep, graph=graph)
    assert pruned.count_params() < any_model.count_params()
    x = np.random.default_rng(0).normal(size=(2, *any_model.inputs[0].shape[1:])).astype("float32")
    original = np.asarray(any_model(x))
    assert np.max(np.abs(original[0] - original[1])) > 10 * TOL
    assert np.max(np.abs(np.asarray(pruned(x)) - original)) > 0


def test_parameter_counts_match_keras(any_model):
    graph = analyze(any_model)
    assert count_params(graph) == any_model.count_params()
    keep = random_keep(graph, 0.5, 3)
    pruned = prune(any_model, keep, graph=graph)
    counts = {g: len(i) for g, i in keep.items()}
    assert count_params(graph, counts) == pruned.count_params()
    assert count_params(analyze(pruned)) == pruned.count_params()


def test_pruned_group_sizes_are_what_was_asked(any_model):
    graph = analyze(any_model)
    keep = random_keep(graph, 0.5, 4)
    pruned_graph = analyze(prune(any_model, keep, graph=graph))
    sizes = {g.id: g.channels for g in pruned_graph.groups}
    for gid, idx in keep.items():
        assert sizes[gid] == len(idx)
