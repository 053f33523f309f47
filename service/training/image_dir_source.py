"""Datasets stored as image files: DIR/train/<class>/* and DIR/test/<class>/*."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from service.training.dataset_types import Dataset, DatasetError
from service.training.image_ops import (
    convert_channels,
    drop_alpha,
    resize_images,
    scale_to_unit,
)

# What tf.io.decode_image understands. PIL is not a dependency, so keras.utils.load_img is
# not available; TensorFlow's decoders are.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})


def load_image_dir_dataset(
    root: str | Path,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> Dataset:
    """Load DIR/train/<class>/*.png and DIR/test/<class>/*.png; classes sorted by name.

    Every image is resized to `image_size` and converted to `channels` when given; without
    them all images must already share one size and channel count.
    """
    root = Path(root)
    splits = {split: root / split for split in ("train", "test")}
    for split, directory in splits.items():
        if not directory.is_dir():
            raise DatasetError(
                f"{root} has no {split}/ directory; lay images out as "
                f"{root}/train/<class>/*.png and {root}/test/<class>/*.png"
            )
    class_names = sorted(entry.name for entry in splits["train"].iterdir() if entry.is_dir())
    if len(class_names) < 2:
        raise DatasetError(
            f"{splits['train']} holds {len(class_names)} class folder(s); need at least two"
        )
    unknown = sorted(
        entry.name
        for entry in splits["test"].iterdir()
        if entry.is_dir() and entry.name not in class_names
    )
    if unknown:
        raise DatasetError(
            f"{splits['test']} has class folders missing from train/: {', '.join(unknown)}"
        )

    x_train, y_train = _load_split(splits["train"], class_names, image_size, channels)
    x_test, y_test = _load_split(splits["test"], class_names, image_size, channels)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"train images are {x_train.shape[1:]} but test images are {x_test.shape[1:]}; "
            f"pass image_size and channels to bring both to one shape"
        )
    return Dataset.of_splits(root.name, x_train, y_train, x_test, y_test, len(class_names))


def _load_split(
    directory: Path,
    class_names: list[str],
    image_size: tuple[int, int] | None,
    channels: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_name in enumerate(class_names):
        class_dir = directory / class_name
        if not class_dir.is_dir():
            continue  # a class may legitimately have no test images
        files = sorted(
            path for path in class_dir.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES
        )
        for path in files:
            images.append(_read_image(path, image_size, channels))
            labels.append(label)
    if not images:
        raise DatasetError(
            f"{directory} contains no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))} "
            f"inside its class folders)"
        )
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DatasetError(
            f"images in {directory} differ in shape ({', '.join(map(str, sorted(shapes)))}); "
            f"pass image_size=(height, width) and channels=1 or 3 to normalise them"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _read_image(
    path: Path, image_size: tuple[int, int] | None, channels: int | None
) -> np.ndarray:
    try:
        decoded = tf.io.decode_image(
            tf.io.read_file(str(path)), channels=0, expand_animations=False
        ).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
        raise DatasetError(f"cannot decode {path} as an image: {error.message}") from error
    image = drop_alpha(scale_to_unit(decoded, str(path)))
    if channels is not None:
        image = convert_channels(image, channels)
    if image_size is not None:
        image = resize_images(image[None], image_size)[0]
    return image
