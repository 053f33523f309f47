"""Picking the proposal an iteration keeps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProposalOutcome:
    """What selection needs to know about one finished proposal."""

    group: str
    holdout_accuracy: float
    estimated_cost: float
    holdout_loss: float | None = None  # breaks accuracy ties when the network reports it
    holdout_samples: int | None = None  # how many holdout samples the accuracy counts


@dataclass(frozen=True)
class ProposalScore:
    accuracy_drop: float  # parent accuracy - proposal accuracy (negative = it improved)
    drop_per_cost: float | None  # accuracy drop per unit of cost removed; None if none removed


def score_proposal(
    outcome: ProposalOutcome, parent_accuracy: float, parent_cost: float
) -> ProposalScore:
    drop = parent_accuracy - outcome.holdout_accuracy
    saved = parent_cost - outcome.estimated_cost
    # A proposal that saves nothing has no meaningful ratio; None (not inf) keeps the
    # history plain JSON and ranks it last.
    per_cost = drop / saved if saved > 0 else None
    return ProposalScore(drop, per_cost)


def accuracy_tolerance(best: float, results: Sequence[ProposalOutcome]) -> float:
    """How far below the best accuracy a proposal still ties with it: one standard error of
    the best accuracy, and at least one holdout sample, when every proposal reports its
    holdout size and loss; 0 otherwise (then only equal accuracies tie).

    The floor of one sample matters on a saturated holdout: at 100% the standard error
    sqrt(p(1-p)/n) is 0, which would make 216 of 216 beat 215 of 216 outright, though no
    test can tell a one-sample difference from chance."""
    sizes = {r.holdout_samples for r in results}
    if None in sizes or len(sizes) != 1 or any(r.holdout_loss is None for r in results):
        return 0.0
    (samples,) = sizes
    assert samples is not None
    if samples <= 0:
        return 0.0
    standard_error = math.sqrt(max(best * (1.0 - best), 0.0) / samples)
    # The relative margin keeps k-1 of n tied despite rounding in the accuracies' floats.
    return max(standard_error, 1.0 / samples) * (1.0 + 1e-9)


def choose_finetune_groups(
    ranked: Sequence[tuple[str, float]], wanted: int, landing_floor: float | None
) -> list[str]:
    """The `wanted` groups to fine-tune from (group, estimated cost) pairs ranked best-first
    by the prescreen.

    With a landing floor and `wanted` >= 2, the last place goes to the best-ranked proposal
    landing at or above the floor when none of the first `wanted` does: selection prefers
    such a proposal at tied accuracy (`select_proposal`), but only among fine-tuned ones,
    and on a device whose latency falls in steps the prescreen's favourites can all cut far
    past the target. One place, not an extra fine-tune, so the iteration costs the same.
    """
    chosen = [group for group, _ in ranked[:wanted]]
    if landing_floor is None or wanted < 2:
        return chosen
    in_band = [group for group, cost in ranked if cost >= landing_floor]
    if in_band and not set(in_band) & set(chosen):
        chosen[-1] = in_band[0]
    return chosen


def select_proposal(
    results: Sequence[ProposalOutcome],
    rule: str,
    parent_accuracy: float,
    parent_cost: float,
    landing_floor: float | None = None,
) -> ProposalOutcome:
    """The proposal to keep.

    * "max_accuracy" (the paper's rule): highest holdout accuracy. Accuracies closer to the
      best than one standard error of it (sqrt(p(1-p)/n) on n holdout samples, when the
      proposals report n and their loss) count as tied. Among tied proposals, those whose
      estimated cost is at least `landing_floor` (they land near the iteration's target
      rather than far past it) go first when there are any, and then the lower holdout
      loss wins: on a holdout of hundreds of images, proposals a point apart differ by
      chance, and a small holdout saturates (all near 100%), while the cross-entropy still
      tells them apart. Then lower cost, then group id.
    * "min_drop_per_cost": lowest accuracy drop per unit of cost removed; ties -> higher
      accuracy, then lower cost, then group id. Prefers groups that buy a lot of cost for
      little accuracy, which matters when steps are large.
    """
    if not results:
        raise ValueError("no proposals to select from")
    if rule == "max_accuracy":
        best = max(r.holdout_accuracy for r in results)
        tolerance = accuracy_tolerance(best, results)
        results = [r for r in results if r.holdout_accuracy >= best - tolerance]
        if landing_floor is not None:
            results = [r for r in results if r.estimated_cost >= landing_floor] or results
        return min(
            results,
            key=lambda r: (
                -r.holdout_accuracy if tolerance == 0.0 else 0.0,
                math.inf if r.holdout_loss is None else r.holdout_loss,
                r.estimated_cost,
                r.group,
            ),
        )
    if rule == "min_drop_per_cost":

        def key(r: ProposalOutcome) -> tuple[float, float, float, str]:
            per_cost = score_proposal(r, parent_accuracy, parent_cost).drop_per_cost
            return (
                math.inf if per_cost is None else per_cost,
                -r.holdout_accuracy,
                r.estimated_cost,
                r.group,
            )

        return min(results, key=key)
    raise ValueError(f"unknown selection rule {rule!r}; use 'max_accuracy' or 'min_drop_per_cost'")
