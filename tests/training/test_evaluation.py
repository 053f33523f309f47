"""Accuracy and loss agree with Keras' own metrics, for softmax and logit outputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from service.training.evaluation import evaluate_with_loss


@pytest.mark.parametrize("activation", ["softmax", None])
def test_accuracy_and_loss_match_keras(activation):
    rng = np.random.default_rng(0)
    inp = keras.Input((6,))
    model = keras.Model(inp, keras.layers.Dense(4, activation=activation)(inp))
    x = rng.normal(size=(50, 6)).astype("float32")
    y = rng.integers(0, 4, size=50)
    accuracy, loss = evaluate_with_loss(model, x, y, batch_size=16)
    outputs = np.asarray(model(x))
    expected_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=activation is None)(y, outputs)
    assert accuracy == pytest.approx(np.mean(outputs.argmax(-1) == y))
    assert loss == pytest.approx(float(expected_loss), rel=1e-4)
