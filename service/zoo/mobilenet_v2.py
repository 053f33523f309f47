"""A shortened MobileNetV2 (inverted residuals) for CIFAR-sized (32x32) inputs."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import (
    classifier_input,
    conv_bn,
    conv_bn_act,
    depthwise_bn_act,
    round_channels,
    softmax_head,
)

# (expansion t, output channels c at alpha=1, repeats n, first stride s): the first four
# stages of the paper's table, which is enough to exercise expand / depthwise / project and
# both residual and non-residual blocks while staying small. The paper's first stride-2
# stages are stride 1 here so 32x32 inputs keep some resolution.
_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 2, 2),
)
_LAST_CONV_CHANNELS = 256


def _inverted_residual(
    x: keras.KerasTensor, expansion: int, out_channels: int, strides: int, name: str
) -> keras.KerasTensor:
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        expanded = round_channels(in_channels * expansion)
        x = conv_bn_act(x, expanded, f"{name}_expand", kernel_size=1, act="relu6")
    x = depthwise_bn_act(x, f"{name}_dw", strides=strides)
    # The projection is linear on purpose: a ReLU on the narrow bottleneck destroys
    # information (the paper's main point).
    x = conv_bn(x, out_channels, f"{name}_project", kernel_size=1)
    if strides == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def mobilenet_v2(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    alpha: float = 1.0,
) -> keras.Model:
    """Stem conv + 8 inverted-residual blocks + 1x1 conv + GAP -> softmax.

    Blocks are named "block{i}_expand" (absent when t=1), "block{i}_dw", "block{i}_project"
    (each with "_bn", activations "_relu6") and "block{i}_add" where a residual exists.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    inputs = classifier_input(input_shape)
    x = conv_bn_act(inputs, round_channels(32 * alpha), "conv1", act="relu6")
    index = 0
    for expansion, channels, repeats, first_stride in _STAGES:
        for repeat in range(repeats):
            index += 1
            x = _inverted_residual(
                x,
                expansion,
                round_channels(channels * alpha),
                first_stride if repeat == 0 else 1,
                f"block{index}",
            )
    # Like the paper, the last conv is not thinned below its alpha=1 width.
    last_channels = round_channels(_LAST_CONV_CHANNELS * max(1.0, alpha))
    x = conv_bn_act(x, last_channels, "conv_last", kernel_size=1, act="relu6")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
