"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest

from service.training.datasets import Dataset, load_dataset


@pytest.fixture(scope="module")
def digits() -> Dataset:
    """The bundled digits dataset (8x8 grey images, 10 classes), loaded once per module."""
    return load_dataset("digits")
