"""One switch for reproducible training runs."""

from __future__ import annotations

import keras
import tensorflow as tf


def set_seeds(seed: int, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow, and (by default) make TensorFlow ops deterministic.

    Op determinism is process-wide and cannot be switched off again in TF 2.x; it costs
    little on CPU, where the kernels used by the zoo all have deterministic versions.
    Pass deterministic_ops=False for a process that will run an op lacking one (TF then
    raises UnimplementedError naming it).
    """
    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
