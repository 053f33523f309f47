"""A NetAdapt run priced in instructions on an emulated Cortex-A53: a real server on
loopback, a real `netadapt-agent --backend qemu-aarch64` process, and
`netadapt prune --metric instructions` on the digits CNN, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from device_agent.arm.setup import default_arm_dir
from tests.device_agent.live import AgentProcess, Api, free_port, serve
from tests.helpers.cli import NETADAPT
from tests.server.conftest import API_TOKEN

pytestmark = pytest.mark.slow

SMALL_RUN = ["--max-iterations", "2", "--short-term-steps", "20", "--long-term-epochs", "1",
             "--workers", "1", "--budget", "0.85"]


@pytest.fixture(scope="module")
def arm_dir():
    """The default setup-arm directory, built (or found cached) by the real CLI."""
    root = default_arm_dir()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "device_agent", "setup-arm", "--dir", str(root)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    print(f"\nsetup-arm {time.monotonic() - started:.1f} s\n{done.stdout}")
    return root


def test_instructions_run_on_an_emulated_cortex_a53(tmp_path, trained_digits_model, arm_dir):
    with serve(tmp_path / "data", free_port(), heartbeat_seconds=1.0) as url, AgentProcess(
        url, tmp_path, "qemu-aarch64", "--cpu", "cortex-a53", "--arm-dir", str(arm_dir), "--max-jobs", "64"
    ) as agent:
        api = Api(url)
        profile = api.profile_id("qemu-aarch64")
        detail = api.http.get(f"/v1/profiles/{profile}").raise_for_status().json()
        out = tmp_path / "run"
        started = time.monotonic()
        proc = subprocess.Popen(
            [NETADAPT, "prune", str(trained_digits_model), "--data", "digits", "--metric", "instructions",
             "--server", url, "--device", profile, "--api-token", API_TOKEN, "--out", str(out), *SMALL_RUN],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stdout, stderr = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"{stderr}\n--- agent log ---\n{agent.log()[-3000:]}"
        print(f"\nprune on cortex-a53: {time.monotonic() - started:.1f} s")

        assert "cortex-a53" in json.dumps(detail), detail
        history = json.loads((out / "history.json").read_text())
        assert history["metric"] == "instructions"
        assert history["iterations"], "the run made no iteration"
        for it in history["iterations"]:
            assert it["kept"]["cost_source"] == "measured"
            assert it["kept"]["cost"] > 0
        final = api.http.get(f"/v1/profiles/{profile}").raise_for_status().json()
        assert final["measurements"] >= 1 + len(history["iterations"])
        assert final["jobs"].get("failed", 0) == 0
        assert (out / "final.tflite").exists()
        api.close()
