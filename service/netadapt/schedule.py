"""Per-iteration resource reduction schedule (NetAdapt, Yang et al. 2018, section 3.2)."""

from __future__ import annotations

from collections.abc import Sequence

from service.netadapt.config import NetAdaptConfig


def step_size(iteration: int, baseline_cost: float, cfg: NetAdaptConfig) -> float:
    """Cost to remove in `iteration` (0-based): a decaying fraction of the baseline cost.

    The step is tied to the baseline, not to the current cost, so early iterations (where the
    network is most redundant) take big bites and later ones refine.
    """
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return cfg.init_reduction_ratio * baseline_cost * cfg.decay**iteration


def budget_cost(baseline_cost: float, cfg: NetAdaptConfig) -> float:
    """The cost the run must reach, in the estimator's unit."""
    if cfg.budget_kind == "ratio":
        return cfg.budget * baseline_cost
    return cfg.budget


def waypoint_costs(baseline_cost: float, cfg: NetAdaptConfig) -> tuple[float, ...]:
    """The costs of `cfg.waypoints` in the estimator's unit, largest first."""
    if cfg.budget_kind == "ratio":
        return tuple(w * baseline_cost for w in cfg.waypoints)
    return cfg.waypoints


def iteration_target(
    current_cost: float, step: float, budget: float, waypoints: Sequence[float] = ()
) -> float:
    """Cost every proposal of the iteration must be at or under.

    Clamped to the budget: the final iteration aims at exactly the budget rather than
    `current - step`, which could land far below it. Overshooting throws away accuracy for
    cost savings nobody asked for, and the extra pruning is never undone. Waypoint costs
    clamp the same way, one at a time: the next one strictly below the current cost is
    aimed at exactly, so the run stops there once on its way down.
    """
    below = [w for w in waypoints if w < current_cost]
    return max(current_cost - step, budget, *below)
