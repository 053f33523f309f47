"""A one-layer model built from its signature without TensorFlow executes the same
number of instructions as the converter's model of the same Keras layer, float32 and int8
(per-channel weight scales, int8 inputs and outputs, as runs at precision int8 convert)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from device_agent.backends import get_backend
from latency_tables import build_single_op_model, signatures_from_tflite
from service.costs.device_export import to_device_tflite

pytestmark = pytest.mark.slow


def keras_layer_models() -> dict[str, keras.Model]:
    def single(shape, *stack):
        inp = keras.Input(shape)
        x = inp
        for layer in stack:
            x = layer(x)
        return keras.Model(inp, x)

    return {
        "conv3x3_bn_relu": single((28, 28, 16), layers.Conv2D(24, 3, padding="same"),
                                  layers.BatchNormalization(), layers.ReLU()),
        "conv1x1_stride2": single((28, 28, 16), layers.Conv2D(32, 1, strides=2)),
        "depthwise_relu6": single((28, 28, 32), layers.DepthwiseConv2D(3, padding="same"), layers.ReLU(6.0)),
        "dense": single((256,), layers.Dense(128, activation="relu")),
    }


def trained_like(model: keras.Model) -> keras.Model:
    """Non-zero weights everywhere: the converter drops an all-zero bias (a freshly
    initialised layer), which a trained model never has and the builder always adds."""
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def converted_and_built(dtype: str) -> tuple[list[bytes], list[bytes]]:
    """Per Keras layer: the converter's one-op model, and the one built from its signature."""
    converted, built = [], []
    for model in keras_layer_models().values():
        tflite = to_device_tflite(trained_like(model), dtype)  # type: ignore[arg-type]
        (signature,) = signatures_from_tflite(tflite)
        assert signature.dtype == dtype
        converted.append(tflite)
        built.append(build_single_op_model(signature))
    return converted, built


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_instruction_counts_match_the_converters_model(dtype):
    backend = get_backend("host-instructions")
    converted, built = converted_and_built(dtype)
    counts = backend.measure_many(converted + built)
    assert all(m.ok for m in counts), [m.error for m in counts]
    half = len(converted)
    for name, ours, theirs in zip(keras_layer_models(), counts[half:], counts[:half]):
        assert ours.median == theirs.median, f"{name} {dtype}"
