"""Layer blocks for the small Keras graphs tests build by hand."""

from __future__ import annotations

import keras
from keras import layers


def conv_bn_relu(x: keras.KerasTensor, filters: int, kernel_size: int, name: str, *, strides: int = 1) -> keras.KerasTensor:
    """Conv2D ('same' padding, with bias) + BatchNorm + ReLU, named name / name_bn / name_relu."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)
