"""The holdout split that steers pruning: deterministic, stratified, disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from service.training.datasets import DatasetError, holdout_split


def labelled(count=300, classes=3):
    x = np.arange(count, dtype=np.float32).reshape(count, 1, 1, 1)
    y = np.repeat(np.arange(classes), count // classes).astype(np.int64)
    return x, y


def test_same_seed_same_split_other_seed_other_split():
    x, y = labelled()
    first = holdout_split(x, y, 0.2, seed=7)
    again = holdout_split(x, y, 0.2, seed=7)
    other = holdout_split(x, y, 0.2, seed=8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])


def test_disjoint_and_complete():
    x, y = labelled()
    x_train, y_train, x_hold, y_hold = holdout_split(x, y, 60, seed=0)
    assert len(x_hold) == 60 and len(x_train) == 240
    train_ids, hold_ids = set(x_train.ravel()), set(x_hold.ravel())
    assert not train_ids & hold_ids
    assert train_ids | hold_ids == set(x.ravel())
    # Labels travel with their images.
    np.testing.assert_array_equal(y[x_hold.ravel().astype(int)], y_hold)


def test_stratified_even_for_uneven_classes():
    y = np.array([0] * 500 + [1] * 300 + [2] * 200, dtype=np.int64)
    x = np.zeros((len(y), 2, 2, 1), np.float32)
    _, _, _, y_hold = holdout_split(x, y, 0.1, seed=3)
    assert np.bincount(y_hold).tolist() == [50, 30, 20]


def test_masks_split_without_stratification():
    x = np.zeros((20, 4, 4, 1), np.float32)
    y = np.zeros((20, 4, 4), np.int64)
    _, y_train, _, y_hold = holdout_split(x, y, 5, seed=0)
    assert y_hold.shape == (5, 4, 4) and y_train.shape == (15, 4, 4)


@pytest.mark.parametrize("holdout", [0, 300, 1.0, 0.0, -0.5, "10%", True])
def test_impossible_holdouts_are_refused(holdout):
    x, y = labelled()
    with pytest.raises(DatasetError):
        holdout_split(x, y, holdout, seed=0)
