"""Deterministic, stratified carving of one labelled array into two disjoint parts."""

from __future__ import annotations

import numpy as np

from service.training.dataset_types import DatasetError


def stratified_split_indices(
    labels: np.ndarray, holdout: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (keep, holdout) index arrays over `labels`.

    `holdout` is a sample count (int >= 1) or a fraction in (0, 1). Per-image labels are
    split class by class so every class keeps its share on both sides; per-pixel labels
    (segmentation masks) have no single class per sample and are split uniformly.
    """
    total = len(labels)
    count = _holdout_count(holdout, total)
    rng = np.random.default_rng(seed)
    if labels.ndim != 1:
        chosen = rng.permutation(total)[:count]
        return _complement(chosen, total), np.sort(chosen)

    classes, class_sizes = np.unique(labels, return_counts=True)
    quotas = _apportion(count, class_sizes)
    chosen_parts = []
    for label, quota in zip(classes, quotas, strict=True):
        members = np.flatnonzero(labels == label)
        chosen_parts.append(rng.permutation(members)[:quota])
    chosen = np.concatenate(chosen_parts)
    return _complement(chosen, total), np.sort(chosen)


def holdout_split(
    x: np.ndarray, y: np.ndarray, holdout: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split training data into (x_train, y_train, x_hold, y_hold), stratified by class.

    Meant for the training split only: the holdout set steers pruning decisions, so it
    must never be carved out of the test split that reports the final accuracy.
    """
    if len(x) != len(y):
        raise DatasetError(f"x has {len(x)} samples but y has {len(y)}; they must match")
    keep, hold = stratified_split_indices(y, holdout, seed)
    return x[keep], y[keep], x[hold], y[hold]


def _holdout_count(holdout: int | float, total: int) -> int:
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float, np.integer, np.floating)):
        raise DatasetError(f"holdout must be a count or a fraction, got {holdout!r}")
    if isinstance(holdout, (int, np.integer)):
        count = int(holdout)
        if not 1 <= count < total:
            raise DatasetError(
                f"a holdout of {count} samples does not fit {total} training samples; "
                f"use a count between 1 and {total - 1} or a fraction in (0, 1)"
            )
        return count
    if not 0.0 < holdout < 1.0:
        raise DatasetError(f"a fractional holdout must lie in (0, 1), got {holdout}")
    count = int(round(holdout * total))
    if not 1 <= count < total:
        raise DatasetError(
            f"a holdout fraction of {holdout} leaves {count} of {total} samples; "
            f"pick a fraction that leaves at least one sample on each side"
        )
    return count


def _apportion(count: int, class_sizes: np.ndarray) -> np.ndarray:
    """Largest-remainder apportionment of `count` samples over classes by their sizes."""
    exact = count * class_sizes / class_sizes.sum()
    quotas = np.floor(exact).astype(np.int64)
    # Hand the leftover samples to the classes that were rounded down the most; the stable
    # sort breaks ties by class order, which keeps the split deterministic.
    leftover = count - int(quotas.sum())
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:leftover]] += 1
    return np.minimum(quotas, class_sizes)


def _complement(chosen: np.ndarray, total: int) -> np.ndarray:
    mask = np.ones(total, dtype=bool)
    mask[chosen] = False
    return np.flatnonzero(mask)
