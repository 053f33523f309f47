"""`netadapt fit` with exact MACs: the model it writes is within the budget and its record
says how it got there; an unreachable budget or a bad --out is one line, exit 2, nothing
written. (On a device through a real agent: tests/integration/test_fit_to_budget.py.)"""

from __future__ import annotations

import json

import keras

from service.surgery import analyze, count_macs
from tests.helpers.cli import run_cli


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("netadapt: error: "), result.stderr
    return lines[0]


def test_fit_writes_a_model_within_the_budget_and_its_record(tmp_path, untrained_digits_model):
    out = tmp_path / "fitted" / "digits.keras"
    result = run_cli("fit", str(untrained_digits_model), "--budget", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr

    baseline = count_macs(analyze(keras.saving.load_model(untrained_digits_model)))
    fitted = keras.saving.load_model(out)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["baseline_cost"] == baseline and record["budget_cost"] == 0.5 * baseline
    assert count_macs(analyze(fitted)) == record["cost"] <= 0.5 * baseline
    assert analyze(fitted).channel_config() == record["channels"]
    assert all(n % 8 == 0 for n in record["channels"].values())
    steps = record["steps"]
    assert all(s["cost"] > record["budget_cost"] for s in steps[:-1])
    assert result.stdout.count("\nstep ") == len(steps) - 1
    assert f"({record['cost'] / baseline:.1%} of the input" in result.stdout


def test_an_unreachable_budget_names_the_smallest_cost_and_writes_nothing(tmp_path, untrained_digits_model):
    out = tmp_path / "fitted.keras"
    result = run_cli("fit", str(untrained_digits_model), "--budget", "0.01", "--out", str(out))
    line = _one_line_error(result)
    graph = analyze(keras.saving.load_model(untrained_digits_model))
    floor = count_macs(graph, {group: 8 for group in graph.channel_config()})  # every group at one step
    assert f"the smallest cost measured was {floor:,.0f} macs" in line
    assert f"budget {0.01 * count_macs(graph):,.0f} macs is unreachable" in line
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_bad_options_are_one_line(tmp_path, untrained_digits_model):
    line = _one_line_error(run_cli("fit", str(untrained_digits_model), "--budget", "0.5", "--out",
                                   str(tmp_path / "fitted.h5")))
    assert "must end in .keras" in line
    line = _one_line_error(run_cli("fit", str(untrained_digits_model), "--metric", "latency_ms", "--budget", "0.5",
                                   "--out", str(tmp_path / "fitted.keras")))
    assert "--server URL and --device PROFILE_ID" in line
    assert not list(tmp_path.iterdir())
