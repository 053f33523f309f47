"""`benchmarks/pareto_cifar.py --quick` end to end: a real baseline, real server and agents
(host latency, callgrind, emulated Cortex-A53), real NetAdapt runs, simple methods searched
by real whole-model measurements, real fine-tunes, per-image test results.

The quick plan runs the digits CNN on scikit-learn's digits, so it needs nothing beside
the repo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "pareto_cifar.py"
sys.path.insert(0, str(REPO / "benchmarks"))

from pareto_bench.scoring import unpack  # noqa: E402

METHODS = ("netadapt-latency", "netadapt-macs", "uniform-width", "global-l1")
BUDGETS = (0.75, 0.5)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pareto") / "out"
    command = [sys.executable, str(SCRIPT), "--quick", "--out", str(out),
               "--baseline-cache", str(out.parent / "baselines")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=REPO)
    print(done.stdout[-6000:])
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out, done.stdout, json.loads((out / "pareto_cifar.json").read_text())


def test_every_method_and_budget_has_a_remeasured_point_scored_per_image(quick_run):
    _, _, result = quick_run
    points = result["points"]
    found = sorted((p["method"], p["budget"]) for p in points if p["method"] != "baseline")
    assert found == sorted((m, b) for m in METHODS for b in BUDGETS)
    assert [p["method"] for p in points].count("baseline") == 1
    for p in points:
        assert len(p["latency_rounds"]) == result["plan"]["remeasure_rounds"], p["method"]
        assert p["latency_min_ms"] <= p["latency_ms"] <= p["latency_max_ms"]
        assert p["instructions_host"] > 0 and p["instructions_a53"] > 0
        # Every point scored on the whole test split, image by image.
        assert p["test_images"] == result["test_images"] > 0
        correct = unpack(p["test_correct"], p["test_images"])
        assert correct.mean() == pytest.approx(p["test_accuracy"])
        assert Path(p["keras_path"]).is_file() and Path(p["keras_path"]).with_suffix(".tflite").is_file()
    # The methods made different models: their per-image results differ somewhere.
    patterns = {p["test_correct"] for p in points}
    assert len(patterns) > 2


def test_budgets_hold_as_measured_when_each_model_was_chosen(quick_run):
    _, _, result = quick_run
    points = result["points"]
    base = next(p for p in points if p["method"] == "baseline")
    for p in points:
        if p["method"] == "baseline":
            continue
        # NetAdapt: the run's measurement of its kept model; the simple methods: the
        # whole-model measurement their search chose by. Both at or under the budget.
        assert p["selected_cost_share"] <= p["budget"] + 1e-9, p
        if p["method"] == "netadapt-macs":  # exact: MACs are counted, not measured
            assert p["macs"] <= p["budget"] * base["macs"], p
        if p["method"] in ("uniform-width", "global-l1"):
            assert "whole-model measurements" in p["note"]
            assert p["macs"] < base["macs"] and p["params"] < base["params"]
    # Re-measured later, the 50% models of the latency-driven methods are clearly faster.
    for p in points:
        if p["budget"] == 0.5 and p["method"] in ("netadapt-latency", "uniform-width", "global-l1"):
            assert p["latency_ms"] < 0.8 * base["latency_ms"], (p["method"], p["latency_ms"], base["latency_ms"])


def test_table_paired_verdicts_headline_and_plot(quick_run):
    out, stdout, result = quick_run
    assert "latency ms (min-max)" in stdout and "vs base, points [95% CI]" in stdout
    verdicts = stdout.split("Paired comparisons", 1)[1].split("Headline:", 1)[0]
    for method in ("netadapt-latency", "netadapt-macs"):
        for simple in ("uniform-width", "global-l1"):
            assert any(line.strip().startswith(method) and f"vs {simple}" in line and "McNemar p=" in line
                       and "->" in line for line in verdicts.splitlines()), (method, simple)
    headline = stdout.split("Headline:", 1)[1]
    assert "at 50% of the baseline's measured latency" in headline
    assert "-> netadapt-latency at" in headline and "goal" in headline
    assert "fastest model within 1 point" in headline
    png = (out / "pareto_cifar.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert result["model_seconds"]["digits_cnn"] > 0


def test_report_only_reprints_from_the_json(quick_run):
    out, stdout, _ = quick_run
    done = subprocess.run([sys.executable, str(SCRIPT), "--report-only", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    headline = stdout.split("Headline:", 1)[1].split("\nwrote ", 1)[0]
    assert headline.strip() in done.stdout


def test_a_different_plan_on_the_same_out_dir_is_refused(quick_run):
    out, _, _ = quick_run
    before = (out / "pareto_cifar.json").read_bytes()
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-arm", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode != 0
    assert "different plan" in done.stdout + done.stderr
    assert (out / "pareto_cifar.json").read_bytes() == before
