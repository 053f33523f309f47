"""The in-memory dataset every trainer, evaluator and exporter in the service works on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.netadapt.errors import UserError


class DatasetError(UserError, ValueError):
    """A dataset cannot be loaded or used as asked; the message says what to change."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images as float32 NHWC in [0, 1] with int64 labels.

    Labels are either one class per image, shape (N,), or a class per pixel, shape
    (N, H, W), for segmentation.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, int, int]

    @classmethod
    def of_splits(
        cls, name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
        num_classes: int,
    ) -> Dataset:
        """The dataset of these split arrays; its input shape is the images' (H, W, C)."""
        input_shape = tuple(int(side) for side in x_train.shape[1:])
        return cls(name, x_train, y_train, x_test, y_test, num_classes, input_shape)

    @property
    def is_segmentation(self) -> bool:
        return self.y_train.ndim == 3

    def __repr__(self) -> str:
        # The default repr would print the arrays.
        return (
            f"Dataset(name={self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )
