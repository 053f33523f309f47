"""The table, the paired verdicts, the headline rows and the plot, from re-measured points.

Accuracy differences are paired (every model is scored on the same test images): each is
printed with its 95% paired bootstrap interval and McNemar's exact p-value
(pareto_bench.paired), and counts as a win or a loss only when the whole interval is on
one side of zero. Latency is compared pass by pass (every model was timed in each
interleaved pass): faster or slower only when every pass agrees and the median ratio is
beyond SAME_LATENCY.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from pareto_bench.paired import PairedDifference, paired_difference
from pareto_bench.points import (
    BASELINE,
    GLOBAL_L1,
    NETADAPT_LATENCY,
    SIMPLE_METHODS,
    UNIFORM,
    Point,
    base_method,
    is_netadapt,
    method_order,
)
from pareto_bench.scoring import unpack

SAME_LATENCY = 0.02
HEADLINE_BUDGET = 0.5  # of the baseline's measured latency
WITHIN_POINTS = 0.01  # "within 1 point of the baseline's accuracy"
GOAL_WIN = 0.02  # NetAdapt-by-latency at 50% latency: at least 2 points better
GOAL_SPEEDUP = 1.5  # within 1 point of the baseline


def _millions(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}"


def _order(point: Point) -> tuple:
    return (point.model, -(point.budget or 2.0), method_order(point.method))


def correctness(point: Point) -> np.ndarray:
    if not point.test_correct:
        raise ValueError(f"{point.key} has no per-image test results")
    return unpack(point.test_correct, point.test_images)


def compare_accuracy(a: Point, b: Point, resamples: int) -> PairedDifference:
    return paired_difference(correctness(a), correctness(b), resamples=resamples)


def latency_ratios(a: Point, b: Point) -> list[float]:
    """a's latency over b's, per interleaved pass (both timed in every pass)."""
    return [x / y for x, y in zip(a.latency_rounds, b.latency_rounds)] or [a.latency_ms / b.latency_ms]


def _baselines(points: list[Point]) -> dict[str, Point]:
    return {p.model: p for p in points if p.method == BASELINE}


def table(points: list[Point], resamples: int) -> str:
    """Every point; '% base' is the median over passes of its latency over the baseline's,
    'vs base' its accuracy difference to the baseline with the 95% paired interval."""
    base = _baselines(points)
    lines = [
        f"{'model':<22} {'budget':>6} {'method':<26} {'latency ms (min-max)':>22} {'% base':>7} "
        f"{'host Minstr':>11} {'A53 Minstr':>10} {'MMACs':>7} {'params':>8} {'test acc':>8} "
        f"{'vs base, points [95% CI]':>26} {'wall s':>7}"
    ]
    for point in sorted(points, key=_order):
        reference = base.get(point.model)
        share = (statistics.median(latency_ratios(point, reference))
                 if reference and point.latency_ms and reference.latency_ms else float("nan"))
        latency = (f"{point.latency_ms:.3f} ({point.latency_min_ms:.3f}-{point.latency_max_ms:.3f})"
                   if point.latency_ms is not None else "-")
        budget = "-" if point.budget is None else f"{point.budget:.0%}"
        wall = "-" if point.wall_seconds is None else f"{point.wall_seconds:.0f}"
        versus = ("" if reference is None or point is reference
                  else compare_accuracy(point, reference, resamples).points())
        lines.append(
            f"{point.model:<22} {budget:>6} {point.method:<26} {latency:>22} {share:>7.1%} "
            f"{_millions(point.instructions_host):>11} {_millions(point.instructions_a53):>10} "
            f"{point.macs / 1e6:>7.2f} {point.params:>8,} {point.test_accuracy:>8.2%} "
            f"{versus:>26} {wall:>7}"
        )
    return "\n".join(lines)


def outcome(accuracy: PairedDifference, ratios: list[float]) -> str:
    """One word for a comparison: accuracy by its paired interval, latency pass by pass."""
    more, less = accuracy.beyond_interval > 0, accuracy.beyond_interval < 0
    ratio = statistics.median(ratios)
    faster = max(ratios) < 1 and ratio < 1 - SAME_LATENCY
    slower = min(ratios) > 1 and ratio > 1 + SAME_LATENCY
    if more and not slower:
        return "WINS: more accurate" + (" and faster" if faster else " at equal latency")
    if less and not faster:
        return "LOSES: less accurate" + (" and slower" if slower else " at equal latency")
    if not more and not less and faster:
        return "WINS on latency: faster, accuracy equal within the interval"
    if not more and not less and slower:
        return "LOSES on latency: slower, accuracy equal within the interval"
    if not more and not less:
        return "TIE: accuracy equal within the interval, equal latency"
    if more:
        return "TRADE-OFF: more accurate but slower"
    return "TRADE-OFF: faster but less accurate"


def compare(point: Point, other: Point, resamples: int) -> str:
    accuracy = compare_accuracy(point, other, resamples)
    ratios = latency_ratios(point, other)
    return (f"{point.method:<26} {point.test_accuracy:.2%} at {point.latency_ms:.3f} ms vs "
            f"{other.method} {other.test_accuracy:.2%}: {accuracy.points()} points, McNemar "
            f"p={accuracy.p_value:.2g}; {statistics.median(ratios):.2f}x latency (median of "
            f"{len(ratios)} paired passes) -> {outcome(accuracy, ratios)}")


def verdicts(points: list[Point], resamples: int) -> list[str]:
    """Per model and budget: every NetAdapt point against each simple method's point."""
    lines = []
    keys = sorted({(p.model, p.budget) for p in points if p.budget is not None}, key=lambda k: (k[0], -k[1]))
    for model, budget in keys:
        here = [p for p in points if p.model == model and p.budget == budget]
        simple = sorted((p for p in here if p.method in SIMPLE_METHODS), key=_order)
        netadapt = sorted((p for p in here if is_netadapt(p.method)), key=_order)
        if not simple or not netadapt:
            continue
        lines.append(f"{model} at {budget:.0%} (NetAdapt: of its own metric; simple methods: of "
                     "the measured latency)")
        for point in netadapt:
            for other in simple:
                lines.append("  " + compare(point, other, resamples))
    return lines


def _at(points: list[Point], model: str, method: str, budget: float) -> Point | None:
    return next((p for p in points if p.model == model and p.method == method and p.budget == budget), None)


def headline(points: list[Point], resamples: int) -> list[str]:
    """The two headline comparisons, per model, with the goals beside them."""
    lines = []
    base = _baselines(points)
    for model in sorted(base):
        mine = [p for p in points if p.model == model]
        lines.append(f"{model}: baseline {base[model].test_accuracy:.2%} on {base[model].test_images} "
                     f"test images, {base[model].latency_ms:.3f} ms")
        runs = sorted({p.method for p in mine if base_method(p.method) == NETADAPT_LATENCY}, key=method_order)
        simple = [p for p in (_at(mine, model, m, HEADLINE_BUDGET) for m in (UNIFORM, GLOBAL_L1)) if p]
        lines.append(f"  at {HEADLINE_BUDGET:.0%} of the baseline's measured latency "
                     f"(goal: NetAdapt at least {GOAL_WIN * 100:.0f} points better than both):")
        for run in runs:
            point = _at(mine, model, run, HEADLINE_BUDGET)
            if point is None or not simple:
                continue
            share = statistics.median(latency_ratios(point, base[model]))
            differences = []
            for other in simple:
                lines.append("    " + compare(point, other, resamples))
                differences.append(compare_accuracy(point, other, resamples))
            # Against the better simple method: the smaller difference.
            worst = min(differences, key=lambda d: d.difference)
            if worst.difference >= GOAL_WIN and worst.low > 0:
                word = "goal met"
            else:
                shortfall = (GOAL_WIN - worst.difference) * 100
                word = (f"goal not met: {worst.difference * 100:+.2f} points against the better simple "
                        f"method, {shortfall:.2f} points short of +{GOAL_WIN * 100:.0f}"
                        + ("" if worst.low > 0 else "; not beyond the interval"))
            lines.append(f"    -> {run} at {share:.1%} of the baseline latency: {word}")
        lines.append(f"  fastest model within {WITHIN_POINTS * 100:.0f} point of the baseline's accuracy "
                     f"(goal: NetAdapt-by-latency at least {GOAL_SPEEDUP:.1f}x):")
        for method in sorted({p.method for p in mine if p.method != BASELINE}, key=method_order):
            # (1e-9: accuracies are counts over the same images; "exactly 1 point below" is within)
            candidates = [p for p in mine if p.method == method
                          and p.test_accuracy >= base[model].test_accuracy - WITHIN_POINTS - 1e-9]
            if not candidates:
                lines.append(f"    {method:<26} none of its points is within {WITHIN_POINTS * 100:.0f} point")
                continue
            best = min(candidates, key=lambda p: statistics.median(latency_ratios(p, base[model])))
            speedup = 1 / statistics.median(latency_ratios(best, base[model]))
            versus = compare_accuracy(best, base[model], resamples)
            goal = ""
            if method == NETADAPT_LATENCY:
                goal = ("  -> goal met" if speedup >= GOAL_SPEEDUP
                        else f"  -> goal not met ({GOAL_SPEEDUP - speedup:.2f}x short)")
            lines.append(f"    {method:<26} {best.budget:.0%} budget: {best.test_accuracy:.2%} "
                         f"({versus.points()} vs the baseline), {best.latency_ms:.3f} ms, "
                         f"{speedup:.2f}x faster (median of paired passes){goal}")
    return lines


def plot(points: list[Point], path: Path) -> None:
    """Accuracy vs measured host latency (and vs emulated A53 instructions when counted),
    one row per model, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({p.model for p in points})
    with_a53 = any(p.instructions_a53 for p in points)
    axes_x = [("latency_ms", "measured host latency (ms, LiteRT, 1 thread)")]
    axes_x.append(("instructions_a53", "instructions per inference, emulated Cortex-A53 (M)")
                  if with_a53 else ("instructions_host", "instructions per inference, host (M)"))
    figure, axes = plt.subplots(len(models), len(axes_x), figsize=(6.5 * len(axes_x), 4.6 * len(models)),
                                squeeze=False)
    markers = "osD^vx<>p"
    methods = sorted({p.method for p in points}, key=method_order)
    for row, model in enumerate(models):
        images = max(p.test_images for p in points if p.model == model)
        for column, (field, label) in enumerate(axes_x):
            ax = axes[row][column]
            scale = 1e6 if field.startswith("instructions") else 1.0
            for number, method in enumerate(methods):
                mine = sorted((p for p in points if p.model == model and p.method == method
                               and getattr(p, field) is not None), key=lambda p: getattr(p, field))
                if not mine:
                    continue
                xs = [getattr(p, field) / scale for p in mine]
                ys = [p.test_accuracy * 100 for p in mine]
                # Latency bars: min..max over the interleaved passes.
                xerr = ([[p.latency_ms - p.latency_min_ms for p in mine],
                         [p.latency_max_ms - p.latency_ms for p in mine]]
                        if field == "latency_ms" else None)
                if method == BASELINE:
                    ax.errorbar(xs, ys, xerr=xerr, linestyle="none", marker="*", markersize=14,
                                color="black", label=method)
                else:
                    ax.errorbar(xs, ys, xerr=xerr, marker=markers[number % len(markers)], label=method,
                                capsize=2, linestyle="--" if method in SIMPLE_METHODS else "-")
            ax.set_xlabel(label)
            ax.set_ylabel(f"test accuracy (%), {images:,} images")
            ax.set_title(model)
            ax.grid(alpha=0.3)
            if row == 0 and column == 0:
                ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
