"""NetAdapt vs simpler structured pruning at equal measured cost, on real CIFAR-10.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/pareto_cifar.py --data ../shared/datasets/cifar10_partial.npz --out pareto-out
    .venv/bin/python benchmarks/pareto_cifar.py --quick --out pareto-quick   # smoke version (~12 min on 2 quiet cores)

Protocol (benchmarks/README.md has the latest table and what it says):

1. Baselines trained from scratch on the data (flips + crops, BN momentum 0.9, Adam with
   cosine decay), cached by content (data bytes, recipe, versions) in --baseline-cache.
2. A lab on loopback: `netadapt serve` and three real agents (host-latency,
   host-instructions = callgrind, qemu-aarch64 --cpu cortex-a53; --no-arm drops the last).
3. Per model, per budget (fractions of the baseline's measured cost):
   - NetAdapt by latency_ms (host agent), by instructions (host, and emulated A53), by
     MACs: one run per metric to the lowest budget that lands on the higher budgets on
     the way (engine waypoints); each budget's model is that run's iteration there;
   - uniform width scaling and one-shot global L1, targeting the budget in the same
     measured-latency lookup table the NetAdapt latency run uses;
   each then gets the same long-term fine-tune (same epochs, rate, schedule); the simple
   methods first get the short-term steps NetAdapt's kept models had, so every model has
   the same number of gradient steps after pruning began.
4. Every final model is re-measured whole in one session: host latency in interleaved
   passes (A B C ... A B C ...), instruction counts on the host and the emulated A53.
5. Output: the table and verdicts on stdout, OUT/pareto_cifar.json (all points), and
   OUT/pareto_cifar.png (accuracy vs latency, and vs A53 instructions).

Running again on the same --out reuses finished NetAdapt runs and finished points (a
crash loses at most the model being fine-tuned); a different plan needs a new --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pareto_bench.baselines import DEFAULT_CACHE, data_digest, trained_baseline  # noqa: E402
from pareto_bench.plan import FULL, QUICK, Plan  # noqa: E402
from pareto_bench.points import (  # noqa: E402
    BASELINE,
    GLOBAL_L1,
    NETADAPT_INSTR_A53,
    NETADAPT_INSTR_HOST,
    NETADAPT_LATENCY,
    NETADAPT_MACS,
    UNIFORM,
    Point,
    load_point,
    points_json,
    save_point,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10_partial.npz"
# NetAdapt variants: method -> (metric, lab agent whose profile prices it; None = analytic).
NETADAPT_VARIANTS = {
    NETADAPT_LATENCY: ("latency_ms", "host-latency"),
    NETADAPT_INSTR_HOST: ("instructions", "host-instructions"),
    NETADAPT_INSTR_A53: ("instructions", "a53"),
    NETADAPT_MACS: ("macs", None),
}


def log(message: str) -> None:
    print(message, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="an .npz with x_train/y_train/x_test/y_test (32x32 RGB; default the "
                             "CIFAR-10 subset beside the repo), or 'digits' (resized to 32x32x3)")
    parser.add_argument("--out", type=Path, default=Path("pareto-cifar-out"), help="results and runs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke version: VGG only, budgets 75%%/50%%, short training")
    parser.add_argument("--no-arm", action="store_true", help="skip the emulated Cortex-A53 rows")
    parser.add_argument("--arm-dir", type=Path, default=None, help="setup-arm directory (default: its default)")
    parser.add_argument("--baseline-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=None, help="NetAdapt proposal workers (default: cores)")
    parser.add_argument("--report-only", action="store_true",
                        help="print the table and verdicts and redraw the plot from OUT/pareto_cifar.json")
    return parser.parse_args()


def print_report(points: list[Point], test_images: int, out: Path) -> None:
    from pareto_bench.report import equal_latency_verdicts, plot, table, verdicts

    plot(points, out / "pareto_cifar.png")
    log("\n" + table(points))
    log("\nNetAdapt against the better of uniform width and global L1, per budget "
        f"(test accuracy on {test_images} images; latency re-measured side by side):")
    for line in verdicts(points, test_images):
        log(line)
    log("\nAt equal measured latency: each simple method's accuracy read off its curve (its "
        "points and the baseline, linear between neighbours) at the NetAdapt model's latency; "
        "better/worse beyond 2 SE:")
    for line in equal_latency_verdicts(points, test_images):
        log(line)


def report_only(out: Path) -> int:
    path = out / "pareto_cifar.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; run the benchmark first")
    result = json.loads(path.read_text())
    print_report([Point(**p) for p in result["points"]], result["test_images"], out)
    log(f"\nfrom {path} (script took {result['script_seconds'] / 60:.1f} min); redrew {out / 'pareto_cifar.png'}")
    return 0


def data_spec(source: str) -> Any:
    from service.pruning.options import DataSpec

    # The digits are 8x8 grey: bring them to the CIFAR models' input.
    return DataSpec("digits", (32, 32), 3) if source == "digits" else DataSpec(str(Path(source).resolve()))


def check_out_dir(out: Path, settings: dict[str, Any]) -> None:
    path = out / "plan.json"
    if path.is_file() and json.loads(path.read_text()) != json.loads(json.dumps(settings)):
        raise SystemExit(f"{out} holds results of a different plan or data; pass a new --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def ensure_arm(arm_dir: Path | None) -> Path:
    from device_agent.arm.setup import default_arm_dir

    root = (arm_dir or default_arm_dir()).expanduser().resolve()
    log(f"Arm emulation: netadapt-agent setup-arm --dir {root} (cached steps are instant)")
    done = subprocess.run([sys.executable, "-m", "device_agent", "setup-arm", "--dir", str(root)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"setup-arm failed (pass --no-arm to leave out the A53 rows):\n{done.stderr[-3000:]}")
    return root


def describe_model(model: Any) -> tuple[int, int, dict[str, int]]:
    from service.surgery import analyze, count_macs

    graph = analyze(model)
    return int(count_macs(graph)), int(model.count_params()), graph.channel_config()


def finish_point(point: Point, model: Any, out: Path) -> Point:
    """Save the model (.keras, and .tflite as a device runs it) and the point."""
    from service.costs.device_export import to_device_tflite
    from service.training.export import save_keras

    finals = out / "finals"
    finals.mkdir(parents=True, exist_ok=True)
    keras_path = finals / f"{point.key}.keras"
    save_keras(model, keras_path)
    (finals / f"{point.key}.tflite").write_bytes(to_device_tflite(model))
    point.keras_path = str(keras_path)
    point.macs, point.params, point.channels = describe_model(model)
    save_point(point, out / "points")
    log(f"    -> {point.method} {'' if point.budget is None else f'at {point.budget:.0%}'}: "
        f"test accuracy {point.test_accuracy:.2%}, {point.macs / 1e6:.2f} MMACs"
        + ("" if point.wall_seconds is None else f", {point.wall_seconds:.0f} s"))
    return point


class ModelBench:
    """Everything for one baseline model."""

    def __init__(self, label: str, baseline_path: Path, spec: Any, plan: Plan, out: Path,
                 lab: Any) -> None:
        from service.pruning.data import load_run_data

        self.label, self.baseline_path, self.spec, self.plan = label, baseline_path, spec, plan
        self.out, self.lab = out, lab
        self.run_data = load_run_data(spec, plan.holdout, plan.seed)
        self.dataset = self.run_data.dataset
        self.points_dir = out / "points"
        # budget -> kept NetAdapt iterations there (the latency run's), for the simple methods
        self.kept_iterations: dict[float, int] = {}

    def _load(self, path: Path) -> Any:
        import keras

        return keras.saving.load_model(path, compile=False)

    def baseline_point(self, record: dict[str, Any]) -> Point:
        from service.training.evaluation import evaluate

        key = Point(self.label, BASELINE, None, None, "", 0.0, None).key
        point = load_point(self.points_dir, key)
        if point is None:
            model = self._load(self.baseline_path)
            accuracy = evaluate(model, self.dataset.x_test, self.dataset.y_test)
            point = finish_point(Point(self.label, BASELINE, None, None, "", float(accuracy),
                                       None if record["cached"] else record["train_seconds"],
                                       note=f"trained {record['recipe']['epochs']} epochs"),
                                 model, self.out)
        return point

    def netadapt_points(self, method: str) -> list[Point]:
        from pareto_bench.device_lab import API_TOKEN
        from pareto_bench.methods import long_term_finetune, run_netadapt, snapshot_at

        metric, agent = NETADAPT_VARIANTS[method]
        keys = {b: Point(self.label, method, b, metric, "", 0.0, None).key for b in self.plan.budgets}
        done = {b: load_point(self.points_dir, k) for b, k in keys.items()}
        if all(done.values()) and (method != NETADAPT_LATENCY or self.kept_iterations):
            return list(done.values())
        log(f"  {method}: NetAdapt by {metric}" + (f" on the {agent} profile" if agent else ""))
        run_dir = self.out / "runs" / self.label / method
        report = run_netadapt(metric=metric, baseline_path=self.baseline_path, data=self.spec,
                              plan=self.plan, run_dir=run_dir, server=self.lab.url if agent else None,
                              device=self.lab.profiles[agent] if agent else None,
                              api_token=API_TOKEN, log=log)
        points = []
        for budget in self.plan.budgets:
            snapshot = snapshot_at(report, run_dir, budget)
            kept = snapshot.iteration + 1
            if method == NETADAPT_LATENCY:
                self.kept_iterations[budget] = kept
            if done[budget] is not None:
                points.append(done[budget])
                continue
            model = self._load(snapshot.path)
            accuracy, seconds, steps = long_term_finetune(model, self.dataset, self.plan,
                                                          extra_short_steps=0, run_data=self.run_data)
            wall = None if snapshot.seconds is None else snapshot.seconds + seconds
            note = (f"iteration {kept} of {len(report['iterations'])}; run cost "
                    f"{snapshot.cost / report['summary']['baseline_cost']:.1%} of baseline {metric}")
            points.append(finish_point(
                Point(self.label, method, budget, metric, "", accuracy, wall,
                      finetune_steps=steps + kept * self.plan.short_term_steps, note=note),
                model, self.out))
        return points

    def simple_points(self, method: str) -> list[Point]:
        from pareto_bench.device_lab import API_TOKEN
        from pareto_bench.methods import long_term_finetune, simple_keep, table_cost_fn
        from service.surgery import analyze, prune

        points = []
        baseline = self._load(self.baseline_path)
        graph = analyze(baseline)
        cost_fn = None
        for budget in self.plan.budgets:
            key = Point(self.label, method, budget, "latency_ms", "", 0.0, None).key
            done = load_point(self.points_dir, key)
            if done is not None:
                points.append(done)
                continue
            if cost_fn is None:
                cost_fn = table_cost_fn(self.lab.url, API_TOKEN, self.lab.profiles["host-latency"],
                                        "latency_ms", graph)
                log(f"  {method}: one shot to the latency table's budget")
            started = time.perf_counter()
            full_cost = cost_fn(graph.channel_config())
            keep, note = simple_keep(method, baseline, graph, budget * full_cost, cost_fn,
                                     self.plan.channel_step)
            pruned = prune(baseline, keep, graph=graph)
            chosen = cost_fn({g: len(k) for g, k in keep.items()})
            selection = time.perf_counter() - started
            extra = self.kept_iterations[budget] * self.plan.short_term_steps
            accuracy, seconds, steps = long_term_finetune(pruned, self.dataset, self.plan,
                                                          extra_short_steps=extra, run_data=self.run_data)
            note = "; ".join(filter(None, [note, f"table cost {chosen / full_cost:.1%} of baseline latency"]))
            points.append(finish_point(
                Point(self.label, method, budget, "latency_ms", "", accuracy, selection + seconds,
                      finetune_steps=steps, note=note),
                pruned, self.out))
        return points


def main() -> int:
    args = parse_args()
    if args.report_only:
        return report_only(args.out)
    started = time.perf_counter()
    plan = QUICK if args.quick else FULL
    from service.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from pareto_bench.device_lab import AgentSpec, DeviceLab
    from pareto_bench.remeasure import remeasure
    from service.pruning.data import load_run_data

    spec = data_spec(args.data)
    dataset = load_run_data(spec, plan.holdout, plan.seed).dataset
    arm = not args.no_arm
    check_out_dir(args.out, {"plan": plan.to_dict(), "data": data_digest(spec.source), "arm": arm})
    log(f"data: {args.data}: {len(dataset.x_train)} train / {len(dataset.x_test)} test images "
        f"{dataset.input_shape}; {'quick' if args.quick else 'full'} plan; results in {args.out}")
    arm_dir = ensure_arm(args.arm_dir) if arm else None

    baselines = [(recipe, *trained_baseline(recipe, dataset, spec, args.baseline_cache, log))
                 for recipe in plan.models]

    agents = [AgentSpec("host-latency", "host-latency", "latency_ms"),
              AgentSpec("host-instructions", "host-instructions", "instructions")]
    methods = [NETADAPT_LATENCY, NETADAPT_INSTR_HOST, NETADAPT_MACS, UNIFORM, GLOBAL_L1]
    if arm:
        agents.append(AgentSpec("a53", "qemu-aarch64", "instructions",
                                ("--cpu", "cortex-a53", "--arm-dir", str(arm_dir))))
        methods.insert(2, NETADAPT_INSTR_A53)

    points: list[Point] = []
    with DeviceLab(args.out / "lab", tuple(agents)) as lab:
        log(f"lab: server {lab.url}, profiles {lab.profiles}")
        for recipe, path, record in baselines:
            log(f"\n== {recipe.label} ==")
            bench = ModelBench(recipe.label, path, spec, plan, args.out, lab)
            points.append(bench.baseline_point(record))
            for method in methods:
                if method in NETADAPT_VARIANTS:
                    points.extend(bench.netadapt_points(method))
                else:
                    points.extend(bench.simple_points(method))

    log("")
    finals = [Path(p.keras_path).with_suffix(".tflite") for p in points]
    remeasure(points, finals, rounds=plan.remeasure_rounds, arm_dir=arm_dir, log=log)
    seconds = time.perf_counter() - started
    (args.out / "pareto_cifar.json").write_text(points_json(points, {
        "plan": plan.to_dict(), "data": args.data, "test_images": len(dataset.y_test),
        "arm": arm, "script_seconds": seconds,
    }))
    print_report(points, len(dataset.y_test), args.out)
    log(f"\nwrote {args.out / 'pareto_cifar.json'} and {args.out / 'pareto_cifar.png'}; "
        f"whole script {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
