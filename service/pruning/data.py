"""The run's data splits, loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from service.pruning.options import DataSpec
from service.training.dataset_types import Dataset
from service.training.datasets import load_dataset
from service.training.splits import holdout_split


@dataclass(frozen=True, eq=False)
class RunData:
    dataset: Dataset
    x_train: np.ndarray  # training split minus the holdout
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray


@lru_cache(maxsize=4)
def load_run_data(spec: DataSpec, holdout: float, seed: int) -> RunData:
    """Dataset and holdout split; deterministic in (spec, holdout, seed), so that every
    worker process carves the same holdout."""
    dataset = load_dataset(spec.source, image_size=spec.image_size, channels=spec.channels)
    count: int | float = int(holdout) if holdout >= 1 else holdout
    x_tr, y_tr, x_ho, y_ho = holdout_split(dataset.x_train, dataset.y_train, count, seed)
    return RunData(dataset, x_tr, y_tr, x_ho, y_ho)
