"""Paired comparison of two models scored on the same test images.

Each image gives a pair (a right?, b right?). The accuracy difference a - b is the mean of
d_i = a_i - b_i in {-1, 0, +1}; only the discordant images (one right, the other wrong)
carry information about it.

- McNemar's exact test: under "equally accurate", each discordant image is a fair coin;
  the two-sided p-value is the binomial tail of the smaller discordant count.
- Paired bootstrap 95% interval: resample the images with replacement and take the 2.5th
  and 97.5th percentiles of the resampled difference. Resampling n images from the
  empirical distribution of d is the same as drawing the counts of -1, 0 and +1 from a
  multinomial, which is what is done here (exact, and fast for 10,000 resamples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    difference: float  # accuracy(a) - accuracy(b), as a fraction
    low: float  # 95% paired bootstrap interval of the difference
    high: float
    a_only: int  # images a got right and b wrong
    b_only: int
    p_value: float  # McNemar's exact test, two-sided

    @property
    def beyond_interval(self) -> int:
        """+1 when the whole interval is above 0 (a better), -1 below, 0 when it spans 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def points(self) -> str:
        """The difference and its interval in accuracy points, e.g. '+2.3 [+1.5, +3.1]'."""
        return f"{self.difference * 100:+.2f} [{self.low * 100:+.2f}, {self.high * 100:+.2f}]"


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value for the discordant counts."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_difference(a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000,
                      seed: int = 0) -> PairedDifference:
    """Compare per-image correctness `a` and `b` (boolean arrays over the same images)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equal-length 1-D correctness arrays, got {a.shape} and {b.shape}")
    n = len(a)
    a_only = int(np.count_nonzero(a & ~b))
    b_only = int(np.count_nonzero(b & ~a))
    shares = np.array([b_only, n - a_only - b_only, a_only], dtype=np.float64) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)
    differences = (counts[:, 2] - counts[:, 0]) / n
    low, high = np.percentile(differences, [2.5, 97.5])
    return PairedDifference((a_only - b_only) / n, float(low), float(high), a_only, b_only,
                            mcnemar_exact(a_only, b_only))
