"""Physical filter removal: a new, smaller model with sliced weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidKeepError
from .graph import ChannelGraph, LayerNode, _graph_nodes, analyze
from .layer_roles import Role


def validate_keep(graph: ChannelGraph, keep: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Check a keep mapping against the graph; return it with sorted index lists."""
    clean: dict[str, list[int]] = {}
    for group_id, indices in keep.items():
        group = graph.group_by_id.get(group_id)
        if group is None:
            known = ", ".join(g.id for g in graph.prunable_groups)
            raise InvalidKeepError(f"unknown channel group '{group_id}'; prunable groups: {known}")
        if not group.prunable:
            raise InvalidKeepError(
                f"channel group '{group_id}' cannot be pruned ({group.frozen_reason})"
            )
        idx = sorted(int(i) for i in indices)
        if not idx:
            raise InvalidKeepError(f"group '{group_id}' must keep at least one channel")
        if len(set(idx)) != len(idx):
            raise InvalidKeepError(f"group '{group_id}': kept channel indices repeat")
        if idx[0] < 0 or idx[-1] >= group.channels:
            raise InvalidKeepError(
                f"group '{group_id}' has {group.channels} channels; kept indices must be in "
                f"0..{group.channels - 1}, got {idx[0]}..{idx[-1]}"
            )
        clean[group_id] = idx
    return clean


def _expand_repeat(positions: np.ndarray, repeat: int) -> np.ndarray:
    return (positions[:, None] * repeat + np.arange(repeat)[None, :]).reshape(-1)


def slice_layer_weights(
    node: LayerNode, weights: list[np.ndarray], in_keep: np.ndarray | None, out_keep: np.ndarray
) -> list[np.ndarray]:
    """The weights of `node`'s layer with removed input/output channels dropped."""
    cls = node.class_name
    if not weights:
        return weights
    if cls == "Conv2D" and node.role is Role.PRODUCER:
        kernel = weights[0][:, :, in_keep][..., out_keep]
        return [kernel, *[b[out_keep] for b in weights[1:]]]
    if cls == "Conv2DTranspose":
        kernel = weights[0][:, :, out_keep][..., in_keep]
        return [kernel, *[b[out_keep] for b in weights[1:]]]
    if cls == "SeparableConv2D":
        mult = weights[0].shape[-1]
        depthwise = weights[0][:, :, in_keep]
        pointwise = weights[1][:, :, _expand_repeat(in_keep, mult)][..., out_keep]
        return [depthwise, pointwise, *[b[out_keep] for b in weights[2:]]]
    if cls == "Dense":
        kernel = weights[0][in_keep][:, out_keep]
        return [kernel, *[b[out_keep] for b in weights[1:]]]
    if cls == "DepthwiseConv2D":
        kernel = weights[0][:, :, in_keep]
        return [kernel, *[b[out_keep] for b in weights[1:]]]
    if node.role is Role.PER_CHANNEL:  # BatchNormalization, PReLU: one value per channel
        return [w[..., in_keep] if w.shape[-1] > 1 else w for w in weights]
    return weights  # barriers and pass-through layers see unchanged channels


def pruned_layer_config(node: LayerNode, width: int) -> dict[str, Any]:
    """`node`'s layer config with its output channel count set to `width`."""
    config = dict(node.config)
    if node.role is Role.PRODUCER:
        key = "units" if node.class_name == "Dense" else "filters"
        config[key] = int(width)
    elif node.reshape_target is not None and node.role is not Role.BARRIER:
        target = list(node.reshape_target)
        if target[-1] != -1:  # both (..., C) and flattening (H*W*C,) end in the width
            target[-1] = int(width)
        config["target_shape"] = tuple(target)
    return config


def prune(
    model: Any,
    keep: Mapping[str, Sequence[int]],
    graph: ChannelGraph | None = None,
) -> Any:
    """A new model in which each named group keeps only the channel indices given.

    Groups not named stay whole. The input model is not modified. A Sequential model
    comes back as a Sequential, a Functional one as a Functional."""
    import keras

    graph = graph or analyze(model)
    clean = validate_keep(graph, keep)
    kbs = graph.keep_by_space(clean)
    widths = graph.space_channels({g: len(i) for g, i in clean.items()})

    keras_nodes = _graph_nodes(model)
    tensors: dict[int, Any] = {}
    new_layers: list[tuple[Any, list[np.ndarray]]] = []
    sequential_layers: list[Any] = []
    new_inputs: list[Any] = []

    def remap(value: Any) -> Any:
        if isinstance(value, keras.KerasTensor):
            return tensors[id(value)]
        return value

    for knode, info in zip(keras_nodes, graph.nodes):
        layer = knode.operation
        out_t = knode.output_tensors[0]
        if info.role is Role.INPUT:
            cfg = layer.get_config()
            new_t = keras.Input(batch_shape=cfg["batch_shape"], dtype=cfg["dtype"], name=layer.name)
            new_inputs.append(new_t)
            tensors[id(out_t)] = new_t
            continue
        width = graph.layout_width(info.output, widths)
        config = pruned_layer_config(info, width)
        new_layer = type(layer).from_config(config)
        if graph.model_kind != "sequential":  # a Sequential wires its own layers
            args = keras.tree.map_structure(remap, knode.arguments.args)
            kwargs = keras.tree.map_structure(remap, knode.arguments.kwargs)
            tensors[id(out_t)] = new_layer(*args, **kwargs)
        if not isinstance(layer, keras.layers.Layer):
            continue  # an operation node (keras.ops call): no weights, never in a Sequential
        in_keep = graph.kept_positions(info.inputs[0], kbs) if info.inputs else None
        out_keep = graph.kept_positions(info.output, kbs)
        weights = slice_layer_weights(info, layer.get_weights(), in_keep, out_keep)
        new_layers.append((new_layer, weights))
        sequential_layers.append(new_layer)

    if graph.model_kind == "sequential":
        pruned = keras.Sequential([new_inputs[0], *sequential_layers], name=model.name)
    else:
        outputs = keras.tree.map_structure(remap, model.outputs)
        inputs = new_inputs if len(new_inputs) > 1 else new_inputs[0]
        if len(outputs) == 1:
            outputs = outputs[0]
        pruned = keras.Model(inputs, outputs, name=model.name)
    for new_layer, weights in new_layers:
        new_layer.set_weights(weights)
    return pruned
