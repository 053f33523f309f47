"""Loading .npz datasets, and the messages that say how to fix a bad one."""

from __future__ import annotations

import numpy as np
import pytest

from service.training.datasets import DatasetError, load_dataset


def arrays(**overrides):
    rng = np.random.default_rng(0)
    content = {
        "x_train": rng.integers(0, 256, (12, 6, 6, 3), dtype=np.uint8),
        "y_train": np.arange(12) % 3,
        "x_test": rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8),
        "y_test": np.arange(4) % 3,
    }
    content.update(overrides)
    return {key: value for key, value in content.items() if value is not None}


def write(tmp_path, **overrides):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays(**overrides))
    return str(path)


def test_round_trip(tmp_path):
    original = arrays()
    dataset = load_dataset(write(tmp_path))
    assert dataset.name == "data"
    assert dataset.input_shape == (6, 6, 3)
    assert dataset.num_classes == 3
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int64
    np.testing.assert_allclose(dataset.x_train, original["x_train"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(dataset.y_test, original["y_test"])


def test_grayscale_without_channel_axis_and_column_labels(tmp_path):
    dataset = load_dataset(
        write(
            tmp_path,
            x_train=np.zeros((12, 5, 5), np.uint8),
            x_test=np.zeros((4, 5, 5), np.uint8),
            y_train=(np.arange(12) % 3)[:, None],
        )
    )
    assert dataset.input_shape == (5, 5, 1)
    assert dataset.y_train.shape == (12,)


def test_float_images_in_unit_range_are_kept(tmp_path):
    dataset = load_dataset(
        write(tmp_path, x_train=np.full((12, 6, 6, 3), 0.5), x_test=np.ones((4, 6, 6, 3)))
    )
    assert dataset.x_train.dtype == np.float32 and dataset.x_train.max() == 0.5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"y_test": None}, r"lacks y_test; an \.npz dataset needs the arrays"),
        ({"x_train": np.zeros((12, 36), np.uint8)}, r"x_train has shape \(12, 36\); store images"),
        ({"x_train": np.zeros((12, 6, 6, 3), np.int32)}, r"dtype int32; store images as uint8"),
        ({"x_train": np.full((12, 6, 6, 3), 255.0)}, r"not within \[0, 1\].*scale the floats"),
        ({"x_train": np.zeros((12, 6, 6, 2), np.uint8)}, r"2 channels; use 1 .* or 3"),
        ({"x_test": np.zeros((4, 7, 7, 3), np.uint8)}, r"both splits must share"),
        ({"y_train": np.arange(11) % 3}, r"11 labels but x_train has 12 images"),
        ({"y_train": np.eye(3)[np.arange(12) % 3]}, r"one-hot|shape \(12, 3\)"),
        ({"y_train": (np.arange(12) % 3).astype(np.float32)}, r"store class ids as integers"),
        ({"y_train": np.arange(12) % 3 - 1}, r"negative label -1; class ids must be 0..K-1"),
        ({"y_test": np.array([0, 1, 2, 5])}, r"label 5 but y_train only goes up to 2"),
        ({"y_train": np.zeros(12, np.int64)}, r"single class"),
        (
            {"x_train": np.zeros((0, 6, 6, 3), np.uint8), "y_train": np.zeros(0, np.int64)},
            r"x_train is empty",
        ),
        ({"y_train": np.zeros((12, 5, 5), np.int64)}, r"masks are \(5, 5\) but the images"),
    ],
)
def test_invalid_content_is_explained(tmp_path, overrides, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(write(tmp_path, **overrides))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, **arrays(y_train=np.array([object()] * 12)))
    with pytest.raises(DatasetError, match="object arrays are refused"):
        load_dataset(str(path))
