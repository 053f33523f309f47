"""The linter and the type checker, as configured in pyproject.toml ([tool.ruff],
[tool.mypy]), run with the tests so that .ci/run (the README's test command) runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing() -> None:
    done = run("mypy")  # the files come from [tool.mypy] files
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
