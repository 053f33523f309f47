"""tf.data pipelines that feed training: deterministic shuffling and optional augmentation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def training_batches(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    augment: bool,
) -> tf.data.Dataset:
    """An endless stream of shuffled (images, labels) batches; the same seed gives the same
    stream. Each pass over the data is a fresh permutation."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match")
    if len(x) == 0:
        raise ValueError("cannot train on an empty array")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = tf.constant(x, dtype=tf.float32)
    labels = tf.constant(y)
    # Shuffle indices, not examples: the shuffle buffer then costs 8 bytes per sample instead
    # of a second copy of the images, and whole batches are gathered in one op.
    indices = (
        tf.data.Dataset.range(len(x))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=len(x) >= batch_size)
    )
    batches = indices.map(
        lambda batch: (tf.gather(images, batch), tf.gather(labels, batch)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if augment:
        # Each batch's augmentation is keyed by (seed, batch number): reproducible, and
        # independent of how many parallel map calls run.
        batches = batches.enumerate().map(
            lambda step, batch: augment_batch(*batch, seed=_batch_seed(seed, step)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def _batch_seed(seed: int, step: tf.Tensor) -> tf.Tensor:
    return tf.stack([tf.constant(seed, tf.int64), step])


def augment_batch(
    images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random horizontal flips and random crops of a reflect-padded image, per image.

    Per-pixel labels (rank-3 `labels`) get the identical flip and crop, so masks stay
    aligned. Stateless ops keyed by `seed` make the result a pure function of the seed.
    """
    flip_seed, row_seed, col_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    # An eighth of the side: 4 pixels on CIFAR's 32x32, the classic setting; 1 on 8x8.
    pad = max(1, min(height, width) // 8)
    segmentation = labels.shape.rank == 3

    flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
    images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    if segmentation:
        labels = tf.where(flip[:, None, None], tf.reverse(labels, axis=[2]), labels)

    if min(height, width) < 2:
        return images, labels  # nothing to reflect-pad
    rows = tf.random.stateless_uniform([batch], row_seed, 0, 2 * pad + 1, dtype=tf.int32)
    cols = tf.random.stateless_uniform([batch], col_seed, 0, 2 * pad + 1, dtype=tf.int32)
    row_index = rows[:, None] + tf.range(height)[None, :]
    col_index = cols[:, None] + tf.range(width)[None, :]
    # Reflect rather than zero padding so masks never get invented border labels.
    padded_images = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], "REFLECT")
    images = _crop(padded_images, row_index, col_index)
    if segmentation:
        padded_labels = tf.pad(labels, [[0, 0], [pad, pad], [pad, pad]], "REFLECT")
        labels = _crop(padded_labels, row_index, col_index)
    return images, labels


def _crop(padded: tf.Tensor, row_index: tf.Tensor, col_index: tf.Tensor) -> tf.Tensor:
    """Per-image window: rows then columns gathered with each image's own offsets."""
    rows = tf.gather(padded, row_index, axis=1, batch_dims=1)
    return tf.gather(rows, col_index, axis=2, batch_dims=1)
