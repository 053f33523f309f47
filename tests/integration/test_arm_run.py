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
from tests.integration.measured_prune import check_measured_run, start_prune

pytestmark = pytest.mark.slow


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
        proc = start_prune(trained_digits_model, url, profile, out, "instructions")
        stdout, stderr = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"{stderr}\n--- agent log ---\n{agent.log()[-3000:]}"
        print(f"\nprune on cortex-a53: {time.monotonic() - started:.1f} s")

        assert "cortex-a53" in json.dumps(detail), detail
        check_measured_run(api, profile, out, "instructions")
        assert (out / "final.tflite").exists()
        api.close()
