"""Loading DIR/train/<class>/*.png and DIR/test/<class>/*.png image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from service.training.datasets import DatasetError, load_dataset


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(pixels).numpy())


def make_image_dir(root: Path, size=(6, 6), channels=3, classes=("cat", "ant", "bee")) -> Path:
    for split, per_class in (("train", 3), ("test", 1)):
        for label, name in enumerate(classes):
            for index in range(per_class):
                # A class-specific brightness lets the test tell the classes apart.
                pixels = np.full((*size, channels), 40 * label + index, dtype=np.uint8)
                write_png(root / split / name / f"{index}.png", pixels)
    return root


def test_loads_classes_sorted_by_name(tmp_path):
    dataset = load_dataset(str(make_image_dir(tmp_path / "pets")))
    assert dataset.name == "pets"
    assert dataset.num_classes == 3
    assert dataset.input_shape == (6, 6, 3)
    assert dataset.x_train.shape == (9, 6, 6, 3) and dataset.x_test.shape == (3, 6, 6, 3)
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int64
    # Sorted: ant -> 0 (written with label 1), bee -> 1 (label 2), cat -> 2 (label 0).
    brightness_of_class = {
        int(label): float(dataset.x_test[dataset.y_test == label].max() * 255)
        for label in np.unique(dataset.y_test)
    }
    assert brightness_of_class == pytest.approx({0: 40.0, 1: 80.0, 2: 0.0})


def test_resizes_and_converts_channels(tmp_path):
    root = make_image_dir(tmp_path / "gray", size=(5, 7), channels=1)
    dataset = load_dataset(str(root), image_size=(8, 8), channels=3)
    assert dataset.input_shape == (8, 8, 3)
    np.testing.assert_array_equal(dataset.x_train[..., 0], dataset.x_train[..., 1])


def test_rgb_to_grayscale_averages(tmp_path):
    root = tmp_path / "colour"
    for split in ("train", "test"):
        for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            pixels = np.broadcast_to(np.array(colour, np.uint8), (4, 4, 3)).copy()
            write_png(root / split / name / "a.png", pixels)
    dataset = load_dataset(str(root), channels=1)
    assert dataset.input_shape == (4, 4, 1)
    np.testing.assert_allclose(dataset.x_train, 1 / 3, rtol=1e-6)


def test_mixed_sizes_need_image_size(tmp_path):
    root = make_image_dir(tmp_path / "mixed")
    write_png(root / "train" / "ant" / "big.png", np.zeros((9, 9, 3), np.uint8))
    with pytest.raises(DatasetError, match="differ in shape.*pass image_size"):
        load_dataset(str(root))
    assert load_dataset(str(root), image_size=(6, 6)).x_train.shape == (10, 6, 6, 3)


def test_layout_errors_are_explained(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="has no train/ directory"):
        load_dataset(str(tmp_path / "flat"))
    root = make_image_dir(tmp_path / "extra")
    write_png(root / "test" / "dog" / "0.png", np.zeros((6, 6, 3), np.uint8))
    with pytest.raises(DatasetError, match="missing from train/: dog"):
        load_dataset(str(root))
    broken = make_image_dir(tmp_path / "broken")
    (broken / "train" / "ant" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot decode .*bad.png"):
        load_dataset(str(broken))
