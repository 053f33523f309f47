"""Simpler structured-pruning methods to compare NetAdapt against.

Each method decides, in one shot and without any training, how many channels every
prunable group keeps and which ones, so that the network's cost is at most a target. The
result is a keep mapping for :func:`service.surgery.prune`; fine-tuning is the caller's job,
so a benchmark can give every method the same training budget.

Costs come from a caller-supplied ``cost_fn(counts) -> float`` over per-group channel
counts (e.g. ``lambda counts: count_macs(graph, counts)``), so the same methods work with
a measured-latency estimator. Both methods assume cost does not grow when channels are
removed; that holds exactly for MACs and parameters and closely for latency.

- :func:`uniform_width_keep`: one width multiplier for the whole network (as MobileNet's
  alpha), the largest one that meets the target; each group keeps its highest-L1 channels.
- :func:`global_l1_keep`: one-shot global filter pruning; every channel of every group is
  ranked on one scale by its mean-normalised L1 norm and the lowest are removed until the
  target is met.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from service.netadapt.errors import UserError
from service.netadapt.saliency import choose_kept_channels
from service.surgery import ChannelGraph, channel_saliency

CostFn = Callable[[Mapping[str, int]], float]
KeepMapping = dict[str, list[int]]

# Bisection on the width factor stops once the interval is this narrow. A group's count
# changes every channel_step / channels in width (1/2048 for a 2048-channel layer), so
# only a coincidence of two groups' breakpoints could hide a configuration, by one step.
WIDTH_TOLERANCE = 1e-6

__all__ = [
    "CostFn",
    "KeepMapping",
    "UnreachableTargetError",
    "global_l1_keep",
    "kept_counts",
    "mean_normalised",
    "mean_normalised_l1",
    "uniform_counts",
    "uniform_width_keep",
]


class UnreachableTargetError(UserError, ValueError):
    """Even the smallest network the method may produce costs more than the target."""


def kept_counts(keep: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """Channel count per group of a keep mapping (what a cost_fn takes)."""
    return {group: len(indices) for group, indices in keep.items()}


class _MemoisedCost:
    """cost_fn with repeated configurations answered from memory: a measuring estimator
    may take seconds per call, and bisection revisits the same configuration often."""

    def __init__(self, cost_fn: CostFn) -> None:
        self.cost_fn = cost_fn
        self._seen: dict[tuple[tuple[str, int], ...], float] = {}

    def __call__(self, counts: Mapping[str, int]) -> float:
        key = tuple(sorted((group, int(n)) for group, n in counts.items()))
        if key not in self._seen:
            self._seen[key] = float(self.cost_fn(dict(key)))
        return self._seen[key]


def _require_target(target_cost: float) -> None:
    real = isinstance(target_cost, numbers.Real) and not isinstance(target_cost, bool)
    if not real or not math.isfinite(target_cost):
        raise ValueError(f"target_cost must be a finite number, got {target_cost!r}")


def _require_prunable(graph: ChannelGraph) -> None:
    if not graph.prunable_groups:
        raise ValueError("the model has no prunable channel groups; nothing to shrink")


# -- uniform width scaling ------------------------------------------------------------------


def _round_to_step(value: float, step: int) -> int:
    # Half-up rather than Python's round(), whose ties-to-even would round 2.5 steps
    # and 3.5 steps in different directions.
    return int(math.floor(value / step + 0.5)) * step


def uniform_counts(graph: ChannelGraph, width: float, channel_step: int = 1) -> dict[str, int]:
    """Channels per prunable group at width factor `width`: c * width rounded to a multiple
    of `channel_step`, never below one step and never above the group's channels."""
    if channel_step < 1:
        raise ValueError(f"channel_step must be >= 1, got {channel_step}")
    return {
        g.id: min(g.channels, max(channel_step, _round_to_step(g.channels * width, channel_step)))
        for g in graph.prunable_groups
    }


def _keep_top_channels(
    scores: Mapping[str, np.ndarray], counts: Mapping[str, int]
) -> KeepMapping:
    return {group: list(choose_kept_channels(scores[group], n)) for group, n in counts.items()}


def uniform_width_keep(
    model: Any,
    graph: ChannelGraph,
    target_cost: float,
    cost_fn: CostFn,
    channel_step: int = 1,
) -> tuple[KeepMapping, float]:
    """Scale every prunable group by one width factor w, the largest with
    cost_fn(uniform_counts(graph, w, channel_step)) <= target_cost; keep each group's
    highest-L1 channels. Returns (keep mapping, w).

    A target at or above the unpruned cost keeps everything (w = 1). Raises
    UnreachableTargetError when even one channel step per group costs too much.
    """
    _require_target(target_cost)
    _require_prunable(graph)
    cost = _MemoisedCost(cost_fn)
    full = graph.channel_config()
    scores = channel_saliency(model, "l1", graph=graph)
    if cost(full) <= target_cost:
        return _keep_top_channels(scores, full), 1.0

    floor = uniform_counts(graph, 0.0, channel_step)
    floor_cost = cost(floor)
    if floor_cost > target_cost:
        raise UnreachableTargetError(
            f"target cost {target_cost:,.6g} is unreachable by uniform width scaling: with "
            f"every prunable group at {channel_step} channel(s) the model still costs "
            f"{floor_cost:,.6g}; raise the target or use a smaller channel_step"
        )
    # Counts only grow with w and cost only grows with counts, so "meets the target" is
    # true on [0, w*) and false above: bisection finds w*.
    low, high = 0.0, 1.0  # low always meets the target, high never does
    while high - low > WIDTH_TOLERANCE:
        middle = (low + high) / 2
        if cost(uniform_counts(graph, middle, channel_step)) <= target_cost:
            low = middle
        else:
            high = middle
    return _keep_top_channels(scores, uniform_counts(graph, low, channel_step)), low


# -- one-shot global L1 ---------------------------------------------------------------------


def mean_normalised_l1(model: Any, graph: ChannelGraph) -> dict[str, np.ndarray]:
    """Per prunable group: each channel's L1 saliency divided by the group's mean saliency.

    Raw filter norms are not comparable across layers: their scale follows each layer's
    fan-in (He/Glorot initialisation) and any batch-norm rescaling the training settled on,
    so a global threshold on raw norms mostly picks layers, not channels. Dividing by the
    group mean makes every group average 1 and ranks channels by how they compare with
    their own layer; this is Torch-Pruning's default (MagnitudeImportance with
    normalizer="mean") for global pruning. A group whose filters are all zero keeps its
    zeros, which rank first for removal.
    """
    return mean_normalised(channel_saliency(model, "l1", graph=graph))


def mean_normalised(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each group's scores divided by the group's mean score (see mean_normalised_l1)."""
    normalised: dict[str, np.ndarray] = {}
    for group, group_scores in scores.items():
        group_scores = np.asarray(group_scores, dtype=np.float64)
        mean = float(np.nanmean(group_scores)) if np.isfinite(group_scores).any() else 0.0
        normalised[group] = group_scores / mean if mean > 0 else group_scores
    return normalised


def _removal_order(
    scores: Mapping[str, np.ndarray], groups: Sequence[str], min_channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(group position, channel) of every removable channel, lowest score first.

    Each group's `min_channels` best channels are not removable. Ties and NaN follow
    choose_kept_channels (NaN goes first; of equal scores the higher index goes first), so
    every prefix of the order removes, within each group, exactly the channels that
    choose_kept_channels would drop."""
    group_pos, channels, sort_scores, within = [], [], [], []
    for position, group in enumerate(groups):
        group_scores = np.asarray(scores[group], dtype=np.float64)
        kept = set(choose_kept_channels(group_scores, min(min_channels, len(group_scores))))
        removable = [c for c in range(len(group_scores)) if c not in kept]
        key = np.where(np.isnan(group_scores), -np.inf, group_scores)
        # Worst first: lowest score, and among equal scores the highest index.
        removable.sort(key=lambda c: (key[c], -c))
        for rank, channel in enumerate(removable):
            group_pos.append(position)
            channels.append(channel)
            sort_scores.append(key[channel])
            within.append(rank)
    # lexsort's last key is the primary one: score, then group, then rank in the group, so
    # equal scores across groups break deterministically and within a group never reorder.
    order = np.lexsort((np.asarray(within), np.asarray(group_pos), np.asarray(sort_scores)))
    return (
        np.asarray(group_pos, dtype=np.int64)[order],
        np.asarray(channels, dtype=np.int64)[order],
    )


def global_l1_keep(
    model: Any,
    graph: ChannelGraph,
    target_cost: float,
    cost_fn: CostFn,
    min_channels: int = 1,
) -> KeepMapping:
    """One-shot global filter pruning to cost_fn(counts) <= target_cost.

    All channels of all prunable groups are ranked by :func:`mean_normalised_l1` and removed
    lowest first, never leaving a group with fewer than `min_channels`; the fewest removals
    that meet the target are found by bisection over the length of that removal order, so
    cost_fn is called about log2(channels) times. A target at or above the unpruned cost
    keeps everything. Raises UnreachableTargetError when removing every removable channel
    still costs too much.
    """
    _require_target(target_cost)
    _require_prunable(graph)
    if min_channels < 1:
        raise ValueError(f"min_channels must be >= 1 (a group cannot be empty), got {min_channels}")
    groups = [g.id for g in graph.prunable_groups]
    full = np.asarray([g.channels for g in graph.prunable_groups], dtype=np.int64)
    group_pos, channels = _removal_order(mean_normalised_l1(model, graph), groups, min_channels)
    cost = _MemoisedCost(cost_fn)

    def counts_after(removed: int) -> dict[str, int]:
        left = full - np.bincount(group_pos[:removed], minlength=len(groups))
        return {group: int(n) for group, n in zip(groups, left)}

    removable = len(group_pos)
    if cost(counts_after(0)) > target_cost:
        floor_cost = cost(counts_after(removable))
        if floor_cost > target_cost:
            raise UnreachableTargetError(
                f"target cost {target_cost:,.6g} is unreachable by global L1 pruning: with "
                f"every prunable group at min_channels={min_channels} (or its full width, "
                f"if smaller) the model still costs {floor_cost:,.6g}; raise the target or "
                "lower min_channels"
            )
        low, high = 0, removable  # removing `high` meets the target, removing `low` does not
        while high - low > 1:
            middle = (low + high) // 2
            if cost(counts_after(middle)) <= target_cost:
                high = middle
            else:
                low = middle
        removed = high
    else:
        removed = 0

    dropped: dict[str, set[int]] = {group: set() for group in groups}
    for position, channel in zip(group_pos[:removed], channels[:removed]):
        dropped[groups[position]].add(int(channel))
    return {
        g.id: [c for c in range(g.channels) if c not in dropped[g.id]]
        for g in graph.prunable_groups
    }
