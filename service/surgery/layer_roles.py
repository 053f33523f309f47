"""What each supported Keras layer does to the channel axis.

Every layer of an analysed model gets exactly one role. The role decides how the layer's
output channels relate to its input channels, and which of its weights are sliced when
channels are removed.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from .errors import UnsupportedLayerError


class Role(enum.Enum):
    INPUT = "input"  # a model input: its channels are fixed
    PRODUCER = "producer"  # makes a new channel space (Conv2D, Dense, ...)
    PER_CHANNEL = "per_channel"  # keeps channels, has per-channel weights (BN, depthwise)
    PASS_THROUGH = "pass_through"  # keeps channels, no channel-shaped weights
    GLOBAL_POOL = "global_pool"  # (H, W, C) -> (C) or (1, 1, C)
    MERGE = "merge"  # elementwise over inputs of equal channels: couples them
    CONCAT = "concat"  # channel-axis concatenation: index offsets
    FLATTEN = "flatten"  # (H, W, C) -> (H*W*C)
    BARRIER = "barrier"  # known layer that must see its input unchanged; output fixed


# Layers that do nothing at inference time (the TFLite converter drops them too).
INFERENCE_IDENTITIES = frozenset(
    {
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Identity",
    }
)
PRODUCERS = {"Conv2D", "Conv2DTranspose", "SeparableConv2D", "Dense"}
PER_CHANNEL = {"BatchNormalization", "DepthwiseConv2D", "PReLU"}
PASS_THROUGH = {
    "ReLU",
    "LeakyReLU",
    "ELU",
    "MaxPooling2D",
    "AveragePooling2D",
    "ZeroPadding2D",
    "Cropping2D",
    "UpSampling2D",
} | INFERENCE_IDENTITIES
GLOBAL_POOLS = {"GlobalAveragePooling2D", "GlobalMaxPooling2D"}
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}

# Activations that mix channels: pruning the channels they see changes every output.
CHANNEL_MIXING_ACTIVATIONS = {"softmax", "log_softmax"}
RECTIFYING_ACTIVATIONS = {"relu", "relu6"}


def activation_name(config: dict[str, Any]) -> str:
    """The activation a layer config applies, as a lower-case name ('linear' if none)."""
    act = config.get("activation", "linear")
    if isinstance(act, dict):  # serialised function or object
        act = act.get("config", act.get("class_name", "linear"))
        if isinstance(act, dict):
            act = act.get("name", "linear")
    return str(act or "linear").lower()


def _is_scalar(value: Any) -> bool:
    return np.ndim(value) == 0 or np.size(value) == 1


def classify(layer: Any, input_ranks: list[int]) -> Role:
    """The role of `layer` (a Keras layer instance) in a channels-last model."""
    cls = type(layer).__name__
    config = layer.get_config()
    name = layer.name

    if cls == "InputLayer":
        return Role.INPUT
    if config.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(name, cls, "only channels_last data format is supported")

    if cls in PRODUCERS:
        if cls == "Conv2D" and int(config.get("groups", 1)) != 1:
            # A grouped convolution ties input and output channel blocks; leave it whole.
            return Role.BARRIER
        return Role.PRODUCER
    if cls == "BatchNormalization":
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, input_ranks[0] - 1):
            raise UnsupportedLayerError(name, cls, f"normalises axis {axis}, not channels")
        return Role.PER_CHANNEL
    if cls == "PReLU":
        shared = config.get("shared_axes") or []
        if input_ranks[0] - 1 in shared or -1 in shared:
            return Role.PASS_THROUGH  # one alpha for all channels
        return Role.PER_CHANNEL
    if cls in PER_CHANNEL:
        return Role.PER_CHANNEL
    if cls == "Activation":
        if activation_name(config) in CHANNEL_MIXING_ACTIVATIONS:
            return Role.BARRIER
        return Role.PASS_THROUGH
    if cls == "Softmax":
        return Role.BARRIER
    if cls in PASS_THROUGH:
        return Role.PASS_THROUGH
    if cls == "Rescaling":
        if _is_scalar(config.get("scale", 1.0)) and _is_scalar(config.get("offset", 0.0)):
            return Role.PASS_THROUGH
        return Role.BARRIER
    if cls == "Normalization":
        return Role.BARRIER  # per-channel statistics that are not weights we slice
    if cls in GLOBAL_POOLS:
        return Role.GLOBAL_POOL
    if cls in MERGES:
        return Role.MERGE
    if cls == "Concatenate":
        return Role.CONCAT  # the graph decides whether the axis is the channel axis
    if cls == "Flatten":
        return Role.FLATTEN
    if cls == "Reshape":
        return Role.FLATTEN  # resolved against shapes by the graph builder
    if hasattr(layer, "layers") and hasattr(layer, "inputs"):
        raise UnsupportedLayerError(
            name, cls, "nested models are not supported; rebuild the model flat"
        )
    raise UnsupportedLayerError(name, cls)
