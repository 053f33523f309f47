"""Fit-to-budget against a real server on loopback with a real host-latency agent beside it
(`netadapt serve --with-agent host-latency`): `netadapt fit --metric latency_ms` and a REST
run with method 'fit' return a model whose *measured* latency is within the budget, every
cost they report is a whole-model measurement the server holds, and an unreachable budget
fails with the smallest cost measured."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from service.client import NetAdaptClient
from tests.device_agent.live import free_port
from tests.helpers.cli import run_cli
from tests.helpers.server_process import API_HEADERS, ServerProcess
from tests.server.conftest import API_TOKEN

# A real server with its embedded agent, two run workers and a CLI fit: minutes, not seconds.
pytestmark = pytest.mark.slow

# Latency is fitted to 85% of the input's: a few channel steps of 16 on the demo-sized
# digits CNN (32x32 input), a handful of measurements.
LATENCY_FIT = {"metric": "latency_ms", "budget": 0.85, "engine": {"channel_step": 16}, "method": "fit"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("fit") / "data", free_port(), "--with-agent", "host-latency") as server:
        yield server


@pytest.fixture(scope="module")
def digits_32(tmp_path_factory) -> Path:
    """The digits CNN at 32x32 (as the demo resizes digits): big enough that a channel
    step shows in its latency, small enough to measure in a second."""
    from service.zoo import digits_cnn

    path = tmp_path_factory.mktemp("models") / "digits32.keras"
    digits_cnn(input_shape=(32, 32, 1)).save(path)
    return path


def measurements(api: NetAdaptClient, profile: str) -> list[dict]:
    """Every whole-model measurement of the profile, oldest first."""
    response = httpx.get(f"{api.base_url}/v1/profiles/{profile}/measurements", headers=API_HEADERS, timeout=30)
    return response.raise_for_status().json()


def assert_fitted(record_steps: list[dict], budget_cost: float) -> None:
    costs = [s["cost"] for s in record_steps]
    assert costs[-1] <= budget_cost
    # It stopped at the first measurement within the budget.
    assert all(c > budget_cost for c in costs[:-1])


def test_cli_fit_on_a_device_ends_within_the_measured_budget(server, api, host_latency_profile, digits_32, tmp_path):
    before = len(measurements(api, host_latency_profile))
    out = tmp_path / "fitted.keras"
    result = run_cli(
        "fit", str(digits_32), "--metric", "latency_ms", "--budget", "0.85", "--channel-step", "16",
        "--server", server.base_url, "--device", host_latency_profile, "--api-token", API_TOKEN, "--out", str(out),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["budget_cost"] == pytest.approx(0.85 * record["baseline_cost"])
    assert_fitted(record["steps"], record["budget_cost"])
    assert record["cost"] == record["steps"][-1]["cost"]
    # One whole-model measurement per step, each one the server's (the agent's median).
    done = measurements(api, host_latency_profile)[before:]
    assert len(done) == record["measurements"] == len(record["steps"])
    assert sorted(m["measured"] for m in done) == sorted(s["cost"] for s in record["steps"])
    # The printed lines are the record's.
    assert result.stdout.count("\nstep ") == len(record["steps"]) - 1
    assert "fitted:" in result.stdout and f"{record['cost'] / record['baseline_cost']:.1%}" in result.stdout

    import keras

    from service.surgery import analyze

    assert analyze(keras.saving.load_model(out)).channel_config() == record["channels"]


def test_rest_fit_run_on_a_device_finishes_within_the_measured_budget(api, host_latency_profile, digits_32, tmp_path):
    model_id = api.upload_model(digits_32)["id"]
    run = api.create_run({"model_id": model_id, "device": host_latency_profile, **LATENCY_FIT})
    events: list[dict] = []
    final = api.wait(run["id"], on_event=events.append)
    assert final["status"] == "finished", final
    assert final["stop_reason"] == "budget_met"
    assert final["current_cost"] <= final["budget_cost"] == pytest.approx(0.85 * final["baseline_cost"])
    assert final["request"]["method"] == "fit"

    report = api.report(run["id"])
    fit = report["fit"]
    assert_fitted(fit["steps"], final["budget_cost"])
    assert report["summary"]["final_cost"] == fit["cost"] == final["current_cost"]
    assert report["summary"]["final_channels"] == fit["channels"]
    kinds = [e["type"] for e in events]
    assert "baseline_measured" in kinds and kinds.count("fit_step") == len(fit["steps"]) - 1
    assert kinds.count("waiting_for_measurements") == len(fit["steps"])
    names = {a["name"] for a in api.artifacts(run["id"])}
    assert {"baseline.keras", "final.keras", "final.tflite", "report.json"} <= names

    # final.tflite is the graph the agent measured last: the server stored it by its hash.
    import hashlib

    tflite = api.download(run["id"], "final.tflite", tmp_path / "final.tflite").read_bytes()
    last = max(measurements(api, host_latency_profile), key=lambda m: m["measured_at"])
    assert last["model_sha256"] == hashlib.sha256(tflite).hexdigest()
    assert last["measured"] == fit["cost"]

    # `netadapt runs wait` replays the run: one line per step, then the result table.
    shown = run_cli("runs", "wait", run["id"], "--server", api.base_url, "--api-token", API_TOKEN)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("step ") == len(fit["steps"]) - 1
    assert "Fit (latency_ms) - budget_met" in shown.stdout

    # The dashboard's run page charts the fitted channels (dev-mode server: pages are open).
    page = httpx.get(f"{api.base_url}/runs/{run['id']}", timeout=30)
    assert page.status_code == 200
    data = json.loads(page.text.split('id="run-data">', 1)[1].split("</script>", 1)[0])
    assert dict(zip(data["channels"]["groups"], data["channels"]["now"])) == fit["channels"]


def test_rest_fit_run_with_an_unreachable_budget_fails_naming_the_smallest_cost(api, digits_32):
    from service.surgery import analyze, count_macs

    import keras

    model_id = api.upload_model(digits_32)["id"]
    run = api.create_run({"model_id": model_id, "metric": "macs", "budget": 0.01, "method": "fit",
                          "engine": {"channel_step": 16}})
    final = api.wait(run["id"])
    assert final["status"] == "failed", final
    graph = analyze(keras.saving.load_model(digits_32))
    floor = count_macs(graph, {g: 16 for g in graph.channel_config()})
    assert f"the smallest cost measured was {floor:,.0f} macs" in final["error"]
    assert "budget" in final["error"] and "\n" not in final["error"]
