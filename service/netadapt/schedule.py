"""Per-iteration resource reduction schedule (NetAdapt, Yang et al. 2018, section 3.2)."""

from __future__ import annotations

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


def iteration_target(current_cost: float, step: float, budget: float) -> float:
    """Cost every proposal of the iteration must be at or under.

    Clamped to the budget: the final iteration aims at exactly the budget rather than
    `current - step`, which could land far below it. Overshooting throws away accuracy for
    cost savings nobody asked for, and the extra pruning is never undone.
    """
    return max(current_cost - step, budget)
