"""Layer recipes shared by the zoo models.

Every helper takes an explicit `name` and derives the names of the layers it creates from
it ("conv1" -> "conv1", "conv1_bn", "conv1_relu"), so pruning reports can say which layer
lost channels without anyone having to decode "conv2d_17".
"""

from __future__ import annotations

import keras
from keras import layers

# Keras defaults to 0.99, which needs thousands of steps before the moving statistics
# forget their (0, 1) initialisation. Pruned nets are fine-tuned for a few hundred steps and
# small datasets give few steps per epoch, so use PyTorch's effective 0.9 instead.
BATCH_NORM_MOMENTUM = 0.9


def round_channels(channels: float, divisor: int = 8, minimum: int = 8) -> int:
    """Round a (width-multiplied) channel count to a multiple of `divisor`.

    Multiples of 8 keep the models friendly to the SIMD widths of the target devices, and
    never dropping more than 10% keeps `alpha` meaning roughly what it says.
    """
    rounded = max(minimum, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def activation(x: keras.KerasTensor, kind: str, name: str) -> keras.KerasTensor:
    """ReLU or ReLU6 as a named layer; `kind` is "relu" or "relu6"."""
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    if kind == "relu6":
        return layers.ReLU(max_value=6.0, name=name)(x)
    raise ValueError(f"unknown activation {kind!r}; use 'relu' or 'relu6'")


def conv_bn(
    x: keras.KerasTensor,
    filters: int,
    name: str,
    *,
    kernel_size: int = 3,
    strides: int = 1,
) -> keras.KerasTensor:
    """Conv2D (no bias: the BatchNorm's beta replaces it) followed by BatchNorm."""
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=name,
    )(x)
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)


def conv_bn_act(
    x: keras.KerasTensor,
    filters: int,
    name: str,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    act: str = "relu",
) -> keras.KerasTensor:
    """Conv2D + BatchNorm + activation, named name / name_bn / name_<act>."""
    x = conv_bn(x, filters, name, kernel_size=kernel_size, strides=strides)
    return activation(x, act, f"{name}_{act}")


def depthwise_bn_act(
    x: keras.KerasTensor,
    name: str,
    *,
    strides: int = 1,
    act: str = "relu6",
) -> keras.KerasTensor:
    """3x3 DepthwiseConv2D + BatchNorm + activation, named name / name_bn / name_<act>."""
    x = layers.DepthwiseConv2D(
        3, strides=strides, padding="same", use_bias=False, name=name
    )(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return activation(x, act, f"{name}_{act}")


def classifier_input(input_shape: tuple[int, ...]) -> keras.KerasTensor:
    """The single named input every zoo model starts from."""
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got {tuple(input_shape)}"
        )
    return keras.Input(shape=tuple(input_shape), name="input")


def softmax_head(x: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    """Final Dense layer with the softmax folded in, so the model outputs probabilities."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)
