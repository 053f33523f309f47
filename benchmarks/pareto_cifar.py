"""NetAdapt vs simpler structured pruning at equal measured cost, on CIFAR-10.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/pareto_cifar.py --model vgg --out pareto-full           # full CIFAR-10
    .venv/bin/python benchmarks/pareto_cifar.py --model mobilenet_v1 --out pareto-full  # same --out
    .venv/bin/python benchmarks/pareto_cifar.py --quick --out pareto-quick              # CI smoke (digits)

Protocol (benchmarks/README.md has the latest table and what it says):

1. Data: by default the whole of CIFAR-10 (../shared/datasets/cifar10-jpeg.tar.xz, 50,000
   train and the official 10,000 test images), unpacked and decoded once into a cached
   .npz (pareto_bench.data); `--train-images N` trains on a stratified subset instead.
   Every accuracy is on the whole test split; NetAdapt's holdout comes from the training
   split.
2. Baselines trained from scratch on the training split (flips + crops, Adam with cosine
   decay), cached by content in --baseline-cache.
3. A lab on loopback: `netadapt serve` and three real agents (host-latency,
   host-instructions = callgrind, qemu-aarch64 --cpu cortex-a53; --no-arm drops the last).
4. Per model, per budget (fractions of the baseline's measured cost):
   - NetAdapt by latency_ms (host agent), by instructions (host, and emulated A53), by
     MACs, with the service's default settings except the plan's overrides (steps of 5%
     of the baseline cost, prescreen K): one run per metric to the lowest budget that
     lands on the higher budgets on the way (engine waypoints); each budget's model is
     that run's first iteration measured within it. The latency run again with a second
     seed.
   - uniform width scaling and one-shot global L1, each searched by whole-model
     measurement on the host-latency agent (bisection on the width factor / on the length
     of the global removal order) to the largest model measured at or under the budget.
   The simple methods then get the short-term steps NetAdapt's kept models had (kept
   iterations x short-term steps, the same trainer and settings), so every model has had
   the same number of gradient steps since pruning began; then every model gets the same
   long-term fine-tune on the whole training split.
5. Every final model is scored on every test image (kept per image, packed, in the JSON)
   and re-measured whole in one session: host latency in interleaved passes (A B C ...
   A B C ...), instruction counts on the host and the emulated A53.
6. Output: the table, paired verdicts (95% paired bootstrap interval and McNemar's test
   beside every accuracy difference), the headline rows; OUT/pareto_cifar.json (all
   points of every model run into OUT so far) and OUT/pareto_cifar.png.

Running again on the same --out reuses finished NetAdapt runs and finished points (a
crash loses at most the model being fine-tuned); a different plan or data needs a new --out.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pareto_bench.baselines import DEFAULT_CACHE, data_digest, trained_baseline  # noqa: E402
from pareto_bench.data import DEFAULT_DATA_CACHE, prepare_data  # noqa: E402
from pareto_bench.plan import FULL, QUICK, Plan, check_out_dir  # noqa: E402
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
    point_from_dict,
    points_json,
    save_point,
    seeded,
)

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
FULL_DATA = DATASETS / "cifar10-jpeg.tar.xz"
# NetAdapt variants: method -> (metric, lab agent whose profile prices it; None = analytic).
NETADAPT_VARIANTS = {
    NETADAPT_LATENCY: ("latency_ms", "host-latency"),
    NETADAPT_INSTR_HOST: ("instructions", "host-instructions"),
    NETADAPT_INSTR_A53: ("instructions", "a53"),
    NETADAPT_MACS: ("macs", None),
}
RESULT = "pareto_cifar"


STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress, stamped with the minutes since the script started (where the time went)."""
    print(f"[{(time.monotonic() - STARTED) / 60:6.1f} min] {message}", flush=True)


def say(message: str) -> None:
    """The report: plain lines."""
    print(message, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="the whole of CIFAR-10 as a tar of image folders (default "
                             f"{FULL_DATA}; --quick: digits), an "
                             "image folder DIR/train/<class>/*, DIR/test/<class>/*, an .npz with "
                             "x_train/y_train/x_test/y_test, or 'digits' (resized to 32x32x3)")
    parser.add_argument("--train-images", type=int, default=None,
                        help="train on a stratified subset of this many training images (default: all)")
    parser.add_argument("--model", default=None,
                        help="only this model of the plan (vgg or mobilenet_v1; default: every one)")
    parser.add_argument("--out", type=Path, default=Path("pareto-cifar-out"), help="results and runs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke version: the digits CNN on digits, budgets 75%%/50%%, short training")
    parser.add_argument("--no-arm", action="store_true", help="skip the emulated Cortex-A53 rows")
    parser.add_argument("--arm-dir", type=Path, default=None, help="setup-arm directory (default: its default)")
    parser.add_argument("--baseline-cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--data-cache", type=Path, default=DEFAULT_DATA_CACHE,
                        help="where decoded datasets are kept")
    parser.add_argument("--workers", type=int, default=None, help="NetAdapt proposal workers (default: cores)")
    parser.add_argument("--netadapt", default=None,
                        help="only these NetAdapt variants, comma-separated (default: the plan's, "
                             f"{', '.join(NETADAPT_VARIANTS)}); the latency one always runs")
    parser.add_argument("--seeds", default=None,
                        help="the NetAdapt latency run's seeds, comma-separated (default: the plan's)")
    parser.add_argument("--report-only", action="store_true",
                        help=f"print the table and verdicts and redraw the plot from OUT/{RESULT}.json")
    return parser.parse_args()


def print_report(points: list[Point], resamples: int, out: Path) -> None:
    from pareto_bench.report import headline, plot, table, verdicts

    plot(points, out / f"{RESULT}.png")
    images = sorted({p.test_images for p in points})
    say("\n" + table(points, resamples))
    say(f"\nPaired comparisons on the same {', '.join(f'{n:,}' for n in images)} test images: accuracy "
        "difference in points [95% paired bootstrap interval], McNemar's exact p; a win or loss "
        "only when the interval excludes 0. Latency: median ratio of paired interleaved passes.")
    for line in verdicts(points, resamples):
        say(line)
    say("\nHeadline:")
    for line in headline(points, resamples):
        say(line)


def report_only(out: Path) -> int:
    path = out / f"{RESULT}.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; run the benchmark first")
    result = json.loads(path.read_text())
    print_report([point_from_dict(p) for p in result["points"]], result["plan"]["bootstrap_resamples"], out)
    say(f"\nfrom {path}; redrew {out / f'{RESULT}.png'}")
    return 0


def data_spec(source: str, plan: Plan) -> Any:
    from service.pruning.options import DataSpec

    if source == "digits" and plan.digits_at_cifar_size:
        # The digits are 8x8 grey: bring them to the CIFAR models' input.
        return DataSpec("digits", (32, 32), 3)
    return DataSpec(source)


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


class Stopwatch:
    """Seconds spent on one model across invocations (a resumed run adds to it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.before = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.started

    def save(self) -> None:
        self.path.write_text(json.dumps({"seconds": self.seconds}))


class ModelBench:
    """Everything for one baseline model."""

    def __init__(self, label: str, baseline_path: Path, spec: Any, plan: Plan, out: Path,
                 lab: Any, arm: bool) -> None:
        from pareto_bench.methods import training_options
        from service.pruning.data import load_run_data

        self.label, self.baseline_path, self.spec, self.plan = label, baseline_path, spec, plan
        self.out, self.lab, self.arm = out, lab, arm
        self.options = training_options(plan, plan.seed)
        self.dataset = load_run_data(spec, self.options.holdout, self.options.seed).dataset
        self.points_dir = out / "points"

    def _load(self, path: Path) -> Any:
        import keras

        return keras.saving.load_model(path, compile=False)

    def _key(self, method: str, budget: float | None) -> str:
        return Point(self.label, method, budget, None, "", 0.0, None).key

    def finish_point(self, point: Point, model: Any) -> Point:
        """Score on every test image; save the model (.keras, and .tflite as a device runs
        it) and the point."""
        from pareto_bench.scoring import pack, test_correctness
        from service.costs.device_export import to_device_tflite
        from service.training.export import save_keras

        correct = test_correctness(model, self.dataset.x_test, self.dataset.y_test)
        point.test_accuracy = float(correct.mean())
        point.test_images = int(correct.size)
        point.test_correct = pack(correct)
        finals = self.out / "finals"
        finals.mkdir(parents=True, exist_ok=True)
        keras_path = finals / f"{point.key}.keras"
        save_keras(model, keras_path)
        (finals / f"{point.key}.tflite").write_bytes(to_device_tflite(model))
        point.keras_path = str(keras_path)
        point.macs, point.params, point.channels = describe_model(model)
        save_point(point, self.points_dir)
        log(f"    -> {point.method} {'' if point.budget is None else f'at {point.budget:.0%}'}: "
            f"test accuracy {point.test_accuracy:.2%} on {point.test_images} images, "
            f"{point.macs / 1e6:.2f} MMACs" + ("" if point.wall_seconds is None else f", {point.wall_seconds:.0f} s"))
        return point

    def baseline_point(self, record: dict[str, Any]) -> Point:
        point = load_point(self.points_dir, self._key(BASELINE, None))
        if point is None:
            point = self.finish_point(
                Point(self.label, BASELINE, None, None, "", 0.0,
                      None if record["cached"] else record["train_seconds"],
                      note=f"trained {record['recipe']['epochs']} epochs on "
                           f"{len(self.dataset.y_train)} images; selected_cost_share is 1 by definition",
                      selected_cost_share=1.0),
                self._load(self.baseline_path))
        return point

    def netadapt_points(self, variant: str, seed: int) -> list[Point]:
        from pareto_bench.device_lab import API_TOKEN
        from pareto_bench.methods import long_term_finetune, run_netadapt, snapshot_at

        metric, agent = NETADAPT_VARIANTS[variant]
        method = seeded(variant, seed, self.plan.netadapt_seeds[0])
        done = {b: load_point(self.points_dir, self._key(method, b)) for b in self.plan.budgets}
        if all(done.values()):
            return list(done.values())
        log(f"  {method}: NetAdapt by {metric}" + (f" on the {agent} profile" if agent else "")
            + f", seed {seed}")
        run_dir = self.out / "runs" / self.label / method
        report = run_netadapt(metric=metric, baseline_path=self.baseline_path, data=self.spec,
                              plan=self.plan, seed=seed, run_dir=run_dir,
                              server=self.lab.url if agent else None,
                              device=self.lab.profiles[agent] if agent else None,
                              api_token=API_TOKEN, log=log)
        points = []
        for budget in self.plan.budgets:
            if done[budget] is not None:
                points.append(done[budget])
                continue
            snapshot = snapshot_at(report, run_dir, budget)
            kept = snapshot.iteration + 1
            model = self._load(snapshot.path)
            seconds, steps = long_term_finetune(model, self.dataset, self.plan)
            wall = None if snapshot.seconds is None else snapshot.seconds + seconds
            share = snapshot.cost / report["summary"]["baseline_cost"]
            note = (f"iteration {kept} of {len(report['iterations'])}; run cost {share:.1%} of "
                    f"baseline {metric}")
            points.append(self.finish_point(
                Point(self.label, method, budget, metric, "", 0.0, wall,
                      finetune_steps=steps + kept * self.options.short_term_steps, note=note,
                      selected_cost_share=share, netadapt_iterations=kept),
                model))
        return points

    def simple_points(self, method: str, configurations: Any) -> list[Point]:
        from pareto_bench.methods import (
            even_out_short_term,
            long_term_finetune,
            select_simple,
        )

        points = []
        for budget in self.plan.budgets:
            done = load_point(self.points_dir, self._key(method, budget))
            if done is not None:
                points.append(done)
                continue
            netadapt = load_point(self.points_dir, self._key(NETADAPT_LATENCY, budget))
            started = time.perf_counter()
            log(f"  {method} at {budget:.0%}: searching by whole-model latency measurement")
            selection = select_simple(method, configurations, budget, netadapt_config_step(self.plan))
            model = configurations.model(selection.counts)
            extra = netadapt.netadapt_iterations * self.options.short_term_steps
            even_out_short_term(model, self.spec, self.options, extra)
            seconds, steps = long_term_finetune(model, self.dataset, self.plan)
            points.append(self.finish_point(
                Point(self.label, method, budget, "latency_ms", "", 0.0, time.perf_counter() - started,
                      finetune_steps=steps + extra, note=selection.note + f"; {extra} short-term steps first",
                      selected_cost_share=selection.cost / selection.baseline_cost),
                model))
        return points

    def run(self, record: dict[str, Any]) -> list[Point]:
        from pareto_bench.device_lab import API_TOKEN
        from pareto_bench.methods import MeasuredConfigurations
        from service.pruning.fit_measures import open_device_measure
        from service.surgery import analyze

        points = [self.baseline_point(record)]
        first, *others = self.plan.netadapt_seeds
        # The headline comparison first: if time runs out, it is what exists.
        points += self.netadapt_points(NETADAPT_LATENCY, first)
        baseline = self._load(self.baseline_path)
        measure = open_device_measure(self.lab.url, API_TOKEN, self.lab.profiles["host-latency"],
                                      "latency_ms")
        try:
            configurations = MeasuredConfigurations(baseline, analyze(baseline), measure, log)
            for method in (UNIFORM, GLOBAL_L1):
                points += self.simple_points(method, configurations)
        finally:
            measure.close()
        for variant in self.plan.netadapt_variants:
            if variant != NETADAPT_LATENCY and (variant != NETADAPT_INSTR_A53 or self.arm):
                points += self.netadapt_points(variant, first)
        for seed in others:
            points += self.netadapt_points(NETADAPT_LATENCY, seed)
        return points


def netadapt_config_step(plan: Plan) -> int:
    """The channel step NetAdapt prunes with (the simple methods' uniform width uses it)."""
    from pareto_bench.methods import netadapt_config

    return netadapt_config(plan).channel_step


def all_points(out: Path, plan: Plan) -> list[Point]:
    """Every point of the plan's models found in OUT (models run by earlier invocations too)."""
    labels = {r.label for r in plan.models}
    found = [point_from_dict(json.loads(p.read_text())) for p in sorted((out / "points").glob("*.json"))]
    return [p for p in found if p.model in labels]


def chosen_plan(args: argparse.Namespace) -> Plan:
    """The plan, narrowed by --netadapt and --seeds (recorded in OUT/plan.json like the rest)."""
    plan = QUICK if args.quick else FULL
    if args.netadapt is not None:
        variants = tuple(v.strip() for v in args.netadapt.split(",") if v.strip())
        unknown = sorted(set(variants) - set(NETADAPT_VARIANTS))
        if unknown:
            raise SystemExit(f"--netadapt: no variant {', '.join(unknown)}; choose from {', '.join(NETADAPT_VARIANTS)}")
        plan = replace(plan, netadapt_variants=tuple(v for v in NETADAPT_VARIANTS
                                                     if v in variants or v == NETADAPT_LATENCY))
    if args.seeds is not None:
        try:
            seeds = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise SystemExit(f"--seeds: comma-separated integers, not {args.seeds!r}") from None
        plan = replace(plan, netadapt_seeds=seeds)
    return plan


def main() -> int:
    args = parse_args()
    # A terminated benchmark still stops its lab's server and agents (DeviceLab.__exit__).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.report_only:
        return report_only(args.out)
    started = time.perf_counter()
    plan = chosen_plan(args)
    recipes = plan.models if args.model is None else (plan.recipe(args.model),)
    from service.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    from pareto_bench.device_lab import AgentSpec, DeviceLab
    from pareto_bench.methods import training_options
    from pareto_bench.remeasure import remeasure
    from service.pruning.data import load_run_data

    source = args.data or ("digits" if args.quick else str(FULL_DATA))
    prepared = prepare_data(source, train_images=args.train_images or plan.train_images, seed=plan.seed,
                            cache_dir=args.data_cache, log=log)
    spec = data_spec(prepared.source, plan)
    options = training_options(plan, plan.seed)
    dataset = load_run_data(spec, options.holdout, options.seed).dataset
    arm = not args.no_arm
    check_out_dir(args.out, {"plan": plan.to_dict(), "data": data_digest(spec.source), "arm": arm})
    log(f"data: {prepared.description}: {len(dataset.x_train)} train / {len(dataset.x_test)} test images "
        f"{dataset.input_shape}; {'quick' if args.quick else 'full'} plan; results in {args.out}")
    arm_dir = ensure_arm(args.arm_dir) if arm else None

    baselines = [(recipe, *trained_baseline(recipe, dataset, spec, args.baseline_cache, log))
                 for recipe in recipes]

    agents = [AgentSpec("host-latency", "host-latency", "latency_ms"),
              AgentSpec("host-instructions", "host-instructions", "instructions")]
    if arm:
        agents.append(AgentSpec("a53", "qemu-aarch64", "instructions",
                                ("--cpu", "cortex-a53", "--arm-dir", str(arm_dir))))
    timings = {}
    with DeviceLab(args.out / "lab", tuple(agents)) as lab:
        log(f"lab: server {lab.url}, profiles {lab.profiles}")
        for recipe, path, record in baselines:
            log(f"\n== {recipe.label} ==")
            watch = Stopwatch(args.out / f"seconds_{recipe.label}.json")
            bench = ModelBench(recipe.label, path, spec, plan, args.out, lab, arm)
            points = bench.run(record)
            watch.save()
            log("")
            finals = [Path(p.keras_path).with_suffix(".tflite") for p in points]
            remeasure(points, finals, rounds=plan.remeasure_rounds, arm_dir=arm_dir, log=log)
            for point in points:
                save_point(point, args.out / "points")
            watch.save()
            timings[recipe.label] = watch.seconds
            log(f"{recipe.label}: whole comparison {watch.seconds / 60:.1f} min (all invocations on this "
                f"--out; baseline training, cached, not included: {record['train_seconds'] / 60:.1f} min)")

    points = all_points(args.out, plan)
    seconds = time.perf_counter() - started
    (args.out / f"{RESULT}.json").write_text(points_json(points, {
        "plan": plan.to_dict(), "data": prepared.description, "data_npz": prepared.source,
        "train_images": prepared.train_images, "test_images": prepared.test_images, "arm": arm,
        "model_seconds": {label: json.loads((args.out / f"seconds_{label}.json").read_text())["seconds"]
                          for label in sorted({p.model for p in points})
                          if (args.out / f"seconds_{label}.json").is_file()},
        "script_seconds": seconds,
    }))
    print_report(points, plan.bootstrap_resamples, args.out)
    say(f"\nwrote {args.out / f'{RESULT}.json'} and {args.out / f'{RESULT}.png'}; this invocation "
        f"{seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
