"""The final.tflite a run writes is the model whose cost it reports: `netadapt prune --metric
instructions` against a real server and a host-instructions agent (callgrind: exact counts),
then final.tflite, long-term fine-tuned after that measurement, measured whole by the same
agent. Its count must match the run's reported final cost within the measurements' spread
(a dynamic-batch or float-I/O export would add ops, and instructions, the run never priced)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest

from latency_tables.tflite_model import signatures_from_tflite
from service.costs.keras_signatures import signatures_for_config
from service.surgery import analyze
from tests.device_agent.live import AgentProcess, Api, free_port, serve, wait_until
from tests.helpers.cli import NETADAPT
from tests.server.conftest import API_TOKEN

pytestmark = pytest.mark.slow

SMALL_RUN = ["--max-iterations", "1", "--short-term-steps", "10", "--long-term-epochs", "1",
             "--workers", "1", "--budget", "0.9"]


# One precision: both go through the same conversion (run_tflite), and the int8 artifacts'
# ops are checked against the run's signatures in test_int8_rest_run.py.
@pytest.mark.parametrize("precision", ["float32"])
def test_final_tflite_measures_as_the_reported_final_cost(tmp_path, trained_digits_model, precision):
    import keras

    with serve(tmp_path / "data", free_port(), heartbeat_seconds=1.0) as url, AgentProcess(
        url, tmp_path, "host-instructions"
    ):
        api = Api(url)
        profile = api.profile_id("host-instructions")
        out = tmp_path / "run"
        proc = subprocess.run(
            [NETADAPT, "prune", str(trained_digits_model), "--data", "digits", "--metric", "instructions",
             "--server", url, "--device", profile, "--api-token", API_TOKEN, "--out", str(out),
             "--precision", precision, *SMALL_RUN],
            capture_output=True, text=True, timeout=1200,
        )
        assert proc.returncode == 0, proc.stderr
        history = json.loads((out / "history.json").read_text())
        summary = history["summary"]
        assert history["iterations"] and history["precision"] == precision
        assert history["iterations"][-1]["kept"]["cost_source"] == "measured"

        final = (out / "final.tflite").read_bytes()
        graph = analyze(keras.saving.load_model(out / "baseline.keras", compile=False))
        priced = signatures_for_config(graph, summary["final_channels"], precision)
        assert Counter(s.key for s in signatures_from_tflite(final)) == Counter(s.key for s in priced)

        job = api.submit_model(profile, final, metric="instructions")
        done = wait_until(lambda: api.job(job) if api.job(job)["status"] in ("done", "failed") else None,
                          600, "the final model's measurement", interval=0.5)
        assert done["status"] == "done", done
        measured = done["result"]["median"]
        reported = summary["final_cost"]
        # The run's own whole-model measurement of that cost, and its spread.
        recorded = api.http.get(f"/v1/profiles/{profile}/measurements").raise_for_status().json()
        spreads = [m["spread"] for m in recorded if m["measured"] == reported]
        assert spreads, "the reported final cost is not a measurement the server holds"
        tolerance = max([done["result"]["spread"], *spreads]) * reported
        assert abs(measured - reported) <= tolerance, (measured, reported, tolerance)
        api.close()
