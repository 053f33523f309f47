"""How many channels each group may keep so that the network meets an iteration's target."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.netadapt.interfaces import ChannelConfig, CostEstimator


@dataclass(frozen=True)
class FilterCountChoice:
    """Per group: the channel count to propose (None = cannot meet the target)."""

    counts: dict[str, int | None]
    estimated_costs: dict[str, float | None]  # cost of the network at that count
    probes: int  # configurations whose cost was asked for
    batches: int  # estimator.costs calls made

    def proposable(self) -> list[str]:
        return [group for group, count in self.counts.items() if count is not None]


def candidate_counts(current: int, channel_step: int, max_reduction: float = 1.0) -> list[int]:
    """Multiples of `channel_step` below `current`, ascending; never below `channel_step`,
    and removing at most `max_reduction` of the `current` channels, except that one
    channel step is always allowed (a cap must never freeze a small group)."""
    lowest = min(current - channel_step, math.ceil(current * (1.0 - max_reduction)))
    return [n for n in range(channel_step, current, channel_step) if n >= lowest]


@dataclass
class _Search:
    """Binary search over one group's candidates for the largest one that meets the target."""

    candidates: list[int]
    low: int = 0
    high: int = -1
    best: int | None = None
    best_cost: float | None = None

    def __post_init__(self) -> None:
        self.high = len(self.candidates) - 1

    @property
    def active(self) -> bool:
        return self.low <= self.high

    @property
    def middle(self) -> int:
        return (self.low + self.high) // 2

    def record(self, cost: float, target: float) -> None:
        middle = self.middle
        if cost <= target:
            self.best, self.best_cost = middle, cost
            self.low = middle + 1
        else:
            self.high = middle - 1


def choose_filter_counts(
    current_config: ChannelConfig,
    prunable_groups: Sequence[str],
    target: float,
    estimator: CostEstimator,
    channel_step: int,
    max_reduction: float = 1.0,
) -> FilterCountChoice:
    """For each group, the largest multiple of `channel_step` (below its current count) at
    which the network's estimated cost, all other groups unchanged, is <= `target`; a group
    may lose at most `max_reduction` of its channels (see candidate_counts).

    Cost is close to monotone in a group's channel count, so each group is binary-searched.
    All groups advance in lock step and each round's probes go to the estimator in one
    batch: a measuring estimator blocks per call while the device agent works, so the number
    of waits is the number of rounds (~log2 of the largest group's candidates), not probes.
    """
    if channel_step < 1:
        raise ValueError(f"channel_step must be >= 1, got {channel_step}")
    searches = {
        group: _Search(candidate_counts(current_config[group], channel_step, max_reduction))
        for group in prunable_groups
    }
    probes = batches = 0
    while True:
        active = [group for group, search in searches.items() if search.active]
        if not active:
            break
        configs = [
            _with_count(current_config, group, searches[group].candidates[searches[group].middle])
            for group in active
        ]
        costs = estimator.costs(configs)
        if len(costs) != len(configs):
            raise ValueError(
                f"estimator returned {len(costs)} costs for {len(configs)} configurations"
            )
        probes += len(configs)
        batches += 1
        for group, cost in zip(active, costs):
            searches[group].record(float(cost), target)

    counts: dict[str, int | None] = {}
    estimated: dict[str, float | None] = {}
    for group, search in searches.items():
        counts[group] = None if search.best is None else search.candidates[search.best]
        estimated[group] = search.best_cost
    return FilterCountChoice(counts, estimated, probes, batches)


def _with_count(config: Mapping[str, int], group: str, count: int) -> dict[str, int]:
    changed = dict(config)
    changed[group] = count
    return changed
