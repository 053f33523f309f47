"""Running the real `netadapt` console script from tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NETADAPT = str(Path(sys.executable).parent / "netadapt")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [NETADAPT, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )
