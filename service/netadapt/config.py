"""Settings of one NetAdapt run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

BudgetKind = Literal["ratio", "absolute"]

BUDGET_KINDS = ("ratio", "absolute")
SALIENCY_METHODS = ("l1", "l2", "apoz")
SELECTION_RULES = ("max_accuracy", "min_drop_per_cost")


@dataclass(frozen=True)
class NetAdaptConfig:
    """How far to shrink the network and how fast.

    `budget` is a fraction of the baseline cost when `budget_kind` is "ratio" (0.5 = half
    the baseline's latency/MACs), or a cost in the estimator's unit when "absolute".

    `waypoints` are intermediate budgets, in the same kind as `budget`, that the run lands on
    exactly on its way down: the first iteration under each one aims at it rather than past
    it, so its model is what a run to that budget would have ended with (before the final
    fine-tune). Stored sorted from the largest (first reached) down.
    """

    budget: float
    budget_kind: BudgetKind = "ratio"
    init_reduction_ratio: float = 0.025
    decay: float = 0.96
    max_iterations: int = 100
    channel_step: int = 8
    saliency: str = "l1"
    selection: str = "max_accuracy"
    max_step_halvings: int = 3
    waypoints: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Coerce so that 1 and 1.0 give the same config (and the same checkpoint contents).
        for name in ("budget", "init_reduction_ratio", "decay"):
            object.__setattr__(self, name, _as_float(name, getattr(self, name)))
        for name in ("max_iterations", "channel_step", "max_step_halvings"):
            _require_int(name, getattr(self, name))

        if self.budget_kind not in BUDGET_KINDS:
            raise ValueError(
                f"budget_kind must be one of {BUDGET_KINDS}, got {self.budget_kind!r}"
            )
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
        if not 0.0 < self.init_reduction_ratio < 1.0:
            raise ValueError(
                f"init_reduction_ratio must be in (0, 1), got {self.init_reduction_ratio}; "
                "it is the fraction of the baseline cost removed in the first iteration "
                "(the paper uses ~0.025)"
            )
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(
                f"decay must be in (0, 1], got {self.decay}; use 1.0 for a constant step"
            )
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.channel_step < 1:
            raise ValueError(
                f"channel_step must be >= 1, got {self.channel_step}; use 1 to allow any "
                "channel count, 8 to keep counts friendly to SIMD kernels"
            )
        if self.saliency not in SALIENCY_METHODS:
            raise ValueError(
                f"saliency must be one of {SALIENCY_METHODS}, got {self.saliency!r}"
            )
        if self.selection not in SELECTION_RULES:
            raise ValueError(
                f"selection must be one of {SELECTION_RULES}, got {self.selection!r}"
            )
        if self.max_step_halvings < 0:
            raise ValueError(
                f"max_step_halvings must be >= 0, got {self.max_step_halvings}; "
                "use 0 to never retry an iteration with a smaller step"
            )
        object.__setattr__(self, "waypoints", self._checked_waypoints())

    def _checked_waypoints(self) -> tuple[float, ...]:
        # JSON (settings files, checkpoints, the REST body) gives a list; a tuple keeps the
        # config hashable and equal to the one it was saved from.
        if not isinstance(self.waypoints, (list, tuple)):
            raise ValueError(
                f"waypoints must be a list of budgets, got {self.waypoints!r}; pass e.g. "
                "waypoints=(0.75, 0.6) to also land on 75% and 60% of the baseline cost"
            )
        values = [_as_float("waypoint", w) for w in self.waypoints]
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
        data = asdict(self)
        # Plain JSON, so the dict equals itself after a save and load. Left out when empty
        # so settings saved before waypoints existed (checkpoints, run directories, request
        # fingerprints) still compare equal and resume.
        if self.waypoints:
            data["waypoints"] = list(self.waypoints)
        else:
            del data["waypoints"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetAdaptConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown NetAdapt setting(s) {unknown}; known settings are {sorted(known)}"
            )
        if "budget" not in data:
            raise ValueError("NetAdapt settings need a 'budget'")
        return cls(**data)


def _as_float(name: str, value: Any) -> float:
    # bool is an int subclass; True as a budget is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _require_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
