import math
import random

import pytest

from service.netadapt import candidate_counts, choose_filter_counts
from tests.netadapt.stubs import StubEstimator, linear_cost


def brute_force(config, groups, target, cost, step):
    """Reference: try every candidate of every group."""
    answer = {}
    for group in groups:
        fitting = [
            n for n in candidate_counts(config[group], step) if cost({**config, group: n}) <= target
        ]
        answer[group] = max(fitting) if fitting else None
    return answer


def test_candidates():
    assert candidate_counts(32, 8) == [8, 16, 24]
    assert candidate_counts(33, 8) == [8, 16, 24, 32]
    assert candidate_counts(10, 8) == [8]
    assert candidate_counts(8, 8) == []
    assert candidate_counts(5, 8) == []


def test_largest_count_meeting_the_target_per_group():
    estimator = StubEstimator(linear_cost({"a": 2, "b": 1, "c": 4}))
    config = {"a": 32, "b": 64, "c": 16}  # cost 192
    choice = choose_filter_counts(config, ["a", "b", "c"], 172.8, estimator, 8)
    assert choice.counts == {"a": 16, "b": 40, "c": 8}
    assert choice.estimated_costs == {"a": 160.0, "b": 168.0, "c": 160.0}
    assert choice.proposable() == ["a", "b", "c"]


def test_group_that_cannot_meet_target_gets_none():
    estimator = StubEstimator(linear_cost({"a": 1, "b": 1}))
    choice = choose_filter_counts({"a": 16, "b": 64}, ["a", "b"], 70.0, estimator, 8)
    # a=8 leaves 72 > 70; b can go to 48 (64 <= 70) but not 56 (72).
    assert choice.counts == {"a": None, "b": 48}
    assert choice.estimated_costs["a"] is None
    assert choice.proposable() == ["b"]


def test_current_count_not_a_multiple_of_the_step():
    estimator = StubEstimator(linear_cost({"a": 1, "b": 1}))
    choice = choose_filter_counts({"a": 10, "b": 8}, ["a", "b"], 100.0, estimator, 8)
    assert choice.counts == {"a": 8, "b": None}  # b is already at the floor
    assert choice.probes == 1


def test_only_prunable_groups_are_searched():
    estimator = StubEstimator(linear_cost({"a": 1, "b": 1}))
    choice = choose_filter_counts({"a": 32, "b": 32}, ["b"], 100.0, estimator, 8)
    assert choice.counts == {"b": 24}
    assert all(probe["a"] == 32 for batch in estimator.batches for probe in batch)


def test_probes_of_one_round_go_out_in_one_batch():
    estimator = StubEstimator(linear_cost({"a": 1, "b": 1, "c": 1}))
    config = {"a": 1024, "b": 64, "c": 16}
    choice = choose_filter_counts(config, ["a", "b", "c"], 1000.0, estimator, 8)
    # a has 127 candidates -> 7 rounds; b 7 -> 3 rounds; c 1 -> 1 round.
    assert choice.batches == len(estimator.batches) == 7
    assert [len(batch) for batch in estimator.batches] == [3, 2, 2, 1, 1, 1, 1]
    assert choice.probes == estimator.probes == 11
    # Every probe changes exactly one group.
    for batch in estimator.batches:
        for probe in batch:
            assert sum(probe[g] != config[g] for g in config) == 1
    assert choice.counts == brute_force(config, "abc", 1000.0, estimator.cost, 8)


@pytest.mark.parametrize("seed", range(40))
def test_binary_search_matches_linear_scan_on_monotone_costs(seed):
    rng = random.Random(seed)
    groups = [f"g{i}" for i in range(rng.randint(1, 5))]
    config = {g: rng.randint(1, 600) for g in groups}
    # Monotone (non-linear) per-group costs plus a coupling term between neighbours.
    per_channel = {g: sorted(rng.uniform(0, 5) for _ in range(601)) for g in groups}
    prefix = {g: [0.0, *_running_sum(per_channel[g])] for g in groups}

    def cost(c):
        total = sum(prefix[g][c[g]] for g in groups)
        return total + sum(c[a] * c[b] * 0.01 for a, b in zip(groups, groups[1:]))

    step = rng.choice([1, 4, 8, 16])
    full = cost(config)
    target = full * rng.uniform(0.3, 1.0)
    estimator = StubEstimator(cost)
    choice = choose_filter_counts(config, groups, target, estimator, step)

    assert choice.counts == brute_force(config, groups, target, cost, step)
    for group, count in choice.counts.items():
        if count is not None:
            assert choice.estimated_costs[group] == cost({**config, group: count})
    # Binary search bound: ceil(log2(candidates + 1)) probes per group.
    bounds = [math.ceil(math.log2(len(candidate_counts(n, step)) + 1)) for n in config.values()]
    assert choice.batches <= max(bounds)
    assert choice.probes <= sum(bounds)


def test_binary_search_needs_far_fewer_probes_than_a_linear_scan():
    estimator = StubEstimator(linear_cost({"a": 3, "b": 1, "c": 2}))
    config = {"a": 512, "b": 2048, "c": 256}
    target = estimator.cost(config) * 0.97
    choice = choose_filter_counts(config, ["a", "b", "c"], target, estimator, 1)
    linear_probes = sum(len(candidate_counts(n, 1)) for n in config.values())
    assert linear_probes == 511 + 2047 + 255
    assert choice.probes <= 11 + 9 + 8
    assert choice.probes * 50 < linear_probes
    assert choice.counts == brute_force(config, "abc", target, estimator.cost, 1)


def test_estimator_returning_wrong_number_of_costs_is_an_error():
    class Broken(StubEstimator):
        def costs(self, configs):
            return [1.0]

    with pytest.raises(ValueError, match="returned 1 costs for 2"):
        choose_filter_counts({"a": 32, "b": 32}, ["a", "b"], 10.0, Broken(len), 8)


def _running_sum(values):
    total = 0.0
    for value in values:
        total += value
        yield total
