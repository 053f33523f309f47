"""Small multi-branch Keras models that exercise each lowering rule of keras_signatures.

Converting costs ~0.3 s per model, mostly fixed overhead, so each model packs many
patterns as branches off one input. Every branch ends in a 1x1 "head" so that the
tensors of the pattern itself belong to prunable channel groups (model outputs are
frozen), and pruned variants change their shapes.

All weights are random and non-zero: the converter drops operations whose constants are
trivial (a standalone BatchNormalization with zero offset loses its ADD), which trained
weights never are.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

L = keras.layers
Tensor = keras.KerasTensor


def _head(x: Tensor) -> Tensor:
    return L.Conv2D(3, 1)(x) if len(x.shape) == 4 else L.Dense(3)(x)


def _conv(x: Tensor, filters: int = 8, kernel: int = 3, **kwargs: object) -> Tensor:
    return L.Conv2D(filters, kernel, padding=kwargs.pop("padding", "same"), **kwargs)(x)


def _fusions(x: Tensor) -> list[Tensor]:
    """Where BatchNormalization folds and activations fuse, and where they do not."""
    # Merges get distinct operand pairs: the converter merges common subexpressions, so
    # Add(a, b) and Average(a, b, c) would share one ADD and keep the ReLU out of it.
    a, b, c = _conv(x, kernel=1), _conv(x), _conv(x)
    shared = L.BatchNormalization()(_conv(x))  # read twice: the ReLU cannot fuse
    return [
        L.ReLU()(L.BatchNormalization()(L.MaxPooling2D()(x))),  # MUL + ADD(RELU)
        _conv(L.BatchNormalization()(L.ReLU()(_conv(x))), kernel=1),  # BN after the ReLU
        L.ReLU()(L.Add()([a, b])),
        L.ReLU()(L.Average()([c, b, a])),
        L.BatchNormalization()(L.Subtract()([a, c])),
        L.ReLU(6.0)(L.Multiply()([b, c])),
        L.ReLU()(L.Concatenate()([a, _conv(x, 6)])),  # CONCATENATION does not fuse
        L.ReLU()(L.MaxPooling2D()(_conv(x, activation="relu"))),
        L.ReLU()(shared),
        _conv(shared, 4, 1),
        L.ReLU()(L.BatchNormalization()(L.Dropout(0.3)(_conv(x)))),
        L.ReLU()(_conv(x, activation="relu")),  # repeated ReLU vanishes
        L.ReLU()(L.ReLU(6.0)(_conv(x))),  # ReLU after ReLU6 stays
        L.Activation("relu6")(L.AveragePooling2D(3, strides=1, padding="same")(_conv(x))),
    ]


def _layers(x: Tensor) -> list[Tensor]:
    """One branch per lowering: padding, resampling, separable and transposed convs,
    activations that are ops of their own, global pools and the dense head."""
    dilated_depthwise = L.DepthwiseConv2D(
        3, depth_multiplier=2, dilation_rate=2, padding="same", activation="relu"
    )
    return [
        _conv(L.ZeroPadding2D(((0, 1), (0, 1)))(x), strides=2, padding="valid"),  # SAME conv
        _conv(L.ZeroPadding2D(1)(x), strides=2, padding="valid"),  # PAD + VALID conv
        L.DepthwiseConv2D(3, strides=2)(L.ZeroPadding2D(((0, 1), (0, 1)))(x)),
        L.SeparableConv2D(8, 3, strides=2)(L.ZeroPadding2D(((0, 1), (0, 1)))(x)),
        L.ReLU()(L.BatchNormalization()(L.SeparableConv2D(8, 3, depth_multiplier=2)(_conv(x)))),
        L.ReLU()(L.BatchNormalization()(L.Conv2DTranspose(8, 3, strides=2, padding="same")(_conv(x)))),
        L.UpSampling2D(2)(_conv(x)),
        L.UpSampling2D((1, 2))(_conv(x)),
        L.UpSampling2D(2, interpolation="bilinear")(_conv(x)),
        L.Cropping2D(((1, 2), (0, 3)))(_conv(x)),
        dilated_depthwise(_conv(x)),
        _conv(x, dilation_rate=2, activation="relu6"),
        L.PReLU()(_conv(x)),
        L.PReLU(shared_axes=[1, 2])(_conv(x)),
        L.LeakyReLU(0.1)(_conv(x)),
        L.Activation("swish")(_conv(x)),
        _conv(x, activation="gelu"),
        _conv(x, activation="tanh"),
        _conv(x, activation="hard_swish"),
        L.Activation("sigmoid")(L.Add()([_conv(x), _conv(x)])),
        L.Softmax()(_conv(x)),
        L.GlobalAveragePooling2D(keepdims=True)(_conv(x)),
        L.ReLU()(L.GlobalMaxPooling2D()(_conv(x))),
        L.ReLU(6.0)(L.BatchNormalization()(L.Dense(16)(L.Flatten()(_conv(x))))),
        L.Dense(8, activation="softmax")(L.GlobalAveragePooling2D()(_conv(x))),
    ]


def _rescaling_and_attention(x: Tensor) -> list[Tensor]:
    """Scalar Rescaling folding backward and forward, and squeeze-excite reshapes."""
    scaled = L.Rescaling(0.5)(x)  # scale only: folds into every conv that reads it
    outputs = [
        _conv(L.Rescaling(1 / 127.5, offset=-1)(x), padding="valid"),  # folds: VALID conv
        _conv(L.Rescaling(1 / 127.5, offset=-1)(x)),  # SAME conv: MUL + ADD stay
        _conv(scaled),
        _conv(scaled, 4, 1),
        L.MaxPooling2D()(L.Rescaling(2.0, offset=0.5)(x)),
        L.ReLU()(L.Rescaling(1.0, offset=0.5)(x)),  # ADD only, with the ReLU fused
        L.Rescaling(0.5, offset=0.1)(_conv(x, padding="valid")),  # folds into the conv
    ]
    y = _conv(x, activation="relu")
    squeeze = L.Dense(2, activation="relu")(L.GlobalAveragePooling2D()(y))
    excite = L.Reshape((1, 1, 8))(L.Dense(8, activation="sigmoid")(squeeze))
    outputs.append(L.Multiply()([y, excite]))  # the reshape vanishes: MUL by (1, C)
    z = _conv(x, activation="relu")
    pooled = L.Reshape((1, 1, 8))(L.GlobalAveragePooling2D()(z))  # MEAN keeps its dims
    outputs.append(L.Multiply()([z, _conv(pooled, 8, 1, activation="sigmoid")]))
    w = _conv(x, activation="relu")
    outputs.append(L.Multiply()([w, L.Reshape((1, 1, 8))(L.GlobalAveragePooling2D()(w))]))
    return outputs


def _hard_sigmoid(x: Tensor) -> Tensor:
    """As Keras' MobileNetV3 writes it, with keras.ops arithmetic around a ReLU6 layer."""
    return L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _operations(x: Tensor) -> list[Tensor]:
    """keras.ops operation nodes: arithmetic with scalars (folded backward, forward, or
    kept), hard sigmoid and hard swish written out, unary keras.ops activations, and
    operations of two tensors with broadcasting."""
    ops = keras.ops
    pool = L.MaxPooling2D
    a = _conv(x, activation="relu")
    shared = _conv(x)
    pooled = L.GlobalAveragePooling2D(keepdims=True)(x)
    gate = _conv(pooled, 8, 1)
    return [
        pool()(_hard_sigmoid(_conv(x))),  # ADD folds into the conv, ReLU6 fuses: MUL stays
        _hard_sigmoid(_conv(x, activation="relu")),  # ADD(RELU6); the MUL folds into the head
        pool()(ops.hard_sigmoid(_conv(x, activation="relu"))),
        shared * _hard_sigmoid(shared),  # hard swish written out: one HARD_SWISH
        (lambda c: (c * L.ReLU(6.0)(c + 3.0)) / 6.0)(_conv(x, activation="relu")),
        (lambda c: L.Multiply()([ops.hard_sigmoid(c), c]))(_conv(x)),
        pool()(1.0 - _conv(x, activation="relu")),  # SUB, never folded
        pool()(_conv(x, activation="relu") - 1.0),
        pool()(_conv(x, activation="relu") / 4.0),  # MUL by the reciprocal
        2.0 * _conv(x, activation="relu"),  # folds forward into the head
        _conv(_conv(x, activation="relu") + 1.0),  # the head pads: the ADD stays
        pool()(ops.relu(_conv(x))),  # fuses into the conv
        ops.relu6(_conv(x)),
        pool()(ops.sigmoid(_conv(x))),
        pool()(ops.silu(_conv(x))),
        pool()(ops.hard_silu(_conv(x))),
        ops.relu(ops.add(a, _conv(x))),  # ADD with the ReLU fused
        pool()(ops.subtract(_conv(x), a)),
        ops.multiply(_conv(x, activation="relu"), ops.sigmoid(gate)),  # squeeze-excite gate
        pool()(_conv(x, activation="relu") + _conv(pooled, 8, 1)),  # RESHAPE to (C,) + ADD
        pool()(_conv(x, activation="relu") - _conv(pooled, 8, 1)),  # SUB broadcasts as is
        pool()(_conv(x, activation="relu") + _conv(x, 1, 1)),  # a one-channel operand
        L.Add()([_conv(pooled, 8, 1), _conv(pooled, 8, 1, activation="relu")]),
        _conv(x) * np.linspace(0.5, 1.5, 8, dtype="float32"),  # folds into the conv
        pool()(_conv(x, activation="relu") + np.linspace(-1, 1, 8, dtype="float32")),
        _conv(L.Normalization(mean=[0.1, 0.2, 0.3, 0.4], variance=[1.5, 2.0, 3.0, 4.0])(x)),
    ]


def _operation_extrema(x: Tensor) -> list[Tensor]:
    """max/min operation nodes; float32 only (int8 MAXIMUM/MINIMUM are refused)."""
    ops = keras.ops
    pool = L.MaxPooling2D
    return [
        ops.maximum(_conv(x), 0.0),  # a ReLU: fuses into the conv
        pool()(ops.maximum(pool()(x), 0.0)),  # fuses into the pool
        ops.minimum(_conv(x, activation="relu"), 6.0),  # turns the ReLU into ReLU6
        pool()(ops.minimum(_conv(x), 6.0)),
        pool()(ops.maximum(_conv(x, activation="relu"), 0.5)),
        pool()(ops.maximum(_conv(x), _conv(x, activation="relu"))),
        pool()(ops.minimum(_conv(x), _conv(L.GlobalAveragePooling2D(keepdims=True)(x), 8, 1))),
    ]


RULE_MODELS: dict[str, Callable[[Tensor], list[Tensor]]] = {
    "fusions": _fusions,
    "layers": _layers,
    "rescaling_and_attention": _rescaling_and_attention,
    "operations": _operations,
}
# Checked in float32 only: int8 MAXIMUM/MINIMUM are refused.
FLOAT32_RULE_MODELS: dict[str, Callable[[Tensor], list[Tensor]]] = {
    "operation_extrema": _operation_extrema,
}


def build_rule_model(name: str, seed: int = 0) -> keras.Model:
    inputs = keras.Input((12, 12, 4), name="input")
    branches = {**RULE_MODELS, **FLOAT32_RULE_MODELS}[name]
    model = keras.Model(inputs, [_head(y) for y in branches(inputs)], name=name)
    randomize_weights(model, seed)
    return model


def randomize_weights(model: keras.Model, seed: int = 0) -> None:
    """Every weight uniform in [0.5, 1.5): non-zero, and positive where it must be."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            layer.set_weights([rng.uniform(0.5, 1.5, v.shape).astype(v.dtype) for v in values])

