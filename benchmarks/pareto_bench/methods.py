"""The ways of producing a smaller model at a budget, and the long-term fine-tune they share.

NetAdapt runs through `service.pruning.offline_run.run_offline`, exactly as
`netadapt prune` does, against the lab's server for measured metrics. Uniform width and
one-shot global L1 come from `service.pruning.baselines`, with their target priced by the
same lookup table the NetAdapt latency run uses (the host-latency profile).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
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
    from service.netadapt import NetAdaptConfig

    lowest = min(plan.budgets)
    return NetAdaptConfig(
        budget=lowest,
        waypoints=tuple(b for b in plan.budgets if b != lowest),
        init_reduction_ratio=plan.init_reduction_ratio,
        decay=plan.decay,
        channel_step=plan.channel_step,
        max_iterations=100,
    )


def training_options(plan: Plan) -> Any:
    from service.pruning.options import TrainingOptions

    # long_term_epochs=0: the run stops at its last iteration; the benchmark gives every
    # budget's model (and every other method's) the same long-term fine-tune itself.
    return TrainingOptions(
        short_term_steps=plan.short_term_steps, batch_size=plan.batch_size,
        learning_rate=plan.short_term_learning_rate, holdout=plan.holdout, long_term_epochs=0,
        long_term_learning_rate=plan.long_term_learning_rate, augment=True, seed=plan.seed,
    )


def run_netadapt(*, metric: str, baseline_path: Path, data: Any, plan: Plan, run_dir: Path,
                 server: str | None, device: str | None, api_token: str, log: Log) -> dict[str, Any]:
    """Run (or resume, or reuse) one NetAdapt run to the lowest budget; its report, with
    `benchmark_seconds` = {iteration index: run seconds when it finished} added."""
    from service.pruning.offline_run import OfflineRunRequest, run_offline

    timing_path = run_dir / TIMING_FILE
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"elapsed": 0.0, "iterations": {}}
    started = time.perf_counter()
    before = float(timing["elapsed"])
    baseline_cost: list[float] = []

    def progress(event: dict[str, Any]) -> None:
        elapsed = before + time.perf_counter() - started
        if event["event"] == "baseline_measured":
            baseline_cost.append(event["cost"])
        elif event["event"] == "iteration_finished":
            share = event["cost"] / baseline_cost[0] if baseline_cost else float("nan")
            log(f"    iteration {event['iteration']}: pruned {event['kept_group']}, cost {share:.1%} "
                f"of baseline, holdout {event['holdout_accuracy']:.2%}, {elapsed:.0f} s")
            timing["iterations"][str(event["iteration"])] = elapsed
            timing["elapsed"] = elapsed
            if run_dir.is_dir():
                timing_path.write_text(json.dumps(timing))

    request = OfflineRunRequest(
        model_path=baseline_path, data=data, metric=metric, engine=netadapt_config(plan),
        out_dir=run_dir, options=training_options(plan), workers=plan.workers,
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


def table_cost_fn(server: str, api_token: str, profile: str, metric: str, graph: Any) -> Callable:
    """cost_fn(counts) for the simple methods: the calibrated lookup-table sum the NetAdapt
    run of the same metric uses (missing entries are measured by the lab's agent)."""
    from service.costs.keras_signatures import signature_fn
    from service.costs.measured import MeasuredEstimator
    from service.tables_client import TablesClient

    client = TablesClient(server, api_token)

    def no_export(ref: str) -> bytes:
        raise AssertionError("the simple methods never measure a whole model through the estimator")

    estimator = MeasuredEstimator(signature_fn(graph, "float32"), client, profile, metric, no_export)
    return lambda counts: estimator.costs([counts])[0]


def simple_keep(method: str, baseline: Any, graph: Any, target: float, cost_fn: Callable,
                channel_step: int) -> tuple[dict[str, list[int]], str]:
    """Keep mapping of uniform width scaling or one-shot global L1 at cost <= target."""
    from pareto_bench.points import UNIFORM
    from service.pruning.baselines import global_l1_keep, uniform_width_keep

    if method == UNIFORM:
        # The same channel granularity NetAdapt prunes with.
        keep, width = uniform_width_keep(baseline, graph, target, cost_fn, channel_step=channel_step)
        return keep, f"width factor {width:.3f}"
    return global_l1_keep(baseline, graph, target, cost_fn), ""


def long_term_finetune(model: Any, dataset: Any, plan: Plan, *, extra_short_steps: int,
                       run_data: Any) -> tuple[float, float, int]:
    """The fine-tune every method's model gets: (test accuracy, seconds, gradient steps).

    `extra_short_steps` evens out the gradient steps for models that did not go through
    NetAdapt's short-term fine-tunes (NetAdapt's kept models had kept_iterations x
    short_term_steps of them, on the training split minus the holdout, at the short-term
    rate): the simple methods get as many, the same way, before the common long-term
    fine-tune."""
    import math

    from service.training.finetune import finetune, train

    started = time.perf_counter()
    if extra_short_steps:
        finetune(model, run_data.x_train, run_data.y_train, steps=extra_short_steps,
                 batch_size=plan.batch_size, learning_rate=plan.short_term_learning_rate,
                 seed=plan.seed, augment=True)
    summary = train(model, dataset, epochs=plan.long_term_epochs, batch_size=plan.batch_size,
                    learning_rate=plan.long_term_learning_rate, seed=plan.seed, augment=True)
    steps = extra_short_steps + plan.long_term_epochs * math.ceil(len(dataset.x_train) / plan.batch_size)
    return float(summary.test_accuracy), time.perf_counter() - started, steps
