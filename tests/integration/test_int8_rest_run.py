"""An int8 run over REST: the digits VGG (the demo's model, briefly trained) pruned by
latency_ms measured on int8 one-op models by a real host-latency agent beside a real server
(`netadapt serve --with-agent host-latency`). Its .tflite artifacts are int8 end to end with
exactly the ops that were measured, and the int8 model's LiteRT test accuracy is reported
beside the Keras one (API, report, dashboard). Kept to one short iteration: it runs in CI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from latency_tables.tflite_model import signatures_from_tflite
from service.costs.keras_signatures import signatures_for_config
from tests.device_agent.live import free_port
from tests.helpers.run_requests import digits_run
from tests.helpers.server_process import API_HEADERS, ServerProcess

pytestmark = pytest.mark.slow

INT8_RUN = digits_run(metric="latency_ms", budget=0.9, iterations=1, short_term_steps=10, precision="int8")


@pytest.fixture(scope="module")
def digits_vgg(tmp_path_factory) -> Path:
    from service.cli.demo_cmd import DEMO_IMAGE_SIZE
    from service.cli.zoo_cmd import train_zoo_model
    from service.pruning.options import DataSpec

    path = tmp_path_factory.mktemp("models") / "vgg_digits32.keras"
    train_zoo_model("vgg", DataSpec("digits", DEMO_IMAGE_SIZE, 1), path, epochs=2, seed=0)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("int8") / "data", free_port(), "--with-agent", "host-latency") as server:
        yield server


@pytest.fixture(scope="module")
def finished_run(api, host_latency_profile, digits_vgg) -> dict:
    model = api.upload_model(digits_vgg)
    run = api.create_run({"model_id": model["id"], "device": host_latency_profile, **INT8_RUN})
    api.wait(run["id"])
    return api.run(run["id"])


def _int8_io(content: bytes) -> bool:
    interpreter = Interpreter(model_content=content)
    return all(d["dtype"] == np.int8 for d in interpreter.get_input_details() + interpreter.get_output_details())


def test_int8_run_finishes_with_int8_accuracy_beside_the_keras_one(server, api, finished_run):
    run = finished_run
    assert run["status"] == "finished", run["error"]
    assert run["request"]["training"]["precision"] == "int8"
    assert run["tflite_test_accuracy"] is not None and run["test_accuracy"] is not None
    # Post-training quantization of a trained model costs little accuracy; a broken
    # calibration or input quantization would land near chance (10%).
    assert abs(run["tflite_test_accuracy"] - run["test_accuracy"]) < 0.05, run
    assert api.report(run["id"])["run"]["tflite_test_accuracy"] == run["tflite_test_accuracy"]
    page = httpx.get(f"{server.base_url}/runs/{run['id']}", timeout=30).raise_for_status().text
    assert f"int8 .tflite {run['tflite_test_accuracy']:.1%}" in page
    assert "Precision" in page


def test_artifacts_are_int8_with_the_measured_ops(server, api, finished_run, digits_vgg, tmp_path):
    import keras

    from service.surgery import analyze

    run = finished_run
    graph = analyze(keras.saving.load_model(digits_vgg, compile=False))
    names = {a["name"] for a in api.artifacts(run["id"])}
    report = api.report(run["id"])
    kept = {f"iter_{it['index']:03d}.tflite": it["channels"] for it in report["iterations"]}
    assert kept and set(kept) <= names and "final.tflite" in names
    kept["final.tflite"] = report["summary"]["final_channels"]
    for name, channels in kept.items():
        content = api.download(run["id"], name, tmp_path / name).read_bytes()
        assert _int8_io(content), name
        measured = signatures_for_config(graph, channels, "int8")
        written = signatures_from_tflite(content)
        assert Counter(s.key for s in written) == Counter(s.key for s in measured), name
        assert {s.dtype for s in written} == {"int8"}, name
    # The table the run priced by holds int8 entries: what the agent measured were int8 models.
    entries = httpx.get(
        f"{server.base_url}/v1/profiles/{run['device']}/entries", headers=API_HEADERS, timeout=30
    ).raise_for_status().json()
    dtypes = Counter(e["signature"]["dtype"] for e in entries)
    assert dtypes["int8"] >= len({s.digest for s in signatures_for_config(graph, {}, "int8")}), dtypes
