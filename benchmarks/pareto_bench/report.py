"""The table, the verdicts and the plot, from the re-measured points."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from pareto_bench.points import (
    BASELINE,
    METHODS,
    NETADAPT_METHODS,
    SIMPLE_METHODS,
    Point,
)

# A difference counts when it exceeds this many standard errors of the difference of two
# accuracies measured on the same number of test images (independent binomials: a
# conservative choice for two models tested on the same images).
SIGNIFICANT_SE = 2.0
SAME_LATENCY = 0.02


def _millions(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}"


def _order(point: Point) -> tuple:
    return (point.model, -(point.budget or 2.0), METHODS.index(point.method))


def table(points: list[Point]) -> str:
    base = {p.model: p for p in points if p.method == BASELINE}
    lines = [
        f"{'model':<22} {'budget':>6} {'method':<20} {'latency ms (min-max)':>22} {'% base':>7} "
        f"{'host Minstr':>11} {'A53 Minstr':>10} {'MMACs':>7} {'params':>8} {'test acc':>8} {'wall s':>7}"
    ]
    for point in sorted(points, key=_order):
        reference = base.get(point.model)
        share = (point.latency_ms / reference.latency_ms
                 if reference and point.latency_ms and reference.latency_ms else float("nan"))
        latency = (f"{point.latency_ms:.3f} ({point.latency_min_ms:.3f}-{point.latency_max_ms:.3f})"
                   if point.latency_ms is not None else "-")
        budget = "-" if point.budget is None else f"{point.budget:.0%}"
        wall = "-" if point.wall_seconds is None else f"{point.wall_seconds:.0f}"
        lines.append(
            f"{point.model:<22} {budget:>6} {point.method:<20} {latency:>22} {share:>7.1%} "
            f"{_millions(point.instructions_host):>11} {_millions(point.instructions_a53):>10} "
            f"{point.macs / 1e6:>7.2f} {point.params:>8,} {point.test_accuracy:>8.2%} {wall:>7}"
        )
    return "\n".join(lines)


def _standard_error(a: float, b: float, n: int) -> float:
    return math.sqrt(a * (1 - a) / n + b * (1 - b) / n)


def verdicts(points: list[Point], test_images: int) -> list[str]:
    """Per model and budget: each NetAdapt variant against the better simple method."""
    lines = []
    keys = sorted({(p.model, p.budget) for p in points if p.budget is not None},
                  key=lambda k: (k[0], -k[1]))
    for model, budget in keys:
        here = [p for p in points if p.model == model and p.budget == budget]
        simple = [p for p in here if p.method in SIMPLE_METHODS]
        if not simple:
            continue
        best = max(simple, key=lambda p: p.test_accuracy)
        lines.append(f"{model} at {budget:.0%}: best simple method {best.method} "
                     f"{best.test_accuracy:.2%} at {best.latency_ms:.3f} ms")
        for point in sorted((p for p in here if p.method in NETADAPT_METHODS),
                            key=lambda p: METHODS.index(p.method)):
            lines.append("  " + compare(point, best, test_images))
    return lines


def compare(point: Point, simple: Point, test_images: int) -> str:
    gap = point.test_accuracy - simple.test_accuracy
    se = _standard_error(point.test_accuracy, simple.test_accuracy, test_images)
    more, less = gap > SIGNIFICANT_SE * se, gap < -SIGNIFICANT_SE * se
    # Latency is compared pass by pass (both models were timed in each interleaved pass,
    # minutes apart at most): faster or slower only when every pass agrees and the median
    # ratio is beyond SAME_LATENCY. Two models of identical shape differ by up to ~5%
    # between passes on this shared machine, so medians alone would invent differences.
    ratios = [a / b for a, b in zip(point.latency_rounds, simple.latency_rounds)] or [
        point.latency_ms / simple.latency_ms]
    ratio = statistics.median(ratios)
    faster = max(ratios) < 1 and ratio < 1 - SAME_LATENCY
    slower = min(ratios) > 1 and ratio > 1 + SAME_LATENCY
    if more and not slower:
        word = "WINS: more accurate" + (" and faster" if faster else " at equal latency")
    elif less and not faster:
        word = "LOSES: less accurate" + (" and slower" if slower else " at equal latency")
    elif not more and not less and faster:
        word = "WINS on latency: faster at equal accuracy (within noise)"
    elif not more and not less and slower:
        word = "LOSES on latency: slower at equal accuracy (within noise)"
    elif not more and not less:
        word = "TIE: equal accuracy (within noise) and latency"
    elif more:
        word = "TRADE-OFF: more accurate but slower"
    else:
        word = "TRADE-OFF: faster but less accurate"
    return (f"{point.method:<20} {point.test_accuracy:.2%} at {point.latency_ms:.3f} ms: "
            f"{gap * 100:+.1f} points (2 SE = {SIGNIFICANT_SE * se * 100:.1f}), "
            f"{ratio:.2f}x latency (median of {len(ratios)} paired passes) -> {word}")


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
    markers = dict(zip(METHODS, "*osD^vx"))
    for row, model in enumerate(models):
        for column, (field, label) in enumerate(axes_x):
            ax = axes[row][column]
            scale = 1e6 if field.startswith("instructions") else 1.0
            for method in METHODS:
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
                    ax.errorbar(xs, ys, xerr=xerr, marker=markers[method], label=method, capsize=2,
                                linestyle="--" if method in SIMPLE_METHODS else "-")
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(model)
            ax.grid(alpha=0.3)
            if row == 0 and column == 0:
                ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def interpolated_accuracy(curve: list[Point], latency_ms: float) -> float | None:
    """Accuracy of a method's accuracy-vs-latency curve at `latency_ms`, linear between its
    two neighbouring points; None outside the curve (no extrapolation)."""
    ordered = sorted(curve, key=lambda p: p.latency_ms)
    for low, high in zip(ordered, ordered[1:]):
        if low.latency_ms <= latency_ms <= high.latency_ms:
            if high.latency_ms == low.latency_ms:
                return max(low.test_accuracy, high.test_accuracy)
            share = (latency_ms - low.latency_ms) / (high.latency_ms - low.latency_ms)
            return low.test_accuracy + share * (high.test_accuracy - low.test_accuracy)
    return None


def equal_latency_verdicts(points: list[Point], test_images: int) -> list[str]:
    """Each NetAdapt point against each simple method's curve (its budgets plus the
    baseline, which every method starts from) read at the same re-measured latency.

    The per-budget comparison can compare models of quite different latency: the simple
    methods aim at the budget through the lookup table's estimate, NetAdapt measures each
    kept model whole. This one does not depend on where anyone landed."""
    lines = []
    for model in sorted({p.model for p in points}):
        mine = [p for p in points if p.model == model]
        base = [p for p in mine if p.method == BASELINE]
        for point in sorted((p for p in mine if p.method in NETADAPT_METHODS),
                            key=lambda p: (METHODS.index(p.method), -(p.budget or 0))):
            parts = []
            for method in SIMPLE_METHODS:
                curve = base + [p for p in mine if p.method == method]
                accuracy = interpolated_accuracy(curve, point.latency_ms)
                if accuracy is None:
                    parts.append(f"{method}: no point this fast")
                    continue
                gap = point.test_accuracy - accuracy
                se = _standard_error(point.test_accuracy, accuracy, test_images)
                mark = "better" if gap > SIGNIFICANT_SE * se else "worse" if gap < -SIGNIFICANT_SE * se else "same"
                parts.append(f"{method} {accuracy:.2%} ({gap * 100:+.1f}, {mark})")
            lines.append(f"{model:<22} {point.method:<20} {point.budget:.0%} {point.test_accuracy:.2%} at "
                         f"{point.latency_ms:.3f} ms vs " + "; ".join(parts))
    return lines
