"""`netadapt prune` on the digits CNN, for real: worker processes, Keras fine-tuning,
export; and a run killed with SIGKILL that resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import numpy as np
import pytest

from tests.helpers.cli import NETADAPT, run_cli

pytestmark = pytest.mark.slow


def test_prune_digits_to_half_the_macs(tmp_path, trained_digits_model):
    out = tmp_path / "run"
    result = run_cli("prune", str(trained_digits_model), "--data", "digits", "--metric", "macs",
                     "--budget", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "budget_met" in result.stdout

    report = json.loads((out / "history.json").read_text())
    summary = report["summary"]
    assert summary["stop_reason"] == "budget_met"
    assert summary["final_cost"] <= 0.5 * summary["baseline_cost"]
    assert summary["test_accuracy"] >= report["baseline_test_accuracy"] - 0.02

    for it in report["iterations"]:
        assert (out / "iterations" / f"iter_{it['index']:03d}.keras").exists()
        assert it["kept"]["group"] in {p["group"] for p in it["proposals"]}
        assert all(p["finetune_seconds"] > 0 for p in it["proposals"])
        assert it["layer_channels"][it["kept"]["group"]] == it["kept"]["channels"]

    from ai_edge_litert.interpreter import Interpreter

    from service.training.datasets import load_dataset

    digits = load_dataset("digits")
    interpreter = Interpreter(model_path=str(out / "final.tflite"))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    correct = 0
    for x, y in zip(digits.x_test[:100], digits.y_test[:100]):
        interpreter.set_tensor(inp["index"], x[None].astype(np.float32))
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(outp["index"])) == y)
    assert correct >= 90


SMALL_RUN = ["--budget", "0.75", "--max-iterations", "2", "--short-term-steps", "20",
             "--long-term-epochs", "1", "--workers", "1"]


def _comparable(report: dict) -> list:
    return [
        (it["kept"]["group"], it["channels"],
         [(p["group"], p["channels"], p["holdout_accuracy"]) for p in it["proposals"]])
        for it in report["iterations"]
    ]


def test_killed_run_resumes_to_the_same_result(tmp_path, trained_digits_model):
    reference = tmp_path / "reference"
    result = run_cli("prune", str(trained_digits_model), "--data", "digits", "--out", str(reference), *SMALL_RUN)
    assert result.returncode == 0, result.stderr

    killed = tmp_path / "killed"
    args = [NETADAPT, "prune", str(trained_digits_model), "--data", "digits", "--out", str(killed), *SMALL_RUN]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    # Kill as soon as the second iteration has finished one proposal: mid-iteration.
    for line in proc.stdout:
        if line.strip().startswith("iteration 1 proposal 1/"):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    state = json.loads((killed / "state.json").read_text())
    assert state["final"] is None and len(state["iterations"]) == 1
    done_before = {
        (p["iteration"], p["group"]): p["result"]["finetune_seconds"]
        for p in (state["pending"] or {"proposals": []})["proposals"]
        if p["result"] is not None
    }
    assert done_before, "the kill came before any proposal of iteration 1 was saved"

    result = run_cli("prune", str(trained_digits_model), "--data", "digits", "--out", str(killed), *SMALL_RUN)
    assert result.returncode == 0, result.stderr
    resumed = json.loads((killed / "history.json").read_text())
    expected = json.loads((reference / "history.json").read_text())
    assert _comparable(resumed) == _comparable(expected)
    # A proposal finished before the kill keeps its recorded result: it was not re-run.
    for it in resumed["iterations"]:
        for p in it["proposals"]:
            key = (it["index"], p["group"])
            if key in done_before:
                assert p["finetune_seconds"] == done_before[key]
    assert resumed["summary"]["final_cost"] == expected["summary"]["final_cost"]
