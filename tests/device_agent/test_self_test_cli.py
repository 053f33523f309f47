"""`netadapt-agent self-test` for both backends, as a user runs it (a subprocess)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def agent(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "device_agent", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_self_test_host_latency() -> None:
    out = agent("self-test", "--backend", "host-latency")
    assert out.returncode == 0, out.stderr
    assert "conv3x3 28x28x32->32 float32" in out.stdout
    measured = re.search(r"measured:\s+([0-9.]+) ms normalised", out.stdout)
    assert measured and float(measured.group(1)) > 0, out.stdout


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_self_test_host_instructions_counts_exactly() -> None:
    out = agent("self-test", "--backend", "host-instructions")
    assert out.returncode == 0, out.stderr
    counts = re.findall(r"^(?:counted:)?\s+([0-9,]+) instructions", out.stdout, flags=re.M)
    assert len(counts) == 2 and counts[0] == counts[1], out.stdout
    assert "exact: all equal" in out.stdout


def test_errors_are_one_line() -> None:
    out = agent("self-test", "--backend", "host-latency", "--cpu", "9999")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("netadapt-agent: error: "), out.stderr


def test_unknown_backend_is_a_usage_error() -> None:
    out = agent("self-test", "--backend", "tpu")
    assert out.returncode == 2 and "invalid choice" in out.stderr
