"""Structural pruning of Keras 3 CNNs: channel dependency graph and physical filter removal."""

from .cost import LayerCost, count_macs, count_params, layer_costs
from .errors import (
    InvalidKeepError,
    SurgeryError,
    UnsupportedLayerError,
    UnsupportedModelError,
    UnsupportedOperationError,
)
from .graph import ChannelGraph, ChannelGroup, analyze
from .prune import prune, validate_keep
from .saliency import SALIENCY_METHODS, channel_saliency

__all__ = [
    "ChannelGraph",
    "ChannelGroup",
    "InvalidKeepError",
    "LayerCost",
    "SALIENCY_METHODS",
    "SurgeryError",
    "UnsupportedLayerError",
    "UnsupportedModelError",
    "UnsupportedOperationError",
    "analyze",
    "channel_saliency",
    "count_macs",
    "count_params",
    "layer_costs",
    "prune",
    "validate_keep",
]
