"""`netadapt prune` priced by a device agent (tests/integration/test_measured_run.py and
test_arm_run.py): starting the CLI on a live server, and the checks every such run passes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.device_agent.live import Api
from tests.helpers.cli import NETADAPT
from tests.server.conftest import API_TOKEN

SMALL_RUN = ["--max-iterations", "2", "--short-term-steps", "20", "--long-term-epochs", "1",
             "--workers", "1", "--budget", "0.85"]


def start_prune(model: Path, url: str, profile: str, out: Path, metric: str) -> subprocess.Popen:
    """`netadapt prune` of `model` on digits into `out`, its cost measured on `profile`."""
    return subprocess.Popen(
        [NETADAPT, "prune", str(model), "--data", "digits", "--metric", metric, "--server", url,
         "--device", profile, "--api-token", API_TOKEN, "--out", str(out), *SMALL_RUN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def check_measured_run(api: Api, profile: str, out: Path, metric: str) -> dict[str, Any]:
    """The finished run's history (returned): every kept proposal's cost was measured, and
    the profile holds a whole-model measurement per iteration and no failed job."""
    history = json.loads((out / "history.json").read_text())
    assert history["metric"] == metric
    assert history["iterations"], "the run made no iteration"
    for it in history["iterations"]:
        assert it["kept"]["cost_source"] == "measured"
        assert it["kept"]["cost"] > 0
    detail = api.http.get(f"/v1/profiles/{profile}").raise_for_status().json()
    # baseline + one whole-model measurement per iteration
    assert detail["measurements"] >= 1 + len(history["iterations"])
    assert detail["jobs"].get("failed", 0) == 0
    return history
