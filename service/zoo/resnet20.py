"""ResNet-20 for CIFAR-sized (32x32) inputs (He et al. 2016, section 4.2)."""

from __future__ import annotations

import keras
from keras import layers

from service.zoo.blocks import activation, classifier_input, conv_bn, conv_bn_act, softmax_head

_STAGE_FILTERS = (16, 32, 64)
_BLOCKS_PER_STAGE = 3


def _basic_block(
    x: keras.KerasTensor, filters: int, strides: int, name: str
) -> keras.KerasTensor:
    shortcut = x
    y = conv_bn_act(x, filters, f"{name}_conv1", strides=strides)
    y = conv_bn(y, filters, f"{name}_conv2")
    if strides != 1 or x.shape[-1] != filters:
        # Projection (option B of the paper) rather than zero padding: a real conv keeps
        # the graph made of ordinary prunable layers.
        shortcut = conv_bn(x, filters, f"{name}_shortcut", kernel_size=1, strides=strides)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return activation(y, "relu", f"{name}_out_relu")


def resnet20(
    input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10
) -> keras.Model:
    """conv1(16) + 3 stages x 3 basic blocks (16/32/64 filters) + GAP -> softmax.

    Blocks are named "stage{s}_block{b}" with "_conv1", "_conv2", "_shortcut" (where the
    shape changes), "_add" and "_out_relu".
    """
    inputs = classifier_input(input_shape)
    x = conv_bn_act(inputs, _STAGE_FILTERS[0], "conv1")
    for stage, filters in enumerate(_STAGE_FILTERS, start=1):
        for block in range(1, _BLOCKS_PER_STAGE + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, filters, strides, f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="resnet20")
