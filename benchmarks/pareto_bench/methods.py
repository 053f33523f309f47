"""The ways of producing a smaller model at a budget, and the fine-tunes they share.

NetAdapt runs through `service.pruning.offline_run.run_offline`, exactly as
`netadapt prune` does, against the lab's server for measured metrics, with the service's
default settings except the plan's overrides (pareto_bench.plan).

Uniform width and one-shot global L1 come from `service.pruning.baselines`, searched by
*whole-model measurement*: their cost function prunes the baseline to the configuration
asked about and has the lab's host-latency agent measure it whole (a model job, as
NetAdapt's kept models are measured). Uniform width bisects its single width factor on
those measurements; global L1 bisects the length of its one global removal order (the
channels of lowest mean-normalised L1 first). Both return a configuration that measured at
or under the budget, the largest such one the bisection met, so neither undershoots the
way aiming through the lookup table did (by up to 30 points of latency), and neither is
changed from what the method itself would remove.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from pareto_bench.plan import Plan

Log = Callable[[str], None]
TIMING_FILE = "benchmark_timing.json"


@dataclass(frozen=True)
class Snapshot:
    """NetAdapt's model at one budget: the iteration that landed on it."""

    iteration: int  # 0-based position in the run's iterations
    path: Path
    cost: float  # the run's measured cost of that model
    seconds: float | None  # run time until that iteration finished (None: unknown)


def netadapt_config(plan: Plan) -> Any:
    """The engine's defaults, with the plan's overrides (None = keep the default)."""
    from service.netadapt import NetAdaptConfig

    lowest = min(plan.budgets)
    overrides = {
        name: value
        for name, value in (
            ("init_reduction_ratio", plan.init_reduction_ratio),
            ("decay", plan.decay),
            ("prescreen", plan.prescreen),
            ("max_group_reduction", plan.max_group_reduction),
        )
        if value is not None
    }
    return NetAdaptConfig(budget=lowest, waypoints=tuple(b for b in plan.budgets if b != lowest),
                          max_iterations=200, **overrides)


def training_options(plan: Plan, seed: int) -> Any:
    """TrainingOptions' defaults (optimizer, rate, steps, BN re-estimation), except the plan's
    overrides (None = the default) and:
    augmentation on (the baselines were trained with it, and every fine-tune here uses
    it), no long-term fine-tune inside the run (the benchmark gives every method's model
    the same one), and the run's seed."""
    from service.pruning.options import TrainingOptions

    extra = {name: value for name, value in (("short_term_steps", plan.short_term_steps),
                                             ("holdout", plan.holdout)) if value is not None}
    return TrainingOptions(long_term_epochs=0, augment=True, seed=seed, **extra)


def run_netadapt(*, metric: str, baseline_path: Path, data: Any, plan: Plan, seed: int, run_dir: Path,
                 server: str | None, device: str | None, api_token: str, log: Log) -> dict[str, Any]:
    """Run (or resume, or reuse) one NetAdapt run to the lowest budget; its report, with
    `benchmark_seconds` = {iteration index: run seconds when it finished} added."""
    from service.pruning.offline_run import OfflineRunRequest, run_offline

    timing_path = run_dir / TIMING_FILE
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"elapsed": 0.0, "iterations": {}}
    started = time.perf_counter()
    before = float(timing["elapsed"])
    engine = netadapt_config(plan)

    def progress(event: dict[str, Any]) -> None:
        elapsed = before + time.perf_counter() - started
        if event["event"] == "iteration_finished":
            # The budget is a ratio of the baseline cost, so every event carries the baseline
            # (a resumed run's baseline_measured event came before this process started).
            share = event["cost"] * engine.budget / event["budget_cost"]
            log(f"    iteration {event['iteration']}: pruned {event['kept_group']}, cost {share:.1%} "
                f"of baseline, holdout {event['holdout_accuracy']:.2%}, {elapsed:.0f} s")
            timing["iterations"][str(event["iteration"])] = elapsed
            timing["elapsed"] = elapsed
            if run_dir.is_dir():
                timing_path.write_text(json.dumps(timing))

    request = OfflineRunRequest(
        model_path=baseline_path, data=data, metric=metric, engine=engine,
        out_dir=run_dir, options=training_options(plan, seed), workers=plan.workers,
        server=server, device=device, api_token=api_token,
    )
    report = run_offline(request, progress=progress)
    timing["elapsed"] = before + time.perf_counter() - started
    timing_path.write_text(json.dumps(timing))
    report["benchmark_seconds"] = timing["iterations"]
    return report


def snapshot_at(report: dict[str, Any], run_dir: Path, budget: float) -> Snapshot:
    """The first iteration whose kept model costs at most `budget` x the baseline cost, by
    the run's own measurement: where a run to that budget would have stopped (the engine
    keeps aiming at a waypoint until a kept model's measured cost is under it)."""
    from service.pruning.run_layout import iteration_artifact

    wanted = budget * report["summary"]["baseline_cost"]
    for position, iteration in enumerate(report["iterations"]):
        if iteration["kept"]["cost"] <= wanted * (1 + 1e-9):
            seconds = report.get("benchmark_seconds", {}).get(str(iteration["index"]))
            return Snapshot(position, run_dir / iteration_artifact(iteration["index"]),
                            float(iteration["kept"]["cost"]), seconds)
    raise RuntimeError(f"the run in {run_dir} never reached {budget:g} of its baseline cost "
                       f"(stop reason: {report['summary']['stop_reason']})")


class MeasuredConfigurations:
    """cost_fn(counts) for the simple methods: the baseline cut to `counts` channels per
    group (each group keeping its highest-L1 channels, which is what both uniform width and
    a prefix of global L1's removal order keep) and measured whole by `measure`.

    Memoised across methods and budgets: a configuration is measured once."""

    def __init__(self, baseline: Any, graph: Any, measure: Callable[[Any], float], log: Log) -> None:
        from service.surgery import channel_saliency

        self.baseline, self.graph, self.measure, self.log = baseline, graph, measure, log
        self.scores = channel_saliency(baseline, "l1", graph=graph)
        self.seen: dict[tuple[tuple[str, int], ...], float] = {}
        self.seconds = 0.0

    def keep(self, counts: Mapping[str, int]) -> dict[str, list[int]]:
        from service.netadapt.saliency import choose_kept_channels

        return {g: list(choose_kept_channels(self.scores[g], int(n))) for g, n in counts.items()}

    def model(self, counts: Mapping[str, int]) -> Any:
        from service.surgery import prune

        full = self.graph.channel_config()
        if all(int(counts[g]) == c for g, c in full.items()):
            return self.baseline
        return prune(self.baseline, self.keep(counts), graph=self.graph)

    def __call__(self, counts: Mapping[str, int]) -> float:
        key = tuple(sorted((g, int(n)) for g, n in counts.items()))
        if key not in self.seen:
            started = time.perf_counter()
            self.seen[key] = float(self.measure(self.model(dict(key))))
            self.seconds += time.perf_counter() - started
        return self.seen[key]


@dataclass(frozen=True)
class Selection:
    counts: dict[str, int]
    cost: float  # measured whole
    baseline_cost: float
    note: str


def select_simple(method: str, configurations: MeasuredConfigurations, budget: float,
                  channel_step: int) -> Selection:
    """Uniform width or global L1 at `budget` x the baseline's measured cost."""
    from pareto_bench.points import UNIFORM
    from service.pruning.baselines import global_l1_keep, kept_counts, uniform_width_keep

    full = configurations.graph.channel_config()
    baseline_cost = configurations(full)
    target = budget * baseline_cost
    before = len(configurations.seen)
    if method == UNIFORM:
        # The same channel granularity NetAdapt prunes with.
        keep, width = uniform_width_keep(configurations.baseline, configurations.graph, target,
                                         configurations, channel_step=channel_step)
        note = f"width factor {width:.3f}"
    else:
        keep = global_l1_keep(configurations.baseline, configurations.graph, target, configurations)
        note = "global L1"
    counts = kept_counts(keep)
    cost = configurations(counts)
    note += (f"; measured {cost / baseline_cost:.1%} of the baseline's latency "
             f"({len(configurations.seen) - before} new whole-model measurements)")
    return Selection(counts, cost, baseline_cost, note)


def even_out_short_term(model: Any, data: Any, options: Any, steps: int) -> None:
    """Give a model that did not go through NetAdapt the short-term fine-tune steps
    NetAdapt's kept models had, the same way (the short-term trainer, optimizer, rate,
    batches and augmentation of the run's options), in place."""
    from service.pruning.proposal_worker import ProposalContext, build_trainer

    if steps <= 0:
        return
    trainer = build_trainer(model, ProposalContext("", data, options), masked=False)
    trainer.finetune(options.seed, steps)


def long_term_finetune(model: Any, dataset: Any, plan: Plan) -> tuple[float, int]:
    """The long-term fine-tune every method's model gets: (seconds, gradient steps)."""
    from service.training.finetune import train

    # train() also reports test accuracy by eager batches (30-60 s for 10,000 images on
    # this machine); the benchmark scores the test set itself, per image and compiled
    # (pareto_bench.scoring), so train() gets a one-image test split.
    quiet = replace(dataset, x_test=dataset.x_test[:1], y_test=dataset.y_test[:1])
    summary = train(model, quiet, epochs=plan.long_term_epochs, batch_size=plan.batch_size,
                    learning_rate=plan.long_term_learning_rate, seed=plan.seed, augment=True)
    steps = plan.long_term_epochs * math.ceil(len(dataset.x_train) / plan.batch_size)
    return summary.seconds, steps
