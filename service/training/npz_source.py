"""Datasets stored as one .npz file with x_train, y_train, x_test and y_test arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.training.dataset_types import Dataset, DatasetError
from service.training.image_ops import scale_to_unit

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz_dataset(path: str | Path) -> Dataset:
    """Load and validate an .npz dataset.

    x arrays: uint8 (scaled by 1/255) or float in [0, 1], shaped (N, H, W, C) or (N, H, W)
    for grayscale. y arrays: integers >= 0, shaped (N,) (or (N, 1)) for one class per image,
    or (N, H, W) for a class per pixel. The class count is the largest label + 1.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in REQUIRED_KEYS if key not in archive.files]
            if missing:
                raise DatasetError(
                    f"{path} lacks {', '.join(missing)}; an .npz dataset needs the arrays "
                    f"{', '.join(REQUIRED_KEYS)} (found: {', '.join(archive.files) or 'none'})"
                )
            arrays = {key: archive[key] for key in REQUIRED_KEYS}
    except DatasetError:
        raise
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"cannot read {path} as an .npz archive of plain arrays (object arrays are "
            f"refused): {error}"
        ) from error

    x_train = _images(arrays["x_train"], f"{path.name}:x_train")
    x_test = _images(arrays["x_test"], f"{path.name}:x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"x_train images are {x_train.shape[1:]} but x_test images are {x_test.shape[1:]}; "
            f"both splits must share one (height, width, channels)"
        )
    y_train = _labels(arrays["y_train"], x_train, "y_train", "x_train")
    y_test = _labels(arrays["y_test"], x_test, "y_test", "x_test")
    if y_train.ndim != y_test.ndim:
        raise DatasetError(
            "y_train and y_test disagree on the task: one holds a label per image, the other "
            "a label per pixel"
        )
    num_classes = int(y_train.max()) + 1
    if num_classes < 2:
        raise DatasetError("y_train holds a single class; a classifier needs at least two")
    if int(y_test.max()) >= num_classes:
        raise DatasetError(
            f"y_test contains label {int(y_test.max())} but y_train only goes up to "
            f"{num_classes - 1}; every test class must also appear in training"
        )
    return Dataset.of_splits(path.stem, x_train, y_train, x_test, y_test, num_classes)


def _images(array: np.ndarray, what: str) -> np.ndarray:
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise DatasetError(
            f"{what} has shape {array.shape}; store images as (N, height, width, channels) "
            f"or (N, height, width) for grayscale"
        )
    if len(array) == 0:
        raise DatasetError(f"{what} is empty; each split needs at least one image")
    if array.shape[-1] not in (1, 3):
        raise DatasetError(
            f"{what} has {array.shape[-1]} channels; use 1 (grayscale) or 3 (RGB), channels last"
        )
    return scale_to_unit(array, what)


def _labels(labels: np.ndarray, images: np.ndarray, what: str, images_what: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # (N, 1) as some dataset dumps store it
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(
            f"{what} has dtype {labels.dtype}; store class ids as integers "
            f"(e.g. y.astype('int64')), not one-hot vectors or floats"
        )
    if len(labels) != len(images):
        raise DatasetError(
            f"{what} has {len(labels)} labels but {images_what} has {len(images)} images; "
            f"they must match one to one"
        )
    if labels.ndim == 3:
        if labels.shape[1:] != images.shape[1:3]:
            raise DatasetError(
                f"{what} masks are {labels.shape[1:]} but the images are {images.shape[1:3]}; "
                f"per-pixel labels must match the image height and width"
            )
    elif labels.ndim != 1:
        raise DatasetError(
            f"{what} has shape {labels.shape}; use (N,) class ids, or (N, height, width) "
            f"masks for segmentation"
        )
    if labels.min() < 0:
        raise DatasetError(
            f"{what} contains the negative label {int(labels.min())}; class ids must be 0..K-1"
        )
    return labels.astype(np.int64)
