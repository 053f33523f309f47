"""Seconds per NetAdapt proposal: the masked, compiled-once path vs the earlier per-proposal
rebuild, next to warm Keras steps of the parent, in one process.

    python benchmarks/proposal_speed.py                       # both models, 20 and 100 steps
    python benchmarks/proposal_speed.py --models vgg --steps 20 --proposals 3

For each model (zoo VGG, CIFAR MobileNetV1 alpha 0.5; untrained weights: speed does not
depend on them) on the partial CIFAR-10 set beside the repository (digits resized to
32x32x3 when it is absent), one iteration's proposals (every prunable group cut by one
channel step of 8, lowest L1 first) are run one after another in this process, three ways:

- rebuild: what a proposal cost before the masked path (load the parent .keras, prune it,
  compile a fresh Adam, `model.fit` the steps from a new tf.data pipeline, evaluate batch
  by batch, save a .keras);
- masked: `ShortTermTrainer` on the parent (reset weights, optimizer and masks, the
  compiled step, BN re-estimation, compiled holdout evaluation, weights saved). Its
  one-off set-up per parent (load, analyse, trace) is spread over the iteration's
  proposals, as a worker pays it once per iteration;
- warm Keras steps: `model.fit` of the parent for the same number of steps, after a
  warm-up call (the floor any proposal pays for its training).

The three are interleaved proposal by proposal (the host is shared and noisy); medians and
ratios are printed. TensorFlow gets `--threads` threads (default 1: what each of the two
local workers gets on this 2-core machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PARTIAL_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10_partial.npz"


def load_splits() -> tuple[str, tuple[np.ndarray, ...]]:
    from service.training.datasets import load_dataset
    from service.training.splits import holdout_split

    if PARTIAL_CIFAR.exists():
        dataset, name = load_dataset(str(PARTIAL_CIFAR)), "CIFAR-10 partial"
    else:
        dataset, name = load_dataset("digits", image_size=(32, 32), channels=3), "digits 32x32x3"
    x, y, xh, yh = holdout_split(dataset.x_train, dataset.y_train, 0.15, 0)
    return f"{name}: {len(x)} train, {len(xh)} holdout", (x, y, xh, yh)


def build(name: str):
    from service import zoo

    return zoo.vgg() if name == "vgg" else zoo.mobilenet_v1(alpha=0.5)


def one_step_proposals(model, count: int) -> list[tuple[str, list[int]]]:
    from service.netadapt.saliency import choose_kept_channels
    from service.surgery import analyze, channel_saliency

    graph = analyze(model)
    scores = channel_saliency(model, "l1", graph=graph)
    proposals = []
    for group in graph.prunable_groups:
        if group.channels > 8:
            proposals.append((group.id, list(choose_kept_channels(scores[group.id], group.channels - 8))))
    return proposals[:count]


def rebuild_proposal(parent_path: Path, group: str, keep: list[int], data, steps: int, out: Path) -> float:
    import keras

    from service.surgery import prune
    from service.training.evaluation import evaluate_with_loss
    from service.training.export import save_keras
    from service.training.finetune import finetune

    x, y, xh, yh = data
    started = time.perf_counter()
    keras.backend.clear_session()
    parent = keras.saving.load_model(parent_path, compile=False)
    candidate = prune(parent, {group: keep})
    finetune(candidate, x, y, steps=steps, batch_size=64, learning_rate=1e-3, seed=1, augment=True)
    evaluate_with_loss(candidate, xh, yh)
    save_keras(candidate, out)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg", "mobilenet_v1"], choices=["vgg", "mobilenet_v1"])
    parser.add_argument("--steps", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--proposals", type=int, default=3, help="proposals timed per path (medians)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (one worker's share)")
    args = parser.parse_args()

    from service.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from service.pruning.proposal_worker import save_weights
    from service.surgery import analyze
    from service.training.export import save_keras
    from service.training.finetune import compile_for_finetune
    from service.training.input_pipeline import training_batches
    from service.training.short_term import ShortTermSettings, ShortTermTrainer

    description, data = load_splits()
    x, y, xh, yh = data
    print(f"data: {description}; batch 64, augmentation on, Adam; BN re-estimation on 512 images; "
          f"{args.threads} TensorFlow thread(s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            keras.utils.set_random_seed(0)
            parent_path = Path(tmp) / f"{name}.keras"
            save_keras(build(name), parent_path)
            proposals = one_step_proposals(keras.saving.load_model(parent_path, compile=False), args.proposals)
            total_groups = len(analyze(keras.saving.load_model(parent_path, compile=False)).prunable_groups)
            for steps in args.steps:
                # The masked path's one-off set-up for this parent: load, analyse, trace.
                keras.backend.clear_session()
                started = time.perf_counter()
                model = keras.saving.load_model(parent_path, compile=False)
                settings = ShortTermSettings(steps=steps, augment=True, batchnorm_samples=512)
                trainer = ShortTermTrainer(model, analyze(model), x, y, xh, yh, settings)
                trainer.run({proposals[0][0]: proposals[0][1]}, seed=1)
                setup = time.perf_counter() - started

                warm_model = keras.saving.load_model(parent_path, compile=False)
                compile_for_finetune(warm_model, 1e-3)
                batches = training_batches(x, y, batch_size=64, seed=0, augment=True)
                warm_model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)

                masked, rebuilt, warm = [], [], []
                for index, (group, keep) in enumerate(proposals):
                    t0 = time.perf_counter()
                    trainer.run({group: keep}, seed=1)
                    save_weights(trainer.weights(), Path(tmp) / f"p{index}.weights.npz")
                    masked.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    warm_model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
                    warm.append(time.perf_counter() - t0)
                    rebuilt.append(rebuild_proposal(parent_path, group, keep, data, steps, Path(tmp) / f"r{index}.keras"))
                    # The trainer's variables survive the rebuild path's clear_session.
                median_masked = statistics.median(masked)
                # First proposal's extra cost (set-up + tracing) spread over a whole iteration.
                amortized = median_masked + max(0.0, setup - median_masked) / total_groups
                rows.append(
                    (name, steps, statistics.median(rebuilt), median_masked, amortized, statistics.median(warm), total_groups, setup)
                )
                print(f"  {name} at {steps} steps done", flush=True)

    print()
    print("| model | steps | rebuild s/proposal | masked s/proposal (warm, amortized) | warm Keras steps s | masked/warm | rebuild/masked |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, steps, rebuilt, masked, amortized, warm, groups, setup in rows:
        print(
            f"| {name} | {steps} | {rebuilt:.2f} | {masked:.2f}, {amortized:.2f} (set-up {setup:.1f} s over {groups} proposals) "
            f"| {warm:.2f} | {amortized / warm:.2f}x | {rebuilt / amortized:.1f}x |"
        )
    print("\nmasked/warm: goal <= 1.3x; rebuild/masked: goal >= 3x on the VGG at 20 steps")


if __name__ == "__main__":
    main()
