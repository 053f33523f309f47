"""The pareto benchmark's pure parts: verdicts and picking NetAdapt's model per budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pareto_bench.methods import snapshot_at  # noqa: E402
from pareto_bench.points import Point  # noqa: E402
from pareto_bench.report import (  # noqa: E402
    compare,
    equal_latency_verdicts,
    interpolated_accuracy,
    table,
    verdicts,
)


def point(method: str, accuracy: float, latency: float, budget: float | None = 0.5) -> Point:
    return Point("vgg", method, budget, "latency_ms", "x.keras", accuracy, 10.0, macs=1_000_000,
                 params=1000, latency_ms=latency, latency_min_ms=latency * 0.99,
                 latency_max_ms=latency * 1.01, instructions_host=1e6,
                 latency_rounds=[latency * 0.99, latency, latency * 1.01])


@pytest.mark.parametrize(
    ("accuracy", "latency", "word"),
    [
        (0.75, 1.00, "WINS: more accurate at equal latency"),
        (0.75, 0.90, "WINS: more accurate and faster"),
        (0.65, 1.00, "LOSES: less accurate at equal latency"),
        (0.65, 1.10, "LOSES: less accurate and slower"),
        (0.705, 0.90, "WINS on latency"),
        (0.705, 1.10, "LOSES on latency"),
        (0.705, 1.01, "TIE"),
        (0.75, 1.10, "TRADE-OFF: more accurate but slower"),
        (0.65, 0.90, "TRADE-OFF: faster but less accurate"),
    ],
)
def test_compare_names_the_outcome(accuracy, latency, word):
    simple = point("uniform-width", 0.70, 1.00)
    line = compare(point("netadapt-latency", accuracy, latency), simple, test_images=1000)
    assert word in line, line


def test_latency_differs_only_when_every_paired_pass_agrees():
    simple = point("uniform-width", 0.70, 1.00)
    netadapt = point("netadapt-latency", 0.70, 0.90)
    assert "WINS on latency" in compare(netadapt, simple, test_images=1000)
    netadapt.latency_rounds = [0.9, 0.9, 1.0 * 1.01 + 0.01]  # one pass says slower
    assert "TIE" in compare(netadapt, simple, test_images=1000)


def test_noise_threshold_grows_with_fewer_test_images():
    simple = point("uniform-width", 0.70, 1.00)
    netadapt = point("netadapt-latency", 0.73, 1.00)
    assert "WINS" in compare(netadapt, simple, test_images=5000)
    assert "TIE" in compare(netadapt, simple, test_images=200)


def test_verdicts_compare_against_the_better_simple_method():
    points = [point("baseline", 0.8, 2.0, None), point("uniform-width", 0.70, 1.0),
              point("global-l1", 0.72, 1.0), point("netadapt-latency", 0.72, 1.0)]
    lines = verdicts(points, test_images=1000)
    assert lines[0].startswith("vgg at 50%: best simple method global-l1 72.00%")
    assert "TIE" in lines[1]
    assert "50.0%" in table(points)  # the 50% models' latency share of the baseline's


def _report(costs: list[float]) -> dict:
    return {
        "summary": {"baseline_cost": 100.0, "stop_reason": "budget_met"},
        "iterations": [{"index": i, "kept": {"cost": c}} for i, c in enumerate(costs)],
        "benchmark_seconds": {"0": 5.0, "1": 9.0, "2": 14.0},
    }


def test_snapshot_is_the_first_iteration_measured_within_the_budget(tmp_path):
    # A kept model measured just above a waypoint (76.2) does not count for it.
    report = _report([76.2, 74.0, 59.0, 58.0])
    at_75 = snapshot_at(report, tmp_path, 0.75)
    assert (at_75.iteration, at_75.cost, at_75.seconds) == (1, 74.0, 9.0)
    assert at_75.path == tmp_path / "iterations" / "iter_001.keras"
    assert snapshot_at(report, tmp_path, 0.6).iteration == 2
    with pytest.raises(RuntimeError, match="never reached 0.5"):
        snapshot_at(report, tmp_path, 0.5)


def test_equal_latency_reads_the_simple_curve_between_its_points():
    base = point("baseline", 0.80, 2.0, None)
    uniform = [point("uniform-width", 0.60, 1.0, 0.5), point("uniform-width", 0.70, 1.5, 0.75)]
    assert interpolated_accuracy([base, *uniform], 1.25) == pytest.approx(0.65)
    assert interpolated_accuracy([base, *uniform], 1.75) == pytest.approx(0.75)
    assert interpolated_accuracy([base, *uniform], 0.9) is None  # no extrapolation
    netadapt = point("netadapt-latency", 0.72, 1.25)
    lines = equal_latency_verdicts([base, *uniform, netadapt], test_images=1000)
    assert "uniform-width 65.00% (+7.0, better)" in lines[0]
    assert "global-l1: no point this fast" in lines[0]
