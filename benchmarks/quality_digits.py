"""Accuracy at equal MACs: NetAdapt vs uniform width scaling vs one-shot global L1, on digits.

    python benchmarks/quality_digits.py --out /tmp/quality_digits
    python benchmarks/quality_digits.py --budget 0.3 --settings old,new --out /tmp/quality_digits

Protocol, per (settings, budget, seed):

1. Baseline: digits_cnn trained as `netadapt zoo train digits_cnn --epochs 30` does, once,
   and cached at --baseline (default OUT/baseline.keras) for every later invocation.
2. NetAdapt: `run_offline` with metric macs, the given budget ratio and the CLI's defaults
   otherwise (channel step 8, 100 short-term steps, holdout 0.15, 10 long-term epochs at
   3e-4 with cosine decay) and this seed; with `--settings old`, the short-term settings
   that were the defaults before masked proposals (SETTINGS below). With a channel step of 8 it usually
   lands below the budget; its final MACs become the target of the other two methods.
3. Uniform width and global L1 (service/pruning/baselines.py): at most NetAdapt's final
   MACs, one channel granularity (so they can get as close to that target as possible).

Equal fine-tune budget. The fine-tune budget of a method is the number of gradient steps
that shaped its final model. For NetAdapt that is

    kept iterations x short_term_steps  +  long_term_epochs x ceil(train images / batch)

(each kept iteration's model was short-term fine-tuned from its parent; proposals that
were not kept shaped nothing and are reported separately). Uniform and global L1 get
exactly that many steps, in NetAdapt's two phases with the same optimizer and schedules:
NetAdapt's short-term trainer (same optimizer and rate, same training split minus
holdout) for kept x short_term_steps steps (one run rather than restarting the optimizer
every short_term_steps), then the same long-term `train` call NetAdapt's finalize makes
(Adam, cosine decay, whole training split). Only the choice of channels differs.

Test accuracy is on digits' 359 test images: one image is 0.28 points, so compare means
over seeds, not single runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("netadapt", "uniform", "global_l1")
# Option values that differ from today's defaults, per named settings. "old": the defaults
# before masked proposals (issue 14): a fresh Adam at 1e-3 per proposal, batch-norm
# statistics left as the fine-tune made them, every proposal fine-tuned, no per-group cap.
SETTINGS = {
    "new": {"engine": {}, "training": {}},
    "old": {
        "engine": {"prescreen": 0, "max_group_reduction": 1.0},
        "training": {"short_term_optimizer": "adam", "learning_rate": 1e-3, "batchnorm_samples": 0},
    },
    # Candidate defaults, measured against "new" before choosing them.
    "cap50": {"engine": {"max_group_reduction": 0.5}, "training": {}},
    "nocap": {"engine": {"max_group_reduction": 1.0}, "training": {}},
}
NETADAPT_TIMING_FILE = "benchmark_wall_seconds.json"


@dataclass(frozen=True)
class FinetuneBudget:
    """The gradient steps that shaped NetAdapt's final model, split by phase."""

    kept_iterations: int
    short_term_steps: int
    long_term_epochs: int
    steps_per_epoch: int

    @property
    def short_term_total(self) -> int:
        return self.kept_iterations * self.short_term_steps

    @property
    def long_term_total(self) -> int:
        return self.long_term_epochs * self.steps_per_epoch

    @property
    def total(self) -> int:
        return self.short_term_total + self.long_term_total

    def describe(self) -> str:
        return (
            f"{self.kept_iterations} kept iterations x {self.short_term_steps} short-term steps"
            f" + {self.long_term_epochs} long-term epochs x {self.steps_per_epoch} steps"
            f" = {self.total} steps"
        )


@dataclass
class MethodResult:
    budget: float
    seed: int
    method: str
    macs: int
    params: int
    test_accuracy: float
    finetune_steps: int | None
    wall_seconds: float | None
    channels: dict[str, int] = field(default_factory=dict)
    note: str = ""
    settings: str = ""  # SETTINGS name of the NetAdapt run (the simple methods follow its steps)


# -- setup ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budgets = parser.add_mutually_exclusive_group()
    budgets.add_argument("--budget", type=float, help="one MACs budget ratio, e.g. 0.5")
    budgets.add_argument("--budgets", default="0.5,0.3", help="comma-separated budget ratios")
    parser.add_argument("--seeds", default="0,1", help="comma-separated pruning/fine-tune seeds")
    parser.add_argument("--workers", type=int, default=None, help="NetAdapt workers (default: cores)")
    parser.add_argument("--out", type=Path, required=True, help="directory for runs and results")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="trained baseline .keras (default OUT/baseline.keras, trained if missing)")
    parser.add_argument("--baseline-epochs", type=int, default=30)
    parser.add_argument("--baseline-seed", type=int, default=0)
    parser.add_argument("--channel-step", type=int, default=8, help="NetAdapt's channel step")
    parser.add_argument("--short-term-steps", type=int, default=100)
    parser.add_argument("--long-term-epochs", type=int, default=10)
    parser.add_argument("--settings", default="new", help="comma-separated: " + ", ".join(SETTINGS) +
                        " (new = today's defaults; old = the defaults before masked proposals)")
    args = parser.parse_args()
    args.settings_list = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(args.settings_list) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown --settings {unknown}; use {', '.join(SETTINGS)}")
    args.budget_list = [args.budget] if args.budget is not None else _floats(args.budgets)
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.baseline = args.baseline or args.out / "baseline.keras"
    return args


def _floats(text: str) -> list[float]:
    return [float(s) for s in text.split(",") if s.strip()]


def ensure_baseline(path: Path, dataset: Any, epochs: int, seed: int) -> Any:
    """Load the cached baseline, or train one the way `netadapt zoo train` does."""
    import keras

    from service.training.export import save_keras
    from service.training.finetune import train
    from service.training.seeding import set_seeds
    from service.zoo import digits_cnn

    if path.exists():
        print(f"baseline: reusing {path}")
        return keras.saving.load_model(path, compile=False)
    set_seeds(seed)
    model = digits_cnn(input_shape=dataset.input_shape, num_classes=dataset.num_classes)
    started = time.perf_counter()
    train(model, dataset, epochs=epochs, batch_size=64, learning_rate=2e-3, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keras(model, path)
    print(f"baseline: trained {epochs} epochs in {time.perf_counter() - started:.1f} s -> {path}")
    return model


# -- the three methods ----------------------------------------------------------------------


def netadapt_run_dir(out: Path, budget: float, seed: int, settings: str) -> Path:
    # One directory per (settings, budget, seed): running the script again reuses finished runs.
    return out / f"netadapt_{settings}_b{budget:g}_s{seed}"


def run_netadapt(args: argparse.Namespace, budget: float, seed: int, settings: str) -> tuple[dict, float | None]:
    """NetAdapt's report and its wall seconds (None when a finished run dir was reused and
    its timing is unknown)."""
    from service.netadapt import NetAdaptConfig
    from service.pruning.offline_run import OfflineRunRequest, run_offline
    from service.pruning.options import DataSpec, TrainingOptions

    run_dir = netadapt_run_dir(args.out, budget, seed, settings)
    timing_file = run_dir / NETADAPT_TIMING_FILE
    overrides = SETTINGS[settings]
    request = OfflineRunRequest(
        model_path=args.baseline,
        data=DataSpec(args.data),
        metric="macs",
        engine=NetAdaptConfig(budget=budget, channel_step=args.channel_step, **overrides["engine"]),
        out_dir=run_dir,
        options=TrainingOptions(
            short_term_steps=args.short_term_steps,
            long_term_epochs=args.long_term_epochs,
            seed=seed,
            **overrides["training"],
        ),
        workers=args.workers,
    )

    def show(event: dict[str, Any]) -> None:
        if event["event"] == "iteration_finished":
            share = event["cost"] / baseline_cost[0] if baseline_cost else float("nan")
            print(f"    iteration {event['iteration']}: kept {event['kept_group']}, "
                  f"{share:.1%} of baseline MACs", file=console, flush=True)
        elif event["event"] == "baseline_measured":
            baseline_cost.append(event["cost"])

    baseline_cost: list[float] = []
    console = sys.stdout
    started = time.perf_counter()
    # The final TFLite export prints the traced signature (dozens of lines) to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        report = run_offline(request, progress=show)
    seconds = time.perf_counter() - started
    if timing_file.exists():  # a finished run was reused: report the time it took then
        return report, json.loads(timing_file.read_text()).get("wall_seconds")
    if baseline_cost:  # this call ran the whole run (not a resumed partial one)
        timing_file.write_text(json.dumps({"wall_seconds": seconds}))
        return report, seconds
    return report, None


def netadapt_finetune_budget(report: dict, dataset: Any) -> FinetuneBudget:
    options = report["settings"]["options"]
    return FinetuneBudget(
        kept_iterations=len(report["iterations"]),
        short_term_steps=options["short_term_steps"],
        long_term_epochs=options["long_term_epochs"],
        steps_per_epoch=math.ceil(len(dataset.x_train) / options["batch_size"]),
    )


def finetune_like_netadapt(model: Any, args: argparse.Namespace, options: Any,
                           budget: FinetuneBudget, dataset: Any) -> float:
    """Train `model` in place with NetAdapt's two phases, step counts and `options` (the
    TrainingOptions of its run); return the test accuracy."""
    from service.pruning.options import DataSpec
    from service.pruning.proposal_worker import ProposalContext, build_trainer
    from service.training.evaluation import evaluate
    from service.training.finetune import train

    if budget.short_term_total > 0:
        # NetAdapt's short-term trainer on the very split its proposals drew from (same
        # optimizer and rate), for as many steps as NetAdapt's kept models had in all.
        context = ProposalContext(str(args.out), DataSpec(args.data), options)
        build_trainer(model, context, masked=False).run(None, options.seed, steps=budget.short_term_total)
    if budget.long_term_epochs > 0:
        return train(model, dataset, epochs=budget.long_term_epochs,
                     batch_size=options.batch_size,
                     learning_rate=options.long_term_learning_rate, seed=options.seed,
                     augment=options.augment).test_accuracy
    return evaluate(model, dataset.x_test, dataset.y_test)


def run_one_shot(method: str, baseline: Any, graph: Any, target_macs: float,
                 args: argparse.Namespace, options: Any, budget: FinetuneBudget,
                 dataset: Any) -> tuple[Any, float, str]:
    """Prune `baseline` with a one-shot method to <= target_macs and fine-tune it; return
    (pruned model, test accuracy, note)."""
    from service.pruning.baselines import global_l1_keep, uniform_width_keep
    from service.surgery import count_macs, prune

    def macs(counts: dict[str, int]) -> float:
        return float(count_macs(graph, counts))

    if method == "uniform":
        keep, width = uniform_width_keep(baseline, graph, target_macs, macs)
        note = f"width factor {width:.4f}"
    else:
        keep, note = global_l1_keep(baseline, graph, target_macs, macs), ""
    pruned = prune(baseline, keep, graph=graph)
    accuracy = finetune_like_netadapt(pruned, args, options, budget, dataset)
    return pruned, accuracy, note


def measured(model: Any) -> tuple[int, int, dict[str, int]]:
    """MACs, parameters and per-group channels of the actual model."""
    from service.surgery import analyze, count_macs

    graph = analyze(model)
    return count_macs(graph), int(model.count_params()), graph.channel_config()


def compare_at_budget(args: argparse.Namespace, budget: float, seed: int, settings: str,
                      baseline: Any, graph: Any, dataset: Any) -> list[MethodResult]:
    import keras

    from service.pruning.options import TrainingOptions

    print(f"\nbudget {budget:g}, seed {seed}, {settings} settings: NetAdapt", flush=True)
    report, seconds = run_netadapt(args, budget, seed, settings)
    ft_budget = netadapt_finetune_budget(report, dataset)
    options = TrainingOptions.from_dict(report["settings"]["options"])
    summary = report["summary"]
    run_dir = netadapt_run_dir(args.out, budget, seed, settings)
    final = keras.saving.load_model(run_dir / summary["final_model"], compile=False)
    macs, params, channels = measured(final)
    proposals = sum(len(it["proposals"]) for it in report["iterations"])
    print(f"  fine-tune budget: {ft_budget.describe()}")
    print(f"  (NetAdapt fine-tuned {proposals} proposals in all: "
          f"{proposals * ft_budget.short_term_steps + ft_budget.long_term_total} steps)")
    results = [MethodResult(budget, seed, "netadapt", macs, params, summary["test_accuracy"],
                            ft_budget.total, seconds, channels,
                            f"{summary['iterations']} iterations, {summary['stop_reason']}", settings)]
    for method in METHODS[1:]:
        print(f"  {method} to <= {macs:,} MACs", flush=True)
        started = time.perf_counter()
        pruned, accuracy, note = run_one_shot(method, baseline, graph, macs, args, options,
                                              ft_budget, dataset)
        seconds = time.perf_counter() - started
        p_macs, p_params, p_channels = measured(pruned)
        results.append(MethodResult(budget, seed, method, p_macs, p_params, accuracy,
                                    ft_budget.total, seconds, p_channels, note, settings))
    return results


# -- report ---------------------------------------------------------------------------------


HEADER = (f"{'seed':>4}  {'method':<10} {'MACs':>10} {'% base':>7} {'params':>8} "
          f"{'test acc':>9} {'ft steps':>8} {'wall s':>7}")


def _row(seed: str, result: MethodResult, base_macs: int) -> str:
    steps = "-" if result.finetune_steps is None else str(result.finetune_steps)
    wall = "-" if result.wall_seconds is None else f"{result.wall_seconds:.1f}"
    return (f"{seed:>4}  {result.method:<10} {result.macs:>10,} {result.macs / base_macs:>7.1%} "
            f"{result.params:>8,} {result.test_accuracy:>9.2%} {steps:>8} {wall:>7}")


def print_budget_table(budget: float, baseline: MethodResult, results: list[MethodResult],
                       test_images: int) -> None:
    base = baseline.macs
    print(f"\n=== budget {budget:g} x baseline MACs (uniform and global L1 target the MACs "
          "NetAdapt reached, same fine-tune steps) ===")
    print(HEADER)
    print(_row("-", baseline, base))
    for result in results:
        print(_row(str(result.seed), result, base))
    for result in results:
        channels = ", ".join(f"{g} {n}" for g, n in result.channels.items())
        extra = f"; {result.note}" if result.note else ""
        print(f"  seed {result.seed} {result.method:<10} channels: {channels}{extra}")

    seeds = sorted({r.seed for r in results})
    print(f"\nmean over seeds {','.join(map(str, seeds))}:")
    print(f"{'method':<10} {'MACs':>10} {'% base':>7} {'params':>8} {'test acc':>9} "
          f"{'sd':>6} {'min':>7} {'max':>7} {'ft steps':>8} {'wall s':>7}")
    means: dict[str, float] = {}
    for method in METHODS:
        rows = [r for r in results if r.method == method]
        accs = [r.test_accuracy for r in rows]
        means[method] = statistics.fmean(accs)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        walls = [r.wall_seconds for r in rows if r.wall_seconds is not None]
        wall = f"{statistics.fmean(walls):.1f}" if walls else "-"
        mac = statistics.fmean(r.macs for r in rows)
        print(f"{method:<10} {mac:>10,.0f} {mac / base:>7.1%} "
              f"{statistics.fmean(r.params for r in rows):>8,.0f} {means[method]:>9.2%} "
              f"{sd:>6.2%} {min(accs):>7.2%} {max(accs):>7.2%} "
              f"{statistics.fmean(r.finetune_steps for r in rows):>8.0f} {wall:>7}")
    ranked = sorted(means, key=means.get, reverse=True)
    best, runner_up = ranked[0], ranked[1]
    gap_images = (means[best] - means[runner_up]) * test_images
    if gap_images < 1e-9:
        verdict = f"tie between {best} and {runner_up} at {means[best]:.2%}"
    else:
        verdict = (f"{best} at {means[best]:.2%}, ahead of {runner_up} ({means[runner_up]:.2%}) "
                   f"by {gap_images:.1f} of {test_images} test images on average")
    print(f"most accurate at budget {budget:g} (mean test accuracy over {len(seeds)} seed(s)): "
          f"{verdict}; baseline {baseline.test_accuracy:.2%}")


def main() -> None:
    args = parse_args()
    from service.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from service.surgery import analyze
    from service.training.datasets import load_dataset
    from service.training.evaluation import evaluate

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.data)
    baseline = ensure_baseline(args.baseline, dataset, args.baseline_epochs, args.baseline_seed)
    graph = analyze(baseline)
    macs, params, channels = measured(baseline)
    baseline_row = MethodResult(0.0, args.baseline_seed, "baseline", macs, params,
                                evaluate(baseline, dataset.x_test, dataset.y_test), None, None,
                                channels)
    by_budget: dict[tuple[str, float], list[MethodResult]] = {}
    for settings in args.settings_list:
        for budget in args.budget_list:
            for seed in args.seed_list:
                by_budget.setdefault((settings, budget), []).extend(
                    compare_at_budget(args, budget, seed, settings, baseline, graph, dataset))

    for (settings, budget), results in by_budget.items():
        print(f"\n##### {settings} settings")
        print_budget_table(budget, baseline_row, results, len(dataset.y_test))
    rows = [asdict(baseline_row)] + [asdict(r) for rs in by_budget.values() for r in rs]
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {args.out / 'results.json'}; whole script {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
