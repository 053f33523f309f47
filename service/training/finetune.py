"""Compile, fine-tune, train and evaluate Keras classifiers and segmenters.

Adam is used throughout: the service fine-tunes arbitrary user models that nobody tuned an
SGD learning rate for, and Adam's per-weight step sizes make one learning rate (around 1e-3
for short-term fine-tunes, lower for long ones) work across architectures, where SGD with
momentum needs a per-model search to recover in a few hundred steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np

from service.training.dataset_types import Dataset
from service.training.evaluation import evaluate
from service.training.input_pipeline import training_batches

__all__ = [
    "TrainingSummary",
    "compile_for_finetune",
    "evaluate",
    "finetune",
    "outputs_probabilities",
    "train",
]

_PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sigmoid"})


@dataclass(frozen=True)
class TrainingSummary:
    seconds: float
    final_loss: float
    test_accuracy: float


def outputs_probabilities(model: keras.Model) -> bool:
    """Whether the model's output layer already applies softmax (or sigmoid)."""
    if len(model.outputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.outputs)} outputs; need exactly 1")
    history = getattr(model.outputs[0], "_keras_history", None)
    layer = history.operation if history is not None else model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in _PROBABILITY_ACTIVATIONS


def compile_for_finetune(
    model: keras.Model, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
) -> keras.Model:
    """Compile with a fresh Adam and sparse categorical cross-entropy; returns `model`.

    from_logits follows the output layer, so models ending in softmax and models ending in
    raw scores both train correctly.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model)
        ),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        # XLA would recompile for every freshly pruned model; that costs more than it saves
        # on fine-tunes of a few hundred steps.
        jit_compile=False,
    )
    return model


def finetune(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    augment: bool = False,
) -> float:
    """Train `model` in place for `steps` batches at a constant learning rate; return the
    wall-clock seconds spent (graph tracing included, since it is part of the cost).

    The optimizer starts fresh each call. `seed` fixes the batch order, augmentation and
    dropout; it also reseeds Python's, NumPy's and Keras' global generators.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    keras.utils.set_random_seed(seed)
    compile_for_finetune(model, learning_rate)
    batches = training_batches(x, y, batch_size=batch_size, seed=seed, augment=augment)
    started = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return time.perf_counter() - started


def train(
    model: keras.Model,
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
    augment: bool = False,
) -> TrainingSummary:
    """Train a baseline on the dataset's train split with Adam and a cosine-decayed learning
    rate, then report the test-split accuracy.

    `seed` fixes batch order, augmentation and dropout; the initial weights were fixed when
    the model was built, so seed before building for a fully repeatable baseline.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    keras.utils.set_random_seed(seed)
    steps_per_epoch = math.ceil(len(dataset.x_train) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=epochs * steps_per_epoch
    )
    compile_for_finetune(model, schedule)
    batches = training_batches(
        dataset.x_train, dataset.y_train, batch_size=batch_size, seed=seed, augment=augment
    )
    started = time.perf_counter()
    history = model.fit(
        batches, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0
    )
    seconds = time.perf_counter() - started
    return TrainingSummary(
        seconds=seconds,
        final_loss=float(history.history["loss"][-1]),
        test_accuracy=evaluate(model, dataset.x_test, dataset.y_test),
    )
