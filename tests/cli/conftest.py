from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NETADAPT = str(Path(sys.executable).parent / "netadapt")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [NETADAPT, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )


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
