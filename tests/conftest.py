"""Fixtures shared across test packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import run_cli


@pytest.fixture(scope="session")
def untrained_digits_model(tmp_path_factory) -> Path:
    from service.zoo import digits_cnn

    path = tmp_path_factory.mktemp("models") / "digits_untrained.keras"
    digits_cnn().save(path)
    return path


@pytest.fixture(scope="session")
def trained_digits_model(tmp_path_factory) -> Path:
    """A digits CNN trained by the real CLI, shared by the end-to-end tests."""
    path = tmp_path_factory.mktemp("models") / "digits.keras"
    result = run_cli("zoo", "train", "digits_cnn", "--data", "digits", "--out", str(path), "--epochs", "30")
    assert result.returncode == 0, result.stderr
    return path
