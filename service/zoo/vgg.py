"""A small VGG-style CNN for CIFAR-sized (32x32) inputs."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import classifier_input, conv_bn_act, softmax_head


def vgg(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    widths: tuple[int, ...] = (32, 32, 64, 64, 128, 128),
    dense_units: int = 128,
) -> keras.Model:
    """Pairs of 3x3 conv/BN/ReLU with a 2x2 max pool after each pair, then
    Dropout -> Flatten -> fc1 -> softmax.

    Convs are named "conv1".."convN" (with "_bn", "_relu"), pools "pool1".."poolN/2".
    `widths` must have an even length; every pair halves the resolution, so the input
    height and width must be divisible by 2 ** (len(widths) / 2).
    """
    if not widths or len(widths) % 2:
        raise ValueError(f"widths must hold an even, non-zero number of convs, got {widths}")
    downsample = 2 ** (len(widths) // 2)
    if input_shape[0] % downsample or input_shape[1] % downsample:
        raise ValueError(
            f"input height and width must be divisible by {downsample} for {len(widths)} "
            f"convs, got input_shape={tuple(input_shape)}"
        )
    inputs = classifier_input(input_shape)
    x = inputs
    for index, filters in enumerate(widths, start=1):
        x = conv_bn_act(x, filters, f"conv{index}")
        if index % 2 == 0:
            x = layers.MaxPooling2D(2, name=f"pool{index // 2}")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="vgg")
