"""MobileNetV1 for CIFAR-sized (32x32) inputs."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import (
    classifier_input,
    conv_bn_act,
    depthwise_bn_act,
    round_channels,
    softmax_head,
)

# (pointwise filters at alpha=1, depthwise stride) for the 13 depthwise-separable blocks.
# The ImageNet net downsamples 32x overall; with a stride-1 stem this leaves 32x32 inputs at
# 2x2 before pooling instead of collapsing them to 1x1 halfway through.
_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def mobilenet_v1(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    alpha: float = 1.0,
) -> keras.Model:
    """Stem conv + 13 blocks of DepthwiseConv2D/BN/ReLU6 -> 1x1 Conv/BN/ReLU6 -> GAP -> softmax.

    Layers are named "conv1", then "block{i}_dw" and "block{i}_pw" (each with "_bn" and
    "_relu6"), then "gap", "dropout", "predictions". `alpha` scales every width.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    inputs = classifier_input(input_shape)
    x = conv_bn_act(inputs, round_channels(32 * alpha), "conv1", act="relu6")
    for index, (filters, strides) in enumerate(_BLOCKS, start=1):
        x = depthwise_bn_act(x, f"block{index}_dw", strides=strides)
        x = conv_bn_act(
            x, round_channels(filters * alpha), f"block{index}_pw", kernel_size=1, act="relu6"
        )
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="mobilenet_v1")
