"""Proposals, start to end, in a worker process: masked short-term fine-tune of the parent,
batch-norm re-estimation, holdout evaluation, and the fine-tuned weights saved.

A worker keeps one `ShortTermTrainer` per parent: the first proposal of an iteration loads
the parent, analyses it and traces the compiled steps; the others only reset weights and
masks (service.training.short_term). Everything a proposal needs arrives as plain,
picklable values; models travel as files.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latency_tables.atomic_files import write_bytes_atomically
from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import proposal_ref, resolve


@dataclass(frozen=True)
class ProposalContext:
    run_dir: str
    data: DataSpec
    options: TrainingOptions


def iteration_seed(base_seed: int, iteration: int) -> int:
    """One seed per iteration: every proposal of an iteration sees the same batches in the
    same order, whichever worker runs it and whether or not the run was resumed."""
    digest = hashlib.sha256(f"{base_seed}:{iteration}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def limit_threads(threads: int) -> None:
    """Called once per worker process: N workers share the cores instead of each grabbing
    all of them. Also: the worker dies with the process that started it."""
    from service.executors.lifetime import die_with_parent
    from service.quiet_tf import import_tensorflow_quietly

    die_with_parent()

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(1)


def short_term_settings(options: TrainingOptions, steps: int | None = None) -> Any:
    from service.training.short_term import ShortTermSettings

    return ShortTermSettings(
        steps=options.short_term_steps if steps is None else steps,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        optimizer=options.short_term_optimizer,
        augment=options.augment,
        batchnorm_samples=options.batchnorm_samples,
    )


def build_trainer(model: Any, context: ProposalContext, *, masked: bool = True) -> Any:
    """A ShortTermTrainer for `model` on the run's splits (also used for the baseline)."""
    from service.pruning.data import load_run_data
    from service.surgery import analyze
    from service.training.short_term import ShortTermTrainer

    opts = context.options
    data = load_run_data(context.data, opts.holdout, opts.seed)
    return ShortTermTrainer(
        model,
        analyze(model),
        data.x_train,
        data.y_train,
        data.x_holdout,
        data.y_holdout,
        short_term_settings(opts),
        masked=masked,
    )


class _TrainerCache:
    """The trainer of the parent this worker saw last (one iteration at a time)."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._trainer: Any = None

    def get(self, parent: Path, context: ProposalContext) -> tuple[Any, float]:
        """(trainer, seconds spent building it now; 0 when it was cached)."""
        stat = parent.stat()
        key = (str(parent), stat.st_mtime_ns, stat.st_size, context.data, context.options)
        if key == self._key:
            return self._trainer, 0.0
        import gc

        import keras

        started = time.perf_counter()
        self._key = self._trainer = None
        keras.backend.clear_session()  # drop the previous parent's graphs and variables
        gc.collect()
        model = keras.saving.load_model(parent, compile=False)
        self._trainer = build_trainer(model, context)
        self._key = key
        return self._trainer, time.perf_counter() - started


_CACHE = _TrainerCache()


def run_proposal(spec: ProposalSpec, context: ProposalContext) -> ProposalResult:
    run_dir = Path(context.run_dir)
    opts = context.options
    trainer, setup_seconds = _CACHE.get(resolve(run_dir, spec.parent), context)
    prescreen = spec.stage == "prescreen"
    score = trainer.run(
        {spec.group: list(spec.keep)},
        iteration_seed(opts.seed, spec.iteration),
        steps=0 if prescreen else opts.short_term_steps,
    )
    ref = ""
    if not prescreen:
        ref = proposal_ref(spec.iteration, spec.group)
        save_weights(trainer.weights(), resolve(run_dir, ref))
    return ProposalResult(
        iteration=spec.iteration,
        group=spec.group,
        model=ref,
        holdout_accuracy=float(score.holdout_accuracy),
        finetune_seconds=float(score.finetune_seconds),
        extra={
            "holdout_loss": float(score.holdout_loss),
            "holdout_samples": trainer.holdout_samples,
            "stage": spec.stage,
            "proposal_seconds": float(score.total_seconds),
            "setup_seconds": float(setup_seconds),
        },
    )


def save_weights(weights: list[np.ndarray], path: Path) -> None:
    """The parent-shaped weights of a fine-tuned proposal, in `model.weights` order."""
    buffer = io.BytesIO()
    np.savez(buffer, *weights)
    write_bytes_atomically(path, buffer.getvalue())


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]
