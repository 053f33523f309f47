"""Accuracy of a model on arrays, per image or per pixel."""

from __future__ import annotations

import keras
import numpy as np


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    return evaluate_with_loss(model, x, y, batch_size)[0]


def _log_probabilities(outputs: np.ndarray, are_probabilities: bool) -> np.ndarray:
    if are_probabilities:
        return np.log(np.clip(outputs, 1e-7, 1.0))
    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def evaluate_with_loss(
    model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy): the fraction in [0, 1] of argmax predictions equal
    to the labels, and the loss, which still ranks models when accuracies tie (a small
    holdout saturates).

    Works for classifiers (y of shape (N,)) and segmenters (y of shape (N, H, W): the
    fraction of correctly labelled pixels). Needs no compile(), and runs the layers in
    inference mode (BatchNorm moving statistics, no dropout).
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty array")
    from service.training.finetune import outputs_probabilities

    are_probabilities = outputs_probabilities(model)
    correct = 0
    loss_sum = 0.0
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
        log_p = _log_probabilities(probabilities.astype(np.float64), are_probabilities)
        loss_sum -= float(np.take_along_axis(log_p, labels[..., None].astype(np.int64), axis=-1).sum())
    return correct / y.size, loss_sum / y.size
