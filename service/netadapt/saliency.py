"""Which channels of a group survive, given one importance score per channel."""

from __future__ import annotations

import math
from collections.abc import Sequence


def choose_kept_channels(scores: Sequence[float], keep: int) -> tuple[int, ...]:
    """Indices of the `keep` highest scores, ascending. Equal scores keep the lower index,
    so the same scores always give the same model (resume and reruns rely on this)."""
    if not 0 < keep <= len(scores):
        raise ValueError(
            f"keep must be in [1, {len(scores)}] for {len(scores)} channels, got {keep}"
        )

    def rank(index: int) -> tuple[float, int]:
        score = float(scores[index])
        # NaN compares false with everything and would make the order arbitrary; a channel
        # whose importance cannot be computed is the first to go.
        return (math.inf if math.isnan(score) else -score, index)

    return tuple(sorted(sorted(range(len(scores)), key=rank)[:keep]))
