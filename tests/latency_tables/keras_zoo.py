"""Reference Keras layers and their TFLiteConverter conversions (tests only: imports TensorFlow).

Converting costs ~0.3-0.6 s per model, mostly fixed overhead, so a "zoo" packs many
one-layer models into one Keras model: each branch is one layer (or layer + BN +
activation) on inputs of its own, and its end is a model output. Nothing is shared
between branches, so the converter cannot merge them (common subexpressions,
quantization parameters of a shared input): each branch converts as its one-layer
model would, at a fraction of the cost.

Biases and BatchNorm statistics are random: the converter drops all-zero biases,
which a trained layer never has.
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

L = keras.layers
BATCH = 1
IMAGE, VECTOR, SMALL = (16, 16, 8), (32,), (4, 4, 16)
_BIAS = {"bias_initializer": "random_normal"}


class Branch(NamedTuple):
    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    build: Callable  # called with the branch's input tensors


def _bn() -> keras.layers.Layer:
    return L.BatchNormalization(
        beta_initializer="random_normal",
        gamma_initializer="random_uniform",
        moving_mean_initializer="random_normal",
        moving_variance_initializer="ones",
    )


def _chain(*layers: Callable) -> Callable:
    def apply(x):
        for layer in layers:
            x = layer(x)
        return x

    return apply


def _one(name: str, shape: tuple[int, ...], *layers: Callable) -> Branch:
    return Branch(name, (shape,), _chain(*layers))


def _two(name: str, layer: Callable, second: tuple[int, ...] = IMAGE) -> Branch:
    return Branch(name, (IMAGE, second), lambda a, b: layer()([a, b]))


def core_branches() -> list[Branch]:
    """The layers of typical CNNs, with the converter's lowest op versions."""
    return [
        _one("conv3x3_bn_relu", IMAGE, L.Conv2D(16, 3, padding="same", use_bias=False), _bn(), L.ReLU()),
        _one("conv3x3_s2_valid_bn_relu6", IMAGE, L.Conv2D(16, 3, strides=2, padding="valid", **_BIAS), _bn(), L.ReLU(6.0)),
        _one("conv1x1_bn", IMAGE, L.Conv2D(24, 1, **_BIAS), _bn()),
        _one("conv1x1_s2_same_relu", IMAGE, L.Conv2D(8, 1, strides=2, padding="same", activation="relu", **_BIAS)),
        _one("dw3x3_bn_relu6", IMAGE, L.DepthwiseConv2D(3, padding="same", use_bias=False), _bn(), L.ReLU(6.0)),
        _one("dw3x3_s2_valid_x2", IMAGE, L.DepthwiseConv2D(3, strides=2, padding="valid", depth_multiplier=2, **_BIAS)),
        _one("dense_bn", VECTOR, L.Dense(10, **_BIAS), _bn()),
        _one("dense_relu_softmax", VECTOR, L.Dense(16, activation="relu", **_BIAS), L.Softmax()),
        _one("max_pool", IMAGE, L.MaxPooling2D(2)),
        _one("avg_pool_s2_same", IMAGE, L.AveragePooling2D(3, strides=2, padding="same")),
        _one("global_avg_pool", IMAGE, L.GlobalAveragePooling2D()),
        _two("add", L.Add),
        _two("concatenate", L.Concatenate),
        _one("zero_padding", IMAGE, L.ZeroPadding2D(1)),
        _one("conv_transpose_s2_same", IMAGE, L.Conv2DTranspose(8, 3, strides=2, padding="same", **_BIAS)),
        _one("flatten", SMALL, L.Flatten()),
        _one("reshape", SMALL, L.Reshape((16, 16))),
    ]


def extended_branches() -> list[Branch]:
    """Less common layers: activations, resampling, elementwise, slicing."""
    return [
        _one("conv3x3_dilated", IMAGE, L.Conv2D(8, 3, padding="same", dilation_rate=2, **_BIAS)),
        _one("global_avg_pool_keepdims", IMAGE, L.GlobalAveragePooling2D(keepdims=True)),
        _one("global_max_pool", IMAGE, L.GlobalMaxPooling2D()),
        _two("multiply", L.Multiply),
        _two("multiply_broadcast", L.Multiply, second=(1, 1, IMAGE[2])),
        _two("subtract", L.Subtract),
        _two("maximum", L.Maximum),
        _one("zero_padding_asymmetric", IMAGE, L.ZeroPadding2D(((0, 1), (0, 1)))),
        _one("sigmoid", IMAGE, L.Activation("sigmoid")),
        _one("tanh", IMAGE, L.Activation("tanh")),
        _one("hard_swish", IMAGE, L.Activation("hard_swish")),
        _one("hard_sigmoid", IMAGE, L.Activation("hard_sigmoid")),
        _one("swish", IMAGE, L.Activation("swish")),
        _one("gelu", IMAGE, L.Activation("gelu")),
        _one("leaky_relu", IMAGE, L.LeakyReLU(0.1)),
        _one("prelu", IMAGE, L.PReLU(shared_axes=[1, 2], alpha_initializer="random_uniform")),
        _one("relu", IMAGE, L.ReLU()),
        _one("relu6", IMAGE, L.Activation("relu6")),
        _one("softmax_4d", IMAGE, L.Softmax()),
        _one("upsample_bilinear", IMAGE, L.UpSampling2D(2, interpolation="bilinear")),
        _one("upsample_nearest", IMAGE, L.UpSampling2D(2)),
        _one("resize_nearest", IMAGE, L.Resizing(24, 24, interpolation="nearest")),
        _one("cropping", IMAGE, L.Cropping2D(1)),
        _one("batch_norm_alone", IMAGE, _bn()),
        _one("rescaling", IMAGE, L.Rescaling(1 / 127.5, offset=-1.0)),
        _one("permute", IMAGE, L.Permute((3, 1, 2))),
    ]


def version_feature_branches() -> list[Branch]:
    """Layers whose op features raise the op version: kept out of the other zoos,
    where they would raise the version of every op of the same type."""
    return [
        _one("grouped_conv", IMAGE, L.Conv2D(16, 3, padding="same", groups=2, **_BIAS)),
        _one("dw3x3_dilated", IMAGE, L.DepthwiseConv2D(3, padding="same", dilation_rate=2, **_BIAS)),
        _one("dense_on_4d", SMALL, L.Dense(10, **_BIAS)),
        _one("conv_transpose_valid_relu", IMAGE, L.Conv2DTranspose(8, 3, strides=2, padding="valid", activation="relu", **_BIAS)),
    ]


def operation_branches() -> list[Branch]:
    """keras.ops operation nodes as real models write them (MobileNetV3's hard sigmoid,
    scalar arithmetic, broadcasting operands), and Normalization: the ops they lower to."""
    ops = keras.ops
    vector = (1, 1, IMAGE[2])
    offsets = np.linspace(-1.0, 1.0, IMAGE[2], dtype=np.float32)
    normalization = L.Normalization(mean=np.linspace(0.1, 0.8, IMAGE[2]), variance=np.linspace(1.5, 4.0, IMAGE[2]))
    return [
        _one("hard_sigmoid_ops", IMAGE, lambda x: L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)),  # ADD(RELU6) + MUL
        _one("hard_swish_ops", IMAGE, lambda x: x * (L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0))),
        _one("scalar_minus_tensor", IMAGE, lambda x: 1.0 - x),
        _one("maximum_scalar", IMAGE, lambda x: ops.maximum(x, 0.5)),
        _one("add_per_channel_constant", IMAGE, lambda x: x + offsets),
        Branch("add_channel_vector", (IMAGE, vector), lambda a, b: ops.add(a, b)),  # RESHAPE + ADD
        Branch("subtract_channel_vector", (IMAGE, vector), lambda a, b: ops.subtract(a, b)),
        Branch("sigmoid_gate", (IMAGE, vector), lambda a, b: ops.multiply(a, ops.sigmoid(b))),
        _one("normalization", IMAGE, normalization),  # SUB + MUL by (1, 1, 1, C)
    ]


ZOOS: dict[str, Callable[[], list[Branch]]] = {
    "core": core_branches,
    "extended": extended_branches,
    "version_features": version_feature_branches,
    "operations": operation_branches,
}


def branches_named(*names: str) -> list[Branch]:
    """Branches of any zoo, by name."""
    by_name = {b.name: b for zoo in ZOOS.values() for b in zoo()}
    return [by_name[name] for name in names]


def zoo_model(branches: list[Branch], batch: int | None = BATCH) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs, outputs = [], []
    for branch in branches:
        branch_inputs = [
            keras.Input(shape, batch_size=batch, name=f"in_{branch.name}_{i}") for i, shape in enumerate(branch.input_shapes)
        ]
        inputs.extend(branch_inputs)
        outputs.append(branch.build(*branch_inputs))
    return keras.Model(inputs, outputs)


def convert(model: keras.Model, dtype: str, *, int8_io: bool = True) -> bytes:
    """float32, or full-integer int8 (int8 inputs/outputs unless `int8_io` is False)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if dtype == "int8":
        # By input name: the converter orders a model's inputs its own way.
        shapes = {i.name: tuple(i.shape[1:]) for i in model.inputs}

        def representative_dataset():
            rng = np.random.default_rng(0)
            for _ in range(4):
                yield {name: rng.standard_normal((1, *shape)).astype(np.float32) for name, shape in shapes.items()}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()
