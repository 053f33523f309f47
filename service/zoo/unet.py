"""A small U-Net for per-pixel classification of 32x32 images."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import classifier_input, conv_bn_act

_ENCODER_FILTERS = (16, 32)
_BOTTLENECK_FILTERS = 64


def _double_conv(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    x = conv_bn_act(x, filters, f"{name}_conv1")
    return conv_bn_act(x, filters, f"{name}_conv2")


def unet(
    input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 2
) -> keras.Model:
    """Two encoder levels (double conv + max pool), a bottleneck, and two decoder levels
    (Conv2DTranspose x2 upsampling, Concatenate with the matching encoder output, double
    conv), then a 1x1 conv with per-pixel softmax: output (H, W, num_classes).

    Layers are named "enc{i}_conv{j}", "pool{i}", "bottleneck_conv{j}", "up{i}",
    "concat{i}", "dec{i}_conv{j}" and "predictions".
    """
    downsample = 2 ** len(_ENCODER_FILTERS)
    if input_shape[0] % downsample or input_shape[1] % downsample:
        raise ValueError(
            f"input height and width must be divisible by {downsample}, "
            f"got input_shape={tuple(input_shape)}"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    inputs = classifier_input(input_shape)
    x = inputs
    skips = []
    for level, filters in enumerate(_ENCODER_FILTERS, start=1):
        x = _double_conv(x, filters, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = _double_conv(x, _BOTTLENECK_FILTERS, "bottleneck")
    for level in reversed(range(1, len(_ENCODER_FILTERS) + 1)):
        filters = _ENCODER_FILTERS[level - 1]
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"concat{level}")([skips[level - 1], x])
        x = _double_conv(x, filters, f"dec{level}")
    outputs = layers.Conv2D(num_classes, 1, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="unet")
