"""What the service tells about an uploaded model: layers, channel groups, MACs, params,
input shape, class count, and whether surgery can prune every layer (and which not).

Runs where Keras is loaded (the inspection worker, or tests); the result is plain JSON,
stored with the model and served by GET /v1/models/{id}.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from service.surgery import SurgeryError, UnsupportedLayerError, analyze, count_macs, count_params
from service.surgery.layer_roles import INFERENCE_IDENTITIES, classify

# Layers between a classifier's last Dense and the model output that keep its width.
_HEAD_PASS_THROUGH = INFERENCE_IDENTITIES | {"Activation", "Softmax"}


def describe_model(model: Any) -> dict[str, Any]:
    """The analysis of a loaded Keras model, as JSON-ready values."""
    base: dict[str, Any] = {
        "name": model.name,
        "input_shape": _shape(model.inputs[0]),
        "input_shapes": [_shape(t) for t in model.inputs],
        "output_shapes": [_shape(t) for t in model.outputs],
        "num_classes": _num_classes(model),
        "activation_bytes": activation_bytes(model),
    }
    try:
        graph = analyze(model)
    except SurgeryError as exc:
        return {
            **base,
            "supported": False,
            "unsupported": _unsupported(model, exc),
            "macs": None,
            "params": int(model.count_params()),
            "layers": [_layer(layer) for layer in model.layers],
            "groups": [],
        }
    channels = {node.name: node.output_shape[-1] for node in graph.nodes}
    return {
        **base,
        "supported": True,
        "unsupported": [],
        "macs": int(count_macs(graph)),
        "params": int(count_params(graph)),
        "layers": [_layer(layer, channels.get(layer.name)) for layer in model.layers],
        "groups": graph.summary(),
    }


def activation_bytes(model: Any) -> int | None:
    """Bytes of every layer output for one sample (the input included): what a forward
    pass keeps for the backward one. None when a size depends on the input (None sides)."""
    total = 0
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.output_tensors:
                shape = tuple(tensor.shape)[1:]
                if any(side is None for side in shape):
                    return None
                total += math.prod(int(side) for side in shape) * np.dtype(tensor.dtype).itemsize
    return total


def _shape(tensor: Any) -> list[int | None]:
    return [None if side is None else int(side) for side in tuple(tensor.shape)[1:]]


def _layer(layer: Any, channels: int | None = None) -> dict[str, Any]:
    if channels is None:
        try:
            shape = tuple(layer.output.shape)
            channels = shape[-1] if len(shape) >= 2 else None
        except (AttributeError, ValueError):  # no single output tensor
            channels = None
    return {
        "name": layer.name,
        "class_name": type(layer).__name__,
        "output_channels": None if channels is None else int(channels),
    }


def _num_classes(model: Any) -> int | None:
    """Units of the Dense layer that makes the (single) output, through activations and
    dropout; None for other heads (segmentation maps, several outputs)."""
    if len(model.outputs) != 1:
        return None
    layer = model.outputs[0]._keras_history.operation
    while type(layer).__name__ in _HEAD_PASS_THROUGH and layer._inbound_nodes:
        inputs = layer._inbound_nodes[0].input_tensors
        if len(inputs) != 1:
            return None
        layer = inputs[0]._keras_history.operation
    if type(layer).__name__ == "Dense":
        return int(layer.units)
    return None


def _unsupported(model: Any, error: SurgeryError) -> list[dict[str, Any]]:
    """Every layer surgery refuses; the analysis stops at the first, so ask each layer."""
    if not isinstance(error, UnsupportedLayerError):  # the model as a whole
        return [{"layer": model.name, "class_name": type(model).__name__, "reason": str(error)}]
    found = []
    for layer in model.layers:
        try:
            classify(layer, _input_ranks(layer))
        except UnsupportedLayerError as exc:
            found.append({"layer": exc.layer_name, "class_name": exc.class_name, "reason": str(exc)})
    if error.layer_name not in {entry["layer"] for entry in found}:
        # Refused by the graph (e.g. a Concatenate of flattened inputs), not by its class.
        found.append({"layer": error.layer_name, "class_name": error.class_name, "reason": str(error)})
    return found


def _input_ranks(layer: Any) -> list[int]:
    try:
        inputs = layer.input
    except (AttributeError, ValueError):
        return [0]
    tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    return [len(t.shape) for t in tensors] or [0]
