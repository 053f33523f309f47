"""Dataset loading, validation, resizing and compatibility checks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from service.training.datasets import (
    DatasetError,
    IncompatibleDatasetError,
    check_compatible,
    load_dataset,
)
from service.zoo import digits_cnn, unet


def test_digits_shapes_ranges_and_split(digits):
    assert digits.input_shape == (8, 8, 1)
    assert digits.num_classes == 10
    assert digits.x_train.shape == (1438, 8, 8, 1)
    assert digits.x_test.shape == (359, 8, 8, 1)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_test)) == set(range(10))
    # Stratified 80/20: every class holds close to a fifth of its samples out for testing.
    train_counts = np.bincount(digits.y_train)
    test_counts = np.bincount(digits.y_test)
    assert np.all(np.abs(test_counts / (train_counts + test_counts) - 0.2) < 0.01)


def test_digits_split_is_the_same_every_time(digits):
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, digits.x_test)
    np.testing.assert_array_equal(again.y_train, digits.y_train)


def test_resize_and_rgb_conversion(digits):
    big = load_dataset("digits", image_size=(32, 32), channels=3)
    assert big.input_shape == (32, 32, 3)
    assert big.x_train.shape == (1438, 32, 32, 3)
    assert big.x_train.dtype == np.float32
    assert 0.0 <= big.x_train.min() and big.x_train.max() <= 1.0
    np.testing.assert_array_equal(big.x_train[..., 0], big.x_train[..., 2])
    np.testing.assert_array_equal(big.y_train, digits.y_train)
    # Resizing blurs but keeps the picture: brightness is preserved, and shrinking back
    # gives images far closer to their own originals than to other digits.
    assert abs(big.x_train.mean() - digits.x_train.mean()) < 0.01
    back = tf.image.resize(big.x_test[..., :1], (8, 8), antialias=True).numpy()
    own = np.abs(back - digits.x_test).mean()
    shifted = np.abs(back - np.roll(digits.x_test, 1, axis=0)).mean()
    assert own < 0.5 * shifted


def test_unknown_spec_explains_the_options():
    with pytest.raises(DatasetError, match="'digits', a path to an .npz"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("/nonexistent/data.npz")


def test_check_compatible_accepts_matching_model(digits):
    check_compatible(digits_cnn(), digits)


def test_check_compatible_names_both_input_shapes(digits):
    with pytest.raises(IncompatibleDatasetError) as error:
        check_compatible(digits_cnn(input_shape=(32, 32, 3)), digits)
    message = str(error.value)
    assert "(32, 32, 3)" in message and "(8, 8, 1)" in message


def test_check_compatible_names_class_counts(digits):
    with pytest.raises(IncompatibleDatasetError, match=r"outputs shape \(4,\).*10 classes"):
        check_compatible(digits_cnn(num_classes=4), digits)


def test_check_compatible_for_segmentation(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "shapes.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8),
        y_train=rng.integers(0, 3, (6, 16, 16)),
        x_test=rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8),
        y_test=rng.integers(0, 3, (2, 16, 16)),
    )
    dataset = load_dataset(str(path))
    assert dataset.is_segmentation and dataset.num_classes == 3
    check_compatible(unet(input_shape=(16, 16, 3), num_classes=3), dataset)
    with pytest.raises(IncompatibleDatasetError, match="per-pixel"):
        check_compatible(unet(input_shape=(16, 16, 3), num_classes=2), dataset)
    resized = load_dataset(str(path), image_size=(32, 32))
    assert resized.y_train.shape == (6, 32, 32)
    assert set(np.unique(resized.y_train)) <= {0, 1, 2}
