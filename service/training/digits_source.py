"""scikit-learn's bundled 8x8 handwritten digits: a real dataset that needs no download."""

from __future__ import annotations

import numpy as np

from service.training.dataset_types import Dataset
from service.training.splits import stratified_split_indices

# Fixed so that "digits" means the same train/test split on every machine and every run.
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
_DIGITS_MAX_VALUE = 16.0


def load_digits_dataset() -> Dataset:
    """1797 grayscale 8x8 digits, 80/20 stratified train/test split, pixels in [0, 1]."""
    from sklearn.datasets import load_digits  # sklearn is slow to import; only pay when used

    bunch = load_digits()
    images = (bunch.images / _DIGITS_MAX_VALUE).astype(np.float32)[..., None]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split_indices(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return Dataset.of_splits("digits", images[train], labels[train], images[test], labels[test], num_classes=10)
