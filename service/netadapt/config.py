"""Settings of one NetAdapt run.

Each setting is declared once, here, with what it means and the values it accepts
(`option(...)`); the REST schema, the CLI flags and the dashboard labels are derived from
these declarations (service/run_options.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from service.netadapt.option_fields import (
    as_float,
    check_values,
    coerce_types,
    from_saved_dict,
    option,
    to_saved_dict,
)

BudgetKind = Literal["ratio", "absolute"]

BUDGET_KINDS = ("ratio", "absolute")
SALIENCY_METHODS = ("l1", "l2", "apoz")
SELECTION_RULES = ("max_accuracy", "min_drop_per_cost")

# The settings every saved config has held (checkpoints, run directories). Frozen: a
# setting added later is left out of to_dict() while at its default, so what older
# versions saved still compares equal and resumes. Never add to this set.
SAVED_BY_EVERY_VERSION = frozenset(
    {
        "budget", "budget_kind", "init_reduction_ratio", "decay", "max_iterations",
        "channel_step", "saliency", "selection", "max_step_halvings",
    }
)  # fmt: skip


@dataclass(frozen=True)
class NetAdaptConfig:
    """How far to shrink the network and how fast (see the NetAdapt paper, section 3)."""

    budget: float = option(
        gt=0,
        help="the cost to reach: a fraction of the baseline cost in (0, 1] when budget_kind is "
        "'ratio' (0.5 = half the baseline's latency/MACs), or a cost in the metric's unit "
        "when 'absolute'",
    )
    budget_kind: BudgetKind = option(
        "ratio",
        choices=BUDGET_KINDS,
        help="'ratio': budget is a fraction of the baseline cost; 'absolute': a cost in the "
        "metric's unit (ms, instructions, MACs or parameters)",
    )
    init_reduction_ratio: float = option(
        0.025,
        gt=0,
        lt=1,
        label="Initial reduction",
        help="fraction of the baseline cost the first iteration removes (the paper uses ~0.025)",
        hint="it is the fraction of the baseline cost removed in the first iteration "
        "(the paper uses ~0.025)",
    )
    decay: float = option(
        0.96,
        gt=0,
        le=1,
        label="Reduction decay",
        help="each iteration's cost reduction is this factor times the previous one's (a step "
        "of init_reduction_ratio x decay^i of the baseline cost); 1 keeps the step constant",
        hint="use 1.0 for a constant step",
    )
    max_iterations: int = option(
        100,
        ge=1,
        le=10_000,
        help="the run stops after this many iterations even if the budget is not reached",
    )
    channel_step: int = option(
        8,
        ge=1,
        le=1024,
        help="channel counts stay multiples of this (8 keeps them friendly to SIMD kernels; 1 "
        "allows any count)",
        hint="use 1 to allow any channel count, 8 to keep counts friendly to SIMD kernels",
    )
    saliency: str = option(
        "l1",
        choices=SALIENCY_METHODS,
        help="which channels a pruned layer keeps: the largest filters by L1 or L2 norm of "
        "their weights, or 'apoz' the ones least often zero after the activation on training "
        "samples (see apoz_samples)",
    )
    selection: str = option(
        "max_accuracy",
        choices=SELECTION_RULES,
        help="which proposal an iteration keeps: 'max_accuracy' the one with the highest "
        "holdout accuracy after its short-term fine-tune, 'min_drop_per_cost' the one losing "
        "the least accuracy per unit of cost removed",
    )
    max_step_halvings: int = option(
        3,
        ge=0,
        le=20,
        help="when no layer can meet an iteration's cost target, retry the iteration with "
        "half the step this many times before the run stops",
        hint="use 0 to never retry an iteration with a smaller step",
    )
    prescreen: int = option(
        0,
        ge=0,
        le=10_000,
        help="score every proposal on the holdout without fine-tuning it (after re-estimating "
        "batch-norm statistics) and fine-tune only the best K (with K >= 2 and a landing band, "
        "the K-th place goes to the best proposal landing in the band when none of the first "
        "K does); 0 fine-tunes every proposal",
        hint="use 0 to fine-tune every proposal",
    )
    landing_band: float = option(
        0.03,
        ge=0,
        lt=1,
        label="Landing band",
        help="with the 'max_accuracy' rule, among proposals whose holdout accuracies tie, "
        "prefer those whose estimated cost lands within this fraction of the baseline cost "
        "under the iteration's target: on real devices latency falls in steps (a layer at 20, "
        "24 or 32 channels can cost the same), so one group's next cheaper count may cut far "
        "past the target, and at equal accuracy the proposal that lands near it keeps more "
        "of the network; 0 turns the preference off",
    )
    max_group_reduction: float = option(
        1.0,
        gt=0,
        le=1,
        label="Max group reduction",
        help="no proposal removes more than this fraction of a layer group's remaining "
        "channels in one iteration (one channel_step is always allowed); 1 = no cap",
    )
    waypoints: tuple[float, ...] = option(
        (),
        max_items=100,
        metavar="B1,B2,...",
        help="intermediate budgets, in the same kind as budget (e.g. 0.75, 0.6), that the run "
        "lands on exactly on its way down: the first iteration under each one aims at it "
        "rather than past it, and its model is kept as what a run to that budget would have "
        "ended with (before the final fine-tune)",
        hint="pass e.g. waypoints=(0.75, 0.6) to also land on 75% and 60% of the baseline cost",
    )

    def __post_init__(self) -> None:
        coerce_types(self)
        # The budget's own messages say which kind the number was read as.
        if self.budget_kind == "ratio" and not 0.0 < self.budget <= 1.0:
            raise ValueError(
                f"budget {self.budget} is a ratio of the baseline cost and must be in (0, 1]; "
                "pass e.g. budget=0.5 for half the baseline cost, or budget_kind='absolute' "
                "for a cost in the estimator's unit"
            )
        if self.budget_kind == "absolute" and self.budget <= 0.0:
            raise ValueError(
                f"absolute budget {self.budget} can never be reached (no network costs <= 0); "
                "pass a positive cost in the estimator's unit"
            )
        check_values(self)
        # Stored sorted from the largest (first reached) down.
        object.__setattr__(self, "waypoints", self._checked_waypoints())

    def _checked_waypoints(self) -> tuple[float, ...]:
        values = [as_float("waypoint", w) for w in self.waypoints]
        for value in values:
            if self.budget_kind == "ratio" and not self.budget < value < 1.0:
                raise ValueError(
                    f"waypoint {value} is a ratio of the baseline cost and must be between the "
                    f"budget {self.budget} and 1 (both excluded): the run passes it on the way "
                    "down; drop it, or lower the budget below it"
                )
            if self.budget_kind == "absolute" and not value > self.budget:
                raise ValueError(
                    f"waypoint {value} must be above the absolute budget {self.budget}: the "
                    "run passes it on the way down; drop it, or lower the budget below it"
                )
        duplicates = sorted({v for v in values if values.count(v) > 1}, reverse=True)
        if duplicates:
            raise ValueError(f"waypoints {duplicates} are given more than once; list each once")
        return tuple(sorted(values, reverse=True))

    def to_dict(self) -> dict[str, Any]:
        return to_saved_dict(self, SAVED_BY_EVERY_VERSION)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetAdaptConfig:
        result: NetAdaptConfig = from_saved_dict(cls, data, "NetAdapt setting")
        return result
