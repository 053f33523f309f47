"""Accuracy of a model on arrays, per image or per pixel."""

from __future__ import annotations

import keras
import numpy as np


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction in [0, 1] of argmax predictions equal to the labels.

    Works for classifiers (y of shape (N,)) and segmenters (y of shape (N, H, W): the
    fraction of correctly labelled pixels). Needs no compile(), and runs the layers in
    inference mode (BatchNorm moving statistics, no dropout).
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty array")
    correct = 0
    for start in range(0, len(x), batch_size):
        # Calling the model directly avoids tracing a predict function for every freshly
        # pruned model; the batches are small enough that eager execution is cheap.
        probabilities = keras.ops.convert_to_numpy(
            model(x[start : start + batch_size], training=False)
        )
        predicted = probabilities.argmax(axis=-1)
        labels = y[start : start + batch_size]
        if predicted.shape != labels.shape:
            raise ValueError(
                f"model predictions have shape {predicted.shape[1:]} per sample after argmax "
                f"but the labels have {labels.shape[1:]}"
            )
        correct += int(np.count_nonzero(predicted == labels))
    return correct / y.size
