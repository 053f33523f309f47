"""The pareto benchmark's pure parts: paired statistics, per-image results, verdicts,
headline rows and picking NetAdapt's model per budget."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pareto_bench.methods import snapshot_at  # noqa: E402
from pareto_bench.paired import mcnemar_exact, paired_difference  # noqa: E402
from pareto_bench.points import Point, base_method, is_netadapt, seeded  # noqa: E402
from pareto_bench.report import compare, headline, table, verdicts  # noqa: E402
from pareto_bench.scoring import pack, unpack  # noqa: E402

IMAGES = 2000


def correct_with(accuracy: float, seed: int, like: np.ndarray | None = None, agree: float = 0.0) -> np.ndarray:
    """A correctness vector with exactly `accuracy` of IMAGES right; with `like`, the first
    `agree` share of images copied from it (a paired, correlated model)."""
    rng = np.random.default_rng(seed)
    right = np.zeros(IMAGES, bool)
    right[rng.permutation(IMAGES)[: round(accuracy * IMAGES)]] = True
    if like is not None:
        shared = int(agree * IMAGES)
        right[:shared] = like[:shared]
    return right


def point(method: str, correct: np.ndarray, latency: float, budget: float | None = 0.5) -> Point:
    return Point("vgg", method, budget, "latency_ms", "x.keras", float(correct.mean()), 10.0,
                 macs=1_000_000, params=1000, test_images=len(correct), test_correct=pack(correct),
                 latency_ms=latency, latency_min_ms=latency * 0.99, latency_max_ms=latency * 1.01,
                 instructions_host=1e6, latency_rounds=[latency * 0.99, latency, latency * 1.01])


def test_packed_correctness_round_trips_compactly():
    correct = correct_with(0.73, seed=1)
    packed = pack(correct)
    assert np.array_equal(unpack(packed, IMAGES), correct)
    assert len(pack(np.ones(10_000, bool))) == 1668  # 10,000 bits in base64


def test_mcnemar_exact_matches_the_binomial_tail():
    # 2 of 12 discordant pairs one way: 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * 79 / 4096.
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_interval_is_narrower_than_independent_when_models_agree():
    base = correct_with(0.80, seed=2)
    # 90% of images answered as the other model does, and 2 points more accurate overall.
    better = base.copy()
    flip = np.flatnonzero(~base)[:40]  # 40 images of 2000 newly right: +2 points
    better[flip] = True
    result = paired_difference(better, base, resamples=5000)
    assert result.difference == pytest.approx(0.02)
    assert (result.a_only, result.b_only) == (40, 0)
    assert result.low > 0 and result.beyond_interval == 1
    independent_se = np.sqrt(2 * 0.8 * 0.2 / IMAGES)
    assert result.high - result.low < 2 * 1.96 * independent_se  # pairing pays off
    assert result.p_value < 1e-9


def test_paired_interval_spans_zero_for_unrelated_models_of_equal_accuracy():
    a, b = correct_with(0.7, seed=3), correct_with(0.7, seed=4)
    result = paired_difference(a, b, resamples=5000)
    assert result.difference == 0.0
    assert result.low < 0 < result.high and result.beyond_interval == 0
    assert "+0.00 [" in result.points()


def test_paired_difference_refuses_unpaired_arrays():
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference(np.ones(10, bool), np.ones(11, bool))


@pytest.mark.parametrize(
    ("gain", "latency", "word"),
    [
        (60, 1.00, "WINS: more accurate at equal latency"),
        (60, 0.90, "WINS: more accurate and faster"),
        (-60, 1.00, "LOSES: less accurate at equal latency"),
        (-60, 1.10, "LOSES: less accurate and slower"),
        (0, 0.90, "WINS on latency"),
        (0, 1.10, "LOSES on latency"),
        (0, 1.01, "TIE"),
        (60, 1.10, "TRADE-OFF: more accurate but slower"),
        (-60, 0.90, "TRADE-OFF: faster but less accurate"),
    ],
)
def test_compare_names_the_outcome(gain, latency, word):
    base = correct_with(0.70, seed=5)
    other = base.copy()
    if gain > 0:
        other[np.flatnonzero(~base)[:gain]] = True
    elif gain < 0:
        other[np.flatnonzero(base)[:-gain]] = False
    line = compare(point("netadapt-latency", other, latency), point("uniform-width", base, 1.0), resamples=2000)
    assert word in line, line
    assert "McNemar p=" in line and "[" in line


def test_latency_differs_only_when_every_paired_pass_agrees():
    base = correct_with(0.70, seed=6)
    simple = point("uniform-width", base, 1.00)
    netadapt = point("netadapt-latency", base, 0.90)
    assert "WINS on latency" in compare(netadapt, simple, resamples=1000)
    netadapt.latency_rounds = [0.9, 0.9, 1.0 * 1.01 + 0.01]  # one pass says slower
    assert "TIE" in compare(netadapt, simple, resamples=1000)


def test_verdicts_compare_every_netadapt_point_with_each_simple_method():
    base = correct_with(0.8, seed=7)
    points = [point("baseline", base, 2.0, None), point("uniform-width", correct_with(0.7, 8), 1.0),
              point("global-l1", correct_with(0.72, 9), 1.0), point("netadapt-latency", correct_with(0.72, 10), 1.0),
              point("netadapt-latency-seed1", correct_with(0.71, 11), 1.0)]
    lines = verdicts(points, resamples=1000)
    assert lines[0].startswith("vgg at 50%")
    assert len(lines) == 1 + 2 * 2
    assert "vs uniform-width" in lines[1] and "vs global-l1" in lines[2]
    assert lines[3].strip().startswith("netadapt-latency-seed1")
    assert "50.0%" in table(points, resamples=1000)  # the 50% models' latency share of the baseline's


def test_headline_reports_the_goal_and_the_fastest_model_within_one_point():
    base = correct_with(0.80, seed=12)

    def shifted(points_: int) -> np.ndarray:
        other = base.copy()
        if points_ < 0:
            other[np.flatnonzero(base)[: -points_ * IMAGES // 100]] = False
        return other

    points = [
        point("baseline", base, 2.0, None),
        point("netadapt-latency", shifted(0), 1.6, 0.8),
        point("netadapt-latency", shifted(-1), 1.25, 0.65),  # exactly 1 point below: within
        point("netadapt-latency", shifted(-3), 1.0, 0.5),
        point("uniform-width", shifted(-2), 1.6, 0.8),
        point("uniform-width", shifted(-6), 1.0, 0.5),
        point("global-l1", shifted(-5), 1.0, 0.5),
    ]
    lines = "\n".join(headline(points, resamples=2000))
    # At 50%: NetAdapt -3 vs uniform -6 and global L1 -5: +2 against the better one, beyond the interval.
    assert "netadapt-latency at 50.0% of the baseline latency: goal met" in lines
    # Fastest within 1 point: NetAdapt's 65% model (1.6x); uniform's best is 2 points below.
    assert "netadapt-latency           65% budget" in lines and "1.60x faster" in lines
    assert "goal met" in lines.split("fastest model")[1]
    assert "uniform-width              none of its points is within 1 point" in lines


def test_headline_says_by_how_much_a_goal_is_missed():
    base = correct_with(0.80, seed=13)
    worse = base.copy()
    worse[np.flatnonzero(base)[:40]] = False  # -2 points
    points = [point("baseline", base, 2.0, None), point("netadapt-latency", worse, 1.0, 0.5),
              point("uniform-width", base, 1.0, 0.5), point("global-l1", base, 1.0, 0.5)]
    lines = "\n".join(headline(points, resamples=2000))
    assert "goal not met: -2.00 points against the better simple method, 4.00 points short of +2" in lines
    assert "netadapt-latency           none of its points is within 1 point" in lines
    assert "uniform-width              50% budget: 80.00% (+0.00 [+0.00, +0.00] vs the baseline)" in lines


def test_seeded_method_names():
    assert seeded("netadapt-latency", 0, 0) == "netadapt-latency"
    assert seeded("netadapt-latency", 1, 0) == "netadapt-latency-seed1"
    assert base_method("netadapt-latency-seed1") == "netadapt-latency"
    assert base_method("global-l1") == "global-l1"
    assert is_netadapt("netadapt-macs") and not is_netadapt("uniform-width")


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
