"""Which short-term fine-tune leaves a trained network's holdout accuracy where it was?

    python benchmarks/short_term_defaults.py [--data ../shared/datasets/cifar10_partial.npz]

NetAdapt ranks proposals by their holdout accuracy after a short fine-tune. If that
fine-tune by itself moves a good network's accuracy around, the ranking measures the
optimizer rather than the pruning. So: fine-tune the *unpruned* parent (no channel
removed) with each candidate setting, exactly as a proposal would be (masked trainer,
fresh optimizer, the iteration's batches, BN statistics re-estimated), and compare its
holdout accuracy with the parent's own (BN re-estimated, no steps). Goal: at most 0.5
point lower on the zoo VGG and CIFAR MobileNetV1 (alpha 0.5).

Baselines: the zoo VGG (25 epochs) and MobileNetV1 alpha 0.5 (15 epochs) trained from
scratch on the data as the partial-set pareto run trained them, cached by content in
~/.cache/netadapt/pareto_baselines (the first call trains them). Each setting runs with
seeds 0..N-1 (the batch order); the mean and the worst drop are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pareto_bench.baselines import DEFAULT_CACHE, BaselineRecipe, trained_baseline  # noqa: E402

PARTIAL_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10_partial.npz"
# The baselines of the partial-set pareto run of 2026-11-22 (flips + crops, Adam 2e-3 cosine).
BASELINES = (
    BaselineRecipe("vgg", (), epochs=25, learning_rate=2e-3, batch_size=64, augment=True, seed=0),
    BaselineRecipe("mobilenet_v1", (("alpha", 0.5),), epochs=15, learning_rate=2e-3, batch_size=64, augment=True,
                   seed=0),
)
CANDIDATES = ("adam:1e-3", "adam:3e-4", "adam:1e-4", "adam:5e-5", "adam:3e-5", "sgd:1e-2", "sgd:3e-3", "sgd:1e-3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PARTIAL_CIFAR))
    parser.add_argument("--steps", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), metavar="OPTIMIZER:RATE",
                        help="settings to try (adam or sgd with momentum 0.9)")
    args = parser.parse_args()

    from service.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from service.pruning.data import load_run_data
    from service.pruning.options import DataSpec
    from service.surgery import analyze
    from service.training.short_term import ShortTermSettings, ShortTermTrainer

    spec = DataSpec(args.data)
    data = load_run_data(spec, 0.15, 0)
    print(f"data: {args.data}: {len(data.x_train)} train, {len(data.x_holdout)} holdout; batch 64, augmentation on")
    rows = []
    for recipe in BASELINES:
        path, record = trained_baseline(recipe, data.dataset, spec, args.cache)
        model = keras.saving.load_model(path, compile=False)
        graph = analyze(model)
        settings = ShortTermSettings(steps=0, augment=True, batchnorm_samples=512)
        parent = ShortTermTrainer(model, graph, data.x_train, data.y_train, data.x_holdout, data.y_holdout, settings)
        raw_accuracy = parent.evaluate_holdout()[0]
        reference = parent.run(None, seed=0, steps=0).holdout_accuracy
        print(f"{recipe.label}: test {record['test_accuracy']:.2%}; holdout {raw_accuracy:.2%} as trained, "
              f"{reference:.2%} with BN statistics re-estimated")
        for candidate in args.candidates:
            optimizer, rate_text = candidate.split(":")
            rate = float(rate_text)
            settings = ShortTermSettings(steps=0, optimizer=optimizer, learning_rate=rate, augment=True,
                                         batchnorm_samples=512)
            trainer = ShortTermTrainer(model, graph, data.x_train, data.y_train, data.x_holdout, data.y_holdout,
                                       settings)
            for steps in args.steps:
                drops = [
                    reference - trainer.run(None, seed=seed, steps=steps).holdout_accuracy
                    for seed in range(args.seeds)
                ]
                rows.append((recipe.label, optimizer, rate, steps, statistics.mean(drops), max(drops)))
                print(f"  {optimizer} {rate:g} {steps} steps: drop {statistics.mean(drops):+.2%} "
                      f"(worst {max(drops):+.2%})", flush=True)
            trainer.reset(None)

    print("\n| model | optimizer | learning rate | steps | mean drop (points) | worst drop |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, optimizer, rate, steps, mean, worst in rows:
        print(f"| {label} | {optimizer} | {rate:g} | {steps} | {100 * mean:+.2f} | {100 * worst:+.2f} |")


if __name__ == "__main__":
    main()
