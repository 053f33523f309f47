"""Costs anchored at a measurement, and how far below a target to aim.

The engine measures every kept model whole, but a lookup table estimates candidates. A
table's model-level bias (for host latency: lone layers run with a hot cache; small nets pay
a per-invoke overhead) is the same for a model and for a candidate cut from it, so it
cancels when a candidate is priced as the measured cost of the model it is cut from,
scaled by the table's ratio between the two:

    cost(candidate) = measured(current) * estimate(candidate) / estimate(current)

Only the error of the *ratio* remains. (The difference, measured + estimate(candidate) -
estimate(current), was recorded beside it and measured worse on host latency; see the
README's "Costs the engine steers by".)

What remains is still not zero, so the engine aims a little below each target by the
error its anchored predictions have shown so far, and measures the kept model whole
before accepting it (engine.py, landing).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from service.netadapt.interfaces import ChannelConfig, CostEstimator

# Kept-model prediction errors that set the aim margin: recent ones only, since a run's
# estimates drift as it moves away from the models the table was calibrated on.
AIM_WINDOW = 5


class AnchoredEstimator:
    """`inner`'s costs, rescaled so that `anchor_config` costs exactly `anchor_cost`."""

    def __init__(
        self, inner: CostEstimator, anchor_config: ChannelConfig, anchor_cost: float
    ) -> None:
        self.inner = inner
        self.metric = getattr(inner, "metric", "cost")
        self.anchor_cost = float(anchor_cost)
        self.anchor_estimate = float(inner.costs([anchor_config])[0])
        if not self.anchor_estimate > 0:
            raise ValueError(
                f"the estimator prices the current model at {self.anchor_estimate}; anchoring "
                "at a measurement needs a positive estimate"
            )

    @property
    def ratio(self) -> float:
        """measured / estimated at the anchor."""
        return self.anchor_cost / self.anchor_estimate

    def costs(self, configs: Sequence[ChannelConfig]) -> list[float]:
        return [self.anchor_cost * c / self.anchor_estimate for c in self.inner.costs(configs)]

    def missing(self, configs: Sequence[ChannelConfig]) -> list[Any]:
        return self.inner.missing(configs)


def aim_below(target: float, relative_errors: Sequence[float]) -> float:
    """The cost to aim at so that a prediction as wrong as the recent ones still lands at or
    under `target`: target / (1 + e), e = the median of the last AIM_WINDOW relative errors
    (measured / predicted - 1), never aiming above the target.

    The median, not the maximum: one slow measurement on a shared host would otherwise push
    every later aim far under the target; a miss is caught by measuring the kept model."""
    recent = list(relative_errors)[-AIM_WINDOW:]
    if not recent:
        return target
    return target / (1.0 + max(0.0, statistics.median(recent)))


def relative_error(measured: float, predicted: float) -> float | None:
    return measured / predicted - 1.0 if predicted > 0 else None


def kept_prediction_errors(iterations: Sequence[Mapping[str, Any]]) -> list[float]:
    """The relative errors of the anchored predictions of kept models, oldest first."""
    errors = []
    for iteration in iterations:
        landing = iteration.get("landing") or {}
        error = landing.get("prediction_error")
        if error is not None:
            errors.append(float(error))
    return errors
