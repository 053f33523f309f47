"""A small CNN sized for the 8x8 scikit-learn digits; trains to ~98% in seconds."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import classifier_input, conv_bn_act, softmax_head


def digits_cnn(
    input_shape: tuple[int, int, int] = (8, 8, 1), num_classes: int = 10
) -> keras.Model:
    """conv1(32) -> conv2(64) -> pool -> conv3(64) -> global average pool -> fc1(64) -> softmax.

    Global average pooling (rather than Flatten) keeps the head the same size when the
    digits are resized up for a bigger demo, and makes conv3's channels prunable without
    touching a huge Dense kernel.
    """
    inputs = classifier_input(input_shape)
    x = conv_bn_act(inputs, 32, "conv1")
    x = conv_bn_act(x, 64, "conv2")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = conv_bn_act(x, 64, "conv3")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(64, activation="relu", name="fc1")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="digits_cnn")
