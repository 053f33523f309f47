"""Load a dataset from a spec string and check that it fits a model.

A spec is "digits" (scikit-learn's bundled digits), a path to an .npz file, or a path to a
directory of images laid out as DIR/train/<class>/* and DIR/test/<class>/*.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras

from service.training.dataset_types import Dataset, DatasetError
from service.training.digits_source import load_digits_dataset
from service.training.image_dir_source import load_image_dir_dataset
from service.training.image_ops import convert_channels, resize_images, resize_masks
from service.training.npz_source import load_npz_dataset
from service.training.splits import holdout_split

__all__ = [
    "Dataset",
    "DatasetError",
    "IncompatibleDatasetError",
    "check_compatible",
    "holdout_split",
    "load_dataset",
]


class IncompatibleDatasetError(DatasetError):
    """The dataset's images or classes do not fit the model's input or output."""


def load_dataset(
    spec: str,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> Dataset:
    """Load `spec`, then resize to `image_size` = (height, width) and convert to `channels`
    (1 = grayscale, 3 = RGB) when given."""
    if spec == "digits":
        dataset = load_digits_dataset()
    else:
        path = Path(spec)
        if path.is_dir():
            # Image files are resized one by one while decoding: they may differ in size.
            return load_image_dir_dataset(path, image_size=image_size, channels=channels)
        if path.suffix == ".npz" and path.is_file():
            dataset = load_npz_dataset(path)
        elif path.suffix == ".npz":
            raise DatasetError(f"dataset file {path} does not exist")
        else:
            raise DatasetError(
                f"unknown dataset {spec!r}; use 'digits', a path to an .npz file with x_train, "
                f"y_train, x_test, y_test, or a directory with train/<class>/ and "
                f"test/<class>/ image folders"
            )
    return _reshaped(dataset, image_size, channels)


def check_compatible(model: keras.Model, dataset: Dataset) -> None:
    """Raise IncompatibleDatasetError unless `model` takes the dataset's images and predicts
    its classes (per image, or per pixel for segmentation datasets)."""
    model_input = tuple(model.input_shape[1:])
    if not _fits(model_input, dataset.input_shape):
        raise IncompatibleDatasetError(
            f"model {model.name!r} expects inputs of shape {model_input} but dataset "
            f"{dataset.name!r} has images of shape {dataset.input_shape}; load the dataset "
            f"with image_size=/channels= to match, or build the model for this input shape"
        )
    model_output = tuple(model.output_shape[1:])
    if dataset.is_segmentation:
        expected = (*dataset.input_shape[:2], dataset.num_classes)
        task = "per-pixel class probabilities"
    else:
        expected = (dataset.num_classes,)
        task = "one probability per class"
    if not _fits(model_output, expected):
        raise IncompatibleDatasetError(
            f"model {model.name!r} outputs shape {model_output} but dataset "
            f"{dataset.name!r} ({dataset.num_classes} classes) needs {expected}, {task}"
        )


def _reshaped(
    dataset: Dataset, image_size: tuple[int, int] | None, channels: int | None
) -> Dataset:
    x_train, x_test = dataset.x_train, dataset.x_test
    y_train, y_test = dataset.y_train, dataset.y_test
    if image_size is not None:
        x_train, x_test = resize_images(x_train, image_size), resize_images(x_test, image_size)
        if dataset.is_segmentation:
            y_train, y_test = resize_masks(y_train, image_size), resize_masks(y_test, image_size)
    if channels is not None:
        x_train, x_test = convert_channels(x_train, channels), convert_channels(x_test, channels)
    return replace(
        dataset,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        input_shape=tuple(int(side) for side in x_train.shape[1:]),
    )


def _fits(model_shape: tuple, data_shape: tuple) -> bool:
    """Shapes match where the model fixes a size (None means any size)."""
    return len(model_shape) == len(data_shape) and all(
        expected is None or expected == actual
        for expected, actual in zip(model_shape, data_shape, strict=True)
    )
