"""Fit any model to a cost budget by measuring it whole: one channel step at a time.

A model made by any method (uniform width scaling, one-shot global L1, NetAdapt aimed by a
lookup table) is only *estimated* to meet its budget; for host latency the estimate can be
off by 10-50%. This closes the gap with measurements: measure the model whole; while it
costs more than the budget, take one channel step from the prunable group whose next
channels to go matter least, and measure again. What it returns was measured at or under
the budget; when every group is down to one channel step and the model still costs too
much, it fails with the smallest cost it measured.

Which group loses the next step: channels are ranked by saliency (L1 or L2 filter norm)
divided by their group's mean saliency in the *input* model, as global L1 pruning does
(service/pruning/baselines.py), so groups of different fan-in compare fairly; a group's
candidate step costs the mean normalised saliency of the channels it would remove. The
scores are fixed once, on the input model, and every candidate is cut from the input model
with the whole keep mapping so far: a group's score does not drift as other groups shrink
(re-normalising after each cut would make the group just cut look cheaper to cut again).

Nothing here imports TensorFlow at module level, so the service can read FIT_SALIENCY.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from service.pruning.offline_run import RunInputError

# Weight-based saliencies only: a fit sees no data ('apoz' counts activations on samples).
FIT_SALIENCY = ("l1", "l2")

Measure = Callable[[Any], float]


class BudgetUnreachableError(RunInputError):
    """Every prunable group is down to one channel step and the model still costs more
    than the budget. The message names the smallest cost measured and the budget."""

    def __init__(self, budget: float, smallest_cost: float, baseline_cost: float,
                 metric: str, channel_step: int) -> None:
        self.budget = budget
        self.smallest_cost = smallest_cost
        self.baseline_cost = baseline_cost
        share = (
            f" ({smallest_cost / baseline_cost:.1%} of the input model's {_cost(baseline_cost)})"
            if baseline_cost > 0 else ""
        )
        super().__init__(
            f"budget {_cost(budget)} {metric} is unreachable: the smallest cost measured was "
            f"{_cost(smallest_cost)} {metric}{share}, with every prunable group cut to "
            f"{channel_step} channel(s) or as far as it goes; raise the budget to at least "
            f"{_cost(smallest_cost)} or use a smaller channel step"
        )


def _cost(value: float) -> str:
    # As the CLI prints costs (progress_view.format_cost): counts whole, milliseconds to 4 digits.
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@dataclass(frozen=True)
class FitStep:
    """One measurement: the input model (step 0, group None), or one channel step cut."""

    step: int
    group: str | None
    channels_before: int | None
    channels: int | None
    removed: list[int]  # the group's channel indices (in the input model) cut at this step
    saliency: float | None  # mean normalised saliency of the removed channels
    cost: float  # the whole model, as measured


@dataclass
class FitResult:
    model: Any
    budget: float
    baseline_cost: float
    cost: float
    channel_step: int
    saliency: str
    baseline_channels: dict[str, int]
    channels: dict[str, int]
    keep: dict[str, list[int]]  # kept channel indices of every prunable group (input model's)
    steps: list[FitStep] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready."""
        return {
            "budget_cost": self.budget,
            "baseline_cost": self.baseline_cost,
            "cost": self.cost,
            "cost_ratio": self.cost / self.baseline_cost if self.baseline_cost > 0 else None,
            "channel_step": self.channel_step,
            "saliency": self.saliency,
            "baseline_channels": dict(self.baseline_channels),
            "channels": dict(self.channels),
            "keep": {g: list(k) for g, k in self.keep.items()},
            "measurements": len(self.steps),
            "steps": [asdict(s) for s in self.steps],
        }


def next_count(count: int, channel_step: int) -> int | None:
    """The group's count after one more channel step: the largest multiple of channel_step
    below `count`, or None when that would leave fewer than channel_step channels."""
    lower = (count - 1) // channel_step * channel_step
    return lower if lower >= channel_step else None


def removal_order(scores: Sequence[float]) -> list[int]:
    """Channels of one group, the first to remove first: lowest score, NaN before any
    number, and of equal scores the higher index (the reverse of choose_kept_channels' keep
    order, so every prefix removes what choose_kept_channels would drop)."""
    values = np.asarray(scores, dtype=np.float64)
    key = np.where(np.isnan(values), -np.inf, values)
    return sorted(range(len(values)), key=lambda c: (key[c], -c))


def _cheapest_step(
    order: Mapping[str, list[int]],
    scores: Mapping[str, np.ndarray],
    counts: Mapping[str, int],
    full: Mapping[str, int],
    channel_step: int,
) -> tuple[str, int, list[int], float] | None:
    """(group, new count, channels removed, their mean normalised score) of the cheapest
    step any group can still take; None when none can. Ties go to the earlier group."""
    best: tuple[str, int, list[int], float] | None = None
    for group, count in counts.items():
        new = next_count(count, channel_step)
        if new is None:
            continue
        removed_so_far = full[group] - count
        removed = order[group][removed_so_far : removed_so_far + (count - new)]
        values = np.where(np.isnan(scores[group][removed]), -np.inf, scores[group][removed])
        score = float(np.mean(values))
        if best is None or score < best[3]:
            best = (group, new, sorted(int(c) for c in removed), score)
    return best


def fit_to_budget(
    model: Any,
    budget: float,
    measure: Measure,
    *,
    saliency: str = "l1",
    channel_step: int = 8,
    metric: str = "cost",
    baseline_cost: float | None = None,
    on_step: Callable[[FitStep], None] | None = None,
) -> FitResult:
    """Shrink `model` one channel step at a time until `measure(model)` <= `budget`.

    `measure` prices a whole Keras model in the budget's unit (analytic MACs, or a
    measurement on a device); it need not be monotone. `baseline_cost`, when the caller
    already measured `model`, saves measuring it again. `on_step` sees every measurement.
    Returns the first model measured at or under the budget (the input itself if it
    already is). Raises BudgetUnreachableError when no group can take another step and
    the last measurement is still over the budget."""
    from service.pruning.baselines import mean_normalised
    from service.surgery import analyze, channel_saliency, prune

    if saliency not in FIT_SALIENCY:
        raise RunInputError(
            f"saliency '{saliency}' cannot rank channels without data; use one of {', '.join(FIT_SALIENCY)}"
        )
    if channel_step < 1:
        raise RunInputError(f"channel_step must be >= 1, got {channel_step}")
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0):
        raise RunInputError(f"the budget must be a positive cost, got {budget!r}")
    graph = analyze(model)
    if not graph.prunable_groups:
        raise RunInputError(f"model '{model.name}' has no prunable layers")
    full = graph.channel_config()
    scores = mean_normalised(channel_saliency(model, saliency, graph=graph))
    order = {group: removal_order(scores[group]) for group in full}
    counts = dict(full)

    cost = float(measure(model) if baseline_cost is None else baseline_cost)
    baseline = cost
    steps = [FitStep(0, None, None, None, [], None, cost)]
    if on_step is not None:
        on_step(steps[0])
    current = model
    smallest = cost
    while cost > budget:
        chosen = _cheapest_step(order, scores, counts, full, channel_step)
        if chosen is None:
            raise BudgetUnreachableError(budget, smallest, baseline, metric, channel_step)
        group, new, removed, score = chosen
        before = counts[group]
        counts[group] = new
        keep = _keep(order, counts, full)
        current = prune(model, keep, graph=graph)
        cost = float(measure(current))
        smallest = min(smallest, cost)
        step = FitStep(len(steps), group, before, new, removed, score, cost)
        steps.append(step)
        if on_step is not None:
            on_step(step)
    return FitResult(
        model=current,
        budget=float(budget),
        baseline_cost=baseline,
        cost=cost,
        channel_step=channel_step,
        saliency=saliency,
        baseline_channels=dict(full),
        channels=dict(counts),
        keep=_keep(order, counts, full),
        steps=steps,
    )


def _keep(order: Mapping[str, list[int]], counts: Mapping[str, int],
          full: Mapping[str, int]) -> dict[str, list[int]]:
    """Kept indices per group: all but the first (full - count) of its removal order."""
    return {g: sorted(order[g][full[g] - counts[g] :]) for g in full}
