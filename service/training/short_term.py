"""Short-term fine-tunes of many proposals that share one parent, compiled once.

A `ShortTermTrainer` holds, for one parent model: its training and holdout arrays (resident
as tensors, never copied per proposal), one compiled train step, one compiled batch-norm
statistics pass and one compiled holdout evaluation. Between proposals it puts back the
parent's weights and the optimizer's initial state and assigns the proposal's channel
masks (`GraphForward`); nothing is rebuilt or retraced. The same trainer without masks
fine-tunes a physically pruned model the same way, which is how the two are compared.

Every proposal of an iteration sees the same batches in the same order (the batch order
and the augmentation depend on `seed` only), so proposals differ by what was pruned, not by
which images they happened to see. Before the holdout evaluation the batch-norm moving
statistics are re-estimated on training images (forward passes in training mode, no
weight update): a few dozen optimizer steps leave momentum-averaged statistics that lag
the weights, and the ranking should measure the pruned network, not that lag.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from service.surgery.graph import ChannelGraph
from service.training.finetune import outputs_probabilities
from service.training.graph_forward import GraphForward
from service.training.input_pipeline import augment_batch

OptimizerName = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


@dataclass(frozen=True)
class ShortTermSettings:
    steps: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: OptimizerName = "adam"
    momentum: float = 0.9  # SGD only
    augment: bool = False
    batchnorm_samples: int = 1024  # training images for the BN re-estimation; 0 = skip it
    jit_compile: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.batchnorm_samples < 0:
            raise ValueError(f"batchnorm_samples must be >= 0, got {self.batchnorm_samples}")


@dataclass(frozen=True)
class ProposalScore:
    holdout_accuracy: float
    holdout_loss: float
    finetune_seconds: float  # optimizer steps only
    total_seconds: float  # reset + steps + BN re-estimation + evaluation


class ShortTermTrainer:
    """Fine-tunes and scores proposals of one parent (see the module docstring).

    `model` is modified in place by `run`; `weights()` returns its current values, in
    `model.weights` order (what `model.set_weights` takes)."""

    # Images per forward pass when scoring and re-estimating statistics (no gradients are
    # kept, so this can exceed the training batch).
    _EVAL_CHUNK = 256

    def __init__(
        self,
        model: keras.Model,
        graph: ChannelGraph,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_holdout: np.ndarray,
        y_holdout: np.ndarray,
        settings: ShortTermSettings,
        *,
        masked: bool = True,
    ) -> None:
        if len(x_train) == 0 or len(x_holdout) == 0:
            raise ValueError("the training and holdout splits must not be empty")
        self.model = model
        self.settings = settings
        self.forward = GraphForward(model, graph, masked=masked)
        self._x = tf.constant(x_train, tf.float32)
        self._y = tf.constant(y_train, tf.int64)
        self._train_count = len(x_train)
        self._holdout = _padded_chunks(x_holdout, y_holdout, self._EVAL_CHUNK)
        self._holdout_count = int(np.asarray(y_holdout).size)
        self._probabilities = outputs_probabilities(model)
        self._variables = list(model.weights)
        self._parent = [v.numpy() for v in self._variables]
        self._trainable = list(model.trainable_weights)
        self.optimizer = _make_optimizer(settings)
        self.optimizer.build(self._trainable)
        self._optimizer_initial = [v.numpy() for v in self.optimizer.variables]
        self._bn_moving = [
            (layer.moving_mean, layer.moving_variance) for layer in self.forward.batchnorm_layers
        ]
        jit = settings.jit_compile
        self._train_steps = tf.function(self._train_steps_fn, jit_compile=jit, reduce_retracing=True)
        self._bn_moments = tf.function(self._bn_moments_fn, jit_compile=jit, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_fn, jit_compile=jit, reduce_retracing=True)

    # -- compiled pieces ----------------------------------------------------------------

    def _train_steps_fn(self, batches: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """One optimizer step per row of `batches` (sample indices), in one call: a Python
        loop of single steps pays the call overhead per step."""
        loss = tf.constant(0.0)
        for step in tf.range(tf.shape(batches)[0]):
            loss = self._train_step(batches[step], tf.stack([seed, tf.cast(step, tf.int64)]))
        return loss

    def _train_step(self, indices: tf.Tensor, step_seed: tf.Tensor) -> tf.Tensor:
        images = tf.gather(self._x, indices)
        labels = tf.gather(self._y, indices)
        if self.settings.augment:
            images, labels = augment_batch(images, labels, seed=step_seed)
        with tf.GradientTape() as tape:
            outputs = self.forward(images, training=True)
            loss = tf.reduce_mean(self._per_sample_loss(labels, outputs))
        gradients = tape.gradient(loss, self._trainable)
        self.optimizer.apply(gradients, self._trainable)
        return loss

    def _bn_moments_fn(self, indices: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
        _, moments = self.forward(
            tf.gather(self._x, indices), training=True, collect_batchnorm=True
        )
        return moments

    def _evaluate_fn(
        self, images: tf.Tensor, labels: tf.Tensor, valid: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = self.forward(images, training=False)
        losses = self._per_sample_loss(labels, outputs)
        correct = tf.cast(tf.equal(tf.argmax(outputs, axis=-1), labels), tf.float64)
        weights = tf.reshape(valid, [-1] + [1] * (len(labels.shape) - 1))
        weights = tf.broadcast_to(weights, tf.shape(labels))
        return (
            tf.reduce_sum(correct * weights),
            tf.reduce_sum(tf.cast(losses, tf.float64) * weights),
        )

    def _per_sample_loss(self, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
        outputs = tf.cast(outputs, tf.float32)
        if self._probabilities:
            log_p = tf.math.log(tf.clip_by_value(outputs, 1e-7, 1.0))
        else:
            log_p = tf.nn.log_softmax(outputs, axis=-1)
        return -tf.gather(log_p, labels, axis=-1, batch_dims=len(labels.shape))

    # -- one proposal -------------------------------------------------------------------

    def reset(self, keep: Mapping[str, Sequence[int]] | None = None) -> None:
        """Parent weights, fresh optimizer state, and the masks of `keep` (None = none)."""
        for variable, value in zip(self._variables, self._parent):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self._optimizer_initial):
            variable.assign(value)
        if self.forward.slots:
            self.forward.set_keep(keep or {})
        elif keep:
            raise ValueError("this trainer was built without masks (masked=False)")

    def run(self, keep: Mapping[str, Sequence[int]] | None, seed: int, *, steps: int | None = None) -> ProposalScore:
        """Reset to the parent with `keep` applied, fine-tune `steps` (default: the
        settings') batches in the order `seed` gives, re-estimate BN statistics, and
        evaluate on the holdout split."""
        started = time.perf_counter()
        self.reset(keep)
        steps = self.settings.steps if steps is None else steps
        tuning = time.perf_counter()
        self.finetune(seed, steps)
        finetune_seconds = time.perf_counter() - tuning
        self.reestimate_batchnorm(seed)
        accuracy, loss = self.evaluate_holdout()
        return ProposalScore(accuracy, loss, finetune_seconds, time.perf_counter() - started)

    def finetune(self, seed: int, steps: int) -> None:
        if steps == 0:
            return
        order = batch_order(self._train_count, self.settings.batch_size, steps, seed)
        self._train_steps(tf.constant(np.stack(order)), tf.constant(seed, tf.int64))

    def reestimate_batchnorm(self, seed: int) -> None:
        """Moving mean/variance of every BatchNormalization := the statistics of
        `batchnorm_samples` training images under the current weights (no weight update).

        Batches are combined as one population: mean of the batch means, and the mean of
        the batch variances plus the variance of the batch means."""
        samples = min(self.settings.batchnorm_samples, self._train_count)
        if samples == 0 or not self._bn_moving:
            return
        # Larger than a training batch: forward passes are cheaper per image in bulk, and
        # upstream layers normalise with statistics of more images.
        batch = min(max(self.settings.batch_size, self._EVAL_CHUNK), samples)
        order = np.random.default_rng([seed, 0x424E]).permutation(self._train_count)
        chunks = [order[i : i + batch] for i in range(0, samples - batch + 1, batch)]
        means: list[list[np.ndarray]] = [[] for _ in self._bn_moving]
        variances: list[list[np.ndarray]] = [[] for _ in self._bn_moving]
        for chunk in chunks:
            for index, (mean, variance) in enumerate(self._bn_moments(tf.constant(chunk))):
                means[index].append(mean.numpy())
                variances[index].append(variance.numpy())
        for (moving_mean, moving_variance), batch_means, batch_variances in zip(
            self._bn_moving, means, variances
        ):
            stacked = np.stack(batch_means)
            moving_mean.assign(stacked.mean(axis=0))
            moving_variance.assign(np.stack(batch_variances).mean(axis=0) + stacked.var(axis=0))

    def evaluate_holdout(self) -> tuple[float, float]:
        """(accuracy, mean cross-entropy) on the holdout split, in inference mode."""
        correct = loss = 0.0
        for images, labels, valid in self._holdout:
            batch_correct, batch_loss = self._evaluate(images, labels, valid)
            correct += float(batch_correct)
            loss += float(batch_loss)
        return correct / self._holdout_count, loss / self._holdout_count

    @property
    def holdout_samples(self) -> int:
        """What the holdout accuracy counts: images, or pixels for segmentation."""
        return self._holdout_count

    def weights(self) -> list[np.ndarray]:
        return [v.numpy() for v in self._variables]


def batch_order(count: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """`steps` batches of sample indices: passes over a fresh permutation each, the same
    for the same arguments (whichever process asks)."""
    rng = np.random.default_rng([seed, 0x5354])
    batch = min(batch_size, count)
    batches: list[np.ndarray] = []
    permutation = rng.permutation(count)
    position = 0
    while len(batches) < steps:
        if position + batch > count:
            permutation, position = rng.permutation(count), 0
        batches.append(permutation[position : position + batch].astype(np.int32))
        position += batch
    return batches


def _make_optimizer(settings: ShortTermSettings) -> keras.optimizers.Optimizer:
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(settings.learning_rate, momentum=settings.momentum)
    return keras.optimizers.Adam(settings.learning_rate)


def _padded_chunks(
    x: np.ndarray, y: np.ndarray, chunk: int
) -> list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """Fixed-size chunks (the last one padded, with a 0 weight) so one trace serves all."""
    size = min(chunk, len(x))
    chunks = []
    for start in range(0, len(x), size):
        images = np.asarray(x[start : start + size], np.float32)
        labels = np.asarray(y[start : start + size], np.int64)
        valid = np.ones(len(images), np.float64)
        missing = size - len(images)
        if missing:
            images = np.concatenate([images, np.zeros((missing, *images.shape[1:]), np.float32)])
            labels = np.concatenate([labels, np.zeros((missing, *labels.shape[1:]), np.int64)])
            valid = np.concatenate([valid, np.zeros(missing)])
        chunks.append((tf.constant(images), tf.constant(labels), tf.constant(valid)))
    return chunks
