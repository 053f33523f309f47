"""One proposal, start to end: prune the parent, short-term fine-tune, evaluate on the
holdout split, save. Runs in a worker process; everything it needs arrives as plain,
picklable values, and models travel as files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import proposal_ref, resolve


@dataclass(frozen=True)
class ProposalContext:
    run_dir: str
    data: DataSpec
    options: TrainingOptions


def proposal_seed(base_seed: int, iteration: int, group: str) -> int:
    """A seed per (iteration, group): results do not depend on which worker ran what, or on
    whether the run was resumed in between."""
    digest = hashlib.sha256(f"{base_seed}:{iteration}:{group}".encode()).digest()
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


def run_proposal(spec: ProposalSpec, context: ProposalContext) -> ProposalResult:
    import keras

    from service.pruning.data import load_run_data
    from service.surgery import prune
    from service.training.evaluation import evaluate_with_loss
    from service.training.export import save_keras
    from service.training.finetune import finetune

    run_dir = Path(context.run_dir)
    opts = context.options
    data = load_run_data(context.data, opts.holdout, opts.seed)
    keras.backend.clear_session()  # drop graphs of earlier proposals in this worker
    parent = keras.saving.load_model(resolve(run_dir, spec.parent), compile=False)
    candidate = prune(parent, {spec.group: list(spec.keep)})
    seconds = finetune(
        candidate,
        data.x_train,
        data.y_train,
        steps=opts.short_term_steps,
        batch_size=opts.batch_size,
        learning_rate=opts.learning_rate,
        seed=proposal_seed(opts.seed, spec.iteration, spec.group),
        augment=opts.augment,
    )
    accuracy, loss = evaluate_with_loss(candidate, data.x_holdout, data.y_holdout)
    ref = proposal_ref(spec.iteration, spec.group)
    save_keras(candidate, resolve(run_dir, ref))
    return ProposalResult(
        iteration=spec.iteration,
        group=spec.group,
        model=ref,
        holdout_accuracy=float(accuracy),
        finetune_seconds=float(seconds),
        extra={"holdout_loss": float(loss)},
    )
